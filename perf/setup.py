"""Model, config and trainer for a benchmark, built the way the pipeline builds them."""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from realignbench.config import load_config


class Workbench:
    """A preset's config, its model with fresh LoRA adapters (θ_ref), and the tokenizer.

    ``reset()`` puts the adapters back to their initial values, so every repeat of every
    variant starts from the same weights."""

    def __init__(self, preset: str, dtype: str | None = None, seed: int = 0,
                 overrides: list[str] | None = None):
        from realignbench.models.loading import load_model
        from realignbench.train.adapters import prepare_model
        over = list(overrides or [])
        if dtype:
            over.append(f"model.dtype={dtype}")
        self.cfg = load_config(preset, over)
        self.seed = seed
        model, self.tokenizer = load_model(self.cfg.model.preset, dtype=self.cfg.model.dtype,
                                           attn_implementation=self.cfg.model.attn_implementation)
        self.model = prepare_model(model, self.cfg.train, seed)
        self.initial = {n: p.detach().clone() for n, p in self.model.named_parameters()
                        if p.requires_grad}
        self._tmp = tempfile.TemporaryDirectory(prefix="realignbench-perf-")
        self._acc = None

    @property
    def dtype(self) -> str:
        return self.cfg.model.dtype

    def reset(self) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if name in self.initial:
                    p.copy_(self.initial[name])
        self.model.zero_grad(set_to_none=True)

    def fresh_dir(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._tmp.name))

    def trainer(self, out_dir: Path | None = None):
        from realignbench.train.trainer import Trainer, get_accelerator
        if self._acc is None:
            self._acc = get_accelerator()
        return Trainer(self.model, self.tokenizer, self.cfg, out_dir or self.fresh_dir("trainer"),
                       self.seed, self._acc)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.model.named_parameters()
                if p.requires_grad}
