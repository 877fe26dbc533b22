"""A cell = (stage, metric, subject filters, seed mode), resolved against run records.

Seeds: ``each`` needs one record per configured seed and aggregates them, ``one`` needs exactly
one record whatever its seed (the base model, M_ref, triage, judge validation: built once).
A cell's CI: one run — the run's own (Wilson for a proportion, else bootstrap); several seeds —
the pooled value over prompts × seeds with a bootstrap over prompt clusters when the runs' samples
give per-prompt values, else a Student-t interval across the per-seed values.
Differences (Δ columns, claims) are paired at the prompt level and clustered over seeds
(``stats.paired_difference``) whenever both sides have per-prompt values; otherwise they are
marked unpaired (``paired: false``, with the reason) and fall back to per-seed differences
(Student t, ≥ 2 shared seeds) or, last, the two CIs' half-widths in quadrature.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from realignbench.reports.items import metric_items
from realignbench.reports.records import CellError, RecordSet
from realignbench.stats import cluster_estimate, paired_difference, t_interval

N_BOOT = 2000          # resamples for the cells' and differences' bootstraps
BOOT_SEED = 0          # fixed: the same records always give the same tables


@dataclass(frozen=True)
class CellSpec:
    stage: str
    metric: str | tuple[str, ...]          # a tuple = the mean of several metrics of one run
    subject: tuple[tuple[str, Any], ...]   # filters, hashable
    seeds: str = "each"                    # each | one

    @property
    def filters(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.subject}

    def describe(self) -> str:
        metric = "+".join(self.metric) if isinstance(self.metric, tuple) else self.metric
        return f"stage={self.stage} metric={metric} subject={self.filters} seeds={self.seeds}"


def make_cell(stage: str, metric: str | Sequence[str], subject: Mapping[str, Any],
              seeds: str = "each") -> CellSpec:
    if seeds not in ("each", "one"):
        raise ValueError(f"seeds must be 'each' or 'one', got {seeds!r}")
    metric = metric if isinstance(metric, str) else tuple(metric)
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in subject.items()))
    return CellSpec(stage, metric, frozen, seeds)


@dataclass
class CellValue:
    value: float
    ci: tuple[float, float]
    n: int                                  # items per run (summed across seeds)
    seeds: list[Any] = field(default_factory=list)
    per_seed: dict[Any, float] = field(default_factory=dict)
    runs: list[Path] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)
    ci_kind: str = "run"                    # run | cluster-bootstrap | t-across-seeds | paired |
    #                                         paired-t-across-seeds | quadrature | constant
    chance: float | None = None             # the metric record's own chance level, if it has one
    items: pd.DataFrame | None = None       # per-prompt values (stats.ITEM_COLUMNS), if any
    stats: dict[str, Any] = field(default_factory=dict)   # a difference's test, MDD, pairing

    @property
    def half_width(self) -> float:
        return (self.ci[1] - self.ci[0]) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci), "n": self.n, "seeds": self.seeds,
                "per_seed": {str(k): v for k, v in self.per_seed.items()},
                "ci_kind": self.ci_kind, **self.stats, "runs": [str(p) for p in self.runs],
                "provenance": summarize_provenance(self.provenance)}


def summarize_provenance(prov: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Distinct judges and nll_weights, and whether any input was simulated."""
    def distinct(key: str) -> list[str]:
        return sorted({str(p[key]) for p in prov if p.get(key) not in (None, "")})
    return {"judge": distinct("judge"), "nll_weight": distinct("nll_weight"),
            "suite_note": distinct("suite_note"),
            "simulated": any(p.get("simulated") for p in prov)}


def _run_metric(record, metric) -> dict[str, Any]:
    if isinstance(metric, str):
        return record.metric(metric)
    parts = [record.metric(m) for m in metric]
    value = sum(p["value"] for p in parts) / len(parts)
    # Mean of several suites: CI from the mean of the bounds (suites are scored separately).
    lo = sum(p["ci"][0] for p in parts) / len(parts)
    hi = sum(p["ci"][1] for p in parts) / len(parts)
    return {"value": value, "ci": [lo, hi], "n": sum(p["n"] for p in parts)}


