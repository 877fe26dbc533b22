"""The trunk-activation cache (``realignbench/train/trunk.py``, issue 17): training steps and
the likelihood-TPA forward with ``train.trunk_cache=auto`` against ``off``, in the same run.

Both variants share one warm cache directory (filled by the untimed warm-up): reference
log-probs come from it in both, and the ``auto`` variant also reads the trunk's hidden states
from it — the steady state of a graph in which every method, seed and evaluation after the
first meets sequences whose trunk is already stored. Each call still builds its cache object,
so the exact digest of the trunk weights (timed on its own below) is inside every ``auto``
measurement, as it is once per training run or evaluation in the pipeline."""
from __future__ import annotations

import os
import time

import torch

from perf.data import triaged_pairs
from perf.setup import Workbench
from perf.timing import alternate, ratio, summarise


def _examples(n: int):
    from realignbench.train.examples import Preference
    return [Preference(p.id, p.prompt, p.chosen, p.rejected) for p in triaged_pairs()[:n]]


def _with_mode(wb: Workbench, mode: str):
    import dataclasses
    wb.cfg = dataclasses.replace(wb.cfg, train=dataclasses.replace(wb.cfg.train,
                                                                    trunk_cache=mode))


def _train(wb: Workbench, examples, steps: int, mode: str):
    """``steps`` optimiser steps of ``Trainer.fit`` from θ_ref with the cache ``mode``."""
    from realignbench.runs import read_jsonl
    wb.reset()
    _with_mode(wb, mode)
    out_dir = wb.fresh_dir(f"train-{mode}")
    summary = wb.trainer(out_dir).fit(examples, max_steps=steps)
    losses = [r["loss"] for r in read_jsonl(out_dir / "train_log.jsonl")]
    return {"losses": losses, "adapter": wb.adapter_state(), "trunk": summary["trunk_cache"]}


def _tpa(wb: Workbench, pairs, mode: str):
    """The likelihood-TPA pass (policy and cached reference log-probs) with the cache ``mode``."""
    from realignbench.bench.likelihood_tpa import likelihood_tpa
    wb.reset()
    wb.model.eval()
    m = wb.cfg.model
    out = likelihood_tpa(wb.model, wb.tokenizer, pairs, m.max_prompt_tokens, m.max_length,
                         batch_size=wb.cfg.eval.batch_size, n_boot=10, trunk_cache=mode)
    return out


def _agreement(values: dict) -> dict:
    on, off = values["train_cached"], values["train_full"]
    diff = sum(float((on["adapter"][n] - t).double().norm()) ** 2
               for n, t in off["adapter"].items()) ** 0.5
    norm = sum(float(t.double().norm()) ** 2 for t in off["adapter"].values()) ** 0.5
    tpa_on, tpa_off = values["tpa_cached"], values["tpa_full"]
    # margins, not win shares: at θ_ref (LoRA B = 0) every implicit margin is 0 up to fp
    # noise, so the share of margins > 0 flips with the last bit
    metric_diff = max(abs(tpa_on[k]["value"] - v["value"]) for k, v in tpa_off.items()
                      if "_margin" in k)
    return {"max_abs_loss_diff": max(abs(a - b) for a, b in zip(on["losses"], off["losses"])),
            "adapter_relative_difference": diff / norm if norm else None,
            "tpa_max_abs_margin_diff": metric_diff,
            "train_trunk_used": on["trunk"]["used"], "train_trunk_hits": on["trunk"]["hits"],
            "train_trunk_misses": on["trunk"]["misses"],
            "tpa_trunk_used": tpa_on["trunk_cache"]["used"],
            "tpa_trunk_hits": tpa_on["trunk_cache"]["hits"]}


def _digest_seconds(wb: Workbench) -> float:
    from realignbench.train.trunk import TrunkCache
    start = time.perf_counter()
    cache = TrunkCache(wb.model)
    return round(time.perf_counter() - start, 4) if cache.reason is None else None


def run(preset: str, n_pairs: int, steps: int, repeats: int, lora_layers: int = 0,
        log=print) -> tuple[dict, dict]:
    """``lora_layers`` overrides the preset's (tiny adapts every layer: no trunk to cache)."""
    over = [f"train.lora_layers={lora_layers}"] if lora_layers else []
    wb = Workbench(preset, overrides=over)
    n_train = steps * wb.cfg.train.global_batch_size
    examples = _examples(n_train)
    pairs = list(triaged_pairs()[:n_pairs])
    variants = {"train_cached": lambda: _train(wb, examples, steps, "auto"),
                "train_full": lambda: _train(wb, examples, steps, "off"),
                "tpa_cached": lambda: _tpa(wb, pairs, "auto"),
                "tpa_full": lambda: _tpa(wb, pairs, "off")}
    depth = wb.model.config.num_hidden_layers
    log(f"trunk cache on {preset} ({wb.dtype}): {steps} steps × "
        f"{wb.cfg.train.global_batch_size} pairs, likelihood TPA of {n_pairs} pairs, "
        f"LoRA on {wb.cfg.train.lora_layers or depth} of {depth} layers, "
        f"threads {torch.get_num_threads()}")
    previous = os.environ.get("REALIGNBENCH_CACHE")
    os.environ["REALIGNBENCH_CACHE"] = str(wb.fresh_dir("cache"))    # one warm cache
    try:
        runs, values = alternate(variants, repeats, warmup=True, log=log)
        digest_s = _digest_seconds(wb)
    finally:
        if previous is None:
            os.environ.pop("REALIGNBENCH_CACHE", None)
        else:
            os.environ["REALIGNBENCH_CACHE"] = previous
    out = {
        "preset": preset, "dtype": wb.dtype, "steps": steps, "pairs": n_pairs,
        "global_batch": wb.cfg.train.global_batch_size, "layers": depth,
        "lora_layers": wb.cfg.train.lora_layers or depth,
        "trunk_digest_s": digest_s, "warmed_up": list(variants),
        "variants": {name: summarise(r, n_train if name.startswith("train") else n_pairs,
                                     "pairs") for name, r in runs.items()},
        "ratios": {"train_cached_vs_full": ratio(runs["train_cached"], runs["train_full"]),
                   "tpa_cached_vs_full": ratio(runs["tpa_cached"], runs["tpa_full"])},
        "agreement": _agreement(values),
    }
    return out, variants
