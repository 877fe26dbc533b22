"""Impact scores -> training weights (TRACE Algorithm 1, lines 19-20).

Scores are clamped at zero (a sample whose descent step would raise the gold loss is not
trained on) and normalised over the kept samples:

* ``mean1`` (default): kept weights average 1, so the balance between the preference terms
  and the KL anchor does not depend on how many samples there are;
* ``sum1``: weights sum to 1 (the authors' code: ~1/|K| each, which makes the ablation
  without impact weights ~|K| times stronger against the KL term).

The authors divide by γ before clamping; for any γ > 0 that cancels in the normalisation, so
there is no γ here.
"""
from __future__ import annotations

import torch
from torch import Tensor

NORMS = ("mean1", "sum1")


def normalise(scores: Tensor, mode: str = "mean1") -> Tensor:
    if mode not in NORMS:
        raise ValueError(f"weight_norm {mode!r} is not one of {NORMS}")
    clamped = scores.double().clamp(min=0)
    kept = clamped > 0
    if not bool(kept.any()):
        raise ValueError(f"all {scores.numel()} impact scores are <= 0: no sample helps the "
                         "gold objective, nothing would be trained")
    total = clamped.sum()
    if mode == "sum1":
        return clamped / total
    return clamped / (total / kept.sum())
