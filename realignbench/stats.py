"""Every statistic the project reports, on scipy.stats, numpy and pandas (core layer).

A metric record is ``{"value", "ci": [lo, hi], "n", "ci_method"}``; tables read only these:

* a proportion (items scored 0/1): Wilson score interval (``scipy.stats.binomtest``);
* any other mean, or a ratio of sums (win rates): bootstrap over items (``scipy.stats.bootstrap``,
  BCa, seeded so tables are reproducible).

Differences between two methods are *paired*: both answered the same prompts, so a prompt is
the unit and only prompts both sides answered count. Several seeds (training runs) answer the
same prompts too; a prompt's rows across seeds form one *cluster* and the bootstrap resamples
clusters, so two seeds double n (prompts × seeds) without pretending the prompts are new.
Per-item data is a DataFrame with columns ``ITEM_COLUMNS``: ``num / den`` per row (``den`` = 1
for a 0/1 score; a win rate's item has picks of a / picks of a or b).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

ITEM_COLUMNS = ["seed", "id", "num", "den"]
CONFIDENCE = 0.95
POWER = 0.80


# --- one sample -----------------------------------------------------------------------------

def is_binary(values: np.ndarray) -> bool:
    return values.size > 0 and bool(np.isin(values, (0.0, 1.0)).all())


def proportion_ci(k: int, n: int, method: str = "wilson") -> tuple[float, float]:
    """Wilson (default) or Clopper–Pearson (``exact``) 95% interval of k successes in n."""
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method=method)
    return float(ci.low), float(ci.high)


def bootstrap_ci(data: Sequence[np.ndarray], statistic: Callable, n_boot: int = 1000,
                 seed: int = 0) -> tuple[float, float, float]:
    """(lo, hi, standard error) of ``statistic(*data, axis=-1)`` resampling the items of
    ``data`` together (paired), seeded. BCa; where BCa is undefined (a degenerate bootstrap
    distribution) the percentile interval, which is then the single value itself."""
    data = tuple(np.asarray(d, dtype=float) for d in data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # degenerate data: handled below
        res = stats.bootstrap(data, statistic, n_resamples=n_boot, paired=True,
                              vectorized=True, confidence_level=CONFIDENCE, method="BCa",
                              rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        dist = res.bootstrap_distribution
        lo, hi = (float(q) for q in np.quantile(dist, [(1 - CONFIDENCE) / 2,
                                                       (1 + CONFIDENCE) / 2]))
    return lo, hi, float(res.standard_error)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _ratio(num, den, axis=-1):
    return np.sum(num, axis=axis) / np.sum(den, axis=axis)


def metric(values: Sequence[float], n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of per-item values with its 95% CI: Wilson for 0/1 items, else a bootstrap."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"value": float("nan"), "ci": [float("nan")] * 2, "n": 0, "ci_method": "none"}
    if is_binary(x):
        lo, hi = proportion_ci(int(x.sum()), x.size)
        return {"value": float(x.mean()), "ci": [lo, hi], "n": int(x.size), "ci_method": "wilson"}
    if x.size < 2:                       # one value has no spread to resample
        return {"value": float(x[0]), "ci": [float("nan")] * 2, "n": 1, "ci_method": "none"}
    lo, hi, _ = bootstrap_ci((x,), _mean, n_boot, seed)
    return {"value": float(x.mean()), "ci": [lo, hi], "n": int(x.size),
            "ci_method": "bootstrap"}


def ratio_metric(num: Sequence[float], den: Sequence[float], n_boot: int = 1000,
                 seed: int = 0) -> dict:
    """sum(num) / sum(den) over items with a bootstrap CI over items (items with den 0 say
    nothing and are left out); n = sum(den), n_items = items kept."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    keep = den > 0
    num, den = num[keep], den[keep]
    if den.sum() == 0:
        return {"value": None, "ci": [None, None], "n": 0, "n_items": 0, "ci_method": "none"}
    ci: list[float | None] = [None, None]
    if n_boot > 0 and len(den) > 1:
        ci = list(bootstrap_ci((num, den), _ratio, n_boot, seed)[:2])
    return {"value": float(num.sum() / den.sum()), "ci": ci, "n": int(den.sum()),
            "n_items": int(len(den)), "ci_method": "bootstrap"}


