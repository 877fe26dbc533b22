"""The reference policy: the same model with its adapters disabled (no second copy).

Sequence log-probs under the reference are computed once per (model weights, token ids) and
cached by content hash under ``cache_root()/ref_logps/<weights fingerprint>.jsonl`` (one line
per sequence, append-only) — the token ids already encode the data and the chat template, and
the fingerprint encodes the weights. The KL anchor needs full
distributions, which are not cached: they come from an adapter-disabled forward of the anchor
rows only (or, for full fine-tuning, from a frozen copy made only when anchors exist).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from realignbench.runs import append_jsonl, cache_root, content_hash
from realignbench.train.batching import EncodedExamples
from realignbench.train.scorer import SequenceScorer

log = logging.getLogger(__name__)
CACHE_VERSION = "ref-logps-v2"


def model_fingerprint(model: nn.Module) -> str:
    """A cheap, device-agnostic identity of the frozen (non-LoRA) weights: per tensor its
    name, shape, dtype, an fp64 sum and abs-sum and a strided sample of values."""
    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                continue
            flat = p.detach().flatten()
            sample = flat[:: max(1, flat.numel() // 512)].double().cpu()
            stats = torch.stack([flat.double().sum(), flat.double().abs().sum()]).cpu()
            h.update(f"{_base_name(name)}|{tuple(p.shape)}|{p.dtype}|".encode())
            h.update(stats.numpy().tobytes())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()


def _base_name(name: str) -> str:
    """Parameter names without PEFT's wrapping, so a merged and a wrapped model agree."""
    for prefix in ("base_model.model.",):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.replace(".base_layer", "")


def has_adapters(model: nn.Module) -> bool:
    return callable(getattr(model, "disable_adapter", None))


@contextlib.contextmanager
def reference_mode(model: nn.Module):
    """Run the model as the reference: adapters disabled, no grad, eval mode."""
    was_training = model.training
    model.eval()
    ctx = model.disable_adapter() if has_adapters(model) else contextlib.nullcontext()
    try:
        with ctx, torch.no_grad():
            yield
    finally:
        model.train(was_training)


def compute_logps(model: nn.Module, enc: EncodedExamples, seq_ids: Sequence[int],
                  batch_size: int, device, desc: str = "reference log-probs",
                  trunk=None) -> torch.Tensor:
    """Summed target log-probs of ``seq_ids`` (length-sorted batches to cut padding), from
    the trunk cache ``trunk`` (``train/trunk.py``) when given."""
    from realignbench.models.chat import PadCollator
    scorer = SequenceScorer(model, trunk)
    order = sorted(seq_ids, key=lambda s: len(enc.seqs[s].input_ids))
    out = {}
    collate = PadCollator(enc.pad_id, side="right")
    for i in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
        chunk = order[i:i + batch_size]
        b = collate([enc.seqs[s] for s in chunk])
        res = scorer(b["input_ids"].to(device), b["attention_mask"].to(device),
                     b["labels"].to(device))
        out.update(zip(chunk, res["logp"].double().cpu().tolist()))
    return torch.tensor([out[s] for s in seq_ids], dtype=torch.float64)


def _load_table(path: Path) -> dict[str, float]:
    table: dict[str, float] = {}
    torn = 0
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                table.setdefault(row["k"], float(row["v"]))     # first writer wins
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                torn += 1                                       # a line torn by a kill
    if torn:
        log.warning("reference log-prob cache %s: skipped %d torn line(s); those sequences "
                    "are recomputed", path, torn)
    return table


def reference_logps(model: nn.Module, enc: EncodedExamples, batch_size: int, device,
                    fingerprint: str | None = None, trunk=None) -> torch.Tensor:
    """Reference log-probs of every sequence of ``enc`` that needs one ([n_seqs], NaN for
    sequences used only by anchors/SFT). Cached per sequence under the weights' fingerprint,
    so methods trained on the same pairs share them. The trunk cache is a speed path (equal
    within fp tolerance), so it is not part of the key."""
    needed = sorted({s for ex, rows in zip(enc.examples, enc.rows)
                     if ex.kind in ("preference", "punitive") for s in rows})
    result = torch.full((len(enc.seqs),), float("nan"), dtype=torch.float64)
    if not needed:
        return result
    fingerprint = fingerprint or model_fingerprint(model)
    path = cache_root() / "ref_logps" / f"{content_hash(CACHE_VERSION, fingerprint)[:40]}.jsonl"
    keys = {s: content_hash(enc.seqs[s].input_ids, enc.seqs[s].labels) for s in needed}
    table = _load_table(path)
    missing = [s for s in needed if keys[s] not in table]
    if missing:
        with reference_mode(model):
            values = compute_logps(model, enc, missing, batch_size, device, trunk=trunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        computed = {keys[s]: v for s, v in zip(missing, values.tolist())}
        append_jsonl(path, ({"k": k, "v": v} for k, v in computed.items()))
        table = {**computed, **_load_table(path)}    # an earlier writer's value wins
    log.info("reference log-probs: %d sequences, %d computed, %d from %s", len(needed),
             len(missing), len(needed) - len(missing), path)
    result[torch.tensor(needed)] = torch.tensor([table[keys[s]] for s in needed],
                                                dtype=torch.float64)
    return result


class FrozenReference:
    """Full-vocabulary reference log-probs for anchor rows: the adapter-disabled model, or a
    frozen copy when fine-tuning all weights (made at construction, i.e. before any update or
    checkpoint load, and only when anchors exist). ``trunk`` serves the adapter-disabled
    forward (the frozen copy has no adapters, hence no cacheable trunk)."""

    def __init__(self, model: nn.Module, needed: bool = True, trunk=None):
        self.model, self.trunk = model, trunk
        self._copy: nn.Module | None = None
        if needed and not has_adapters(model):
            self._copy = copy.deepcopy(model).eval().requires_grad_(False)

    def full_logprobs(self, batch) -> torch.Tensor:
        rows = batch.full_rows.nonzero().flatten()
        ids = batch.input_ids[rows]
        mask = batch.attention_mask[rows]
        width = int(mask.sum(1).max())
        args = (ids[:, :width], mask[:, :width], batch.labels[rows][:, :width],
                torch.ones(len(rows), dtype=torch.bool, device=ids.device))
        if has_adapters(self.model):
            with reference_mode(self.model):
                return SequenceScorer(self.model, self.trunk)(*args)["full"]
        if self._copy is None:
            raise RuntimeError("FrozenReference was built with needed=False")
        with torch.no_grad():
            return SequenceScorer(self._copy)(*args)["full"]
