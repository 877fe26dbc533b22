"""Training throughput: our trainer (cached reference log-probs, dynamic padding, chosen and
rejected in one forward, micro-batches) against the authors'-semantics loop
(``perf/authors.py``: per pair, reference forwards every step, padding to 256) and against
TRL's ``DPOTrainer`` (``perf/trl_dpo.py``: the trainer a user would pick instead), on the same
plain DPO objective (``train.nll_weight=0``: TRL has no per-pair NLL term), data order,
optimiser and starting adapters. A second, smaller measurement times one policy
forward+backward of a micro-batch in fp32 and in bf16, to show which dtype pays on this CPU
(the preset should use the faster one)."""
from __future__ import annotations

import os
import statistics

import torch

from perf import authors
from perf.data import triaged_pairs
from perf.setup import Workbench
from perf.timing import alternate, ratio, summarise
from perf.trl_dpo import TrlContestant

TARGET = 4.0          # issue 10: our trainer ≥ 4× the authors'-semantics loop on smol
TARGET_TRL = 1.5      # issue 17 item 6: our trainer ≥ 1.5× TRL's DPOTrainer on smol


def dpo_examples(n: int):
    from realignbench.train.examples import Preference
    return [Preference(p.id, p.prompt, p.chosen, p.rejected) for p in triaged_pairs()[:n]]


def _ours(wb: Workbench, examples, steps: int):
    """One run of our trainer from θ_ref with an empty reference cache (so the one-off
    reference pass over the data is part of the cost)."""
    from realignbench.runs import read_jsonl
    wb.reset()
    out_dir = wb.fresh_dir("ours")
    previous = os.environ.get("REALIGNBENCH_CACHE")
    os.environ["REALIGNBENCH_CACHE"] = str(wb.fresh_dir("cache"))
    try:
        wb.trainer(out_dir).fit(examples, max_steps=steps)
    finally:
        if previous is None:
            os.environ.pop("REALIGNBENCH_CACHE", None)
        else:
            os.environ["REALIGNBENCH_CACHE"] = previous
    losses = [r["loss"] for r in read_jsonl(out_dir / "train_log.jsonl")]
    return losses, wb.adapter_state()


def _authors(wb: Workbench, examples, steps: int):
    wb.reset()
    losses = authors.train_dpo(wb.model, wb.tokenizer, wb.cfg, examples, steps, wb.seed)
    return losses, wb.adapter_state()


def _update_agreement(wb: Workbench, ours, theirs) -> dict:
    """Same maths check: per-step losses, and the final adapters relative to how far they
    moved from θ_ref — element-wise maximum, and the norm ratio that ``_trl_agreement`` uses
    (one component whose gradient is near zero can flip Adam's sign-like first step and
    dominate the maximum; the norm says whether the adapters as a whole agree)."""
    (loss_a, state_a), (loss_b, state_b) = ours, theirs
    moved = max(float((state_a[n] - wb.initial[n]).abs().max()) for n in state_a)
    diff = max(float((state_a[n] - state_b[n]).abs().max()) for n in state_a)
    moved_norm = _norm(state_a[n] - wb.initial[n] for n in state_a)
    return {"step_losses_ours": loss_a, "step_losses_authors": loss_b,
            "max_abs_loss_diff": max(abs(a - b) for a, b in zip(loss_a, loss_b)),
            "adapter_diff_over_update": diff / moved if moved else None,
            "adapter_norm_diff_over_update": (_norm(state_a[n] - state_b[n] for n in state_a)
                                              / moved_norm if moved_norm else None)}


def _norm(tensors) -> float:
    return float(torch.sqrt(sum((t.double() ** 2).sum() for t in tensors)))


def _trl_agreement(wb: Workbench, ours, trl, trl_our_tokens) -> dict:
    """How close TRL comes to our trainer: per-step losses, and ‖θ_TRL − θ_ours‖ over
    ‖θ_ours − θ_ref‖ (a norm, not the element-wise maximum: Adam's first steps are sign-like,
    so single components flip wherever a gradient component is near zero). On its own tokens
    TRL trains on slightly different sequences (``perf/trl_dpo.py``); on ours
    (``trl_our_tokens``, an untimed extra run) only the trainers differ, and the two must agree
    up to rounding."""
    (loss_a, state_a) = ours
    moved = _norm(state_a[n] - wb.initial[n] for n in state_a)
    out = {"step_losses_trl": trl[0]}
    for prefix, (loss_t, state_t) in (("trl", trl), ("trl_our_tokens", trl_our_tokens)):
        out[f"{prefix}_max_abs_loss_diff"] = max(abs(a - b) for a, b in zip(loss_a, loss_t))
        out[f"{prefix}_adapter_norm_diff_over_update"] = (
            _norm(state_a[n] - state_t[n] for n in state_a) / moved if moved else None)
    return out


