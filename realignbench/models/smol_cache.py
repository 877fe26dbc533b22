"""Where the converted SmolLM2 directory lives (written by ``models/prefetch.py``, read by
``models/loading.py``)."""
from __future__ import annotations

from pathlib import Path

from realignbench.model_presets import SMOL_GGUF_SHA256
from realignbench.runs import cache_root

SMOL_DIRNAME = f"smollm2-135m-instruct-{SMOL_GGUF_SHA256[:16]}"
REPO_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "realignbench"


def is_converted(path: Path) -> bool:
    return all((path / f).exists() for f in ("config.json", "model.safetensors", "tokenizer.json",
                                             "realignbench-source.json"))


def smol_dir() -> Path | None:
    """The converted SmolLM2 directory, or None. Looks in ``cache_root()`` and then in the
    repository's default cache (so a test that points REALIGNBENCH_CACHE elsewhere still finds it)."""
    for root in (cache_root(), REPO_CACHE):
        path = root / "models" / SMOL_DIRNAME
        if is_converted(path):
            return path
    return None
