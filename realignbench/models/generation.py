"""Generation behind one interface: ``backend.generate(prompts) -> list[Generation]``.

Prompts are ``(id, text)``; they are formatted with :func:`realignbench.models.chat.encode_prompt`
(the same tokens training scores), generated until the template's end-of-turn token or
``max_new_tokens``, and returned in input order. The HF backend runs anywhere (CPU or GPU); the
vLLM backend (:mod:`realignbench.models.vllm_backend`) is for GPU presets.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
from tqdm.auto import tqdm

from realignbench.models.chat import PadCollator, encode_prompt, stop_token_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    prompt_id: str
    text: str                # decoded response, end-of-turn and special tokens removed
    n_tokens: int            # generated tokens, the end-of-turn token included when emitted
    finished: bool = True    # False: stopped by max_new_tokens, not by end-of-turn


class GenerationBackend(Protocol):
    def generate(self, prompts: Sequence[tuple[str, str]], max_new_tokens: int,
                 do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 seed: int = 0) -> list[Generation]: ...


def check_prompts(prompts) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(prompts):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str)):
            raise ValueError(f"prompts[{i}] must be an (id, text) pair, got {item!r}")
        out.append((str(item[0]), item[1]))
    return out


def split_at_stop(tokens: list[int], stops: Sequence[int]) -> tuple[list[int], bool]:
    """Tokens up to and including the first stop token; whether a stop token was emitted."""
    for i, t in enumerate(tokens):
        if t in stops:
            return tokens[:i + 1], True
    return tokens, False


class HFBackend:
    """Batched ``model.generate`` with left padding and the KV cache.

    Prompts are processed longest-first in batches of ``batch_size`` (less padding); greedy
    outputs do not depend on the batching (tested). Sampling is seeded per batch
    (``seed + batch index``), so it is reproducible for a fixed prompt order and batch size."""

    def __init__(self, model, tokenizer, max_prompt_tokens: int, batch_size: int = 16,
                 progress: bool = True):
        self.model, self.tok = model, tokenizer
        self.max_prompt_tokens, self.batch_size, self.progress = max_prompt_tokens, batch_size, progress
        self.stops = stop_token_ids(tokenizer)
        self.collate = PadCollator(tokenizer.pad_token_id, side="left")

    def _config(self, max_new_tokens, do_sample, temperature, top_p):
        cfg = copy.deepcopy(self.model.generation_config)
        cfg.max_new_tokens, cfg.do_sample, cfg.use_cache = max_new_tokens, do_sample, True
        cfg.eos_token_id, cfg.pad_token_id = self.stops, self.tok.pad_token_id
        cfg.max_length = None
        # Plain temperature / nucleus sampling (vLLM's semantics): no hidden top-k, no penalties.
        cfg.temperature = temperature if do_sample else None
        cfg.top_p = top_p if do_sample else None
        cfg.top_k = None
        cfg.repetition_penalty = None
        return cfg

    @torch.inference_mode()
    def generate(self, prompts, max_new_tokens, do_sample=False, temperature=1.0, top_p=1.0,
                 seed=0) -> list[Generation]:
        prompts = check_prompts(prompts)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        cfg = self._config(max_new_tokens, do_sample, temperature, top_p)
        encoded = [encode_prompt(self.tok, text, self.max_prompt_tokens) for _, text in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        device = next(self.model.parameters()).device
        results: dict[int, Generation] = {}
        bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=not self.progress)
        for b, start in enumerate(range(0, len(order), self.batch_size)):
            idx = order[start:start + self.batch_size]
            batch = self.collate([{"input_ids": encoded[i]} for i in idx])
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed + b)
                out = self.model.generate(input_ids=batch["input_ids"].to(device),
                                          attention_mask=batch["attention_mask"].to(device),
                                          generation_config=cfg)
            width = batch["input_ids"].shape[1]
            for row, i in enumerate(idx):
                tokens, finished = split_at_stop(out[row, width:].tolist(), self.stops)
                text = self.tok.decode(tokens, skip_special_tokens=True)
                results[i] = Generation(prompts[i][0], text, len(tokens), finished)
            bar.update(len(idx))
        bar.close()
        return [results[i] for i in range(len(prompts))]
