"""What an evaluation evaluates: a trained-model run directory or a base model preset.

``Subject`` carries the identity that goes into an eval run's hash (the training run's key, or
the preset name), the ``subject`` block of the evaluation-records contract, the training
provenance worth repeating (``nll_weight``), and a loader for ``(model, tokenizer)``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Subject:
    identity: str                      # hashed into the eval run key
    name: str                          # short label for the run directory
    record: dict[str, Any]             # the results.json "subject" block
    run_dir: Path | None = None        # a training run, or None for a base model
    model_spec: str = ""               # a preset name / directory when run_dir is None
    provenance: dict[str, Any] = field(default_factory=dict)

    def load(self, cfg, merge: bool = False):
        """``(model, tokenizer)`` in the preset's dtype, in eval mode, on this process's
        accelerator (:func:`realignbench.models.placement.place`). ``merge``: fold a training
        run's LoRA adapter into the weights — the same function up to float rounding, without
        the adapters' extra matmuls at every decoding step (generation: 1.3-1.9x on smol)."""
        if self.run_dir is not None:
            from realignbench.train.api import load_trained
            model, tok = load_trained(self.run_dir, dtype=cfg.model.dtype, merge=merge,
                                      attn_implementation=cfg.model.attn_implementation,
                                      purpose="eval")
        else:
            from realignbench.models.loading import load_model
            model, tok = load_model(self.model_spec, dtype=cfg.model.dtype,
                                    attn_implementation=cfg.model.attn_implementation,
                                    purpose="eval")
        from realignbench.threads import apply_threads
        apply_threads(cfg)
        return model.eval(), tok


    def source(self) -> dict | None:
        """``{"pretrained", "revision", "peft"}`` for loaders that take a path or hub id (a
        training run's merged ``model/``, or its reference plus ``adapter/`` as LoRA); None
        for a model that exists only in memory (:func:`realignbench.models.loading.model_source`)."""
        from realignbench.models.loading import model_source
        if self.run_dir is None:
            return model_source(self.model_spec)
        if (self.run_dir / "model").is_dir():
            return model_source(self.run_dir / "model")
        base = model_source(json.loads((self.run_dir / "base.json").read_text())["spec"])
        return {**base, "peft": str(self.run_dir / "adapter")} if base else None


def from_run(run_dir: str | Path, **extra: Any) -> Subject:
    """A completed training run (``realignbench train``); ``extra`` adds e.g. ``noise``."""
    run_dir = Path(getattr(run_dir, "dir", run_dir))
    if not (run_dir / "COMPLETED").exists():
        raise FileNotFoundError(f"{run_dir}: not a completed run (no COMPLETED marker)")
    results = json.loads((run_dir / "results.json").read_text())
    if results.get("stage") != "train":
        raise ValueError(f"{run_dir}/results.json: stage {results.get('stage')!r} is not a "
                         "training run; pass a directory under runs/train/")
    key = json.loads((run_dir / "inputs.json").read_text())["key"]
    record = {k: v for k, v in results.get("subject", {}).items()
              if k in ("method", "preset", "seed", "train_size", "shift", "noise")}
    record.update(extra, model_run=str(run_dir))
    prov = {k: v for k, v in results.get("provenance", {}).items() if k == "nll_weight"}
    return Subject(f"run:{key}", f"{record.get('method', 'model')}-{key[:8]}", record,
                   run_dir=run_dir, provenance=prov)


def from_model(spec: str, cfg, **extra: Any) -> Subject:
    """A base model (preset name or directory) evaluated as it is: method ``base``."""
    path = Path(spec)
    identity = f"dir:{path.resolve()}" if path.is_dir() else f"preset:{spec}"
    record = {"method": "base", "preset": cfg.preset, "model": spec, "shift": cfg.data.shift,
              **extra}
    name = path.name if path.is_dir() else spec
    return Subject(identity, f"base-{name}", record, model_spec=spec)


def resolve(cfg, run: str | None = None, model: str | None = None, **extra: Any) -> Subject:
    if bool(run) == bool(model):
        raise ValueError("give exactly one of --run RUN (a training run directory) or "
                         "--model SPEC (a base model preset or directory)")
    return from_run(run, **extra) if run else from_model(model, cfg, **extra)
