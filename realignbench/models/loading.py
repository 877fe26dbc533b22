"""``load_model(spec) -> (model, tokenizer)`` for a preset name, a local directory or a GGUF file.

Every path ends the same way: the tokenizer has a pad token and a finite ``model_max_length``,
the model's generation config stops at the template's end-of-turn, and the model is in eval mode.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from realignbench.model_presets import PRESETS, get_preset

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}


class ModelLoadError(RuntimeError):
    """A model spec cannot be loaded; the message says what to do."""


def native_bf16() -> bool:
    """bf16 matmuls run natively: a CUDA GPU with bf16, or a CPU with AVX512-BF16 / AMX.
    Elsewhere (e.g. AVX2-only CPUs) bf16 is emulated and measured 4-25x *slower* than fp32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((ln for ln in f if ln.startswith("flags")), "").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_dtype(name: str) -> str:
    """``auto`` -> ``bf16`` where it is native (faster), else ``fp32``; other names unchanged."""
    if name == "auto":
        return "bf16" if native_bf16() else "fp32"
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is not one of {sorted(DTYPES)} or 'auto'")
    return name


def torch_dtype(name: str) -> torch.dtype:
    return DTYPES[resolve_dtype(name)]


def load_model(spec: str | Path, dtype: str = "fp32", adapter: str | Path | None = None,
               attn_implementation: str = "sdpa", seed: int = 0, gguf_file: str | None = None,
               merge_adapter: bool = False, purpose: str | None = None, device=None):
    """Load ``spec`` and return ``(model, tokenizer)``.

    spec: a preset name (``tiny``, ``smol``, ``llama-3.1-8b``…), a local HF directory (a full
    model, or a PEFT adapter whose ``base_model_name_or_path`` is a preset or a directory), or a
    ``.gguf`` file (or a directory plus ``gguf_file=``). ``dtype``: fp32 | bf16 | fp64 | auto
    (bf16 where native, else fp32; ``model.dtype`` tells which). ``seed`` only affects ``tiny``.
    ``purpose`` (``train`` | ``eval``): place the model with
    :func:`realignbench.models.placement.place` (on ``device``, default this process's
    accelerator); None leaves it on the CPU where every path loads it.
    """
    dtype = resolve_dtype(dtype)
    spec_s = str(spec)
    if gguf_file or spec_s.endswith(".gguf"):
        model, tok, max_len = load_gguf(Path(spec_s), gguf_file, dtype)
    elif spec_s in PRESETS:
        model, tok, max_len = _load_preset(spec_s, dtype, attn_implementation, seed)
    elif Path(spec_s).is_dir():
        path = Path(spec_s)
        if (path / "adapter_config.json").exists() and not (path / "config.json").exists():
            if adapter is not None:
                raise ModelLoadError(f"{path} is an adapter; do not pass adapter= as well")
            base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
            return load_model(base, dtype, adapter=path, attn_implementation=attn_implementation,
                              seed=seed, merge_adapter=merge_adapter, purpose=purpose,
                              device=device)
        model, tok, max_len = load_dir(path, dtype, attn_implementation)
    else:
        raise ModelLoadError(f"model spec {spec_s!r} is neither a preset ({sorted(PRESETS)}), "
                             "a local directory, nor a .gguf file")
    if adapter is not None:
        model = _apply_adapter(model, Path(adapter), merge_adapter)
    _finish(model, tok, max_len)
    if purpose is not None:
        from realignbench.models.placement import place
        model = place(model, purpose, device)
    return model, tok


def model_source(spec: str | Path) -> dict | None:
    """Where a loader that takes a path or hub id (lm-eval's ``hf``/``vllm`` model types) finds
    ``spec``: ``{"pretrained", "revision", "peft"}`` (``peft``: an adapter directory, else None);
    None for a model built in memory (``tiny``) or a SmolLM2 not yet in the cache."""
    spec_s, path = str(spec), Path(spec)
    if spec_s in PRESETS:
        preset = get_preset(spec_s)
        if preset.kind == "hub":
            return {"pretrained": preset.hub_id, "revision": preset.revision, "peft": None}
        if preset.kind == "smol":
            from realignbench.models.smol_cache import smol_dir
            folder = smol_dir()
            return {"pretrained": str(folder), "revision": None, "peft": None} if folder else None
        return None
    if (path / "adapter_config.json").exists() and not (path / "config.json").exists():
        base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        found = model_source(base)
        return {**found, "peft": str(path)} if found else None
    if (path / "config.json").exists():
        return {"pretrained": str(path), "revision": None, "peft": None}
    return None