def _items(found, metric) -> pd.DataFrame | None:
    """Per-prompt values of every run of the cell, or None unless all runs have them."""
    parts = [metric_items(r, metric) for r in found]
    return None if any(p is None for p in parts) else pd.concat(parts, ignore_index=True)


def resolve(cell: CellSpec, records: RecordSet, seeds: Sequence[Any], where: str) -> CellValue:
    """Fill one cell from the records; raises CellError naming ``where`` and the query."""
    filters = cell.filters
    if cell.seeds == "one":
        found = [records.one(cell.stage, filters, where)]
        seed_list: list[Any] = []
    else:
        if not seeds:
            raise CellError(f"{where}: no seeds configured for {cell.describe()}")
        found = [records.one(cell.stage, {**filters, "seed": s}, f"{where} [seed {s}]")
                 for s in seeds]
        seed_list = list(seeds)
    try:
        ms = [_run_metric(r, cell.metric) for r in found]
    except CellError as err:
        raise CellError(f"{where}: {err}") from err
    items = _items(found, cell.metric)
    prov = [{**r.provenance, "stage": r.stage} for r in found]
    runs = [r.dir for r in found]
    n = sum(m["n"] for m in ms)
    chance = ms[0].get("chance")
    vals = [m["value"] for m in ms]
    per_seed = dict(zip(seed_list, vals))
    if len(ms) == 1:
        m = ms[0]
        return CellValue(m["value"], tuple(m["ci"]), n, seed_list, per_seed, runs, prov,
                         "run", chance, items)
    if items is not None:
        est = cluster_estimate(items, N_BOOT, BOOT_SEED)
        return CellValue(est["value"], tuple(est["ci"]), est["n"], seed_list, per_seed, runs,
                         prov, "cluster-bootstrap", chance, items)
    mean, ci = t_interval(vals)
    return CellValue(mean, ci, n, seed_list, per_seed, runs, prov, "t-across-seeds", chance)


def constant(value: float) -> CellValue:
    """A fixed comparison point (e.g. a 50% win rate): no uncertainty."""
    return CellValue(float(value), (float(value), float(value)), 0, [], {}, [], [], "constant")


def difference(a: CellValue, b: CellValue) -> CellValue:
    """a − b with a 95% CI, paired at the prompt level where both sides have per-prompt values
    (against a constant: a's own items), else the unpaired fallbacks of the module docstring."""
    runs, prov = a.runs + b.runs, a.provenance + b.provenance
    if a.items is not None and (b.items is not None or b.ci_kind == "constant"):
        try:
            d = paired_difference(a.items, b.items if b.items is not None else b.value,
                                  N_BOOT, BOOT_SEED)
        except ValueError as err:
            raise CellError(f"{err} (runs: {', '.join(str(r) for r in runs)})") from err
        info = {"paired": True, "test": d.test, "p_value": d.p_value, "mdd": d.mdd,
                "n_clusters": d.n_clusters,
                "discordant": list(d.discordant) if d.discordant else None}
        return CellValue(d.value, d.ci, d.n, d.seeds, {}, runs, prov, "paired", stats=info)
    lacking = [str(r) for x in (a, b) if x.items is None for r in x.runs[:1]]
    why = {"paired": False,
           "unpaired_reason": "no per-prompt values in the samples of " + ", ".join(lacking)}
    shared = [s for s in a.per_seed if s in b.per_seed]
    if len(shared) >= 2 and len(shared) == len(a.per_seed) == len(b.per_seed):
        diffs = [a.per_seed[s] - b.per_seed[s] for s in shared]
        mean, ci = t_interval(diffs)
        return CellValue(mean, ci, a.n + b.n, shared, dict(zip(shared, diffs)), runs, prov,
                         "paired-t-across-seeds",
                         stats={**why, "test": "Student t on per-seed differences"})
    d = a.value - b.value
    hw = math.hypot(a.half_width, b.half_width)
    return CellValue(d, (d - hw, d + hw), a.n + b.n, shared, {}, runs, prov, "quadrature",
                     stats={**why, "test": "unpaired: 95% half-widths in quadrature"})
