import json
from collections import Counter

import pytest

from human_data import METHODS, write_generations
from realignbench.bench.human.export import build_study, export_study, load_method_generations
from realignbench.bench.human.study import StudyError, read_keys, read_study

POLICY = "Be helpful; refuse to give medical dosages."


def test_export_blinds_methods_and_keeps_secrets_in_key_file(tmp_path):
    paths = write_generations(tmp_path / "gen", n=6)
    out = export_study(tmp_path / "study", paths, POLICY, baseline="u2a", seed=7)
    text = out["triplets"].read_text()
    for secret in [*METHODS, str(tmp_path), '"seed"', "sha256"]:
        assert secret not in text, secret
    study = read_study(out["triplets"])
    keys = read_keys(out["keys"], study)
    assert keys.seed == 7 and keys.methods == METHODS and keys.baseline == "u2a"
    assert study.policy_text == POLICY and out["page"].name == "annotate.html"
    gens = load_method_generations(paths)
    for item in study.items:          # every key leads back to that method's own text
        assert len(item.responses) == 3
        for r in item.responses:
            assert r.text == gens[keys.method_of(item.item_id, r.key)][item.item_id].text


def test_shuffle_is_seeded_and_actually_shuffles(tmp_path):
    gens = load_method_generations(write_generations(tmp_path, n=60))
    a, ka = build_study(gens, POLICY, baseline="u2a", seed=1)
    b, kb = build_study(gens, POLICY, baseline="u2a", seed=1)
    c, kc = build_study(gens, POLICY, baseline="u2a", seed=2)
    assert a.to_dict() == b.to_dict() and ka.keys == kb.keys
    order = lambda s, k: [[k.method_of(it.item_id, r.key) for r in it.responses] for it in s.items]
    assert order(a, ka) != order(c, kc)
    first = Counter(o[0] for o in order(a, ka))
    assert set(first) == set(METHODS) and min(first.values()) >= 8   # 60 items, ~20 each


def test_n_items_samples_a_seeded_subset(tmp_path):
    gens = load_method_generations(write_generations(tmp_path, n=10))
    s, _ = build_study(gens, POLICY, baseline="u2a", seed=3, n_items=4)
    assert len(s.items) == 4 and len({it.item_id for it in s.items}) == 4


def test_mismatched_generation_files_are_refused(tmp_path):
    paths = write_generations(tmp_path, n=3)
    rows = [json.loads(line) for line in paths["trace"].read_text().splitlines()]
    rows[1]["prompt"] = "a different prompt"
    paths["trace"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(StudyError, match=r"trace\.jsonl: prompt_id 'p01' has a different prompt"):
        load_method_generations(paths)
    paths["trace"].write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    with pytest.raises(StudyError, match=r"trace\.jsonl: prompts differ .*missing \['p02'\]"):
        load_method_generations(paths)


def test_bad_generation_row_names_file_line_and_field(tmp_path):
    paths = write_generations(tmp_path, n=2)
    paths["u2a"].write_text('{"prompt_id": "p00", "prompt": "q", "text": "a"}\n'
                            '{"prompt_id": "p01", "prompt": "q"}\n')
    with pytest.raises(StudyError, match=r"u2a\.jsonl:2: missing field 'text'"):
        load_method_generations(paths)


def test_baseline_must_be_a_method(tmp_path):
    gens = load_method_generations(write_generations(tmp_path, n=2))
    with pytest.raises(StudyError, match="baseline 'sft'"):
        build_study(gens, POLICY, baseline="sft", seed=0)


def test_key_file_of_another_study_is_refused(tmp_path):
    paths = write_generations(tmp_path / "gen", n=3)
    one = export_study(tmp_path / "a", paths, POLICY, baseline="u2a", seed=0, with_page=False)
    two = export_study(tmp_path / "b", paths, POLICY + " v2", baseline="u2a", seed=0,
                       with_page=False)
    with pytest.raises(StudyError, match="key file is for study"):
        read_keys(two["keys"], read_study(one["triplets"]))
