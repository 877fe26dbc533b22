"""Pure loss functions (DESIGN §6; maths in reference/baselines.md).

Every function maps per-example tensors to a per-example loss tensor (no reduction, no
weights): the objective (``train/objective.py``) applies weights and reduces. Sequence
log-probs are sums over response tokens (prompt and template masked, end-of-turn kept);
``delta`` is the DPO margin Δ = [log π(y+) − log π_ref(y+)] − [log π(y−) − log π_ref(y−)].
All losses are minimised.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def margin(policy_pos: Tensor, ref_pos: Tensor, policy_neg: Tensor, ref_neg: Tensor) -> Tensor:
    """Δ: the difference of the two log-ratios (policy vs reference)."""
    return (policy_pos - ref_pos) - (policy_neg - ref_neg)


def dpo_loss(delta: Tensor, beta: float) -> Tensor:
    """DPO (Rafailov et al. 2023): −log σ(βΔ) on summed log-ratios."""
    return F.softplus(-beta * delta)


def ipo_loss(delta_per_token: Tensor, beta: float) -> Tensor:
    """IPO (Azar et al. 2023, squared form): (Δ̄ − 1/(2β))², with Δ̄ built from log-ratios
    each divided by its own response length (the length-normalised form TRL uses)."""
    return (delta_per_token - 1.0 / (2.0 * beta)) ** 2


def rdpo_loss(delta: Tensor, beta: float, eps: float) -> Tensor:
    """Robust DPO (Chowdhury et al. 2024): [−(1−ε) log σ(βΔ) + ε log σ(−βΔ)] / (1−2ε).

    Unbiased under labels flipped with rate ε: (1−ε)·ℓ̂(Δ) + ε·ℓ̂(−Δ) = DPO(Δ). It is unbounded
    below for large margins, so never assume it is non-negative.
    """
    if not 0.0 <= eps < 0.5:
        raise ValueError(f"rDPO flip rate eps must lie in [0, 0.5), got {eps}")
    z = beta * delta
    return ((1.0 - eps) * F.softplus(-z) - eps * F.softplus(z)) / (1.0 - 2.0 * eps)


NPO_SCALES = ("paper", "standard")


def npo_loss(log_ratio: Tensor, beta: float, scale: str = "paper") -> Tensor:
    """NPO on one response, r = log π(y) − log π_ref(y) summed over its tokens.

    * ``paper`` (TRACE's Algorithm 1 as released): softplus(β·r) = −log σ(−β·r). At the
      reference its gradient is (β/2)·∇log π(y), on the DPO term's scale.
    * ``standard`` (Zhang et al. 2024): (2/β)·softplus(β·r). At the reference it equals
      (2/β)·log 2 with gradient ∇log π(y); β → 0 recovers gradient ascent. 2/β times the
      ``paper`` form (20× at β 0.1)."""
    if scale not in NPO_SCALES:
        raise ValueError(f"NPO scale {scale!r} is not one of {NPO_SCALES}")
    factor = 2.0 / beta if scale == "standard" else 1.0
    return factor * F.softplus(beta * log_ratio)


def kl_anchor(policy_logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """Forward KL(π_ref ‖ π) per position, from full-vocabulary log-probs ``[..., V]``.

    Computed from log_softmax outputs (``kl_div`` with ``log_target``), not from
    probabilities with an epsilon: stable and exact at zero. Returns shape ``[...]``."""
    return F.kl_div(policy_logprobs, ref_logprobs, log_target=True, reduction="none").sum(-1)


def nll_loss(logp_sum: Tensor, n_tokens: Tensor) -> Tensor:
    """Per-token negative log-likelihood of a response (SFT, and the RPO-style NLL term)."""
    return -logp_sum / n_tokens.clamp(min=1).to(logp_sum.dtype)


def preference_loss(kind: str, delta: Tensor, delta_per_token: Tensor, beta: float,
                    eps: float = 0.0) -> Tensor:
    """Dispatch on the preference-loss kind: ``dpo`` | ``ipo`` | ``rdpo``."""
    if kind == "dpo":
        return dpo_loss(delta, beta)
    if kind == "ipo":
        return ipo_loss(delta_per_token, beta)
    if kind == "rdpo":
        return rdpo_loss(delta, beta, eps)
    raise ValueError(f"unknown preference loss {kind!r}; expected dpo|ipo|rdpo")


PREFERENCE_KINDS = ("dpo", "ipo", "rdpo")

__all__ = ["margin", "dpo_loss", "ipo_loss", "rdpo_loss", "npo_loss", "kl_anchor", "nll_loss",
           "preference_loss", "PREFERENCE_KINDS", "NPO_SCALES"]
