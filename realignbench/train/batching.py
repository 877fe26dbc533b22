"""Tokenise once, then cut the example stream into global batches and padded micro-batches.

* Every distinct (prompt, response) is encoded once with ``models.chat.encode_pair`` (the same
  tokenisation as generation), never inside the loss.
* The stream is a concatenation of seeded per-epoch permutations; optimiser step k takes
  examples ``[k·G, (k+1)·G)`` of it, so the data order is a pure function of (seed, step):
  resuming at step k needs no sampler state, and every step has a full global batch.
* Each process takes its slice of the global batch, split into micro-batches; a micro-batch
  puts all sequences of its examples (chosen and rejected together) into one padded forward.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from realignbench.models.chat import IGNORE, Encoded, PadCollator, encode_pair
from realignbench.runs import content_hash
from realignbench.train.examples import Example

KIND_CODES = {"preference": 0, "punitive": 1, "anchor": 2, "sft": 3}


class EncodedExamples:
    """Examples plus their sequences, each distinct (prompt, response) tokenised once."""

    def __init__(self, examples: Sequence[Example], tokenizer, max_prompt_tokens: int,
                 max_length: int):
        if not examples:
            raise ValueError("no training examples: the method produced an empty dataset")
        self.examples = list(examples)
        self.seqs: list[Encoded] = []
        self.rows: list[tuple[int, ...]] = []
        index: dict[tuple[str, str, bool], int] = {}
        for ex in self.examples:
            ids = []
            mask_eot = bool(getattr(ex, "mask_eot", False))
            for prompt, response in ex.sequences():
                key = (prompt, response, mask_eot)
                if key not in index:
                    index[key] = len(self.seqs)
                    seq = encode_pair(tokenizer, prompt, response, max_prompt_tokens, max_length)
                    self.seqs.append(without_eot_target(seq) if mask_eot else seq)
                ids.append(index[key])
            self.rows.append(tuple(ids))
        self.pad_id = tokenizer.pad_token_id

    def __len__(self) -> int:
        return len(self.examples)

    def tokens_hash(self, seq_ids: Sequence[int]) -> str:
        """Content hash of the token ids and label masks of the given sequences."""
        return content_hash([(self.seqs[i].input_ids, self.seqs[i].labels) for i in seq_ids])

    def data_hash(self) -> str:
        """Identity of the whole training set (examples, weights, tokens): guards resumes."""
        return content_hash([[e.kind, e.source, e.weight, getattr(e, "loss", ""),
                              getattr(e, "eps", 0.0), getattr(e, "npo_scale", ""), r]
                             for e, r in zip(self.examples, self.rows)],
                            self.tokens_hash(range(len(self.seqs))))


def without_eot_target(seq: Encoded) -> Encoded:
    """The same sequence with its end-of-turn target masked: ``encode_pair`` makes it the last
    target token; the input ids (what the model reads) are unchanged."""
    targets = [i for i, t in enumerate(seq.labels) if t != IGNORE]
    if not targets:
        return seq
    labels = list(seq.labels)
    labels[targets[-1]] = IGNORE
    return dataclasses.replace(seq, labels=labels)


def stream_positions(n: int, step: int, global_batch: int, seed: int) -> list[int]:
    """Example indices of optimiser step ``step`` (0-based) in the seeded epoch stream."""
    out: list[int] = []
    start = step * global_batch
    while len(out) < global_batch:
        epoch, offset = divmod(start + len(out), n)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=gen).tolist()
        out.extend(perm[offset:offset + global_batch - len(out)])
    return out


def local_micro_batches(indices: list[int], rank: int, world: int, micro: int
                        ) -> list[list[int]]:
    mine = indices[rank::world]
    return [mine[i:i + micro] for i in range(0, len(mine), micro)]


@dataclass
class Batch:
    """Tensors for one forward plus, per example, what the objective needs."""
    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor
    seq_ids: list[int]                 # global sequence index of each row
    kind: Tensor                       # [E] KIND_CODES
    weight: Tensor                     # [E]
    npo_standard: Tensor               # [E] bool: punitive example uses standard (2/β) NPO
    first: Tensor                      # [E] row of the (preferred / only) sequence
    second: Tensor                     # [E] row of the dispreferred sequence (or -1)
    pref_groups: dict[tuple[str, float], Tensor] = field(default_factory=dict)
    full_rows: Tensor | None = None    # [S] bool: rows that need full log-probs (anchors)

    def to(self, device) -> "Batch":
        for name in ("input_ids", "attention_mask", "labels", "kind", "weight", "npo_standard",
                     "first", "second"):
            setattr(self, name, getattr(self, name).to(device))
        self.pref_groups = {k: v.to(device) for k, v in self.pref_groups.items()}
        if self.full_rows is not None:
            self.full_rows = self.full_rows.to(device)
        return self


def collate(enc: EncodedExamples, example_ids: Sequence[int]) -> Batch:
    """Pad the sequences of ``example_ids`` into one batch (dynamic padding, right side)."""
    seq_ids: list[int] = []
    row_of: dict[int, int] = {}
    for i in example_ids:
        for s in enc.rows[i]:
            if s not in row_of:
                row_of[s] = len(seq_ids)
                seq_ids.append(s)
    padded = PadCollator(enc.pad_id, side="right")([enc.seqs[s] for s in seq_ids])
    exs = [enc.examples[i] for i in example_ids]
    first = [row_of[enc.rows[i][0]] for i in example_ids]
    second = [row_of[enc.rows[i][1]] if len(enc.rows[i]) > 1 else -1 for i in example_ids]
    groups: dict[tuple[str, float], list[int]] = {}
    for j, ex in enumerate(exs):
        if ex.kind == "preference":
            groups.setdefault((ex.loss, float(ex.eps)), []).append(j)
    full = torch.zeros(len(seq_ids), dtype=torch.bool)
    for j, ex in enumerate(exs):
        if ex.kind == "anchor":
            full[first[j]] = True
    return Batch(
        input_ids=padded["input_ids"], attention_mask=padded["attention_mask"],
        labels=padded["labels"], seq_ids=seq_ids,
        kind=torch.tensor([KIND_CODES[e.kind] for e in exs]),
        weight=torch.tensor([float(e.weight) for e in exs]),
        npo_standard=torch.tensor([getattr(e, "npo_scale", "") == "standard" for e in exs]),
        first=torch.tensor(first), second=torch.tensor(second),
        pref_groups={k: torch.tensor(v) for k, v in groups.items()},
        full_rows=full if bool(full.any()) else None)
