"""What a pipeline step needs (CPUs, GPUs), and which GPU a local worker gets.

Declared by step kind: every step that loads the model under training or evaluation takes one
GPU where there are GPUs (a model up to 9B in bf16 fits one; models are placed whole, never
sharded, see :mod:`realignbench.models.placement`); data, triage, judge validation and the
simulated human panel take none. An executor reads these (the Ray executor as ``num_cpus`` /
``num_gpus``); the local one gives each worker process one GPU of its own through
``CUDA_VISIBLE_DEVICES``, so that N workers on an N-GPU node never share a device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

MODEL_KINDS = frozenset({"train", "eval_tpa", "eval_capability", "eval_asr"})


@dataclass(frozen=True)
class Resources:
    cpus: int = 1
    gpus: int = 0


def step_resources(kind: str, with_gpus: bool) -> Resources:
    """The resources a step of ``kind`` asks for, on a machine with or without GPUs."""
    return Resources(cpus=1, gpus=1 if with_gpus and kind in MODEL_KINDS else 0)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (index or UUID):
    that variable's list when set, else every device CUDA reports."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch
        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def worker_gpu(worker: int, gpus: list[str]) -> str | None:
    """The GPU of local worker ``worker`` (1-based, as multiprocessing numbers pool workers;
    a replaced worker's number keeps counting, so it wraps around); None without GPUs."""
    return gpus[(worker - 1) % len(gpus)] if gpus else None


def pin_worker_gpu(worker: int, gpus: list[str]) -> str | None:
    """Set ``CUDA_VISIBLE_DEVICES`` of this worker process to its own GPU; call before CUDA is
    first used in the process (CUDA reads the variable once, at initialisation)."""
    gpu = worker_gpu(worker, gpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return gpu
