"""Shared statistics: bootstrap confidence intervals and the metric record every eval writes.

A metric record is ``{"value": float, "ci": [lo, hi], "n": int}``; tables read only these.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded, so tables are reproducible)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def metric(values: Sequence[float], n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of per-item values with its bootstrap 95% CI and n."""
    x = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(x, n_boot=n_boot, seed=seed)
    return {"value": float(x.mean()) if x.size else float("nan"), "ci": [lo, hi], "n": int(x.size)}


def constant_metric(value: float) -> dict:
    """A count or census (no sampling error): the CI is the value itself."""
    return {"value": float(value), "ci": [float(value), float(value)], "n": 1}
