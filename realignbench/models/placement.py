"""Where a model lives: the one function that places a model for training or evaluation.

A model is loaded on the CPU (no ``device_map``) and then moved *whole* onto this process's
accelerator. Why not ``device_map="auto"``: it shards the model across every visible GPU and
installs hooks that keep routing activations to those devices, so a later ``.to(device)`` (or
DDP, which replicates one module per rank) fights the hooks; and an 8-9B model in bf16 fits one
GPU. Several GPUs are used by giving each worker its own (``CUDA_VISIBLE_DEVICES``), not by
sharding one model.
"""
from __future__ import annotations

import gc
import os

import torch

PURPOSES = ("train", "eval")


class PlacementError(RuntimeError):
    """A model cannot be placed as asked; the message says why."""


def process_device() -> torch.device:
    """This process's accelerator: ``cuda:<LOCAL_RANK>`` under torchrun/accelerate (one GPU per
    rank), ``cuda:0`` otherwise, or the CPU without CUDA."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def dispatched_devices(model) -> set[str]:
    """The devices of a model that accelerate dispatched with a ``device_map`` (else empty)."""
    return {str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()}


def place(model, purpose: str, device: str | torch.device | None = None):
    """Move ``model`` whole onto ``device`` (default: :func:`process_device`) for ``purpose``
    (``train`` | ``eval``; ``eval`` also switches to eval mode) and return it.

    A model already split across several devices by a ``device_map`` is refused: moving it
    would break its routing hooks, and it cannot be trained under DDP."""
    if purpose not in PURPOSES:
        raise ValueError(f"place: purpose {purpose!r} is not one of {PURPOSES}")
    split = dispatched_devices(model)
    if len(split) > 1:
        raise PlacementError(f"the model is split over {sorted(split)} by a device_map; load it "
                             f"without device_map to {purpose} it (it is placed whole)")
    model = model.to(torch.device(device) if device is not None else process_device())
    return model.eval() if purpose == "eval" else model


def release_memory() -> None:
    """Give freed tensors back: Python's cycles first, then CUDA's caching allocator (so the
    next step, or a vLLM engine in another process, sees the memory as free)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
