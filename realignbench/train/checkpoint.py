"""Training checkpoints for exact resume: trainable weights, optimiser, scheduler, RNG, step.

The data order needs no state (it is a function of seed and step, ``batching.py``). A
checkpoint directory is written under a temporary name and renamed, so a kill mid-write
leaves the previous checkpoint intact; older checkpoints are then removed.
"""
from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

PREFIX = "step-"


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest(directory: Path) -> Path | None:
    found = sorted(directory.glob(f"{PREFIX}*")) if directory.exists() else []
    found = [p for p in found if (p / "state.json").exists()]
    return found[-1] if found else None


def save(directory: Path, step: int, model: nn.Module, optimizer, scheduler, meta: dict,
         rank: int = 0, is_main: bool = True) -> Path:
    """Write ``directory/step-XXXXXXX`` (main process: weights + optimiser; every rank: RNG)."""
    target = directory / f"{PREFIX}{step:07d}"
    directory.mkdir(parents=True, exist_ok=True)
    if is_main:
        tmp = Path(tempfile.mkdtemp(prefix=".ckpt-", dir=directory))
        torch.save(trainable_state(model), tmp / "trainable.pt")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng_state(), tmp / f"rng-rank{rank}.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **meta}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        for old in directory.glob(f"{PREFIX}*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    else:
        torch.save(rng_state(), target / f"rng-rank{rank}.pt")
    return target


def load(path: Path, model: nn.Module, optimizer, scheduler, expect: dict, rank: int = 0) -> int:
    """Restore a checkpoint into live objects; return its step. ``expect`` must match the
    saved meta (same data and settings), otherwise resuming would silently mix two runs."""
    state = json.loads((path / "state.json").read_text())
    for key, value in expect.items():
        if state.get(key) != value:
            raise RuntimeError(f"{path}: checkpoint was written with {key}={state.get(key)!r}, "
                               f"this run has {value!r}; delete the run directory to restart")
    weights = torch.load(path / "trainable.pt")
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise RuntimeError(f"{path}: checkpoint has parameters the model lacks: {missing[:3]}")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt"))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt"))
    rng_file = path / f"rng-rank{rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return int(state["step"])