def _load_preset(name: str, dtype: str, attn: str, seed: int):
    preset = get_preset(name)
    if preset.kind == "tiny":
        from transformers import AutoTokenizer
        from realignbench.models import tiny
        tok = AutoTokenizer.from_pretrained(tiny.tokenizer_dir())
        model = tiny.build_model(len(tok), seed=seed, dtype=torch_dtype(dtype))
        model.config._attn_implementation = attn
        return model, tok, preset.max_length
    if preset.kind == "smol":
        from realignbench.models.smol_cache import smol_dir
        path = smol_dir()
        if path is None:
            raise ModelLoadError("SmolLM2 (preset 'smol') is not in the cache: run `make prefetch` "
                                 "(or `python -m realignbench.models.prefetch`) first")
        model, tok, _ = load_dir(path, dtype, attn)
        return model, tok, preset.max_length
    return _load_hub(preset, dtype, attn)


def load_dir(path: Path, dtype: str, attn: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if not (path / "config.json").exists():
        raise ModelLoadError(f"{path}: no config.json (not a Hugging Face model directory)")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(dtype),
                                                 attn_implementation=attn)
    return model, tok, getattr(model.config, "max_position_embeddings", 2048)


def _load_hub(preset, dtype: str, attn: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    try:
        tok = AutoTokenizer.from_pretrained(preset.hub_id, revision=preset.revision)
        model = AutoModelForCausalLM.from_pretrained(
            preset.hub_id, revision=preset.revision, dtype=torch_dtype(dtype),
            attn_implementation=attn)       # on the CPU; placement.place moves it whole
    except OSError as err:
        raise ModelLoadError(
            f"cannot load {preset.hub_id}@{preset.revision[:12]} (preset {preset.name!r}): {err}. "
            "GPU presets need the hub (unset HF_HUB_OFFLINE once, or pre-download with "
            "`huggingface-cli download`) and, for gated models, an accepted licence.") from err
    return model, tok, preset.max_length


def load_gguf(path: Path, gguf_file: str | None, dtype: str):
    """Dequantise a GGUF with transformers (needs ``gguf`` + ``accelerate``; slow: ~13 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    folder, name = (path, gguf_file) if gguf_file else (path.parent, path.name)
    if not (folder / name).is_file():
        raise ModelLoadError(f"GGUF file not found: {folder / name}")
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The weights are plain tensors now, but the GGUF quantizer flag makes save_pretrained and
    # trainers refuse the model: drop it.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    return model.to(torch_dtype(dtype)), tok, getattr(model.config, "max_position_embeddings", 2048)


def _apply_adapter(model, adapter: Path, merge: bool):
    from peft import PeftModel
    if not (adapter / "adapter_config.json").exists():
        raise ModelLoadError(f"{adapter}: no adapter_config.json (not a PEFT adapter directory)")
    model = PeftModel.from_pretrained(model, adapter)
    if merge:
        return model.merge_and_unload()
    model._realignbench_adapter = str(adapter)     # lets the vLLM backend serve it as LoRA
    return model


def _finish(model, tok, max_len: int) -> None:
    from realignbench.models.chat import stop_token_ids
    stops = stop_token_ids(tok) if getattr(tok, "chat_template", None) else [tok.eos_token_id]
    # A pad token equal to end-of-turn (SmolLM2 ships pad = <|im_end|>) invites the classic bug of
    # masking every end-of-turn as padding; use a distinct token when the vocabulary has one.
    if tok.pad_token is None or tok.pad_token_id in stops:
        if tok.unk_token is not None and tok.unk_token_id not in stops:
            tok.pad_token = tok.unk_token
        elif tok.pad_token is None:
            tok.pad_token = tok.eos_token
    if not tok.model_max_length or tok.model_max_length > 10**8:
        tok.model_max_length = max_len
    gen = model.generation_config
    gen.pad_token_id = tok.pad_token_id
    gen.eos_token_id = stops
    model.eval()
