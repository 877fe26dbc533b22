"""Typed training examples: what a method turns triaged pairs into (DESIGN §6).

A method never touches tensors. It maps pairs (stored in π_old orientation) to examples of
four kinds; the shared objective (``train/objective.py``) knows the loss of each kind:

* :class:`Preference` — ``preferred ≻ dispreferred`` under a preference loss (``dpo``,
  ``ipo``, ``rdpo`` with flip rate ``eps``), plus ``nll_weight`` × per-token NLL of the
  preferred response (the matched RPO-style term, DESIGN §6a);
* :class:`Punitive` — NPO on one response (push its likelihood below the reference), scaled
  as TRACE's Algorithm 1 (``npo_scale="paper"``, no 2/β) or as Zhang et al. (``"standard"``);
  ``mask_eot`` drops the end-of-turn token from its targets (kept by default, as the authors'
  code does: every punished response ends with it, so the push on it adds up);
* :class:`Anchor` — forward KL(π_ref ‖ π) per response token (teacher-forced on the response);
* :class:`Sft` — per-token NLL of the response.

Every example carries a ``weight`` (impact weight, α_KL, …) and a ``source`` (the pair id),
so impact scores and saved datasets can be traced back to pairs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Union

from realignbench.train.losses import NPO_SCALES, PREFERENCE_KINDS


@dataclass(frozen=True)
class Preference:
    source: str
    prompt: str
    preferred: str
    dispreferred: str
    weight: float = 1.0
    loss: str = "dpo"            # dpo | ipo | rdpo
    eps: float = 0.0             # rDPO flip rate (ignored by dpo/ipo)
    kind = "preference"

    def __post_init__(self):
        if self.loss not in PREFERENCE_KINDS:
            raise ValueError(f"{self.source}: unknown preference loss {self.loss!r}; "
                             f"expected one of {PREFERENCE_KINDS}")

    def sequences(self) -> tuple[tuple[str, str], ...]:
        return ((self.prompt, self.preferred), (self.prompt, self.dispreferred))


@dataclass(frozen=True)
class Punitive:
    source: str
    prompt: str
    response: str
    weight: float = 1.0
    npo_scale: str = "paper"     # paper (TRACE Algorithm 1: no 2/β) | standard (2/β)
    mask_eot: bool = False       # True: end-of-turn is not an NPO target
    kind = "punitive"

    def __post_init__(self):
        if self.npo_scale not in NPO_SCALES:
            raise ValueError(f"{self.source}: unknown NPO scale {self.npo_scale!r}; "
                             f"expected one of {NPO_SCALES}")

    def sequences(self) -> tuple[tuple[str, str], ...]:
        return ((self.prompt, self.response),)


@dataclass(frozen=True)
class Anchor:
    source: str
    prompt: str
    response: str
    weight: float = 1.0
    kind = "anchor"

    def sequences(self) -> tuple[tuple[str, str], ...]:
        return ((self.prompt, self.response),)


@dataclass(frozen=True)
class Sft:
    source: str
    prompt: str
    response: str
    weight: float = 1.0
    kind = "sft"

    def sequences(self) -> tuple[tuple[str, str], ...]:
        return ((self.prompt, self.response),)


Example = Union[Preference, Punitive, Anchor, Sft]
KINDS = {cls.kind: cls for cls in (Preference, Punitive, Anchor, Sft)}


def to_dict(example: Example) -> dict:
    return {"kind": example.kind, **asdict(example)}


def from_dict(row: dict) -> Example:
    row = dict(row)
    kind = row.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"example {row.get('source')!r}: unknown kind {kind!r}; "
                         f"expected one of {sorted(KINDS)}")
    return KINDS[kind](**row)


def reweighted(example: Example, weight: float) -> Example:
    """A copy with another weight (examples are immutable)."""
    return type(example)(**{**asdict(example), "weight": float(weight)})


def count_by_kind(examples) -> dict[str, int]:
    out: dict[str, int] = {}
    for ex in examples:
        out[ex.kind] = out.get(ex.kind, 0) + 1
    return out