def unit_statistic_ci(n_units: int, statistic: Callable[[np.ndarray], float | None],
                      n_boot: int = 1000, seed: int = 0) -> list[float | None]:
    """Percentile 95% CI of a statistic that is not vectorised (e.g. Krippendorff's α) over
    resampled units: ``statistic(unit_indices)``; resamples where it is undefined (None) are
    dropped. Resampling indices (not values) lets scipy.stats.bootstrap drive any statistic."""
    def one(idx):
        v = statistic(idx.astype(int))
        return np.nan if v is None else float(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((np.arange(n_units, dtype=float),), one, n_resamples=n_boot,
                              vectorized=False, method="percentile",
                              rng=np.random.default_rng(seed))
    dist = res.bootstrap_distribution[np.isfinite(res.bootstrap_distribution)]
    if not dist.size:
        return [None, None]
    return [float(q) for q in np.quantile(dist, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])]


def constant_metric(value: float) -> dict:
    """A count or census (no sampling error): the CI is the value itself."""
    return {"value": float(value), "ci": [float(value), float(value)], "n": 1,
            "ci_method": "constant"}


def t_interval(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Mean and two-sided 95% Student-t interval of a few per-seed values (needs ≥ 2)."""
    x = np.asarray(values, dtype=float)
    if np.ptp(x) == 0:                           # identical values: no spread to scale
        return float(x.mean()), (float(x.mean()), float(x.mean()))
    lo, hi = stats.t.interval(CONFIDENCE, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    return float(x.mean()), (float(lo), float(hi))


# --- items, clusters and paired differences -------------------------------------------------

def items_frame(ids: Sequence, num: Sequence[float], den: Sequence[float] | None = None,
                seed=0) -> pd.DataFrame:
    """Per-item rows in the ``ITEM_COLUMNS`` layout (den defaults to 1: a plain mean)."""
    num = np.asarray(num, dtype=float)
    den = np.ones_like(num) if den is None else np.asarray(den, dtype=float)
    return pd.DataFrame({"seed": [seed] * len(num), "id": [str(i) for i in ids],
                         "num": num, "den": den})


def clusters(items: pd.DataFrame) -> pd.DataFrame:
    """Sums of num and den per prompt id (over seeds)."""
    return items.groupby("id", sort=True)[["num", "den"]].sum()


def cluster_estimate(items: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """Pooled sum(num)/sum(den) over prompts × seeds, CI by bootstrap over prompt clusters."""
    c = clusters(items)
    value = float(c["num"].sum() / c["den"].sum())
    lo, hi = (value, value) if len(c) < 2 else bootstrap_ci(
        (c["num"].to_numpy(), c["den"].to_numpy()), _ratio, n_boot, seed)[:2]
    return {"value": value, "ci": [lo, hi], "n": int(len(items)), "n_clusters": int(len(c)),
            "ci_method": "cluster-bootstrap"}


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Exact McNemar p-value: a binomial test of the discordant pairs against 1/2."""
    m = a_only + b_only
    return 1.0 if m == 0 else float(stats.binomtest(a_only, m, 0.5).pvalue)


def minimal_detectable_difference(psi: float, n: int, power: float = POWER) -> float:
    """Smallest true paired difference δ a two-sided level-0.05 test detects with ``power``
    at n independent units whose paired differences have second moment ψ (for 0/1 pairs: the
    discordance rate). Solves Connor's (1987) McNemar sample-size equation for δ:
    δ√n = z_{α/2}√ψ + z_β√(ψ − δ²). Undefined (nan) when ψ = 0 (no discordance observed)."""
    za, zb = stats.norm.ppf((1 + CONFIDENCE) / 2), stats.norm.ppf(power)
    if psi <= 0 or n <= za ** 2:
        return float("nan")
    root = np.sqrt(psi)
    f = lambda d: d * np.sqrt(n) - za * root - zb * np.sqrt(max(psi - d * d, 0.0))  # noqa: E731
    return float(optimize.brentq(f, 0.0, root))


@dataclass
class PairedDiff:
    value: float
    ci: tuple[float, float]
    n: int                       # paired rows: prompts × seeds
    n_clusters: int              # prompts (the resampled unit)
    seeds: list = field(default_factory=list)
    test: str = ""
    p_value: float | None = None
    mdd: float = float("nan")    # minimal detectable difference (80% power, two-sided 0.05)
    discordant: tuple[int, int] | None = None    # (a only, b only) for 0/1 items, one seed


def _influence(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Per-cluster linearisation of sum(num)/sum(den) (for a mean: the centred values)."""
    r = num.sum() / den.sum()
    return (num - r * den) / den.mean()


def paired_difference(a: pd.DataFrame, b: pd.DataFrame | float, n_boot: int = 1000,
                      seed: int = 0) -> PairedDiff:
    """a − b on the (seed, id) rows both sides have (or a − a constant), CI by bootstrap over
    prompt clusters; with 0/1 items and one seed also the exact McNemar test."""
    if not isinstance(b, pd.DataFrame):
        return _against_constant(a, float(b), n_boot, seed)
    for side, items in (("a", a), ("b", b)):
        dup = items[items.duplicated(["seed", "id"])]
        if not dup.empty:
            raise ValueError(f"paired difference: side {side} has several rows for (seed, id) "
                             f"{tuple(dup.iloc[0][['seed', 'id']])}; prompt ids must be unique")
    rows = a.merge(b, on=["seed", "id"], suffixes=("_a", "_b"))
    if rows.empty:
        raise ValueError("paired difference: the two sides share no (seed, prompt id)")
    c = rows.groupby("id", sort=True)[["num_a", "den_a", "num_b", "den_b"]].sum()
    na, da, nb, db = (c[k].to_numpy() for k in ("num_a", "den_a", "num_b", "den_b"))
    value = float(na.sum() / da.sum() - nb.sum() / db.sum())
    lo, hi = (value, value) if len(c) < 2 else bootstrap_ci((na, da, nb, db), _ratio_difference,
                                                            n_boot, seed)[:2]
    infl = _influence(na, da) - _influence(nb, db)
    psi = float(np.mean(infl ** 2) + value ** 2)     # second moment of the paired differences
    seeds = sorted(rows["seed"].unique().tolist(), key=str)
    out = PairedDiff(value, (lo, hi), int(len(rows)), int(len(c)), seeds,
                     f"paired bootstrap over {len(c)} prompt clusters × {len(seeds)} seed(s) "
                     f"(BCa, {n_boot} resamples)", None,
                     minimal_detectable_difference(psi, len(c)))
    binary = is_binary(rows[["num_a", "num_b"]].to_numpy()) and bool(
        (rows[["den_a", "den_b"]] == 1).all().all())
    if binary and len(seeds) == 1:      # independent 0/1 pairs: McNemar's exact test applies
        _add_mcnemar(out, rows)
    return out


def _ratio_difference(na, da, nb, db, axis=-1):
    return _ratio(na, da, axis) - _ratio(nb, db, axis)


def _add_mcnemar(out: PairedDiff, rows: pd.DataFrame) -> None:
    a_only = int(((rows.num_a == 1) & (rows.num_b == 0)).sum())
    b_only = int(((rows.num_a == 0) & (rows.num_b == 1)).sum())
    out.discordant = (a_only, b_only)
    out.p_value = mcnemar_exact(a_only, b_only)
    out.test = (f"exact McNemar (binomial test on {a_only} + {b_only} discordant pairs); "
                + out.test)


def _against_constant(a: pd.DataFrame, const: float, n_boot: int, seed: int) -> PairedDiff:
    a = a[a["den"] > 0]          # items that did not decide (a win rate's third pick) add nothing
    c = clusters(a)
    num, den = c["num"].to_numpy(), c["den"].to_numpy()
    value = float(num.sum() / den.sum() - const)
    stat = lambda num, den, axis=-1: _ratio(num, den, axis) - const  # noqa: E731
    lo, hi = (value, value) if len(c) < 2 else bootstrap_ci((num, den), stat, n_boot, seed)[:2]
    psi = float(np.mean(_influence(num, den) ** 2) + value ** 2)
    seeds = sorted(a["seed"].unique().tolist(), key=str)
    out = PairedDiff(value, (lo, hi), int(len(a)), int(len(c)), seeds,
                     f"bootstrap over {len(c)} item clusters against the fixed point "
                     f"{const:g} (BCa, {n_boot} resamples)", None,
                     minimal_detectable_difference(psi, len(c)))
    if is_binary(a["num"].to_numpy()) and (a["den"] == 1).all() and len(seeds) == 1:
        out.p_value = float(stats.binomtest(int(a["num"].sum()), len(a), const).pvalue)
        out.test = f"exact binomial test against {const:g}; " + out.test
    return out
