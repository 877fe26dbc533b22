"""SmolLM2 on CPU: bf16 vs fp32 (forward, generation) and batched vs one-at-a-time greedy.

``python -m perf.models_dtype`` (takes the shared CPU lock; a few minutes on 2 free cores)
writes ``perf/results/models_dtype.json``; docs/models.md quotes it. Generation goes through the
real backend (``HFBackend``: chat template, left padding, stops at end-of-turn), so token counts
vary with the answers; throughput is generated tokens per second.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from perf.machine import loadavg
from perf.timing import alternate, cpu_lock, ratio, summarise

PROMPTS = [(f"p{i:02d}", t) for i, t in enumerate([
    "What is the capital of France?", "Give me one tip for sleeping better.",
    "Write a haiku about the sea.", "How many days are there in a leap year?",
    "What does a thermometer measure?", "Name three primary colours.",
    "I feel anxious before exams. Any advice?", "Explain what a noun is in one sentence.",
    "Why do leaves change colour in autumn?", "What is the boiling point of water at sea level?",
    "Suggest a name for a friendly robot.", "How do I politely decline an invitation?",
    "What is photosynthesis?", "Translate 'good morning' into Spanish.",
    "Who wrote Romeo and Juliet?", "What should I pack for a day hike?"])]
RESULTS = Path(__file__).parent / "results" / "models_dtype.json"


def _forward(model, batch: torch.Tensor):
    def run():
        with torch.inference_mode():
            model(batch)
    return run


def _gen(backend, max_new: int):
    return lambda: backend.generate(PROMPTS, max_new_tokens=max_new)


def _dtype_section(models, backends, repeats: int) -> dict:
    """bf16 vs fp32 on a small workload (emulated bf16 is very slow on AVX2-only CPUs)."""
    out: dict = {}
    batch = torch.randint(100, 40000, (4, 128), generator=torch.Generator().manual_seed(0))
    print("forward 4x128 (no grad), fp32 vs bf16")
    runs, _ = alternate({d: _forward(models[d], batch) for d in models}, repeats)
    out["forward_4x128"] = {d: summarise(r, 4 * 128, "tokens") for d, r in runs.items()}
    out["forward_4x128"]["bf16_speedup"] = ratio(runs["bf16"], runs["fp32"])
    small = {d: (lambda b=b: b.generate(PROMPTS[:4], max_new_tokens=16)) for d, b in backends.items()}
    print("generate 4 prompts x 16, fp32 vs bf16")
    runs, gens = alternate(small, 1)
    out["generate_4x16"] = {d: summarise(r, sum(g.n_tokens for g in gens[d]), "new_tokens")
                            for d, r in runs.items()}
    out["generate_4x16"]["bf16_speedup"] = ratio(runs["bf16"], runs["fp32"])
    out["generate_4x16"]["identical_fp32_bf16"] = sum(
        a.text == b.text for a, b in zip(gens["fp32"], gens["bf16"]))
    return out


def _batching_section(backend, max_new: int, repeats: int) -> dict:
    """16 prompts: batched greedy (batch 16) vs one prompt at a time; identical outputs?"""
    from realignbench.models.generation import HFBackend
    print(f"generate {len(PROMPTS)} prompts x {max_new}: batched vs one at a time")
    single = HFBackend(backend.model, backend.tok, 96, batch_size=1, progress=False)
    runs, gens = alternate({"batched": _gen(backend, max_new), "one_at_a_time": _gen(single, max_new)},
                           repeats, warmup=False)
    a, b = gens["batched"], gens["one_at_a_time"]
    return {
        "batched": summarise(runs["batched"], sum(g.n_tokens for g in a), "new_tokens"),
        "one_at_a_time": summarise(runs["one_at_a_time"], sum(g.n_tokens for g in b), "new_tokens"),
        "batched_speedup": ratio(runs["batched"], runs["one_at_a_time"]),
        "identical_outputs": sum(x == y for x, y in zip(a, b)),
        "differing_prompts": [x.prompt_id for x, y in zip(a, b) if x != y],
        "finished_at_end_of_turn": sum(g.finished for g in a),
        "samples": {g.prompt_id: g.text for g in a[:3]}}


def main(argv=None) -> dict:
    from perf.machine import machine_info
    from realignbench.models.generation import HFBackend
    from realignbench.models.loading import load_model, native_bf16
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--batching-dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--no-lock", action="store_true")
    args = p.parse_args(argv)
    out: dict = {"machine": machine_info(), "native_bf16": native_bf16(),
                 "threads": torch.get_num_threads()}
    with cpu_lock(not args.no_lock):
        out["load1_start"] = loadavg()
        models, backends = {}, {}
        for dtype in ("fp32", "bf16"):
            t = time.perf_counter()
            models[dtype], tok = load_model("smol", dtype=dtype)
            out[f"load_s_{dtype}"] = round(time.perf_counter() - t, 3)
            backends[dtype] = HFBackend(models[dtype], tok, 96, batch_size=16, progress=False)
        out["dtype"] = _dtype_section(models, backends, args.repeats)
        out["batching"] = {"dtype": args.batching_dtype, **_batching_section(
            backends[args.batching_dtype], args.max_new_tokens, args.repeats)}
        out["load1_end"] = loadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, indent=1))
    print(f"written to {RESULTS}")
    return out


if __name__ == "__main__":
    main()
