"""Linear stance probes over sentence embeddings: one logistic regression per dimension.

Features of a response: its whole-text embedding plus the mean and max of its sentence
embeddings (a refusal opener or a referral closer is one sentence; pooling keeps it visible in
long answers). Each dimension's probe knows the dimension's stances plus ``NO_STANCE``, trained
on off-topic text (other dimensions' responses), echoed prompts and cut-off openers, so a
degenerate generation is not forced into a real stance.
"""
from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from realignbench.oracle.embedder import Embedder

NO_STANCE = "no_stance"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    parts = [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]
    return parts or [text.strip() or "(empty)"]


def features(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """``[n, 3 * 384]``: whole text, mean and max over sentences."""
    split = [sentences(t) for t in texts]
    flat = [s for ss in split for s in ss]
    whole = embedder.encode([t.strip() or "(empty)" for t in texts])
    sent = embedder.encode(flat)
    out, i = [], 0
    for row, ss in zip(whole, split):
        block = sent[i:i + len(ss)]
        i += len(ss)
        out.append(np.concatenate([row, block.mean(0), block.max(0)]))
    return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


@dataclass
class Example:
    dimension: str
    text: str
    stance: str
    prompt: str = ""


@dataclass
class StanceProbe:
    """Per-dimension classifiers; ``predict`` returns (stance, probability) per text."""
    c: float = 4.0
    models: dict = field(default_factory=dict)

    def fit(self, embedder: Embedder, examples: Sequence[Example]) -> "StanceProbe":
        from sklearn.linear_model import LogisticRegression
        dims = sorted({e.dimension for e in examples})
        x = features(embedder, [e.text for e in examples])
        for dim in dims:
            idx = [i for i, e in enumerate(examples) if e.dimension == dim]
            y = [examples[i].stance for i in idx]
            if len(set(y)) < 2:
                raise ValueError(f"stance probe: dimension {dim!r} has one stance only: {set(y)}")
            self.models[dim] = LogisticRegression(C=self.c, max_iter=5000).fit(x[idx], y)
        return self

    def predict(self, embedder: Embedder, dimensions: Sequence[str],
                texts: Sequence[str]) -> list[tuple[str, float]]:
        unknown = sorted(set(dimensions) - set(self.models))
        if unknown:
            raise KeyError(f"stance probe: no probe for dimension(s) {unknown}; "
                           f"trained on {sorted(self.models)}")
        x = features(embedder, texts)
        out: list[tuple[str, float]] = [("", 0.0)] * len(texts)
        for dim in sorted(set(dimensions)):
            idx = [i for i, d in enumerate(dimensions) if d == dim]
            model = self.models[dim]
            prob = model.predict_proba(x[idx])
            for j, i in enumerate(idx):
                k = int(prob[j].argmax())
                out[i] = (str(model.classes_[k]), float(prob[j, k]))
        return out

    def save(self, path: Path) -> None:
        from realignbench.runs import atomic_path
        with atomic_path(path) as tmp:
            tmp.write_bytes(pickle.dumps({"c": self.c, "models": self.models}))

    @classmethod
    def load(cls, path: Path) -> "StanceProbe":
        data = pickle.loads(Path(path).read_bytes())
        return cls(c=data["c"], models=data["models"])
