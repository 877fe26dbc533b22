"""Gold gradients and impact scores, computed once per input (issue 17 item 2).

TRACE, its variants and U2A's first round all take g_J on the same gold batch at the same
θ_ref and score largely the same examples. :class:`ImpactCache` content-addresses both under
``cache_root()/impact/``, as ``train/reference.py`` does the reference log-probs:

* the **identity** of a scoring pass is what fixes its numbers besides the examples: the frozen
  weights' fingerprint (``model_fingerprint``), the exact values of the trainable parameters
  (θ_ref's LoRA factors depend on the seed), β, the attention implementation, the device type,
  the world size and the scoring micro-batch (padding and reduction order move the last bits);
* an **example key** hashes its loss (kind, preference loss, rDPO ε, NPO scale) and the token
  ids and label masks of its sequences — so the chat template, max lengths and an end-of-turn
  mask (``npo_mask_eot`` drops a label) are all in it;
* g_J is stored per (identity, gold examples) as one ``torch.save`` file written atomically
  with a digest of its tensors; scores per (identity, g_J key, resolved score path) as an
  append-only JSONL table of group key → score (a group of one: its example's key; TRACE
  scores pairs), so variants that share only some groups (TRACE and ``trace_oracle_punish``
  share INVERT) share those.

A torn or corrupt entry is recomputed, logged and counted in :attr:`ImpactCache.report`, which
the methods copy into the run's results. Score-level options applied after scoring
(``score_norm``, weight normalisation) are not part of any key: they do not change the raw
scores.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from realignbench.runs import append_jsonl, atomic_path, cache_root, content_hash
from realignbench.train.examples import Example
from realignbench.train.impact import (Direction, ghost_supported, group_scores, loss_gradient,
                                       resolve_score_method, trainable)
from realignbench.train.reference import model_fingerprint
from realignbench.train.trainer import Trainer

log = logging.getLogger(__name__)
CACHE_VERSION = "impact-v1"


@dataclass(frozen=True)
class Gradient:
    """A direction and the content key it is cached under (scores are keyed by it)."""
    values: Direction
    key: str


def tensors_digest(tensors: dict[str, Tensor]) -> str:
    """Exact identity of named tensors: names, shapes, dtypes and every byte."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def example_keys(trainer: Trainer, examples: Sequence[Example]) -> list[str]:
    """One content key per example: its loss and its sequences as the trainer encodes them."""
    enc = trainer.encode(examples)
    return [content_hash(ex.kind, getattr(ex, "loss", ""), getattr(ex, "eps", 0.0),
                         getattr(ex, "npo_scale", ""),
                         [(enc.seqs[s].input_ids, enc.seqs[s].labels) for s in row])
            for ex, row in zip(enc.examples, enc.rows)]


