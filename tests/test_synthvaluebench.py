from collections import Counter

import pytest

from realignbench.data.schema import write_pairs
from realignbench.oracle.label import LabelOracle
from realignbench.policies.spec import load_shift
from realignbench.oracle.verdict import JudgeItem
from realignbench.synthvaluebench.dimensions import DIMENSIONS
from realignbench.synthvaluebench.generator import (allocate, generate, labelled_responses,
                                                    prompt_space)
from realignbench.synthvaluebench.text import family_names, load_families
from realignbench.triage.rule import triage, triage_stats

SMOL = dict(n_train=400, n_test=300)      # the smol preset's sizes


def _gen(shift="default", seed=0, **sizes):
    return generate(load_shift("synthvaluebench", shift), seed, **(sizes or SMOL))


def test_same_seed_byte_identical_other_seed_different(tmp_path):
    files = []
    for run, seed in (("a", 0), ("b", 0), ("c", 1)):
        train, test = _gen(seed=seed)
        write_pairs(tmp_path / f"{run}.train.jsonl", train)
        write_pairs(tmp_path / f"{run}.test.jsonl", test)
        files.append((tmp_path / f"{run}.train.jsonl").read_bytes()
                     + (tmp_path / f"{run}.test.jsonl").read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_held_out_family_only_in_test_and_prompts_disjoint():
    held = set(family_names(held_out=True))
    assert held and set(family_names(held_out=False)).isdisjoint(held)
    train, test = _gen()
    assert {p.meta["template_family"] for p in test} <= held
    assert {p.meta["template_family"] for p in train}.isdisjoint(held)
    assert {p.prompt for p in train}.isdisjoint({p.prompt for p in test})
    # no held-out prompt template text shows up in any training prompt
    fams = load_families()
    for fam in held:
        for dim, templates in fams[fam].prompts.items():
            stems = [t.split("{")[0] for t in templates if len(t.split("{")[0]) > 12]
            assert not any(s in p.prompt for s in stems for p in train), (fam, dim)


def test_sizes_unique_prompts_and_labels():
    train, test = _gen()
    assert (len(train), len(test)) == (400, 300)
    assert len({p.prompt for p in train}) == 400 and len({p.prompt for p in test}) == 300
    for p in train + test:
        dim = p.meta["dimension"]
        for side in ("chosen", "rejected"):
            assert p.labels[side]["dimension"] == dim
            assert p.labels[side]["stance"] in DIMENSIONS[dim].stances
        assert p.labels["chosen"]["stance"] != p.labels["rejected"]["stance"]
        assert p.correction and {"template_family", "shift", "dimension"} <= set(p.meta)
        for text in (p.chosen, p.rejected, p.correction):
            assert 8 <= len(text.split()) <= 70, text      # ~20-60 tokens for the 135M model


def _mix(shift, split=0):
    s = load_shift("synthvaluebench", shift)
    pairs = _gen(shift)[split]
    return triage_stats(triage(pairs, LabelOracle(), s.new, s.name, s.old))


@pytest.mark.parametrize("split", [0, 1])
def test_default_shift_has_each_category_at_least_15_percent(split):
    stats = _mix("default", split)
    for cat, v in stats["categories"].items():
        assert v["share"] >= 0.15, (cat, v)
    assert stats["retain_kind"].get("both_compliant", 0) > 0
    # every pair really is pi_old-labelled: chosen complies with pi_old, rejected does not
    agree = stats["old_policy_agreement"]
    assert agree["chosen_compliant"] == agree["rejected_noncompliant"] == agree["n"]


def test_trivial_mostly_invert_nontrivial_mostly_punish_control_all_retain():
    triv, nontriv, ctrl = _mix("trivial"), _mix("nontrivial"), _mix("control")
    share = lambda s, c: s["categories"][c]["share"]   # noqa: E731
    assert share(triv, "INVERT") > 0.5 and share(triv, "INVERT") > share(triv, "PUNISH")
    assert share(nontriv, "PUNISH") > 0.4 and share(nontriv, "PUNISH") > 3 * share(nontriv, "INVERT")
    assert share(ctrl, "RETAIN") == 1.0
    # the unchanged harmful-request dimension is RETAIN under every shift
    for stats in (triv, nontriv, _mix("default")):
        assert stats["by_dimension"]["harmful_request"]["RETAIN"]["share"] == 1.0


@pytest.mark.parametrize("shift", ["default", "trivial", "nontrivial"])
def test_gold_correction_complies_with_new_policy(shift):
    s = load_shift("synthvaluebench", shift)
    train, test = _gen(shift, n_train=60, n_test=40)
    pairs = train + test
    items = [JudgeItem(p.prompt, p.correction, {**p.labels["chosen"],
                                                "stance": p.meta["correction_stance"]})
             for p in pairs]
    assert all(v.compliant for v in LabelOracle().judge(items, s.new))


def test_test_mix_matches_train_mix():
    train, test = _gen()
    tr = Counter(p.meta["pair_type"] + p.meta["context"] for p in train)
    te = Counter(p.meta["pair_type"] + p.meta["context"] for p in test)
    for key in tr:
        assert abs(tr[key] / 400 - te[key] / 300) < 0.01


def test_allocate_is_exact_and_proportional():
    counts = allocate(10, {"a": 1, "b": 1, "c": 1})
    assert sum(counts.values()) == 10 and sorted(counts.values()) == [3, 3, 4]
    assert allocate(7, {"x": 0.5, "y": 0.5}) == {"x": 4, "y": 3}


def test_prompt_space_exhaustion_is_a_clear_error():
    space = len(prompt_space("mental_health", "none", family_names(held_out=True)))
    with pytest.raises(ValueError, match="distinct prompts for mental_health"):
        _gen("trivial", n_train=10, n_test=int(space / 0.7) + 50)


def test_labelled_responses_balanced_and_family_bound():
    train_fams = family_names(held_out=False)
    rows = labelled_responses(0, train_fams, 220)
    assert {r.template_family for r in rows} <= set(train_fams)
    counts = Counter((r.dimension, r.stance) for r in rows)
    n_stances = sum(len(d.stances) for d in DIMENSIONS.values())
    assert len(counts) == n_stances and max(counts.values()) - min(counts.values()) <= 1
    held = labelled_responses(0, family_names(held_out=True), 40)
    assert {r.template_family for r in held} == set(family_names(held_out=True))
    assert labelled_responses(0, train_fams, 30) == labelled_responses(0, train_fams, 30)
    assert labelled_responses(0, train_fams, 30) != labelled_responses(1, train_fams, 30)
    with pytest.raises(ValueError, match="unknown families"):
        labelled_responses(0, ["nope"], 3)
