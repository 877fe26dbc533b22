"""``make gpu-check``, second part: the GPU path of one realignment on ``tiny`` (nothing to
download, about a minute on one GPU): data and label triage, M_ref and one TRACE run trained
on CUDA in bf16 (impact scores by JVP), the TRACE model placed on CUDA for evaluation, TPA
with HF generation plus likelihood TPA, and capability through lm-eval on the GPU. Prints one
JSON summary (device, per-stage seconds, peak memory, the metrics) and exits 1 without CUDA.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time

import torch


def _timed(log: dict, name: str, fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    log[name] = round(time.perf_counter() - start, 2)
    return out


def main(require_cuda: bool = True) -> int:
    """``require_cuda=False`` runs the same steps on the CPU (to check this script itself)."""
    if require_cuda and not torch.cuda.is_available():
        print("gpu-check: no CUDA device here; nothing was checked", file=sys.stderr)
        return 1
    from realignbench.bench.capability import capability_stage
    from realignbench.bench.subject import from_run
    from realignbench.bench.tpa import tpa_stage
    from realignbench.config import load_config
    from realignbench.models.placement import release_memory
    from realignbench.train.api import reference_run, train_method
    from realignbench.triage.stage import prepare_data

    cfg = load_config("tiny", ["model.dtype=bf16",       # TRACE scores by JVP (its default)
                               f"runs_dir={tempfile.mkdtemp(prefix='gpu-check-')}"])
    seconds: dict[str, float] = {}
    prepared = _timed(seconds, "data", lambda: prepare_data(cfg))
    largest = prepared.train[max(prepared.train)]
    mref = _timed(seconds, "train_m_ref", lambda: reference_run(cfg, largest))
    trace = _timed(seconds, "train_trace", lambda: train_method(cfg, "trace", largest, mref))
    train_peak = torch.cuda.max_memory_allocated()
    release_memory()
    subject = from_run(trace)
    model, _ = subject.load(cfg)
    placed_on = str(next(model.parameters()).device)
    del model
    release_memory()
    tpa = _timed(seconds, "eval_tpa", lambda: tpa_stage(cfg, subject, prepared))
    cap = _timed(seconds, "eval_capability", lambda: capability_stage(cfg, subject))
    tpa_m, cap_m = tpa.results()["metrics"], cap.results()["metrics"]
    summary = {"device": torch.cuda.get_device_name(0) if require_cuda else "cpu",
               "eval_model_on": placed_on,
               "train_peak_memory_mib": round(train_peak / 2**20, 1),
               "seconds": seconds, "tpa": tpa_m["tpa"]["value"],
               "likelihood_tpa": {k: v["value"] for k, v in tpa_m.items() if "likelihood" in k},
               "capability": {k: v["value"] for k, v in cap_m.items()},
               "runs_dir": cfg.runs_dir}
    print(json.dumps(summary, indent=1))
    ok = not require_cuda or (placed_on.startswith("cuda") and train_peak > 0)
    print("gpu-check:", "OK" if ok else "FAILED (the model did not reach the GPU)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
