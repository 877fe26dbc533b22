"""SmolLM2 on CPU: bf16 vs fp32 (forward, generation) and batched vs one-at-a-time greedy.

``python -m perf.models_dtype`` (takes the shared CPU lock; about 3 minutes on 2 free cores)
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


def main(argv=None) -> dict:
    from realignbench.models.generation import HFBackend
    from realignbench.models.loading import load_model
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--no-lock", action="store_true")
    args = p.parse_args(argv)
    out: dict = {"threads": torch.get_num_threads(), "n_prompts": len(PROMPTS),
                 "max_new_tokens": args.max_new_tokens}
    with cpu_lock(not args.no_lock):
        out["load1_start"] = loadavg()
        models, backends = {}, {}
        for dtype in ("fp32", "bf16"):
            t = time.perf_counter()
            models[dtype], tok = load_model("smol", dtype=dtype)
            out[f"load_s_{dtype}"] = round(time.perf_counter() - t, 3)
            backends[dtype] = HFBackend(models[dtype], tok, 96, batch_size=16, progress=False)
        batch = torch.randint(100, 40000, (16, 128), generator=torch.Generator().manual_seed(0))
        print("forward 16x128 (no grad)")
        runs, _ = alternate({d: _forward(models[d], batch) for d in models}, args.repeats)
        out["forward_16x128"] = {d: summarise(r, 16 * 128, "tokens") for d, r in runs.items()}
        out["forward_16x128"]["bf16_speedup"] = ratio(runs["bf16"], runs["fp32"])
        print(f"generate {len(PROMPTS)} prompts x {args.max_new_tokens} (batched greedy)")
        runs, gens = alternate({d: _gen(backends[d], args.max_new_tokens) for d in models},
                               args.repeats)
        out["generate_batched"] = {
            d: summarise(r, sum(g.n_tokens for g in gens[d]), "new_tokens") for d, r in runs.items()}
        out["generate_batched"]["bf16_speedup"] = ratio(runs["bf16"], runs["fp32"])
        out["fp32_vs_bf16_identical_outputs"] = sum(
            a.text == b.text for a, b in zip(gens["fp32"], gens["bf16"]))
        for d, backend in backends.items():
            print(f"generate one at a time ({d})")
            single = HFBackend(backend.model, backend.tok, 96, batch_size=1, progress=False)
            t0 = time.perf_counter()
            one = single.generate(PROMPTS, max_new_tokens=args.max_new_tokens)
            wall = time.perf_counter() - t0
            same = [a == b for a, b in zip(gens[d], one)]
            out[f"one_at_a_time_{d}"] = {
                "wall_s": round(wall, 3), "new_tokens": sum(g.n_tokens for g in one),
                "identical_to_batched": sum(same),
                "differing_prompts": [g.prompt_id for g, s in zip(one, same) if not s],
                "batched_median_wall_s": out["generate_batched"][d]["median_wall_s"]}
        out["samples_bf16_batched"] = {g.prompt_id: g.text for g in gens["bf16"][:4]}
        out["load1_end"] = loadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("samples")}, indent=1))
    print(f"written to {RESULTS}")
    return out


if __name__ == "__main__":
    main()
