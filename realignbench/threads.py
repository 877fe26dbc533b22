"""Intra-op thread count for a command or a worker, from ``model.threads`` (core: no model code)."""
from __future__ import annotations


def apply_threads(cfg) -> None:
    """Set torch's intra-op thread count from ``model.threads`` (0 = leave torch's default)."""
    if cfg.model.threads:
        import torch
        torch.set_num_threads(cfg.model.threads)
