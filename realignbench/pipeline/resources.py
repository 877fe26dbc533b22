"""What a pipeline step needs (CPUs, GPUs), and which GPU a local worker gets.

Declared by step kind: every step that loads the model under training or evaluation takes one
GPU where there are GPUs (a model up to 9B in bf16 fits one; models are placed whole, never
sharded, see :mod:`realignbench.models.placement`), a training step ``train.gpus`` of them (DDP,
:mod:`realignbench.train.ddp_launch`); data, triage, judge validation and the simulated human
panel take none. An executor reads these (the Ray executor as ``num_cpus`` / ``num_gpus``); the
local one gives each worker process its own block of ``train.gpus`` GPUs through
``CUDA_VISIBLE_DEVICES``, so that workers on a multi-GPU node never share a device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

MODEL_KINDS = frozenset({"train", "eval_tpa", "eval_capability", "eval_asr"})


@dataclass(frozen=True)
class Resources:
    cpus: int = 1
    gpus: int = 0


def step_resources(kind: str, with_gpus: bool, train_gpus: int = 1) -> Resources:
    """The resources a step of ``kind`` asks for, on a machine with or without GPUs."""
    if not with_gpus or kind not in MODEL_KINDS:
        return Resources(cpus=1, gpus=0)
    gpus = train_gpus if kind == "train" else 1
    return Resources(cpus=gpus, gpus=gpus)


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


def worker_gpu(worker: int, gpus: list[str], per_worker: int = 1) -> str | None:
    """The GPUs of local worker ``worker`` (1-based, as multiprocessing numbers pool workers;
    a replaced worker's number keeps counting, so blocks wrap around), ``per_worker`` of them
    as a ``CUDA_VISIBLE_DEVICES`` value; None without GPUs."""
    if not gpus:
        return None
    blocks = max(1, len(gpus) // per_worker)
    start = ((worker - 1) % blocks) * per_worker
    return ",".join(gpus[start:start + per_worker])


def pin_worker_gpu(worker: int, gpus: list[str], per_worker: int = 1) -> str | None:
    """Set ``CUDA_VISIBLE_DEVICES`` of this worker process to its own GPUs; call before CUDA is
    first used in the process (CUDA reads the variable once, at initialisation)."""
    gpu = worker_gpu(worker, gpus, per_worker)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return gpu
