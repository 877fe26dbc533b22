"""The package's layers (docs/architecture.md): a module imports only from its own layer or
below, and no two modules import each other, directly or through others."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent / "realignbench"

# Lowest first. A module's layer is that of the longest prefix listed; every package's
# `commands.py` is the CLI's face of that package and belongs to the top layer.
LAYERS: list[tuple[str, ...]] = [
    ("config", "runs", "registry", "stats", "threads", "cli_args", "model_presets"),
    ("models",),
    ("policies", "data", "synthvaluebench"),
    ("oracle",),
    ("triage",),
    ("train",),
    ("trace", "baselines"),
    ("bench",),
    ("reports",),
    ("pipeline",),
    ("cli", "*.commands"),
]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    rel = module.split(".")[1:]
    if rel and rel[-1] == "commands":
        return len(LAYERS) - 1
    if not rel:
        return 0                                  # the package's own __init__
    for i, names in enumerate(LAYERS):
        if rel[0] in names:
            return i
    raise AssertionError(f"{module}: in no layer; add its package to LAYERS and the docs")


def imports(path: Path, known: set[str]) -> set[str]:
    """realignbench modules imported anywhere in ``path`` (function-level imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out |= {n for n in names if n in known}
    return out


def import_graph(root: Path = ROOT) -> nx.DiGraph:
    files = {module_name(f, root): f for f in root.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for mod, f in files.items():
        graph.add_edges_from((mod, dep) for dep in imports(f, set(files)) if dep != mod)
    return graph


def upward_imports(graph: nx.DiGraph) -> list[str]:
    return sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                  for a, b in graph.edges if layer_of(b) > layer_of(a))


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    cycles = [c for c in nx.simple_cycles(import_graph()) if len(c) > 1]
    assert cycles == []


def test_a_planted_upward_import_is_caught(tmp_path):
    pkg = tmp_path / "realignbench"
    (pkg / "data").mkdir(parents=True)
    (pkg / "bench").mkdir()
    for f in ("__init__.py", "data/__init__.py", "bench/__init__.py", "bench/tpa.py"):
        (pkg / f).write_text("")
    (pkg / "data" / "schema.py").write_text("from realignbench.bench.tpa import x\n")
    assert upward_imports(import_graph(pkg)) == [
        "realignbench.data.schema (layer 2) imports realignbench.bench.tpa (layer 7)"]


def test_a_planted_cycle_is_caught(tmp_path):
    pkg = tmp_path / "realignbench" / "data"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import realignbench.data.b\n")
    (pkg / "b.py").write_text("def f():\n    from realignbench.data import a\n")
    graph = import_graph(pkg.parent)
    assert [sorted(c) for c in nx.simple_cycles(graph) if len(c) > 1] == [
        ["realignbench.data.a", "realignbench.data.b"]]


@pytest.mark.parametrize("module,layer", [("realignbench.train.commands", 10),
                                          ("realignbench.stats", 0),
                                          ("realignbench.triage.rule", 4)])
def test_layer_of(module, layer):
    assert layer_of(module) == layer
