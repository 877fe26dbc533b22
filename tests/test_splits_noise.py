from collections import Counter

import pytest

from realignbench.triage.noise import flip_draw, inject_noise
from realignbench.data.schema import Pair
from realignbench.data.splits import (check_prompt_disjoint, nested_subsets, split_by_prompt,
                                      stratified_order)
from realignbench.oracle.verdict import Verdict
from realignbench.triage.rule import apply_verdicts

CATS = {"INVERT": (False, True), "PUNISH": (False, False), "RETAIN": (True, False)}


def _pool(n=200, repeat=1):
    pairs = []
    for i in range(n):
        cat = ("INVERT", "PUNISH", "RETAIN", "RETAIN")[i % 4]
        p = Pair(id=f"p{i:04d}", prompt=f"prompt {i // repeat}", chosen="c", rejected="r",
                 source="t", labels={"chosen": {}, "rejected": {}}, meta={"dimension": "d"})
        c, r = CATS[cat]
        pairs.append(apply_verdicts(p, Verdict(c), Verdict(r)))
    return pairs


def test_nested_sizes_are_subsets_and_stratified():
    pool = _pool()
    sets = nested_subsets(pool, [40, 100, 200], seed=0)
    ids = {s: {p.id for p in v} for s, v in sets.items()}
    assert ids[40] < ids[100] < ids[200]
    for size, subset in sets.items():
        mix = Counter(p.category for p in subset)
        assert abs(mix["RETAIN"] / size - 0.5) <= 1 / size + 1e-9, (size, mix)
    assert [p.id for p in nested_subsets(pool, [40], seed=0)[40]] == [p.id for p in sets[40]]
    assert [p.id for p in nested_subsets(pool, [40], seed=1)[40]] != [p.id for p in sets[40]]
    with pytest.raises(ValueError, match="exceeds the pool"):
        nested_subsets(pool, [300], seed=0)


def test_stratified_order_prefixes_keep_the_mix():
    items = ["a"] * 30 + ["b"] * 10
    order = stratified_order(items, 0, key=lambda x: x)
    for k in (4, 8, 20):
        assert abs(order[:k].count("b") - k / 4) <= 1


def test_split_by_prompt_is_disjoint_and_stratified():
    pool = _pool(240, repeat=3)           # three pairs per prompt
    train, test = split_by_prompt(pool, 60, seed=0)
    assert len(train) + len(test) == 240 and 60 <= len(test) < 63
    check_prompt_disjoint(train, test)
    with pytest.raises(ValueError, match="both train and test"):
        check_prompt_disjoint(train, train[:1])
    assert split_by_prompt(pool, 60, seed=0)[1] == test
    assert split_by_prompt(pool, 60, seed=1)[1] != test


def test_noise_is_nested_seeded_recorded():
    pool = _pool(400)
    n10, s10 = inject_noise(pool, 0.1, seed=0)
    n20, s20 = inject_noise(pool, 0.2, seed=0)
    flips10 = {(p.id, s) for p in n10 for s in p.meta["noise"]["flipped"]}
    flips20 = {(p.id, s) for p in n20 for s in p.meta["noise"]["flipped"]}
    assert flips10 < flips20
    assert s10["verdicts_flipped"] == len(flips10) and s20["verdicts_flipped"] == len(flips20)
    assert 0.06 < len(flips10) / 800 < 0.14 and 0.15 < len(flips20) / 800 < 0.25
    for p, clean in zip(n20, pool):
        assert p.meta["noise"]["clean_category"] == clean.category
        flipped = p.meta["noise"]["flipped"]
        for side in ("chosen", "rejected"):
            changed = p.verdicts[side]["compliant"] != clean.verdicts[side]["compliant"]
            assert changed == (side in flipped)
        c, r = p.verdicts["chosen"]["compliant"], p.verdicts["rejected"]["compliant"]
        assert p.category == ("RETAIN" if c else "INVERT" if r else "PUNISH")
    assert s20["category_changed"] == sum(p.category != q.category for p, q in zip(n20, pool))
    # a pair's flips do not depend on which subset it is in; another seed flips other verdicts
    assert inject_noise(pool[:50], 0.2, seed=0)[0] == n20[:50]
    assert inject_noise(pool, 0.2, seed=1)[0] != n20
    assert inject_noise(pool, 0.0, seed=0)[1]["verdicts_flipped"] == 0
    assert 0 <= flip_draw(0, "x", "chosen") < 1


def test_noise_rejects_untriaged_and_bad_p():
    raw = Pair(id="x", prompt="q", chosen="c", rejected="r", source="t", labels={})
    with pytest.raises(ValueError, match="triaged"):
        inject_noise([raw], 0.1, 0)
    with pytest.raises(ValueError, match="must lie in"):
        inject_noise(_pool(4), 0.6, 0)
