"""Sequences that share a prefix in one row: the prefix once, then each sequence's own rest.

The sequences of a TRACE pair share their prompt (an INVERT pair's IPO term reads both
responses; a PUNISH pair's two NPO terms read one each), and prompts are over half of smol's
tokens. A packed row is [prefix | rest_1 | rest_2 | …]: each rest's positions continue the
prefix's, and the attention mask lets a token see the prefix and the earlier tokens of its own
sequence only — exactly what it sees in its own sequence. So every hidden state, and every
log-prob read from it, equals the unpacked forward's within floating-point rounding, while the
prefix runs once. A target is read from the state of its own sequence's previous token (for a
rest's first target, the prefix's last state): ``source`` indexes those states.

Used by the ghost path of impact scores (``train/ghost.py``): the gradient of a group's summed
losses is all it needs from a row, and a row holds one group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from realignbench.models.chat import IGNORE, Encoded


@dataclass
class Piece:
    """``tokens[start:stop]`` of one sequence sits at ``row``, from column ``at``."""
    row: int
    at: int
    tokens: list[int]
    start: int
    stop: int


@dataclass
class Packed:
    input_ids: Tensor          # [R, L] (pad id after each row's tokens)
    position_ids: Tensor       # [R, L]
    mask: Tensor               # [R, 1, L, L] additive (0: may attend; dtype min: may not)
    source: Tensor             # [N] flat index r·L + c of the state that predicts each target
    target: Tensor             # [N] target token ids
    owner: Tensor              # [N] which of the packed sequences each target belongs to
    pieces: list[Piece]

    def run(self, decoder, inputs_embeds: Tensor | None = None) -> Tensor:
        """The decoder's last hidden state [R, L, H] (its own forward, with our mask and
        positions; from ``inputs_embeds`` when given)."""
        return decoder(input_ids=None if inputs_embeds is not None else self.input_ids,
                       inputs_embeds=inputs_embeds, attention_mask=self.mask,
                       position_ids=self.position_ids, use_cache=False).last_hidden_state

    def to(self, device) -> "Packed":
        for name in ("input_ids", "position_ids", "mask", "source", "target", "owner"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != seqs[0][i] for s in seqs[1:]):
            return i
    return n


def pack(seqs: Sequence[Encoded], rows: Sequence[Sequence[int]], pad_id: int | None,
         dtype: torch.dtype) -> Packed:
    """Pack ``seqs`` (the batch's sequences, in its row order) into one row per entry of
    ``rows`` (indices into ``seqs``; each sequence in exactly one entry). ``owner`` of a target
    is its sequence's index in ``seqs``, and targets come in sequence order, positions
    ascending — the order ``SequenceScorer`` reads them in."""
    columns: dict[int, tuple[int, list[int]]] = {}     # sequence -> (row, column per position)
    pieces = []
    for r, entry in enumerate(rows):
        tokens = [list(seqs[i].input_ids) for i in entry]
        prefix = common_prefix(tokens) if len(tokens) > 1 else len(tokens[0])
        at = prefix                                     # where the next rest starts
        for k, (i, t) in enumerate(zip(entry, tokens)):
            rest = len(t) - prefix
            columns[i] = (r, list(range(prefix)) + list(range(at, at + rest)))
            pieces.append(Piece(r, 0, t, 0, len(t)) if k == 0 else
                          Piece(r, at, t, prefix, len(t)))
            at += rest
    width = max(cols[-1] + 1 for _, cols in columns.values())
    ids = torch.full((len(rows), width), pad_id if pad_id is not None else 0, dtype=torch.long)
    pos = torch.zeros(len(rows), width, dtype=torch.long)
    allowed = torch.eye(width, dtype=torch.bool).repeat(len(rows), 1, 1)   # pads: themselves
    source, target, owner = [], [], []
    for i, seq in enumerate(seqs):
        r, cols = columns[i]
        own = torch.tensor(cols)
        ids[r, own] = torch.tensor(seq.input_ids)
        pos[r, own] = torch.arange(len(cols))
        allowed[r, own[:, None], own[None, :]] |= torch.ones(len(cols), len(cols),
                                                             dtype=torch.bool).tril()
        for p in range(len(seq.labels) - 1):
            if seq.labels[p + 1] != IGNORE:
                source.append(r * width + cols[p])
                target.append(seq.labels[p + 1])
                owner.append(i)
    mask = torch.zeros(len(rows), 1, width, width, dtype=dtype)
    mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    return Packed(ids, pos, mask, torch.tensor(source, dtype=torch.long),
                  torch.tensor(target, dtype=torch.long), torch.tensor(owner, dtype=torch.long),
                  pieces)
