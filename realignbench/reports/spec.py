"""Table specs (``reports/tables/table-N.yaml``): rows × columns of cells, expanded with a config.

A cell's query is the merge, in order, of the spec's ``defaults``, its column and its row
(``stage``, ``metric``, ``subject`` filters, ``seeds``); display fields (``scale``, ``digits``,
``direction``, ``unit``) merge the same way. A string value ``$path`` or ``$path[i]`` is read from
the resolved config (``$data.train_sizes[-1]``, ``$preset``). An entry with ``expand: <config
path>`` becomes one row/column per value, setting ``set`` (``subject.<key>``, ``metric`` or
``suite``). A column with ``diff: [a, b]`` shows column a − column b. ``na: [ids]`` marks
cells that do not apply (rendered as "n/a", never looked up). A subject filter ``null`` matches
an absent key, ``"*"`` removes the filter, a list matches any of its values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from realignbench.reports.cells import CellSpec, make_cell

TABLE_DIR = Path(__file__).parent / "tables"
CELL_KEYS = {"stage", "metric", "subject", "seeds"}
SHOW_KEYS = {"scale", "digits", "direction", "unit"}
AXIS_KEYS = CELL_KEYS | SHOW_KEYS | {"id", "label", "paper", "na", "note", "suite", "diff",
                                     "chance", "expand", "set", "labels"}
TOP_KEYS = {"version", "table", "title", "caption", "defaults", "rows", "columns", "paper",
            "notes"}
_REF = re.compile(r"^\$([A-Za-z_][\w.]*)(?:\[(-?\d+)\])?$")


class SpecError(ValueError):
    """A table spec is malformed; the message names the file and the field."""


@dataclass
class Axis:
    """One resolved row or column."""
    id: str
    label: str
    fields: dict[str, Any] = field(default_factory=dict)     # cell + display fields
    paper: str | None = None                                 # key into paper.values
    na: list[str] = field(default_factory=list)
    note: str = ""
    chance: float | None = None
    diff: tuple[str, str] | None = None
    short: str = ""                                          # plot label


@dataclass
class TableSpec:
    number: int
    title: str
    caption: str
    path: Path
    rows: list[Axis]
    columns: list[Axis]
    defaults: dict[str, Any]
    paper: dict[str, Any]
    notes: list[str]

    def cell(self, row: Axis, col: Axis) -> tuple[CellSpec, dict[str, Any]]:
        """The query and the display settings of one (row, column)."""
        merged: dict[str, Any] = {"subject": {}}
        for part in (self.defaults, col.fields, row.fields):
            for k, v in part.items():
                merged[k] = {**merged["subject"], **v} if k == "subject" else v
        where = f"{self.path.name}: row {row.id!r}, column {col.id!r}"
        for k in ("stage", "metric"):
            if k not in merged:
                raise SpecError(f"{where}: no {k!r} in defaults, column or row")
        metric = merged["metric"]
        if isinstance(metric, str):           # "win/{row}_vs_u2a": one spec line for all rows
            metric = metric.format(row=row.id, col=col.id)
        subject = {k: v for k, v in merged["subject"].items() if v != "*"}   # "*": any value
        cell = make_cell(merged["stage"], metric, subject,
                         merged.get("seeds", "each"))
        show = {k: merged[k] for k in SHOW_KEYS if k in merged}
        return cell, show

    def paper_value(self, row: Axis, col: Axis) -> Any:
        values = self.paper.get("values") or {}
        if row.paper is None or col.paper is None:
            return None
        return (values.get(row.paper) or {}).get(col.paper)


def config_get(cfg: Mapping[str, Any], path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise SpecError(f"config has no {path!r}")
        node = node[part]
    return node


def _resolve_refs(value: Any, cfg: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_refs(v, cfg, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, cfg, where) for v in value]
    if isinstance(value, str) and value.startswith("$"):
        m = _REF.match(value)
        if not m:
            raise SpecError(f"{where}: bad config reference {value!r} (use $path or $path[i])")
        try:
            got = config_get(cfg, m.group(1))
            return got[int(m.group(2))] if m.group(2) is not None else got
        except (SpecError, IndexError, TypeError) as err:
            raise SpecError(f"{where}: cannot resolve {value!r}: {err}") from err
    return value


def _split(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in CELL_KEYS | SHOW_KEYS if k in entry}


def _axis(entry: dict[str, Any], suites: Mapping[str, Any], where: str) -> Axis:
    fields = _split(entry)
    label = entry.get("label")
    short = ""
    paper = entry.get("paper", entry.get("id"))
    chance = entry.get("chance")
    if "suite" in entry:                      # a capability suite: metric name = suite name
        suite = entry["suite"]
        info = suites.get(suite)
        if info is None:
            raise SpecError(f"{where}: suite {suite!r} not in tables/suites.yaml")
        fields["metric"] = suite
        label = label or info["label"]
        paper = entry.get("paper", info.get("paper"))
        chance = info.get("chance") if chance is None else chance
        short = info.get("short", suite)
    if "id" not in entry and "suite" not in entry:
        raise SpecError(f"{where}: needs an 'id'")
    ident = str(entry.get("id", entry.get("suite")))
    diff = tuple(entry["diff"]) if "diff" in entry else None
    if diff is not None and len(diff) != 2:
        raise SpecError(f"{where}.diff: expected [column_a, column_b]")
    return Axis(ident, str(label if label is not None else ident), fields,
                None if paper is None else str(paper), list(entry.get("na", [])),
                str(entry.get("note", "")), chance, diff, short or str(label or ident))


def _expand(entry: dict[str, Any], cfg: Mapping[str, Any], suites, where: str) -> list[Axis]:
    values = config_get(cfg, entry["expand"])
    target = entry.get("set", "")
    labels = entry.get("labels") or {}
    paper = entry.get("paper")
    out = []
    for i, value in enumerate(values):
        item = {k: v for k, v in entry.items() if k not in ("expand", "set", "labels", "paper")}
        item["id"] = str(value)
        if target.startswith("subject."):
            item["subject"] = {**item.get("subject", {}), target[8:]: value}
        elif target in ("metric", "suite"):
            item[target] = value
        else:
            raise SpecError(f"{where}.set: expected subject.<key>, metric or suite, got {target!r}")
        tmpl = labels.get(value, labels.get(str(value), entry.get("label")))
        if tmpl is None and target != "suite":        # suites bring their own label
            tmpl = "{value}"
        if tmpl is not None:
            item["label"] = str(tmpl).format(value=value, pct=_pct(value))
        if isinstance(paper, list):           # by rank, anchored at both ends
            key = _rank_key(paper, i, len(values))
            item["paper"] = key
        elif isinstance(paper, dict):
            item["paper"] = paper.get(value, paper.get(str(value)))
        elif "suite" not in item:
            item["paper"] = None
        out.append(_axis(item, suites, f"{where}[{value}]"))
    return out


def _pct(value: Any) -> str:
    return f"{value * 100:g}%" if isinstance(value, (int, float)) else str(value)


def _rank_key(keys: list[Any], i: int, n: int) -> str | None:
    """Paper keys by rank: all when the counts agree, else only smallest and largest."""
    if n == len(keys):
        return str(keys[i])
    if i == 0:
        return str(keys[0])
    if i == n - 1:
        return str(keys[-1])
    return None


def _check_keys(obj: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def load_suites() -> dict[str, Any]:
    """How tables name each capability suite (``tables/suites.yaml``), with its chance level
    and the paper benchmark it stands in for taken from the suite itself (``bench/suites``)."""
    from realignbench.bench.suites import SUITES
    path = TABLE_DIR / "suites.yaml"
    names = yaml.safe_load(path.read_text(encoding="utf-8"))["suites"]
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        raise SpecError(f"{path.name}: suites {unknown} are not capability suites; "
                        f"known: {sorted(SUITES)}")
    return {name: {**info, "chance": SUITES[name].chance, "paper": SUITES[name].format_of}
            for name, info in names.items()}


def table_numbers(tables_dir: Path | None = None) -> list[int]:
    """The numbers of the table specs in ``tables_dir`` (default: the shipped tables)."""
    folder = Path(tables_dir or TABLE_DIR)
    return sorted(int(p.stem.removeprefix("table-")) for p in folder.glob("table-*.yaml"))


def spec_path(number: int | str, tables_dir: Path | None = None) -> Path:
    folder = Path(tables_dir or TABLE_DIR)
    path = folder / f"table-{number}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("table-*.yaml"))
        raise SpecError(f"no table spec {path.name}; known: {known}")
    return path


def load_spec(number: int | str | Path, cfg: Mapping[str, Any],
              tables_dir: Path | None = None) -> TableSpec:
    """Load and expand a table spec against a resolved config (``Config.to_dict()``);
    ``tables_dir`` points at another folder of specs (tests: a toy method's table)."""
    path = Path(number) if isinstance(number, Path) else spec_path(number, tables_dir)
    where = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: invalid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping")
    _check_keys(raw, TOP_KEYS, where)
    for k in ("table", "title", "rows", "columns"):
        if k not in raw:
            raise SpecError(f"{where}: missing {k!r}")
    suites = load_suites()
    axes: dict[str, list[Axis]] = {}
    for kind in ("rows", "columns"):
        axes[kind] = []
        for i, entry in enumerate(raw[kind]):
            at = f"{where}: {kind}[{i}]"
            _check_keys(entry, AXIS_KEYS, at)
            entry = _resolve_refs(entry, cfg, at)
            axes[kind].extend(_expand(entry, cfg, suites, at) if "expand" in entry
                              else [_axis(entry, suites, at)])
        ids = [a.id for a in axes[kind]]
        if len(set(ids)) != len(ids):
            raise SpecError(f"{where}: duplicate {kind} ids {ids}")
    col_ids = {c.id for c in axes["columns"]}
    for col in axes["columns"]:
        if col.diff and not set(col.diff) <= col_ids:
            raise SpecError(f"{where}: column {col.id!r} diff refers to unknown {col.diff}")
    defaults = _resolve_refs(dict(raw.get("defaults") or {}), cfg, f"{where}: defaults")
    _check_keys(defaults, CELL_KEYS | SHOW_KEYS, f"{where}: defaults")
    return TableSpec(int(raw["table"]), str(raw["title"]), str(raw.get("caption", "")), path,
                     axes["rows"], axes["columns"], defaults, dict(raw.get("paper") or {}),
                     list(raw.get("notes") or []))
