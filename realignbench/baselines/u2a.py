"""U2A, "Unlearning to Align" (Feng et al. 2025) as TRACE's purely punitive baseline.

Forget set: every response the π_new oracle marks as violating (NPO per response, no
preferred response, hence no NLL term). Bi-level weights, reusing TRACE's gold batch and
impact-score machinery (``trace.gold``, ``trace.impact``; one JVP along g_J per batch):

1. at θ_ref: g_J = ∇ DPO loss on D_gold; s_i = ⟨g_J, ∇ℓ_i⟩ for the whole forget set; keep
   the top-k by s_i among the positive scores (a sample with s_i <= 0 would raise the gold
   loss; with fewer than k positive, all positive ones are kept and the shortfall is
   recorded; with none, the run fails) with uniform weights ω_i = 1/k; train (inner solve);
2. for each further round: recompute g_J and s_i for the kept samples at the current θ;
   mirror-descent step ω_i ← ω_i·exp(+η s_i/γ) on the simplex (``u2a_weights``: the sign
   that RAISES helpful samples' weights; the public code has it backwards); train again.

Training weights are k·ω_i (mean 1 over the kept samples, like TRACE's ``mean1``). The
optimiser steps of the whole run are those of one ordinary run on the k kept samples
(``train.epochs`` or ``train.max_steps``), split evenly over the rounds, so U2A gets the
same training budget as every other method. As in the authors' ``u2a.py`` (one AdamW and one
schedule for all inner solves), the rounds share one optimiser: each round starts from the
previous round's Adam state, on one warm-up + decay schedule over all rounds' steps
(``optimizer: kept``; ``restart`` gives each round a cold Adam and a schedule of its own).
NPO is the standard form with 2/β (``npo_scale``), as in NPO's paper and U2A's code; the
end-of-turn token stays a target unless ``npo_mask_eot``. Deviations: docs/methods.md.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from realignbench.baselines.u2a_weights import top_k, u2a_update
from realignbench.data.schema import Pair
from realignbench.runs import atomic_write_jsonl
from realignbench.train.gold import GOLD_BATCH_SIZE, GOLD_PUNISH, gold_batch
from realignbench.train.impact import SCORE_METHODS, score_statistics
from realignbench.train.impact_cache import ImpactCache
from realignbench.train.examples import Punitive, reweighted
from realignbench.train.losses import NPO_SCALES
from realignbench.train.pairs import category, complies
from realignbench.train.plugin import Method

log = logging.getLogger(__name__)


@dataclass
class U2aOptions:
    rounds: int = 3                  # inner solves; rounds 2.. start with a mirror step
    top_k: int = 0                   # samples kept; 0 = round(top_frac × forget-set size)
    top_frac: float = 0.5
    weights_lr: float = 1e-2         # η of the exponentiated-gradient step (U2A scripts)
    gamma: float = 1.0               # H ≈ γI damping of the hypergradient
    forget_set: str = "violating"    # violating: every violating response | conflict: only
                                     # those of INVERT/PUNISH pairs
    gold_batch_size: int = GOLD_BATCH_SIZE     # the same D_gold as TRACE
    gold_punish: str = GOLD_PUNISH
    score_method: str = "auto"       # auto (per device) | ghost | jvp | autograd
    npo_scale: str = "standard"      # standard (NPO paper, U2A code: 2/β) | paper (TRACE's)
    npo_mask_eot: bool = False       # True: end-of-turn is not an NPO target
    optimizer: str = "kept"          # kept (authors' code) | restart (cold Adam per round)

    def __post_init__(self):
        bad = {"rounds": self.rounds < 1, "top_k": self.top_k < 0,
               "top_frac": not 0 < self.top_frac <= 1, "weights_lr": self.weights_lr < 0,
               "gamma": self.gamma <= 0, "gold_batch_size": self.gold_batch_size < 1,
               "forget_set": self.forget_set not in ("violating", "conflict"),
               "gold_punish": self.gold_punish not in ("pool", "correction"),
               "score_method": self.score_method not in SCORE_METHODS,
               "npo_scale": self.npo_scale not in NPO_SCALES,
               "optimizer": self.optimizer not in ("kept", "restart")}
        for name, wrong in bad.items():
            if wrong:
                raise ValueError(f"methods.u2a.{name}: invalid value {getattr(self, name)!r}")

    def k_for(self, n: int) -> int:
        return min(n, self.top_k) if self.top_k else max(1, round(self.top_frac * n))


@dataclass(frozen=True)
class ForgetItem:
    pair: str
    side: str                        # chosen | rejected
    category: str
    example: Punitive


def forget_items(pairs: list[Pair], mode: str = "violating", npo_scale: str = "standard",
                 mask_eot: bool = False) -> list[ForgetItem]:
    """The violating responses, in pair order, each (prompt, response) once."""
    out, seen = [], set()
    for p in pairs:
        cat = category(p)
        if mode == "conflict" and cat == "RETAIN":
            continue
        for side in ("chosen", "rejected"):
            text = getattr(p, side)
            if complies(p, side) or (p.prompt, text) in seen:
                continue
            seen.add((p.prompt, text))
            out.append(ForgetItem(p.id, side, cat, Punitive(p.id, p.prompt, text,
                                                            npo_scale=npo_scale,
                                                            mask_eot=mask_eot)))
    return out


def split_steps(total: int, rounds: int) -> list[int]:
    """``total`` optimiser steps over ``rounds`` inner solves (at least one step each)."""
    base, extra = divmod(max(total, rounds), rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def _score(ctx, gold, examples, opts) -> tuple[torch.Tensor, dict]:
    """g_J and scores at the current θ: from the impact cache when TRACE (or an identical run)
    already computed them at the same θ_ref — in practice round 1 only."""
    start = time.perf_counter()
    cache = ImpactCache(ctx.trainer, opts.score_method)
    g_j = cache.gold_gradient(gold)
    mid = time.perf_counter()
    scores = cache.scores(examples, g_j)
    return scores, {"gold_gradient_s": round(mid - start, 3),
                    "impact_scores_s": round(time.perf_counter() - mid, 3),
                    "impact_cache": cache.report}


def _optimizer_continuity(opts: U2aOptions, r: int, steps: list[int]) -> dict:
    """``kept``: round r continues round r-1's optimiser on one schedule over all rounds."""
    if opts.optimizer == "restart":
        return {}
    return {"continue_from": f"round{r}" if r else None,
            "schedule_span": (sum(steps[:r]), sum(steps))}


