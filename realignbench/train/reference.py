"""The reference policy: the same model with its adapters disabled (no second copy).

Sequence log-probs under the reference are computed once per (model weights, token ids) and
cached by content hash under ``cache_root()/ref_logps`` — the token ids already encode the data
and the chat template, and the fingerprint encodes the weights. The KL anchor needs full
distributions, which are not cached: they come from an adapter-disabled forward of the anchor
rows only (or, for full fine-tuning, from a frozen copy made only when anchors exist).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from realignbench.runs import atomic_path, cache_root, content_hash
from realignbench.train.batching import EncodedExamples
from realignbench.train.scorer import SequenceScorer

log = logging.getLogger(__name__)
CACHE_VERSION = "ref-logps-v1"


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
                  batch_size: int, device, desc: str = "reference log-probs") -> torch.Tensor:
    """Summed target log-probs of ``seq_ids`` (length-sorted batches to cut padding)."""
    from realignbench.models.chat import PadCollator
    scorer = SequenceScorer(model)
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


def reference_logps(model: nn.Module, enc: EncodedExamples, batch_size: int, device,
                    fingerprint: str | None = None) -> torch.Tensor:
    """Reference log-probs of every sequence of ``enc`` that needs one ([n_seqs], NaN for
    sequences used only by anchors/SFT), from the cache when possible."""
    needed = sorted({s for ex, rows in zip(enc.examples, enc.rows)
                     if ex.kind in ("preference", "punitive") for s in rows})
    result = torch.full((len(enc.seqs),), float("nan"), dtype=torch.float64)
    if not needed:
        return result
    fingerprint = fingerprint or model_fingerprint(model)
    key = content_hash(CACHE_VERSION, fingerprint, enc.tokens_hash(needed))
    path = cache_root() / "ref_logps" / f"{key}.pt"
    if path.exists():
        values = torch.load(path)["logp"]
        log.info("reference log-probs of %d sequences from cache %s", len(needed), path)
    else:
        with reference_mode(model):
            values = compute_logps(model, enc, needed, batch_size, device)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save({"logp": values, "fingerprint": fingerprint}, tmp)
        log.info("reference log-probs of %d sequences cached in %s", len(needed), path)
    result[torch.tensor(needed)] = values
    return result


class FrozenReference:
    """Full-vocabulary reference log-probs for anchor rows: the adapter-disabled model, or a
    frozen copy when fine-tuning all weights (made at construction, i.e. before any update or
    checkpoint load, and only when anchors exist)."""

    def __init__(self, model: nn.Module, needed: bool = True):
        self.model = model
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
                return SequenceScorer(self.model)(*args)["full"]
        if self._copy is None:
            raise RuntimeError("FrozenReference was built with needed=False")
        with torch.no_grad():
            return SequenceScorer(self._copy)(*args)["full"]