class ImpactCache:
    """g_J and impact scores for one model state, from the cache when the inputs agree."""

    def __init__(self, trainer: Trainer, score_method: str = "auto"):
        self.trainer = trainer
        self.method, self.batch_size = resolve_score_method(
            score_method, trainer.acc.device, trainer.cfg.train.micro_batch_size,
            ghost_supported(trainer.model))
        self.root = cache_root() / "impact"
        self.identity = self._identity()
        self.report: dict = {"score_method": score_method, "score_method_resolved": self.method,
                             "score_batch_size": self.batch_size}

    def _identity(self) -> dict:
        model, cfg = self.trainer.model, self.trainer.cfg
        return {"version": CACHE_VERSION, "frozen": model_fingerprint(model),
                "trainable": tensors_digest(trainable(model)), "beta": cfg.train.beta,
                "attn": cfg.model.attn_implementation,
                "device": torch.device(self.trainer.acc.device).type,
                "world": self.trainer.acc.num_processes}

    # -- g_J -----------------------------------------------------------------------------
    def gold_gradient(self, gold: Sequence[Example]) -> Gradient:
        key = content_hash(self.identity, "gold", self.trainer.cfg.train.micro_batch_size,
                           example_keys(self.trainer, gold))
        path = self.root / "gold" / f"{key[:40]}.pt"
        values, status = self._load_gradient(path, key), "hit"
        if values is None:
            status = "recomputed_corrupt" if path.exists() else "computed"
            values = loss_gradient(self.trainer, gold)
            if self.trainer.acc.is_main_process:
                self._save_gradient(path, key, values)
        self.trainer.acc.wait_for_everyone()
        self.report["gold_gradient"] = status
        return Gradient(values, key)

    def _load_gradient(self, path: Path, key: str) -> Direction | None:
        if not path.exists():
            return None
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            values = stored["tensors"]
            ok = stored["key"] == key and stored["digest"] == tensors_digest(values)
            ok = ok and set(values) == set(trainable(self.trainer.model))
        except Exception as err:                  # truncated/garbled file: any load error
            log.warning("impact cache %s unreadable (%s): recomputing g_J", path, err)
            return None
        if not ok:
            log.warning("impact cache %s does not match its key or digest: recomputing g_J", path)
            return None
        device = self.trainer.acc.device
        return {n: t.to(device) for n, t in values.items()}

    @staticmethod
    def _save_gradient(path: Path, key: str, values: Direction) -> None:
        cpu = {n: t.detach().cpu() for n, t in values.items()}
        with atomic_path(path) as tmp:
            torch.save({"key": key, "digest": tensors_digest(cpu), "tensors": cpu}, tmp)

    # -- scores --------------------------------------------------------------------------
    def scores(self, examples: Sequence[Example], direction: Gradient) -> Tensor:
        """⟨g_J, ∇ℓ_i⟩ per example (fp64), computing only those not in the cache."""
        return self.group_scores([[ex] for ex in examples], direction)

    def group_scores(self, groups: Sequence[Sequence[Example]], direction: Gradient) -> Tensor:
        """Per group, ⟨g_J, ∇ of its summed losses⟩ (a PUNISH pair: both NPO terms), fp64,
        computing only the groups not in the cache. A group of one is keyed as its example,
        so per-example scores (U2A) and TRACE's one-example groups (INVERT) share entries."""
        flat = example_keys(self.trainer, [ex for g in groups for ex in g])
        keys, at = [], 0
        for g in groups:
            part, at = flat[at:at + len(g)], at + len(g)
            keys.append(part[0] if len(part) == 1 else content_hash("group", part))
        path = self.root / "scores" / (content_hash(
            self.identity, direction.key, self.method, self.batch_size)[:40] + ".jsonl")
        table, corrupt = _load_table(path)
        hits = sum(k in table for k in keys)
        first = {}                                # each missing key once (duplicates share)
        for i, k in enumerate(keys):
            if k not in table:
                first.setdefault(k, i)
        missing = list(first.values())
        if missing:
            values = group_scores(self.trainer, [groups[i] for i in missing], direction.values,
                                  self.method, self.batch_size)
            computed = {keys[i]: v for i, v in zip(missing, values.tolist())}
            self.trainer.acc.wait_for_everyone()  # every rank has read the table
            if self.trainer.acc.is_main_process:
                path.parent.mkdir(parents=True, exist_ok=True)
                append_jsonl(path, ({"k": k, "v": v} for k, v in computed.items()))
            table = {**table, **computed}
        log.info("impact scores: %d groups, %d from %s, %d computed", len(keys), hits, path,
                 len(missing))
        self.report.setdefault("scores", []).append(
            {"n": len(keys), "from_cache": hits, "computed": len(missing),
             "corrupt_lines": corrupt})
        return torch.tensor([table[k] for k in keys], dtype=torch.float64)


def _load_table(path: Path) -> tuple[dict[str, float], int]:
    """The stored scores and the number of unreadable lines (torn by a kill or corrupt:
    their examples are recomputed)."""
    table: dict[str, float] = {}
    bad = 0
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                value = float(row["v"])
                if not isinstance(row["k"], str) or not math.isfinite(value):
                    raise ValueError("not a key and a finite score")
                table.setdefault(row["k"], value)           # first writer wins
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                bad += 1
    if bad:
        log.warning("impact score cache %s: skipped %d corrupt line(s); those examples are "
                    "recomputed", path, bad)
    return table, bad