def u2a_run(ctx, pairs: list[Pair], opts: U2aOptions) -> dict:
    items = forget_items(pairs, opts.forget_set, opts.npo_scale, opts.npo_mask_eot)
    if not items:
        raise ValueError("U2A: no response violates π_new, the forget set is empty")
    gold = gold_batch(pairs, opts.gold_batch_size, ctx.seed, opts.gold_punish)
    k_wanted = opts.k_for(len(items))
    k, steps, n_positive = k_wanted, None, None
    rows = [{"id": it.pair, "side": it.side, "category": it.category, "selected": False,
             "scores": [], "weights": []} for it in items]
    selected, weights, rounds = None, None, []
    for r in range(opts.rounds):
        pool = range(len(items)) if selected is None else selected.tolist()
        scores, timing = _score(ctx, gold, [items[i].example for i in pool], opts)
        if selected is None:                     # round 1: top-k at θ_ref, uniform weights
            n_positive = int((scores > 0).sum())
            enc = ctx.trainer.encode([it.example for it in items])
            lengths = [enc.seqs[row[0]].n_target for row in enc.rows]
            ctx.results["scores"] = score_statistics(scores, [it.category for it in items],
                                                     lengths)
            selected = top_k(scores, k_wanted)
            k = len(selected)
            scores = scores[selected]
            weights = torch.full((k,), 1.0 / k, dtype=torch.float64)
            steps = split_steps(ctx.trainer.steps_for(k, None, None), opts.rounds)
        else:                                    # later rounds: mirror descent at θ
            weights = u2a_update(weights, scores, opts.weights_lr, opts.gamma)
        examples = [reweighted(items[i].example, k * float(w))
                    for i, w in zip(selected.tolist(), weights)]
        ctx.save_examples(examples, f"examples_round{r + 1}.jsonl")
        for i, s, w in zip(selected.tolist(), scores.tolist(), weights.tolist()):
            rows[i]["selected"] = True
            rows[i]["scores"].append(s)
            rows[i]["weights"].append(k * w)
        summary = ctx.fit(examples, phase=f"round{r + 1}", max_steps=steps[r],
                          **_optimizer_continuity(opts, r, steps))
        rounds.append({"round": r + 1, "steps": steps[r], **timing,
                       "score_min": float(scores.min()), "score_max": float(scores.max()),
                       "weight_min": float(k * weights.min()),
                       "weight_max": float(k * weights.max()),
                       "train_s": summary.get("train_s")})
        log.info("U2A round %d/%d: %d samples, weights in [%.4g, %.4g]", r + 1, opts.rounds,
                 k, k * float(weights.min()), k * float(weights.max()))
    atomic_write_jsonl(ctx.out_dir / "u2a_weights.jsonl", rows)
    by_cat = {}
    for i in selected.tolist():
        by_cat[items[i].category] = by_cat.get(items[i].category, 0) + 1
    ctx.results["u2a"] = {"forget_set": len(items), "k": k, "k_wanted": k_wanted,
                          "positive_scores": n_positive, "selected_by_category": by_cat,
                          "gold": len(gold), "optimizer": opts.optimizer,
                          "npo_scale": opts.npo_scale, "npo_mask_eot": opts.npo_mask_eot,
                          "rounds": rounds}
    return {"examples": {"punitive": k}}


U2A = Method(U2aOptions, run=u2a_run, judged_per_pair=2)
