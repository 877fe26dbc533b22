"""Inter-annotator agreement: Krippendorff's α at the nominal level (``krippendorff`` package).

A pick among unordered responses is a nominal judgement, so α is computed on the *method*
each annotator picked (not the display position, which is shuffled per item). Three views:

* ``overall``   -- values are the methods; every annotation counts.
* ``pair a,b``  -- only annotations that picked a or b; values {a, b}. How consistently the
  panel orders this pair when it decides between them.
* ``method m``  -- values {picked m, picked another}. Agreement on whether m is best; this is
  our reading of the paper's per-method α column (the paper does not define it).

CIs resample items (the units) with replacement; α is undefined (None) when no item has two
pairable annotations or all annotations share one value.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Callable, Iterable, Sequence

import krippendorff
import numpy as np

from realignbench.bench.human.annotations import Choice
from realignbench.stats import unit_statistic_ci


def value_counts(choices: Iterable[Choice], code: Callable[[str], int | None],
                 n_values: int) -> np.ndarray:
    """(units x values) counts; ``code(method)`` gives the value index or None to skip."""
    per_item: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n_values, dtype=int))
    for c in choices:
        v = code(c.method)
        if v is not None:
            per_item[c.item_id][v] += 1
    units = [per_item[k] for k in sorted(per_item)]
    return np.stack(units) if units else np.zeros((0, n_values), dtype=int)


def nominal_alpha(counts: np.ndarray) -> float | None:
    """α from a units x values count matrix, or None where it is undefined."""
    pairable = counts[counts.sum(axis=1) >= 2]
    if len(pairable) == 0 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None                      # no disagreement is possible: expected D_e = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = float(krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal"))
    return a if np.isfinite(a) else None


def alpha_record(counts: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """The metric record ``{"value", "ci", "n"}``; n = items with >= 2 pairable annotations."""
    pairable = counts[counts.sum(axis=1) >= 2]
    value = nominal_alpha(pairable)
    ci: list[float | None] = [None, None]
    if value is not None and n_boot > 0:
        ci = unit_statistic_ci(len(pairable), lambda idx: nominal_alpha(pairable[idx]),
                               n_boot, seed)
    return {"value": value, "ci": ci, "n": int(len(pairable)),
            "n_annotations": int(pairable.sum())}


def alpha_metrics(choices: Sequence[Choice], methods: Sequence[str], n_boot: int = 1000,
                  seed: int = 0) -> dict[str, dict]:
    """``alpha``, ``alpha/<a>_vs_<b>`` (method order as given) and ``alpha/<m>`` records."""
    index = {m: i for i, m in enumerate(methods)}
    out = {"alpha": alpha_record(value_counts(choices, index.get, len(methods)), n_boot, seed)}
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            pair = {a: 0, b: 1}
            out[f"alpha/{a}_vs_{b}"] = alpha_record(value_counts(choices, pair.get, 2),
                                                    n_boot, seed)
    for m in methods:
        out[f"alpha/{m}"] = alpha_record(
            value_counts(choices, lambda x, m=m: 0 if x == m else 1, 2), n_boot, seed)
    return out
