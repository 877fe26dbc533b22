"""The one objective every method shares: per-example loss terms from a scored batch.

    L = (1/G) Σ_i w_i · [ ℓ_kind(i) + nll_weight · NLL(preferred_i) · 1{i is a preference} ]

with G the number of examples in the optimiser step (so micro-batching, accumulation and the
number of processes do not change the loss), ℓ_preference ∈ {DPO, IPO, rDPO}, ℓ_punitive =
NPO (per example: the paper's unscaled form or the standard 2/β one), ℓ_anchor = mean forward KL over the response tokens, ℓ_sft = per-token NLL.
``example_terms`` is also what impact scores differentiate (``trace/impact.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from realignbench.train import losses as L
from realignbench.train.batching import KIND_CODES, Batch

PREF, PUN, ANC, SFT = (KIND_CODES[k] for k in ("preference", "punitive", "anchor", "sft"))


@dataclass
class Terms:
    main: Tensor       # [E] the kind's loss, unweighted
    nll: Tensor        # [E] per-token NLL of the preferred response (preferences), else 0
    delta: Tensor      # [E] DPO margin Δ (preferences), else NaN; for logging


def _put(base: Tensor, idx: Tensor, values: Tensor) -> Tensor:
    return base.index_copy(0, idx, values.to(base.dtype)) if idx.numel() else base


def example_terms(out: dict[str, Tensor], ref_logp: Tensor, batch: Batch, beta: float,
                  ref_full: Tensor | None = None) -> Terms:
    """Per-example terms. ``out`` is the policy's :class:`SequenceScorer` output on ``batch``;
    ``ref_logp`` [S] the reference log-probs of its rows; ``ref_full`` the reference's
    full-vocabulary log-probs at the anchor rows' target positions."""
    logp, n = out["logp"], out["n_tokens"]
    n_ex = batch.kind.numel()
    zeros = torch.zeros(n_ex, dtype=logp.dtype, device=logp.device)
    main, nll = zeros, zeros
    delta = torch.full_like(zeros, float("nan"))
    ratio = logp - ref_logp.to(logp.dtype)
    for (kind, eps), idx in batch.pref_groups.items():
        pos, neg = batch.first[idx], batch.second[idx]
        d = ratio[pos] - ratio[neg]
        d_tok = ratio[pos] / n[pos].clamp(min=1) - ratio[neg] / n[neg].clamp(min=1)
        main = _put(main, idx, L.preference_loss(kind, d, d_tok, beta, eps))
        nll = _put(nll, idx, L.nll_loss(logp[pos], n[pos]))
        delta = _put(delta, idx, d.detach())
    for scale, standard in (("paper", False), ("standard", True)):
        idx = ((batch.kind == PUN) & (batch.npo_standard == standard)).nonzero().flatten()
        main = _put(main, idx, L.npo_loss(ratio[batch.first[idx]], beta, scale))
    idx = (batch.kind == SFT).nonzero().flatten()
    main = _put(main, idx, L.nll_loss(logp[batch.first[idx]], n[batch.first[idx]]))
    idx = (batch.kind == ANC).nonzero().flatten()
    if idx.numel():
        if ref_full is None or "full" not in out:
            raise ValueError("anchor examples need full log-probs from policy and reference")
        per_tok = L.kl_anchor(out["full"], ref_full)
        rows = out["full_rows"]
        kl_sum = torch.zeros(logp.shape[0], dtype=per_tok.dtype, device=per_tok.device)
        kl_sum = kl_sum.index_add(0, rows, per_tok)
        kl_mean = kl_sum / n.clamp(min=1)
        main = _put(main, idx, kl_mean[batch.first[idx]])
    return Terms(main=main, nll=nll, delta=delta)


def weighted_sum(terms: Terms, batch: Batch, nll_weight: float) -> Tensor:
    """Σ_i w_i (ℓ_i + nll_weight · NLL_i) over the batch (divide by G outside)."""
    w = batch.weight.to(terms.main.dtype)
    return (w * (terms.main + nll_weight * terms.nll)).sum()


NAMES = {PREF: "preference", PUN: "npo", ANC: "kl", SFT: "sft"}
COMPONENT_KEYS = tuple(f"{n}/{s}" for n in NAMES.values() for s in ("n", "loss", "weighted")) + (
    "nll/loss", "nll/weighted", "preference/margin", "preference/accuracy")


def component_sums(terms: Terms, batch: Batch, nll_weight: float) -> dict[str, float]:
    """Sums for logging: per component the unweighted loss, the weighted contribution and a
    count; for preferences also the NLL and the share of positive margins."""
    out: dict[str, float] = {}
    main, w = terms.main.detach(), batch.weight.to(terms.main.dtype)
    for code, name in NAMES.items():
        sel = batch.kind == code
        if not bool(sel.any()):
            continue
        out[f"{name}/n"] = float(sel.sum())
        out[f"{name}/loss"] = float(main[sel].sum())
        out[f"{name}/weighted"] = float((w[sel] * main[sel]).sum())
        if code == PREF:
            out["nll/loss"] = float(terms.nll.detach()[sel].sum())
            out["nll/weighted"] = float((w[sel] * nll_weight * terms.nll.detach()[sel]).sum())
            out["preference/margin"] = float(terms.delta[sel].sum())
            out["preference/accuracy"] = float((terms.delta[sel] > 0).sum())
    return out


def finish_components(sums: dict[str, float], n_step: int) -> dict[str, float]:
    """Turn summed logs into means: unweighted means per component, weighted / G."""
    out = {}
    for key, value in sums.items():
        name, stat = key.split("/")
        if stat == "n":
            out[key] = int(value)
        elif stat == "weighted":
            out[key] = value / n_step
        else:
            count = sums.get(f"{'preference' if name == 'nll' else name}/n", 0) or 1
            out[key] = value / count
    return out
