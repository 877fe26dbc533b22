"""TRACE (DESIGN §6): triage-aware, impact-weighted hybrid realignment, and its ablations.

    INVERT  -> preference loss on (old rejected ≻ old chosen)     weight w_i  (+ nll_weight NLL)
    PUNISH  -> NPO on both responses                              weight w_i (shared by both)
               (oracle_punish: preference on correction ≻ old chosen)
    RETAIN  -> α_KL · KL(π_ref ‖ π) on the (compliant) chosen response

w_i = normalise(max(0, ⟨g_J, ∇ℓ_i(θ_ref)⟩)), g_J = ∇ DPO loss on the gold batch at θ_ref;
samples with w_i = 0 are dropped from the stream. Variants: ``no_triage`` (impact-weighted NPO
on the naive-oracle dispreferred response of every pair; no INVERT/RETAIN split, no KL),
``no_impact`` (w_i = 1), ``no_kl`` (α_KL = 0), ``oracle_punish``.

The defaults are Algorithm 1 as the authors ran it (reference/trace-code.md §5.5-5.7): NPO
without 2/β, weights clamped and summed to 1 over the joint INVERT ∪ PUNISH pool, α_KL 0.1 per
RETAIN example, end-of-turn kept as an NPO target (their label span ends with it), raw summed
scores. Our alternatives are options; ``trace_ours`` (:class:`TraceOursOptions`) is the
separately named variant that uses the ones we recommend (docs/methods.md).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from realignbench.data.schema import CATEGORIES, Pair
from realignbench.runs import atomic_write_jsonl
from realignbench.train.gold import GOLD_BATCH_SIZE, GOLD_PUNISH, gold_batch
from realignbench.train.impact import SCORE_METHODS, score_statistics
from realignbench.train.impact_cache import ImpactCache
from realignbench.trace.weights import GROUPINGS, NORMS, normalise_groups
from realignbench.train.examples import Anchor, Example, Preference, Punitive, reweighted
from realignbench.train.losses import NPO_SCALES
from realignbench.train.pairs import category, correction, naive_orientation
from realignbench.train.plugin import Method

log = logging.getLogger(__name__)
VARIANTS = ("full", "no_triage", "no_impact", "no_kl", "oracle_punish")
SCORE_NORMS = ("none", "length")


@dataclass
class TraceOptions:
    variant: str = "full"            # full | no_triage | no_impact | no_kl | oracle_punish
    invert_loss: str = "dpo"         # dpo (the paper's Algorithm 1 "IPO") | ipo (Azar)
    alpha_kl: float = 0.1            # per RETAIN example (Algorithm 1, authors' code)
    weight_norm: str = "sum1"        # sum1 (Algorithm 1) | mean1 (ours)
    weight_groups: str = "joint"     # joint (Algorithm 1's single pool) | per_category (ours)
    npo_scale: str = "paper"         # paper (Algorithm 1: no 2/β) | standard (Zhang et al.)
    npo_mask_eot: bool = False       # False: end-of-turn is an NPO target (authors' code)
    score_norm: str = "none"         # none (summed log-probs) | length (ours: score / tokens)
    gold_batch_size: int = GOLD_BATCH_SIZE
    gold_punish: str = GOLD_PUNISH   # pool (Algorithm 2) | correction
    score_method: str = "auto"       # auto (per device) | ghost | jvp | autograd

    def __post_init__(self):
        checks = {"variant": (self.variant, VARIANTS), "invert_loss": (self.invert_loss,
                  ("dpo", "ipo")), "weight_norm": (self.weight_norm, NORMS),
                  "weight_groups": (self.weight_groups, GROUPINGS),
                  "npo_scale": (self.npo_scale, NPO_SCALES),
                  "score_norm": (self.score_norm, SCORE_NORMS),
                  "score_method": (self.score_method, SCORE_METHODS)}
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"methods.trace.{name}: {value!r} is not one of {allowed}")
        if self.alpha_kl < 0:
            raise ValueError(f"methods.trace.alpha_kl must be >= 0, got {self.alpha_kl}")


@dataclass
class TraceOursOptions(TraceOptions):
    """``trace_ours``: Algorithm 1 plus our two changes. The end-of-turn token is not an NPO
    target (punishing it in every PUNISH response teaches the model never to stop), and a
    pair's score is divided by its response tokens (summed log-prob scores rank long responses
    lowest: score/length correlation −0.67 on tiny, issue 16 item 8)."""
    npo_mask_eot: bool = True
    score_norm: str = "length"


@dataclass
class TraceNoTriageOptions(TraceOptions):
    variant: str = "no_triage"


@dataclass
class TraceNoImpactOptions(TraceOptions):
    variant: str = "no_impact"


@dataclass
class TraceNoKlOptions(TraceOptions):
    variant: str = "no_kl"


@dataclass
class TraceOraclePunishOptions(TraceOptions):
    variant: str = "oracle_punish"


def conflict_groups(pairs: list[Pair], opts: TraceOptions) -> list[tuple[Pair, list[Example]]]:
    """The weighted samples, one group of unweighted examples per pair."""
    out = []

    def npo(response: str) -> Punitive:
        return Punitive(p.id, p.prompt, response, npo_scale=opts.npo_scale,
                        mask_eot=opts.npo_mask_eot)

    for p in pairs:
        cat = category(p)
        if opts.variant == "no_triage":
            out.append((p, [npo(naive_orientation(p)[1])]))
        elif cat == "INVERT":
            out.append((p, [Preference(p.id, p.prompt, p.rejected, p.chosen,
                                       loss=opts.invert_loss)]))
        elif cat == "PUNISH" and opts.variant == "oracle_punish":
            out.append((p, [Preference(p.id, p.prompt, correction(p), p.chosen,
                                       loss=opts.invert_loss)]))
        elif cat == "PUNISH":
            out.append((p, [npo(p.chosen), npo(p.rejected)]))
    return out


def anchors(pairs: list[Pair], opts: TraceOptions) -> list[Anchor]:
    if opts.variant in ("no_triage", "no_kl") or opts.alpha_kl == 0:
        return []
    return [Anchor(p.id, p.prompt, p.chosen, weight=opts.alpha_kl)
            for p in pairs if category(p) == "RETAIN"]


def trace_examples(ctx, pairs: list[Pair], opts: TraceOptions) -> list[Example]:
    groups = conflict_groups(pairs, opts)
    if not groups:
        raise ValueError("TRACE found no INVERT or PUNISH pairs: nothing to realign")
    timing = {}
    if opts.variant == "no_impact":
        scores = None
        weights = [1.0] * len(groups)
    else:
        start = time.perf_counter()
        gold = gold_batch(pairs, opts.gold_batch_size, ctx.seed, opts.gold_punish)
        cache = ImpactCache(ctx.trainer, opts.score_method)      # shared with variants, U2A
        g_j = cache.gold_gradient(gold)
        timing["gold_gradient_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        scores = cache.group_scores([g for _, g in groups], g_j)
        timing["impact_scores_s"] = round(time.perf_counter() - start, 3)
        ctx.results["impact_cache"] = cache.report
        lengths = response_tokens(ctx.trainer, groups)
        ctx.results["scores"] = score_statistics(scores, [p.category for p, _ in groups], lengths)
        if opts.score_norm == "length":
            scores = scores / torch.tensor(lengths, dtype=scores.dtype).clamp(min=1)
        names = [p.category if opts.weight_groups == "per_category" and
                 opts.variant != "no_triage" else "all" for p, _ in groups]
        weights = normalise_groups(scores, names, opts.weight_norm).tolist()
        ctx.results["gold"] = {"size": len(gold), "punish_response": opts.gold_punish}
    examples = [reweighted(ex, w) for (_, group), w in zip(groups, weights) if w > 0
                for ex in group]
    examples += anchors(pairs, opts)
    _record(ctx, groups, scores, weights, opts, timing)
    return examples


def response_tokens(trainer, groups) -> list[int]:
    """Target tokens of each pair's examples (all sequences of its group), as trained."""
    flat = [ex for _, group in groups for ex in group]
    enc = trainer.encode(flat)
    per_example = [sum(enc.seqs[s].n_target for s in row) for row in enc.rows]
    out, i = [], 0
    for _, group in groups:
        out.append(sum(per_example[i:i + len(group)]))
        i += len(group)
    return out


