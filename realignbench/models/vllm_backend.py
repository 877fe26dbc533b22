"""vLLM generation backend (GPU presets); the engine runs in a process of its own.

Same interface and semantics as :class:`realignbench.models.generation.HFBackend`: prompts are
tokenised by :func:`realignbench.models.chat.encode_prompt` here (vLLM receives token ids, so
it cannot apply a different template), generation stops at the template's end-of-turn, and a
LoRA adapter is served with ``enable_lora`` instead of merging it into a copy of the weights.
The engine lives in :mod:`realignbench.models.vllm_engine`'s process for as long as the backend
does, so it owns its GPU memory and gives all of it back when the backend is dropped.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Sequence

from realignbench.models.chat import encode_prompt, stop_token_ids
from realignbench.models.generation import Generation, check_prompts, split_at_stop
from realignbench.models.vllm_engine import ENGINE_COMMAND, EngineProcess

log = logging.getLogger(__name__)

_DTYPES = {"bf16": "bfloat16", "fp32": "float32", "fp64": "float32"}


class VLLMBackend:
    engine_command: Sequence[str] = ENGINE_COMMAND    # the engine process's command line

    def __init__(self, model_path: str, tokenizer, max_prompt_tokens: int, dtype: str = "bf16",
                 revision: str | None = None, adapter: str | None = None,
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 lora_rank: int = 64):
        command = tuple(self.engine_command)
        if command == ENGINE_COMMAND and importlib.util.find_spec("vllm") is None:
            raise ImportError("the vLLM backend needs `vllm` (GPU environment: "
                              "`pip install -e '.[gpu,eval]'` in a separate venv)")
        self.tok, self.max_prompt_tokens = tokenizer, max_prompt_tokens
        self.stops = stop_token_ids(tokenizer)
        self.adapter = adapter
        lora = {"enable_lora": True, "max_lora_rank": lora_rank} if adapter else {}
        self.engine = EngineProcess(
            {"model": model_path, "tokenizer": model_path, "revision": revision,
             "dtype": _DTYPES.get(dtype, dtype), "gpu_memory_utilization": gpu_memory_utilization,
             "max_model_len": max_model_len, "seed": 0, **lora}, command)
        log.info("vLLM engine ready: %s%s", model_path, f" + adapter {adapter}" if adapter else "")

    @classmethod
    def from_loaded(cls, model_cfg, model, tokenizer) -> "VLLMBackend":
        """Serve what :func:`realignbench.models.loading.load_model` loaded (path, adapter,
        revision). The loaded copy goes back to the CPU first: the engine needs the GPU."""
        from realignbench.model_presets import PRESETS
        from realignbench.models.placement import place, release_memory
        adapter = getattr(model, "_realignbench_adapter", None)
        base = model.get_base_model() if adapter else model
        path = base.config._name_or_path
        preset = PRESETS.get(model_cfg.preset)
        revision = preset.revision if preset and preset.hub_id == path else None
        if not path or (not Path(path).exists() and revision is None):
            raise ValueError(f"vLLM needs a model directory or a pinned hub id, got {path!r}; "
                             "save the model with save_pretrained first")
        place(model, "eval", "cpu")
        release_memory()
        return cls(path, tokenizer, model_cfg.max_prompt_tokens, model_cfg.dtype,
                   revision=revision, adapter=adapter, max_model_len=model_cfg.max_length * 4)

    def generate(self, prompts, max_new_tokens, do_sample=False, temperature=1.0, top_p=1.0,
                 seed=0) -> list[Generation]:
        prompts = check_prompts(prompts)
        sampling = {"max_tokens": max_new_tokens, "temperature": temperature if do_sample else 0.0,
                    "top_p": top_p if do_sample else 1.0, "seed": seed if do_sample else None,
                    "stop_token_ids": list(self.stops), "skip_special_tokens": True}
        ids = [encode_prompt(self.tok, text, self.max_prompt_tokens) for _, text in prompts]
        outputs = self.engine.call({"op": "generate", "prompts": [list(map(int, x)) for x in ids],
                                    "sampling": sampling,
                                    "lora": str(self.adapter) if self.adapter else None})
        results = []
        for (pid, _), out in zip(prompts, outputs["outputs"]):
            tokens, finished = split_at_stop(out, self.stops)
            text = self.tok.decode(tokens, skip_special_tokens=True)
            results.append(Generation(pid, text, len(tokens), finished))
        return results

    def close(self) -> None:
        """Stop the engine process now (it also stops when the backend is garbage)."""
        self.engine.close()
