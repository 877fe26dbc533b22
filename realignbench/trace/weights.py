"""Impact scores -> training weights (TRACE Algorithm 1, lines 19-20).

Scores are clamped at zero (a sample whose descent step would raise the gold loss is not
trained on) and normalised over the kept samples:

* ``sum1`` (default; Algorithm 1 line 20 and the authors' code): weights sum to 1, ~1/|K⁺|
  each beside α_KL = 0.1 per RETAIN example, so the anchor is relatively |K⁺| times stronger
  than under ``mean1`` (and the ablation without impact weights, w = 1, ~|K| times weaker);
* ``mean1`` (ours): kept weights average 1, so the balance between the preference terms
  and the KL anchor does not depend on how many samples there are.

The authors divide by γ before clamping; for any γ > 0 that cancels in the normalisation, so
there is no γ here.

Normalising ``joint`` (default: the paper's single INVERT ∪ PUNISH pool) or ``per_category``
(ours): a score is ⟨g_J, ∇ℓ_i⟩, so its scale is that of its loss. With the paper's NPO (no
2/β) its gradient at θ_ref is (β/2)·∇log π(y), on the DPO term's scale, and one pool is
consistent; with standard NPO (2/β) pooled PUNISH weights come out 2/β times larger — an
artefact of parametrisation, which per-category normalisation removes.
"""
from __future__ import annotations

import torch
from torch import Tensor

NORMS = ("mean1", "sum1")
GROUPINGS = ("per_category", "joint")


def normalise(scores: Tensor, mode: str = "sum1") -> Tensor:
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


def normalise_groups(scores: Tensor, groups: list[str], mode: str = "sum1") -> Tensor:
    """``normalise`` within each group; a group whose scores are all <= 0 is dropped whole.
    Raises only if no group keeps anything."""
    out = torch.zeros(scores.numel(), dtype=torch.float64)
    for name in dict.fromkeys(groups):
        idx = torch.tensor([i for i, g in enumerate(groups) if g == name])
        if bool((scores[idx] > 0).any()):
            out[idx] = normalise(scores[idx], mode)
    if not bool((out > 0).any()):
        normalise(scores, mode)             # raises the all-<=0 error
    return out
