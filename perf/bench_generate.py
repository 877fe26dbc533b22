"""Generation: the HF backend batched (left padding, KV cache) against one prompt at a time
(the same backend with batch size 1), greedy, on held-out-style prompts — and the batched
backend on a model that carries the preset's LoRA adapters unmerged, as evaluation did before
it folded them into the weights (``Subject.load(merge=True)``). The merged model is the base
model here: folding changes weights, not cost."""
from __future__ import annotations

from perf.data import triaged_pairs
from perf.timing import alternate, ratio, summarise


def run(preset: str, n_prompts: int, max_new_tokens: int, repeats: int, log=print
        ) -> tuple[dict, dict]:
    from realignbench.config import load_config
    from realignbench.models.backend import get_backend
    from realignbench.models.loading import load_model
    cfg = load_config(preset)
    model, tok = load_model(cfg.model.preset, dtype=cfg.model.dtype,
                            attn_implementation=cfg.model.attn_implementation)
    prompts = [(p.id, p.prompt) for p in triaged_pairs()[:n_prompts]]
    batched = get_backend(cfg.model, model, tok, batch_size=cfg.eval.batch_size, progress=False)
    single = get_backend(cfg.model, model, tok, batch_size=1, progress=False)
    variants = {
        "batched": lambda: batched.generate(prompts, max_new_tokens),
        "one_at_a_time": lambda: single.generate(prompts, max_new_tokens),
    }
    if cfg.train.lora:
        from realignbench.train.adapters import prepare_model
        lora_model, _ = load_model(cfg.model.preset, dtype=cfg.model.dtype,
                                   attn_implementation=cfg.model.attn_implementation)
        lora = get_backend(cfg.model, prepare_model(lora_model, cfg.train, seed=0).eval(), tok,
                           batch_size=cfg.eval.batch_size, progress=False)
        variants["batched_lora_unmerged"] = lambda: lora.generate(prompts, max_new_tokens)
    log(f"generation on {preset} ({cfg.model.dtype}): {len(prompts)} prompts × "
        f"≤{max_new_tokens} new tokens, batch {cfg.eval.batch_size} vs 1")
    runs, values = alternate(variants, repeats, warmup=["batched"], log=log)
    tokens = {name: sum(g.n_tokens for g in gens) for name, gens in values.items()}
    same = sum(a.text == b.text for a, b in zip(values["batched"], values["one_at_a_time"]))
    return {
        "preset": preset, "dtype": cfg.model.dtype, "prompts": len(prompts),
        "max_new_tokens": max_new_tokens, "batch_size": cfg.eval.batch_size,
        "warmed_up": ["batched"],
        "variants": {name: summarise(r, tokens[name], "tokens") for name, r in runs.items()},
        "ratios": {"batched_vs_one_at_a_time": ratio(runs["batched"], runs["one_at_a_time"]),
                   **({"merged_vs_lora_unmerged": ratio(runs["batched"],
                                                        runs["batched_lora_unmerged"])}
                      if "batched_lora_unmerged" in runs else {})},
        "agreement": {"identical_texts": same, "of": len(prompts)},
    }, variants