def mean_tokens(wb: Workbench, examples) -> float:
    from realignbench.train.batching import EncodedExamples
    enc = EncodedExamples(examples, wb.tokenizer, wb.cfg.model.max_prompt_tokens,
                          wb.cfg.model.max_length)
    return statistics.mean(len(s.input_ids) for s in enc.seqs)


def _policy_step(wb: Workbench, examples):
    """One forward+backward of the policy on a micro-batch (what a training step repeats)."""
    from realignbench.train.batching import EncodedExamples, collate
    from realignbench.train.scorer import SequenceScorer
    enc = EncodedExamples(examples, wb.tokenizer, wb.cfg.model.max_prompt_tokens,
                          wb.cfg.model.max_length)
    batch = collate(enc, range(len(examples)))
    scorer = SequenceScorer(wb.model)

    def step():
        wb.model.zero_grad(set_to_none=True)
        scorer(batch.input_ids, batch.attention_mask, batch.labels)["logp"].sum().backward()
    return step


def dtype_probe(wb: Workbench, n_pairs: int, repeats: int, log=print) -> dict:
    other = "bf16" if wb.dtype == "fp32" else "fp32"
    benches = {wb.dtype: wb, other: Workbench(wb.cfg.model.preset, other)}
    examples = dpo_examples(n_pairs)
    variants = {f"step_{d}": _policy_step(wb, examples) for d, wb in benches.items()}
    log(f"dtype probe on {wb.cfg.model.preset}: policy forward+backward of {n_pairs} pairs, fp32 vs bf16")
    runs, _ = alternate(variants, repeats, warmup=[f"step_{wb.dtype}"], log=log)
    return {"pairs": n_pairs, "warmed_up": [f"step_{wb.dtype}"],
            "variants": {name: summarise(r, n_pairs, "pairs") for name, r in runs.items()},
            "fp32_vs_bf16": ratio(runs["step_fp32"], runs["step_bf16"])}


def run(preset: str, steps: int, repeats: int, global_batch: int = 0, probe_pairs: int = 1,
        log=print) -> tuple[dict, dict]:
    """``global_batch`` (pairs per step, also the micro-batch) overrides the preset's. Every
    contestant optimises plain DPO: the preset's NLL weight is set to 0 (see
    ``perf/trl_dpo.py`` for why TRL cannot match it)."""
    over = ["train.nll_weight=0"]
    if global_batch:
        over += [f"train.global_batch_size={global_batch}",
                 f"train.micro_batch_size={global_batch}"]
    wb = Workbench(preset, overrides=over)
    n = steps * wb.cfg.train.global_batch_size
    examples = dpo_examples(n)
    trl = TrlContestant(wb)
    variants = {"ours": lambda: _ours(wb, examples, steps),
                "authors_loop": lambda: _authors(wb, examples, steps),
                "trl": lambda: trl(examples, steps)}
    log(f"training on {preset} ({wb.dtype}): {steps} steps × {wb.cfg.train.global_batch_size} "
        f"pairs (micro-batch {wb.cfg.train.micro_batch_size}), threads {torch.get_num_threads()}")
    warmed = ["ours", "trl"]       # first-call costs (caches, lazy imports) are not the peer's
    runs, values = alternate(variants, repeats, warmup=warmed, log=log)
    trl_tokens = trl.mean_tokens()               # of TRL's own tokenisation (its last run)
    log("trl on our tokens (untimed: the agreement check that only the trainers differ)")
    trl_our_tokens = trl(examples, steps, our_tokens=True)
    out = {
        "preset": preset, "dtype": wb.dtype, "steps": steps, "pairs": n,
        "global_batch": wb.cfg.train.global_batch_size,
        "micro_batch": wb.cfg.train.micro_batch_size,
        "objective": "DPO (train.nll_weight=0)", "beta": wb.cfg.train.beta,
        "trl_version": trl.version,
        "mean_tokens_per_sequence": round(mean_tokens(wb, examples), 1),
        "trl_mean_tokens_per_sequence": round(trl_tokens, 1),
        "authors_pad_to": authors.PAD_TO, "warmed_up": warmed,
        "variants": {name: summarise(r, n, "pairs") for name, r in runs.items()},
        "ratios": {"ours_vs_authors_loop": ratio(runs["ours"], runs["authors_loop"]),
                   "ours_vs_trl": ratio(runs["ours"], runs["trl"])},
        "agreement": {**_update_agreement(wb, values["ours"], values["authors_loop"]),
                      **_trl_agreement(wb, values["ours"], values["trl"], trl_our_tokens)},
        "target": {"ratio": TARGET, "ratio_by_key": {"ours_vs_trl": TARGET_TRL},
                   "applies": preset == "smol", "keys": ["ours_vs_authors_loop", "ours_vs_trl"]},
    }
    if probe_pairs:
        out["dtype_probe"] = dtype_probe(wb, probe_pairs, repeats, log)
    return out, variants
