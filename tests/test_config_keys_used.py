"""No dead settings: every key of the typed config is read somewhere in the package.

A key that nothing reads (``judge.kind`` once) lets a preset believe it selects something it
does not. The walk is static: ``<expr>.<section>.<key>``, ``alias.<key>`` after
``alias = <expr>.<section>``, or ``<expr>["<section>"]["<key>"]`` on the resolved-config dict.
"""
from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

from realignbench.config import Config

ROOT = Path(__file__).resolve().parent.parent / "realignbench"


def config_keys() -> set[tuple[str, str]]:
    """(section, key) for every nested dataclass field; ("", key) for top-level scalars."""
    keys = set()
    for name, tp in typing.get_type_hints(Config).items():
        if dataclasses.is_dataclass(tp):
            keys |= {(name, f.name) for f in dataclasses.fields(tp)}
        else:
            keys.add(("", name))
    return keys


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _section_of(value: ast.AST, sections: dict[str, str], names: dict[str, str]) -> str | None:
    """The config section that ``value`` evaluates to: ``x.judge``, ``getattr(x, "judge", …)``,
    ``a or b`` of one, or a name (a variable, or a function's result) known to hold one."""
    if isinstance(value, ast.Attribute) and value.attr in sections:
        return value.attr
    if isinstance(value, ast.BoolOp):
        found = [_section_of(v, sections, names) for v in value.values]
        return next((f for f in found if f), None)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        if value.func.id == "getattr" and len(value.args) >= 2:
            name = _constant(value.args[1])
            return name if name in sections else None
        return names.get(value.func.id + "()")
    if isinstance(value, ast.Name):
        return names.get(value.id)
    return None


def section_names(trees: list[ast.AST], sections: dict[str, str]) -> dict[str, str]:
    """Variable and parameter names that hold a config section anywhere in the package:
    ``t = cfg.train``, ``jcfg = getattr(cfg, "judge", cfg)``, ``def f(t: TrainConfig)``, and
    functions that return one (``def judge_config(cfg) -> JudgeConfig``, as ``"judge_config()"``)."""
    by_class = {cls: name for name, cls in sections.items()}
    names: dict[str, str] = {}
    while True:                       # to a fixed point: an alias may be made from an alias
        known = dict(names)
        for tree in trees:
            names |= _names_in(tree, sections, by_class, known)
        if names == known:
            return names


def _names_in(tree: ast.AST, sections: dict[str, str], by_class: dict[str, str],
              known: dict[str, str]) -> dict[str, str]:
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            section = _section_of(node.value, sections, known)
            names |= {t.id: section for t in node.targets if section and isinstance(t, ast.Name)}
        elif isinstance(node, ast.arg) and node.annotation is not None:
            if ast.unparse(node.annotation) in by_class:
                names[node.arg] = by_class[ast.unparse(node.annotation)]
        elif isinstance(node, ast.FunctionDef) and node.returns is not None:
            if ast.unparse(node.returns) in by_class:
                names[node.name + "()"] = by_class[ast.unparse(node.returns)]
    return names


def reads_in(tree: ast.AST, sections: dict[str, str], names: dict[str, str]) -> set:
    members = {}                      # self.cfg = jcfg  ->  self.cfg holds the judge section
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            section = _section_of(node.value, sections, names)
            members |= {t.attr: section for t in node.targets
                        if section and isinstance(t, ast.Attribute)}
    reads = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            reads.add(("", node.attr))
            owner = node.value
            section = _section_of(owner, sections, names)
            if section is None and isinstance(owner, ast.Attribute):
                section = members.get(owner.attr)
            if section:
                reads.add((section, node.attr))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript):
            section, key = _constant(node.value.slice), _constant(node.slice)
            if section in sections and key:
                reads.add((section, key))
    return reads


def unread_keys(root: Path = ROOT) -> list[str]:
    keys = config_keys()
    hints = typing.get_type_hints(Config)
    sections = {s: hints[s].__name__ for s, _ in keys if s}
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in sorted(root.rglob("*.py"))
             if path != root / "config.py"]           # a definition is not a read
    names = section_names(trees, sections)
    reads = set().union(*(reads_in(tree, sections, names) for tree in trees))
    return sorted(f"{s}.{k}" if s else k for s, k in keys - reads)


def test_every_config_key_is_read_somewhere():
    assert unread_keys() == []


def test_the_walk_finds_a_key_that_nothing_reads(tmp_path):
    (tmp_path / "stage.py").write_text(
        "def f(cfg, d, t: TrainConfig):\n"
        "    j = getattr(cfg, 'judge', cfg)\n"
        "    return cfg.model.dtype, j.model, d['eval']['judge'], t.lr, step.kind\n"
        "class Client:\n"
        "    def __init__(self, jcfg):\n"
        "        self.settings = jcfg\n"
        "    def go(self):\n"
        "        return self.settings.timeout_s\n"
        "jcfg = cfg.judge\n")
    found = unread_keys(tmp_path)
    for read in ("model.dtype", "judge.model", "eval.judge", "train.lr", "judge.timeout_s"):
        assert read not in found
    for unread in ("judge.concurrency", "judge.max_retries", "train.beta", "runs_dir"):
        assert unread in found
