"""Stage functions of training: ``train_method`` (one run record per method, data, reference
and settings) and ``load_trained`` (what evaluation loads).

A training run directory holds ``adapter/`` (PEFT adapter + tokenizer, its config pointing at
the reference model), ``base.json`` (that reference spec and dtype), for M_ref also
``model/`` (merged: later stages load it as θ_ref), ``examples*.jsonl`` (the training
examples with their weights), ``train_log.jsonl`` (per-component losses per step),
``checkpoints/`` and ``results.json``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from realignbench.config import Config
from realignbench.data.schema import read_pairs
from realignbench.registry import METHODS
from realignbench.runs import Run, run_stage
from realignbench.train.cost import oracle_calls

log = logging.getLogger(__name__)


def resolve_reference(ref_model: str | Path | Run) -> tuple[str, str]:
    """(spec for ``load_model``, identity for the run hash) of a preset name, a model
    directory or a training run (its merged ``model/``)."""
    if isinstance(ref_model, Run):
        ref_model = ref_model.dir
    path = Path(ref_model)
    if path.is_dir() and (path / "COMPLETED").exists():
        if not (path / "model").is_dir():
            raise ValueError(f"{path}: this training run has no merged model/ to start from "
                             "(only M_ref runs, method old_alignment, save one)")
        key = json.loads((path / "inputs.json").read_text())["key"]
        return str(path / "model"), f"run:{key}"
    if path.is_dir():
        return str(path), f"dir:{path.resolve()}"
    return str(ref_model), f"preset:{ref_model}"


def set_seeds(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training_config(cfg: Config, method: str, seed: int) -> dict:
    """The parts of the config a training run depends on (eval/judge changes, thread count
    and generation backend do not retrain)."""
    model = {k: v for k, v in dataclasses.asdict(cfg.model).items()
             if k not in ("threads", "generation_backend")}
    train = dataclasses.asdict(cfg.train)
    train.pop("gpus")              # DDP trains the same model (tests/test_distributed.py)
    train.pop("trunk_cache")       # a speed path: same adapter within fp tolerance (test_trunk)
    if METHODS.get(method).load().own_epochs:       # e.g. M_ref: the methods' epochs do not
        train.pop("epochs")                         # retrain it
    return {"method": method, "preset": cfg.preset, "seed": seed,
            "options": dataclasses.asdict(cfg.method_options(method)),
            "model": model, "train": train}


def run_name(method: str, n_pairs: int, noise: float, seed: int) -> str:
    """A training run's directory name (before its key): the same from the pipeline and the
    CLI, so that either reuses the other's runs."""
    return f"{method}-n{n_pairs}-p{noise:g}-s{seed}"


def train_method(cfg: Config, method: str, train_path: str | Path, ref_model: str | Path | Run,
                 runs_dir: str | Path | None = None, seed: int | None = None,
                 noise: float = 0.0) -> Run:
    """Train ``method`` on the triaged pairs at ``train_path``, starting from ``ref_model``
    (θ_ref), as the run stage "train"; skipped when an identical completed run exists.
    ``method``'s own settings (``cfg.tuned``) replace the global lr/epochs here, so they enter
    the run key and provenance; without them the key is the one the global settings give."""
    cfg = dataclasses.replace(cfg, train=cfg.train_for(method))
    plugin = METHODS.get(method).load()
    opts = cfg.method_options(method)
    seed = cfg.seeds[0] if seed is None else seed
    ref_spec, ref_id = resolve_reference(ref_model)
    config = training_config(cfg, method, seed)
    inputs = {"train": Path(train_path), "ref_model": ref_id}

    def work(run: Run) -> None:
        if cfg.train.gpus > 1 and "WORLD_SIZE" not in os.environ:   # not yet under torchrun
            from realignbench.train.ddp_launch import launch
            launch(run, cfg, method, Path(train_path), ref_spec, seed, noise)
        else:
            train_in_run(run, cfg, method, plugin, opts, Path(train_path), ref_spec, seed, noise)

    name = run_name(method, len(read_pairs(train_path)), noise, seed)
    return run_stage("train", name, config, inputs, work,
                     runs_dir=runs_dir or cfg.runs_dir, seed=seed)


