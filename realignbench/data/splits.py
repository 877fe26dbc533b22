"""Seeded, category-stratified, prompt-disjoint splits and nested training sizes (DESIGN §3).

``stratified_order`` puts pairs in an order whose every prefix has (up to rounding) the category
mix of the whole pool; nested training sizes are prefixes of that one order, so the 100-pair set
is a subset of the 200-pair set, and both keep the mix. The authors' split tested a model on its
own training prompts; ``split_by_prompt`` keeps every prompt on one side only.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Callable, Sequence, TypeVar

from realignbench.data.schema import Pair

T = TypeVar("T")


def by_category(pair: Pair) -> str:
    return pair.category or "UNTRIAGED"


def stratified_order(items: Sequence[T], seed: int | str,
                     key: Callable[[T], str]) -> list[T]:
    """A random order of ``items`` in which every prefix is stratified by ``key``.

    Each stratum is shuffled; its i-th item gets position score (i + u) / n_stratum with one
    random offset u per stratum, and items are merged by score (ties by stratum name)."""
    rng = random.Random(f"stratified/{seed}")
    strata: dict[str, list[T]] = defaultdict(list)
    for item in items:
        strata[key(item)].append(item)
    scored = []
    for name in sorted(strata):
        group = strata[name]
        rng.shuffle(group)
        offset = rng.random()
        scored.extend(((i + offset) / len(group), name, i, item) for i, item in enumerate(group))
    scored.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in scored]


def nested_subsets(pairs: Sequence[Pair], sizes: Sequence[int], seed: int | str,
                   key: Callable[[Pair], str] = by_category) -> dict[int, list[Pair]]:
    """{size: pairs}: every smaller set is a prefix (hence a subset) of every larger one."""
    if list(sizes) != sorted(sizes) or not sizes:
        raise ValueError(f"training sizes must be a non-empty ascending list, got {list(sizes)}")
    if sizes[-1] > len(pairs):
        raise ValueError(f"training size {sizes[-1]} exceeds the pool of {len(pairs)} pairs")
    order = stratified_order(pairs, f"nested/{seed}", key)
    return {int(s): order[:s] for s in sizes}


def split_by_prompt(pairs: Sequence[Pair], n_test: int, seed: int | str,
                    key: Callable[[Pair], str] = by_category) -> tuple[list[Pair], list[Pair]]:
    """(train, test) with no prompt on both sides and test stratified by ``key``.

    Pairs sharing a prompt move together (stratum = the key of the group's first pair), so the
    test set holds at least ``n_test`` pairs and at most one prompt group more."""
    if not 0 < n_test < len(pairs):
        raise ValueError(f"n_test={n_test} must lie strictly between 0 and {len(pairs)} pairs")
    groups: dict[str, list[Pair]] = {}
    for p in pairs:
        groups.setdefault(p.prompt.strip(), []).append(p)
    order = stratified_order(list(groups.values()), f"split/{seed}", lambda g: key(g[0]))
    test_ids: set[str] = set()
    for group in order:
        if len(test_ids) >= n_test:
            break
        test_ids.update(p.id for p in group)
    if len(test_ids) == len(pairs):
        raise ValueError("split_by_prompt: every prompt group went to test; lower n_test")
    train = [p for p in pairs if p.id not in test_ids]
    test = [p for p in pairs if p.id in test_ids]
    return train, test


def check_prompt_disjoint(train: Sequence[Pair], test: Sequence[Pair],
                          **others: Sequence[Pair]) -> None:
    """No prompt in two of the named splits (train, test, and e.g. ``val=``): every pair of
    splits is checked, so a validation set can leak into neither training nor test."""
    splits = {"train": train, "test": test, **others}
    prompts = {name: {p.prompt.strip() for p in rows} for name, rows in splits.items()}
    names = list(prompts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = prompts[a] & prompts[b]
            if shared:
                example = sorted(shared)[0]
                raise ValueError(f"{len(shared)} prompt(s) occur in both {a} and {b}, "
                                 f"e.g. {example!r}")
