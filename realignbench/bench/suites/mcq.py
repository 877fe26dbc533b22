"""Shared helpers for building multiple-choice items with a seeded answer position."""
from __future__ import annotations

import random
from typing import Iterable, Sequence


def pick_distractors(rng: random.Random, answer: str, pool: Iterable[str], k: int = 3,
                     exclude: Sequence[str] = ()) -> list[str]:
    """``k`` distinct wrong options from ``pool`` (never the answer or anything excluded)."""
    banned = {answer.lower(), *(e.lower() for e in exclude)}
    options = sorted({p for p in pool if p.lower() not in banned})
    if len(options) < k:
        raise ValueError(f"only {len(options)} distractors for answer {answer!r}")
    return rng.sample(options, k)


def place(rng: random.Random, answer: str, wrong: Sequence[str]) -> tuple[list[str], int]:
    """Shuffle the answer in among the wrong options; return (choices, index of the answer)."""
    if answer in wrong or len(set(wrong)) != len(wrong):
        raise ValueError(f"answer {answer!r} repeated among options {list(wrong)}")
    choices = list(wrong)
    index = rng.randrange(len(choices) + 1)
    choices.insert(index, answer)
    return choices, index


def near_numbers(rng: random.Random, answer: int, k: int = 3) -> list[str]:
    """``k`` distinct plausible-but-wrong positive integers around ``answer``."""
    candidates = {answer + d for d in (-3, -2, -1, 1, 2, 3, 4, 10, -10)}
    candidates |= {answer * 2, answer // 2, answer + answer // 2}
    options = sorted(c for c in candidates if c > 0 and c != answer)
    return [str(c) for c in rng.sample(options, k)]


def numeric_wrong(rng: random.Random, answer: int, candidates: Iterable[int],
                  k: int = 3) -> list[str]:
    """``k`` wrong integers: the typical-mistake ``candidates`` first, padded with near misses."""
    out: list[str] = []
    for c in candidates:
        if c != answer and c >= 0 and str(c) not in out:
            out.append(str(c))
    for c in near_numbers(rng, answer, k=k + 3):
        if c not in out:
            out.append(c)
    return out[:k]


def split_dev(rng: random.Random, items: list[dict], n_dev: int) -> tuple[list[dict], list[dict]]:
    """Shuffle once and hold out ``n_dev`` items as the few-shot (dev) split."""
    items = list(items)
    rng.shuffle(items)
    return items[n_dev:], items[:n_dev]
