import json
import sys
import types
from pathlib import Path

import pytest

from realignbench.data.pku import HARM_CATEGORIES, load_pku_pairs
from realignbench.data.schema import DataError
from realignbench.oracle.label import LabelOracle
from realignbench.policies.spec import load_shift
from realignbench.triage.rule import triage, triage_stats

FIXTURE = Path(__file__).parent / "fixtures" / "pku_saferlhf_sample.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
SCHEMA_KEYS = {"prompt", "response_0", "response_1", "prompt_source", "response_0_source",
               "response_1_source", "is_response_0_safe", "is_response_1_safe",
               "response_0_harm_category", "response_1_harm_category",
               "response_0_severity_level", "response_1_severity_level", "better_response_id",
               "safer_response_id", "response_0_sha256", "response_1_sha256"}


def test_fixture_has_the_dataset_schema():
    assert len(ROWS) >= 30
    for row in ROWS:
        assert set(row) == SCHEMA_KEYS
        assert list(row["response_0_harm_category"]) == list(HARM_CATEGORIES)


def test_loader_orientation_and_labels():
    pairs, stats = load_pku_pairs(FIXTURE)
    assert stats["rows"] == len(ROWS) == len(pairs)
    for pair, row in zip(pairs, ROWS):
        safe = (row["is_response_0_safe"], row["is_response_1_safe"])
        ci = (0 if safe[0] else 1) if safe[0] != safe[1] else row["safer_response_id"]
        assert pair.chosen == row[f"response_{ci}"] and pair.rejected == row[f"response_{1 - ci}"]
        lab = pair.labels["chosen"]
        assert lab["is_safe"] == safe[ci]
        assert lab["severity"] == row[f"response_{ci}_severity_level"]
        assert lab["harm_category"] == row[f"response_{ci}_harm_category"]
        assert {"dimension", "template_family"} <= set(pair.meta)
    # the safer id points at an unsafe response in one fixture row: the safe one still wins
    assert any(p.meta["orientation_rule"] == "only_safe_response"
               and p.labels["chosen"]["response_id"] != p.meta["safer_response_id"]
               for p in pairs)
    assert len(load_pku_pairs(FIXTURE, limit=5)[0]) == 5


def test_config_filter_on_a_mixed_file():
    pairs, stats = load_pku_pairs(FIXTURE, config="alpaca-7b")
    assert pairs and stats["skipped_other_config"] > 0
    assert all(p.labels["chosen"]["source"] == "Alpaca-7B" for p in pairs)
    with pytest.raises(ValueError, match="unknown PKU-SafeRLHF config"):
        load_pku_pairs(FIXTURE, config="alpaca-13b")


def test_label_oracle_triage_of_pku_pairs():
    shift = load_shift("pku_saferlhf", "default")
    pairs, _ = load_pku_pairs(FIXTURE)
    out = triage(pairs, LabelOracle(), shift.new, shift.name, shift.old)
    stats = triage_stats(out)
    assert all(stats["categories"][c]["n"] > 0 for c in ("INVERT", "PUNISH", "RETAIN"))
    assert stats["retain_kind"]["both_compliant"] > 0
    by_prompt = {p.prompt: p for p in out if p.category == "INVERT"}
    inv = by_prompt["How can I make some money fast?"]       # Drugs (high tier) vs Economic Crime
    assert inv.verdicts["chosen"]["violated"] == ["Drugs"]
    assert inv.verdicts["rejected"]["compliant"]
    trafficking = [p for p in out if p.meta["dimension"] == "Human Trafficking"]
    assert any(p.category == "PUNISH" for p in trafficking)   # zero tolerance at severity 1


def _bad(tmp_path, mutate, line=3):
    rows = [dict(r) for r in ROWS[:5]]
    mutate(rows[line - 1])
    path = tmp_path / "pku.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("mutate, field, text", [
    (lambda r: r.pop("response_1"), "response_1", "missing"),
    (lambda r: r.update(response_0_severity_level=7), "response_0_severity_level", "0-3"),
    (lambda r: r.update(is_response_1_safe="yes"), "is_response_1_safe", "true/false"),
    (lambda r: r.update(response_0_harm_category={"Violence": True}),
     "response_0_harm_category", "differ from the 19"),
    (lambda r: r.update(prompt="  "), "prompt", "empty"),
    (lambda r: r.update(safer_response_id=2), "safer_response_id", "0, 1 or null"),
])
def test_bad_rows_name_file_line_field(tmp_path, mutate, field, text):
    path = _bad(tmp_path, mutate)
    with pytest.raises(DataError) as err:
        load_pku_pairs(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 3, field)
    assert text in str(err.value)


def test_malformed_json_line(tmp_path):
    path = tmp_path / "pku.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"pku.jsonl:2: field '<json>'"):
        load_pku_pairs(path)


def test_directory_layout_and_hub_paths(tmp_path, monkeypatch):
    model_dir = tmp_path / "data" / "Alpaca-7B"
    model_dir.mkdir(parents=True)
    (model_dir / "train.jsonl").write_text(FIXTURE.read_text())
    n_7b = sum(r["response_0_source"] == "Alpaca-7B" for r in ROWS)
    assert len(load_pku_pairs(tmp_path, config="alpaca-7b")[0]) == n_7b
    with pytest.raises(FileNotFoundError, match="no data/<Model>/test.jsonl"):
        load_pku_pairs(tmp_path, config="alpaca-7b", split="test")

    calls = {}

    def fake_load(repo, name, split):
        calls.update(repo=repo, name=name, split=split)
        return ROWS[:7]
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=fake_load))
    pairs, _ = load_pku_pairs("", config="alpaca2-7b", split="test")
    assert len(pairs) == 7 and calls == {"repo": "PKU-Alignment/PKU-SafeRLHF",
                                         "name": "alpaca2-7b", "split": "test"}

    def offline(*a, **k):
        raise ConnectionError("offline")
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(ValueError, match="data.pku_path"):
        load_pku_pairs("")
