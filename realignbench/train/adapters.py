"""What gets trained (LoRA through peft, or all weights) and how a trained model is saved.

LoRA adapters are kept in fp32 whatever the base dtype (peft's ``autocast_adapter_dtype``),
so bf16 weights on CPU train with fp32 updates. A fresh adapter has B = 0: the wrapped model
then *is* the reference θ_ref, and the reference is the same model with adapters disabled.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from realignbench.config import TrainConfig

log = logging.getLogger(__name__)


def lora_config(model: nn.Module, t: TrainConfig):
    """The peft ``LoraConfig`` of ``train.lora_*`` for ``model`` (also handed to TRL by the
    training benchmark, so both trainers adapt the same modules of the same layers)."""
    from peft import LoraConfig
    layers = None
    if t.lora_layers:
        depth = model.config.num_hidden_layers
        if not 0 < t.lora_layers <= depth:
            raise ValueError(f"train.lora_layers={t.lora_layers}: the model has {depth} layers")
        layers = list(range(depth - t.lora_layers, depth))
    return LoraConfig(r=t.lora_r, lora_alpha=t.lora_alpha, lora_dropout=t.lora_dropout,
                      target_modules=list(t.lora_targets), bias="none", task_type="CAUSAL_LM",
                      layers_to_transform=layers)


def prepare_model(model: nn.Module, t: TrainConfig, seed: int) -> nn.Module:
    """Attach fresh LoRA adapters (seeded init) or make every weight trainable."""
    if not t.lora:
        model.requires_grad_(True)
        return model
    from peft import get_peft_model
    config = lora_config(model, t)
    torch.manual_seed(seed)
    return get_peft_model(model, config)


def merged(model: nn.Module) -> nn.Module:
    """The plain model with the adapters folded into its weights (in the weights' dtype)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def _atomic_dir(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_adapter(model: nn.Module, tokenizer, target: Path, base_spec: str) -> None:
    """``adapter/``: the PEFT adapter + tokenizer; its config points at ``base_spec``."""
    for cfg in model.peft_config.values():
        cfg.base_model_name_or_path = str(base_spec)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, save_embedding_layers=False)   # no hub lookup of the base
        tokenizer.save_pretrained(tmp)
    _atomic_dir(target, write)


def save_full(model: nn.Module, tokenizer, target: Path) -> None:
    """``model/``: a complete Hugging Face model directory (what ``load_model(dir)`` reads)."""
    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    _atomic_dir(target, write)


def write_base_pointer(run_dir: Path, base_spec: str, dtype: str) -> None:
    (run_dir / "base.json").write_text(json.dumps({"spec": str(base_spec), "dtype": dtype},
                                                  indent=2))
