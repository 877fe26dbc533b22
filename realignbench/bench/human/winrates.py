"""Win rates from best-of-k picks, with item-clustered bootstrap CIs.

A pick of the best among k responses implies a pairwise preference only between the picked
method and each other method. So win(a vs b) = picks of a / (picks of a + picks of b): the
share of a among the annotations that decided between a and b (an annotation that picked a
third method says nothing about a vs b and is left out). ``chosen/<m>`` is the plain share
of all annotations that picked m. Annotations of one item are correlated (same texts), so
the CI resamples items, not annotations; with one annotation per item the two coincide.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from realignbench.bench.human.annotations import Choice
from realignbench.stats import ratio_metric


def clustered_ratio(hits: np.ndarray, totals: np.ndarray, n_boot: int = 1000,
                    seed: int = 0) -> dict:
    """sum(hits)/sum(totals) over items, CI by bootstrap over items (``stats.ratio_metric``)."""
    return ratio_metric(hits, totals, n_boot, seed)


def _picks_per_item(choices: Sequence[Choice], methods: Sequence[str]) -> np.ndarray:
    """(items x methods) pick counts."""
    col = {m: j for j, m in enumerate(methods)}
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(methods), dtype=int))
    for c in choices:
        counts[c.item_id][col[c.method]] += 1
    return np.stack([counts[k] for k in sorted(counts)])


def win_metrics(choices: Sequence[Choice], methods: Sequence[str], n_boot: int = 1000,
                seed: int = 0) -> dict[str, dict]:
    """``win/<a>_vs_<b>`` for every ordered pair and ``chosen/<m>`` for every method."""
    picks = _picks_per_item(choices, methods)
    out: dict[str, dict] = {}
    for i, a in enumerate(methods):
        for j, b in enumerate(methods):
            if i != j:
                out[f"win/{a}_vs_{b}"] = clustered_ratio(
                    picks[:, i], picks[:, i] + picks[:, j], n_boot, seed)
    for i, m in enumerate(methods):
        out[f"chosen/{m}"] = clustered_ratio(picks[:, i], picks.sum(axis=1), n_boot, seed)
    return out
