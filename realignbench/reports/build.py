"""Fill a table spec from run records: every number comes from a results.json, none is typed in.

The result is one JSON-able dict (the ``table-N.json`` output); the Markdown, CSV and LaTeX
renderers read only that dict. All missing or stale cells are collected and raised together,
each naming the table, row, column and the run that was looked for.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from realignbench.reports.cells import CellValue, difference, resolve, summarize_provenance
from realignbench.reports.records import CellError, RecordSet
from realignbench.reports.spec import TableSpec


def provenance(values: Sequence[CellValue], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What every caption states: preset, seeds, human or simulated, nll_weight, judge."""
    prov = [p for v in values for p in v.provenance]
    human = any(p.get("simulated") is False for p in prov if p.get("stage") == "human_eval")
    return {
        "preset": cfg.get("preset"), "model": (cfg.get("model") or {}).get("preset"),
        "benchmark": (cfg.get("data") or {}).get("benchmark"),
        "shift": (cfg.get("data") or {}).get("shift"),
        "seeds": sorted({s for v in values for s in v.seeds}, key=str),
        **summarize_provenance(prov), "human": human,
        "n_runs": len({str(r) for v in values for r in v.runs}),
    }


def build_table(spec: TableSpec, records: RecordSet, cfg: Mapping[str, Any],
                strict: bool = True) -> dict[str, Any]:
    """Fill every cell; ``strict=False`` (the leaderboard) marks failures "missing" instead."""
    seeds = list(cfg.get("seeds") or [])
    errors: list[str] = []
    cells: list[dict[str, Any]] = []
    filled: dict[tuple[str, str], CellValue] = {}
    for row in spec.rows:
        for col in spec.columns:
            if col.diff:
                continue
            entry = {"row": row.id, "column": col.id, "paper": spec.paper_value(row, col)}
            if col.id in row.na or row.id in col.na:
                cells.append({**entry, "status": "n/a"})
                continue
            query, show = spec.cell(row, col)
            where = f"table {spec.number} ({spec.path.name}), row {row.id!r}, column {col.id!r}"
            entry.update(query={"stage": query.stage, "metric": query.metric,
                                "subject": query.filters, "seeds": query.seeds}, display=show)
            try:
                value = resolve(query, records, seeds, where)
            except CellError as err:
                errors.append(str(err))
                cells.append({**entry, "status": "missing", "error": str(err)})
                continue
            filled[(row.id, col.id)] = value
            chance = value.chance if value.chance is not None else col.chance
            cells.append({**entry, "status": "ok", **value.to_dict(),
                          **({"chance": chance} if chance is not None else {})})
    if errors and strict:
        raise CellError(f"table {spec.number}: {len(errors)} cell(s) missing or stale:\n  - "
                        + "\n  - ".join(errors))
    for row in spec.rows:                       # Δ columns from the filled cells of the row
        for col in (c for c in spec.columns if c.diff):
            if not all((row.id, c) in filled for c in col.diff):
                cells.append({"row": row.id, "column": col.id, "status": "missing",
                              "error": f"Δ needs both of {col.diff}"})
                continue
            a, b = (filled[(row.id, c)] for c in col.diff)
            d = difference(a, b)
            _, show = spec.cell(row, next(c for c in spec.columns if c.id == col.diff[0]))
            cells.append({"row": row.id, "column": col.id, "status": "ok", "diff": list(col.diff),
                          "paper": spec.paper_value(row, col), "display": {**show, "sign": True},
                          **d.to_dict()})
    order = {(r.id, c.id): i for i, (r, c) in
             enumerate((r, c) for r in spec.rows for c in spec.columns)}
    cells.sort(key=lambda c: order[(c["row"], c["column"])])
    return {
        "table": spec.number, "title": spec.title, "caption": spec.caption,
        "spec": str(spec.path.name),
        "rows": [{"id": r.id, "label": r.label, "note": r.note} for r in spec.rows],
        "columns": [{"id": c.id, "label": c.label, "short": c.short, "note": c.note,
                     "chance": c.chance,
                     "diff": list(c.diff) if c.diff else None} for c in spec.columns],
        "cells": cells,
        "paper": {**{k: v for k, v in spec.paper.items() if k != "values"},
                  "has_values": bool(spec.paper.get("values"))},
        "notes": spec.notes,
        "provenance": provenance(list(filled.values()), cfg),
    }


def needs(spec: TableSpec, cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run records a table reads: one entry per (stage, subject) with the metrics it needs.

    Subject filters that allow several values show the list; ``None`` means the key is absent.
    The pipeline can use this to build exactly what one table needs (``make table-N``).
    """
    seeds = list(cfg.get("seeds") or [])
    out: dict[str, dict[str, Any]] = {}
    for row in spec.rows:
        for col in spec.columns:
            if col.diff or col.id in row.na or row.id in col.na:
                continue
            query, _ = spec.cell(row, col)
            metrics = list(query.metric) if isinstance(query.metric, tuple) else [query.metric]
            for seed in (seeds if query.seeds == "each" else [None]):
                subject = {**query.filters, **({"seed": seed} if seed is not None else {})}
                key = f"{query.stage}:{sorted(subject.items(), key=str)}"
                entry = out.setdefault(key, {"stage": query.stage, "subject": subject,
                                             "metrics": [], "cells": []})
                entry["metrics"] += [m for m in metrics if m not in entry["metrics"]]
                entry["cells"].append(f"table {spec.number} row {row.id} column {col.id}")
    return list(out.values())
