"""Intra-op thread count for a command or a worker, from ``model.threads`` (core: no model code).

A pipeline worker may be given more threads for one step than ``model.threads`` says — the
cores of workers that sit idle while it runs (``pipeline/parallel.py``) — through
``set_step_threads``; thread counts never enter run keys, so this changes speed, not results
beyond float reduction order.
"""
from __future__ import annotations

_step_threads: int | None = None     # this process's budget for the step it is running


def set_step_threads(n: int | None) -> None:
    """Give the current step ``n`` intra-op threads (None: back to ``model.threads``)."""
    global _step_threads
    _step_threads = n
    if n:
        import torch
        torch.set_num_threads(n)


def apply_threads(cfg) -> None:
    """Set torch's intra-op thread count from the step's budget, else ``model.threads``
    (0 = leave torch's default)."""
    n = _step_threads or cfg.model.threads
    if n:
        import torch
        torch.set_num_threads(n)
