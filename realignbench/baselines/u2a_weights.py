"""U2A's bi-level sample weights (Feng et al. 2025), as derived rather than as released.

Inner problem: θ*(ω) = argmin_θ Σ_i ω_i ℓ_i(θ) (ℓ_i: NPO on forget response i). Outer: the
gold preference loss J(θ*(ω)). By the implicit-function theorem, with H ≈ γI,

    ∂J/∂ω_i = −⟨∇J, H⁻¹ ∇ℓ_i⟩ ≈ −s_i / γ,      s_i = ⟨g_J, ∇ℓ_i⟩,

so a sample with s_i > 0 (a descent step on ℓ_i also descends J) is *helpful*. Mirror
descent (exponentiated gradient) on the simplex then multiplies its weight by exp(+η s_i/γ).
The public U2A code multiplies by exp(−η s_i/γ) — it shrinks the very samples its top-k
selection keeps (reference/baselines.md §5.7); ``PUBLIC_CODE_SIGN`` exists only so a test can
show that this raises J on a problem where the hypergradient is exact.
"""
from __future__ import annotations

import torch
from torch import Tensor

PUBLIC_CODE_SIGN = -1.0


def top_k(scores: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` largest *positive* scores, best first (ties: lower index first).

    A sample with s_i <= 0 is not helpful (descending its loss does not descend J), so it is
    never selected: with fewer than k positive scores, fewer than k indices come back (the
    public code's torch.topk keeps negative ones). Raises if no score is positive."""
    if not 1 <= k <= scores.numel():
        raise ValueError(f"top-k needs 1 <= k <= {scores.numel()} scores, got k={k}")
    n_positive = int((scores > 0).sum())
    if n_positive == 0:
        raise ValueError(f"U2A: none of the {scores.numel()} impact scores is positive; no "
                         "forget sample would lower the gold loss, nothing to select")
    return torch.argsort(scores.double(), descending=True, stable=True)[:min(k, n_positive)]


def hypergradient(scores: Tensor, gamma: float) -> Tensor:
    """∂J/∂ω_i under H ≈ γI: −s_i/γ."""
    if gamma <= 0:
        raise ValueError(f"U2A gamma (Hessian damping) must be > 0, got {gamma}")
    return -scores.double() / gamma


def mirror_step(weights: Tensor, grad: Tensor, lr: float) -> Tensor:
    """One exponentiated-gradient step ω ← ω·exp(−η·grad), renormalised so Σω is kept.

    Computed in log space (a softmax), so large η·grad cannot overflow."""
    if weights.shape != grad.shape:
        raise ValueError(f"weights {tuple(weights.shape)} and gradient {tuple(grad.shape)} "
                         "differ in shape")
    w = weights.double()
    if bool((w <= 0).any()):
        raise ValueError("mirror descent needs strictly positive weights")
    return w.sum() * torch.softmax(w.log() - lr * grad.double(), dim=0)


def u2a_update(weights: Tensor, scores: Tensor, lr: float, gamma: float,
               sign: float = 1.0) -> Tensor:
    """The U2A weight update: mirror descent on J with the hypergradient above. ``sign=-1``
    reproduces the public code's update (for tests and documentation only)."""
    return mirror_step(weights, sign * hypergradient(scores, gamma), lr)