def _record(ctx, groups, scores, weights, opts, timing) -> None:
    """The weighted dataset (one row per scored pair) and kept/dropped counts per category."""
    rows, kept, dropped = [], {c: 0 for c in CATEGORIES}, {c: 0 for c in CATEGORIES}
    for i, ((pair, group), w) in enumerate(zip(groups, weights)):
        (kept if w > 0 else dropped)[pair.category] += 1
        rows.append({"id": pair.id, "category": pair.category, "weight": w,
                     "score": None if scores is None else float(scores[i]),
                     "kept": w > 0, "losses": [ex.kind for ex in group]})
    atomic_write_jsonl(ctx.out_dir / "weighted_dataset.jsonl", rows)
    ctx.results["weights"] = {"variant": opts.variant, "weight_norm": opts.weight_norm,
                              "weight_groups": opts.weight_groups, "npo_scale": opts.npo_scale,
                              "npo_mask_eot": opts.npo_mask_eot, "score_norm": opts.score_norm,
                              "score_method": opts.score_method, "kept": kept,
                              "dropped": dropped, **timing}
    log.info("TRACE %s: kept %s, dropped %s", opts.variant, kept, dropped)


TRACE = Method(TraceOptions, build=trace_examples, judged_per_pair=2,
               corrections=lambda opts: opts.variant == "oracle_punish")
