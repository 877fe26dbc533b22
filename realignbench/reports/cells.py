"""A cell = (stage, metric, subject filters, seed mode), resolved against run records.

Seeds: ``each`` needs one record per configured seed and aggregates them (mean; with more than
one seed a t-interval across seeds, else the run's own bootstrap CI); ``one`` needs exactly one
record whatever its seed (the base model, M_ref, triage, judge validation: built once).
Differences (Δ columns, claims) use per-seed paired differences when both sides share at least
two seeds, else combine the two 95% half-widths in quadrature (independent normal approximation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from realignbench.reports.records import CellError, RecordSet

# Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30 (beyond: normal 1.96).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


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
    ci_kind: str = "bootstrap"              # bootstrap | t-across-seeds | quadrature | paired-t
    chance: float | None = None             # the metric record's own chance level, if it has one

    @property
    def half_width(self) -> float:
        return (self.ci[1] - self.ci[0]) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci), "n": self.n, "seeds": self.seeds,
                "per_seed": {str(k): v for k, v in self.per_seed.items()},
                "ci_kind": self.ci_kind, "runs": [str(p) for p in self.runs],
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


def across_seeds(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Mean and two-sided 95% t-interval of per-seed values (needs at least two)."""
    k = len(values)
    mean = sum(values) / k
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    hw = t975(k - 1) * sd / math.sqrt(k)
    return mean, (mean - hw, mean + hw)


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
    prov = [{**r.provenance, "stage": r.stage} for r in found]
    runs = [r.dir for r in found]
    n = sum(m["n"] for m in ms)
    chance = ms[0].get("chance")
    if len(ms) == 1:
        m = ms[0]
        return CellValue(m["value"], tuple(m["ci"]), n, seed_list,
                         dict(zip(seed_list, [m["value"]])), runs, prov, "bootstrap", chance)
    vals = [m["value"] for m in ms]
    mean, ci = across_seeds(vals)
    return CellValue(mean, ci, n, seed_list, dict(zip(seed_list, vals)), runs, prov,
                     "t-across-seeds", chance)


def constant(value: float) -> CellValue:
    """A fixed comparison point (e.g. a 50% win rate): no uncertainty."""
    return CellValue(float(value), (float(value), float(value)), 0, [], {}, [], [], "constant")


def difference(a: CellValue, b: CellValue) -> CellValue:
    """a − b with a 95% CI: paired across shared seeds when ≥ 2, else quadrature of half-widths."""
    shared = [s for s in a.per_seed if s in b.per_seed]
    if len(shared) >= 2 and len(shared) == len(a.per_seed) == len(b.per_seed):
        diffs = [a.per_seed[s] - b.per_seed[s] for s in shared]
        mean, ci = across_seeds(diffs)
        return CellValue(mean, ci, a.n + b.n, shared, dict(zip(shared, diffs)),
                         a.runs + b.runs, a.provenance + b.provenance, "paired-t")
    d = a.value - b.value
    hw = math.hypot(a.half_width, b.half_width)
    return CellValue(d, (d - hw, d + hw), a.n + b.n, shared, {}, a.runs + b.runs,
                     a.provenance + b.provenance, "quadrature")