def train_in_run(run: Run, cfg: Config, method: str, plugin, opts, train_path: Path,
                 ref_spec: str, seed: int, noise: float) -> None:
    """The work of a training run in ``run``'s directory, in this process (one rank of it
    under torchrun/accelerate)."""
    from realignbench.models.chat import chat_template_hash
    from realignbench.models.loading import load_model
    from realignbench.threads import apply_threads
    from realignbench.stats import constant_metric
    from realignbench.train.adapters import (merged, prepare_model, save_adapter, save_full,
                                             write_base_pointer)
    from realignbench.train.plugin import MethodContext
    from realignbench.train.trainer import get_accelerator

    apply_threads(cfg)
    set_seeds(seed)
    start = time.perf_counter()
    pairs = read_pairs(train_path)
    acc = get_accelerator()
    model, tokenizer = load_model(ref_spec, dtype=cfg.model.dtype,
                                  attn_implementation=cfg.model.attn_implementation,
                                  purpose="train", device=acc.device)
    run.update_env(chat_template_hash=chat_template_hash(tokenizer), seed=seed)
    model = prepare_model(model, cfg.train, seed)
    ctx = MethodContext(cfg=cfg, model=model, tokenizer=tokenizer, out_dir=run.dir, seed=seed,
                        accelerator=acc)
    details = plugin.train(ctx, pairs, opts)
    acc.wait_for_everyone()
    if acc.is_main_process:
        if cfg.train.lora:
            save_adapter(ctx.model, tokenizer, run.dir / "adapter", ref_spec)
            write_base_pointer(run.dir, ref_spec, cfg.model.dtype)
        if plugin.save_merged or not cfg.train.lora:
            save_full(merged(ctx.model), tokenizer, run.dir / "model")
    run.write_results({
        "subject": {"method": method, "preset": cfg.preset, "seed": seed,
                    "train_size": len(pairs), "shift": cfg.data.shift, "noise": noise,
                    "train_path": str(train_path), "ref_model": ref_spec},
        "metrics": {
            "cost/oracle_calls": constant_metric(oracle_calls(plugin, opts, pairs)),
            "cost/train_tokens": constant_metric(sum(p.get("tokens_trained", 0)
                                                     for p in ctx.phases)),
        },
        "training": {"phases": ctx.phases, "wall_s": round(time.perf_counter() - start, 3),
                     **details},
        "provenance": {"nll_weight": cfg.train.nll_weight, "beta": cfg.train.beta,
                       "lr": cfg.train.lr, "epochs": cfg.train.epochs, "lora": cfg.train.lora,
                       "dtype": cfg.model.dtype,
                       "train_settings": "tuned" if cfg.tuned.get(method) else "global",
                       "tuned_from": cfg.tuned_from or None},
    })


def load_trained(run_dir: str | Path | Run, dtype: str | None = None, merge: bool = False,
                 attn_implementation: str = "sdpa", purpose: str | None = None):
    """``(model, tokenizer)`` of a training run: its merged ``model/`` if present, otherwise
    the reference from ``base.json`` with ``adapter/`` applied (merged on request); placed for
    ``purpose`` as :func:`realignbench.models.loading.load_model` does."""
    from realignbench.models.loading import load_model
    run_dir = Path(run_dir.dir if isinstance(run_dir, Run) else run_dir)
    if not (run_dir / "COMPLETED").exists():
        raise FileNotFoundError(f"{run_dir}: not a completed training run (no COMPLETED)")
    if (run_dir / "model").is_dir():
        pointer = json.loads((run_dir / "base.json").read_text()) \
            if (run_dir / "base.json").exists() else {}
        return load_model(run_dir / "model", dtype=dtype or pointer.get("dtype", "fp32"),
                          attn_implementation=attn_implementation, purpose=purpose)
    pointer = json.loads((run_dir / "base.json").read_text())
    return load_model(pointer["spec"], dtype=dtype or pointer["dtype"],
                      adapter=run_dir / "adapter", merge_adapter=merge,
                      attn_implementation=attn_implementation, purpose=purpose)


def reference_run(cfg: Config, train_path: str | Path | None = None,
                  runs_dir: str | Path | None = None, seed: int | None = None) -> Run:
    """M_ref: ``old_alignment`` from the preset's base model on the largest training set
    (one deployed model per preset, data and seed; every realignment method starts from it)."""
    if train_path is None:
        from realignbench.triage.stage import prepare_data
        prepared = prepare_data(cfg)
        train_path = prepared.train[max(prepared.train)]
    return train_method(cfg, "old_alignment", train_path, cfg.model.preset, runs_dir, seed)


def starting_model(cfg: Config, method: str, runs_dir: str | Path | None = None,
                   seed: int | None = None) -> str | Run:
    """Where ``method`` starts by default: the base preset, or M_ref (trained if missing)."""
    if METHODS.get(method).load().starts_from == "base":
        return cfg.model.preset
    return reference_run(cfg, runs_dir=runs_dir, seed=seed)
