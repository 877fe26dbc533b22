"""Choose the generation backend a config names (HF ``generate`` or vLLM)."""
from __future__ import annotations

from realignbench.models.generation import HFBackend
from realignbench.models.vllm_backend import VLLMBackend


def get_backend(model_cfg, model, tokenizer, batch_size: int = 16, progress: bool = True):
    """The backend named by ``model_cfg.generation_backend`` (``hf`` | ``vllm``)."""
    kind = model_cfg.generation_backend
    if kind == "hf":
        return HFBackend(model, tokenizer, model_cfg.max_prompt_tokens, batch_size, progress)
    if kind == "vllm":
        return VLLMBackend.from_loaded(model_cfg, model, tokenizer)
    raise ValueError(f"model.generation_backend: {kind!r} is not 'hf' or 'vllm'")
