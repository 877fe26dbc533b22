"""The equal tuning budget (issue 16, item 2): a validation split disjoint from train and test
that leaves both files unchanged, per-method training settings applied in one place, the
selection criterion, the tuned file's round trip, and `tune` on tiny never reading test."""
import dataclasses
import json

import pytest
import yaml

from realignbench.config import ConfigError, load_config
from realignbench.data import schema, splits
from realignbench.data.schema import read_pairs
from realignbench.pipeline import tune as tune_mod
from realignbench.synthvaluebench.text import family_names
from realignbench.train.api import training_config


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))


def _prepare(tmp_path, *overrides):
    from realignbench.triage.stage import prepare_data
    return prepare_data(load_config("tiny", [f"runs_dir={tmp_path}", *overrides]))


# -- the validation split ------------------------------------------------------------------
def test_validation_split_is_disjoint_and_leaves_train_and_test_unchanged(tmp_path):
    plain = _prepare(tmp_path / "plain")
    tuned = _prepare(tmp_path / "val", "data.n_val=8")
    assert plain.val is None
    for size in plain.train:
        assert tuned.train[size].read_bytes() == plain.train[size].read_bytes()
    assert tuned.test.read_bytes() == plain.test.read_bytes()
    pool = plain.triage_run.path("train.pool.jsonl")
    assert tuned.triage_run.path("train.pool.jsonl").read_bytes() == pool.read_bytes()
    val = read_pairs(tuned.val)
    assert len(val) == 8 and all(p.category for p in val)          # triaged
    assert {p.meta["template_family"] for p in val} <= set(family_names(held_out=False))
    splits.check_prompt_disjoint(read_pairs(pool), read_pairs(tuned.test), val=val)
    assert tuned.triage_run.results()["stats"]["val"]
    # Seeded: the same config gives the same validation file.
    again = _prepare(tmp_path / "again", "data.n_val=8")
    assert again.val.read_bytes() == tuned.val.read_bytes()


def test_check_prompt_disjoint_names_the_splits_that_share_a_prompt():
    from train_fixtures import make_pairs
    pairs = make_pairs(6)
    with pytest.raises(ValueError, match="both test and val"):
        splits.check_prompt_disjoint(pairs[:2], pairs[2:4], val=pairs[3:5])


def test_validation_carved_from_the_pool_where_the_benchmark_has_no_extra_pairs():
    from train_fixtures import make_pairs
    pool = make_pairs(12)
    rest, val = splits.split_by_prompt(pool, 4, "val/0")
    splits.check_prompt_disjoint(rest, [], val=val)
    assert len(rest) + len(val) == 12 and len(val) >= 4


# -- per-method settings -------------------------------------------------------------------
def test_tuned_settings_apply_to_their_method_only_and_untuned_keys_do_not_move():
    plain = load_config("tiny")
    cfg = load_config("tiny", ["tuned.trace.lr=0.0002", "tuned.trace.epochs=2"])
    assert cfg.train_for("trace").lr == 2e-4 and cfg.train_for("trace").epochs == 2.0
    assert cfg.train_for("naive_dpo") == plain.train
    assert training_config(cfg, "naive_dpo", 0) == training_config(plain, "naive_dpo", 0)
    tuned = training_config(dataclasses.replace(cfg, train=cfg.train_for("trace")), "trace", 0)
    assert tuned["train"]["lr"] == 2e-4
    assert tuned != training_config(plain, "trace", 0)


def test_tuned_entries_are_checked():
    with pytest.raises(ConfigError, match="tuned.trace"):
        load_config("tiny", ["tuned.trace.momentum=0.9"])
    with pytest.raises(ConfigError, match="unknown method"):
        load_config("tiny", ["tuned.nope.lr=0.1"])


def test_a_bad_tuned_file_names_file_and_field(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("tuned:\n  trace: {lr: fast}\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: tuned\.trace\.lr"):
        load_config("tiny", [f"tuned_from={path}"])


# -- the criterion -------------------------------------------------------------------------
def _cell(lr, epochs, agreement, degenerate, n=10):
    return {"lr": lr, "epochs": epochs, "agreement": agreement, "degenerate": degenerate, "n": n}


def test_selection_counts_degeneration_against_agreement():
    cells = [_cell(1e-4, 1, 0.5, 0), _cell(5e-4, 3, 0.7, 4), _cell(5e-4, 1, 0.6, 0)]
    # scores 0.5, 0.3, 0.6: the highest raw TPA loses to its degenerate answers
    assert tune_mod.select(cells) is cells[2]


def test_selection_ties_go_to_smaller_lr_then_fewer_epochs():
    cells = [_cell(5e-4, 1, 0.5, 0), _cell(1e-4, 3, 0.6, 1), _cell(1e-4, 1, 0.5, 0)]
    assert tune_mod.select(cells) is cells[2]
    assert tune_mod.select([_cell(1e-4, None, 0.4, 0), _cell(5e-4, None, 0.4, 0)])["lr"] == 1e-4


def test_degenerate_answers_are_counted_from_whatever_the_records_hold():
    rows = [{"finished": True}, {"finished": False}, {"finished": True, "loops": 1},
            {"finished": True, "no_stance": True}, {"finished": True, "no_stance": False},
            {"finished": True, "stance": "no_stance"}, {"finished": True, "stance": "refer"}]
    assert tune_mod.degenerate_count({}, rows) == 4
    assert tune_mod.degenerate_count({"unfinished_generations": 2}, []) == 2
    assert tune_mod.degenerate_count({}, []) == 0


def test_the_grid_is_the_same_for_every_method_and_m_ref_gets_its_lr_axis():
    cfg = load_config("tiny", ["tune.methods=[naive_dpo,trace]"])
    assert tune_mod.tuned_methods(cfg) == ["old_alignment", "naive_dpo", "trace"]
    cells = tune_mod.grid_cells(cfg, "trace")
    assert cells == tune_mod.grid_cells(cfg, "naive_dpo") and len(cells) == 4
    assert [c["epochs"] for c in tune_mod.grid_cells(cfg, "old_alignment")] == [None, None]
    every = tune_mod.tuned_methods(load_config("tiny"))
    assert "dpo" not in every and "sft" not in every and "u2a" in every
    assert "trace_ours" in every and "trace_no_kl" not in every   # ablations take TRACE's


def test_ablations_take_traces_tuned_settings_and_nothing_else_does():
    inherited = tune_mod.inherited_settings({"trace": {"lr": 1e-4}, "naive_dpo": {"lr": 5e-4}})
    assert inherited == {m: "trace" for m in ("trace_no_triage", "trace_no_impact",
                                              "trace_no_kl", "trace_oracle_punish")}
    assert tune_mod.inherited_settings({"naive_dpo": {"lr": 5e-4}}) == {}
    # A method tuned in its own right keeps its own settings.
    assert "trace_no_kl" not in tune_mod.inherited_settings({"trace": {}, "trace_no_kl": {}})


# -- tune end to end on tiny ---------------------------------------------------------------
def test_tune_never_reads_the_test_split_and_its_file_round_trips(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    overrides = [f"runs_dir={runs}", "data.n_val=8", "tune.methods=[naive_dpo]",
                 "tune.grid.lr=[0.001]", "tune.grid.epochs=[1,2]",
                 "methods.old_alignment.sft_max_steps=2", "methods.old_alignment.dpo_max_steps=2"]
    cfg = load_config("tiny", overrides)
    prepared = _prepare(runs, *overrides[1:])
    prepared.test.unlink()                        # nothing can read what is not there
    real_read = schema.read_pairs

    def guarded(path, *a, **kw):
        if "test" in str(path).rsplit("/", 1)[-1]:
            raise AssertionError(f"tune read a test file: {path}")
        return real_read(path, *a, **kw)
    for module in ("realignbench.data.schema", "realignbench.bench.tpa",
                   "realignbench.train.api", "realignbench.triage.stage"):
        monkeypatch.setattr(f"{module}.read_pairs", guarded, raising=False)

    lines = []
    doc = tune_mod.tune(cfg, echo=lines.append)
    assert set(doc["tuned"]) == {"old_alignment", "naive_dpo"}
    cells = doc["evidence"]["naive_dpo"]
    assert [(c["lr"], c["epochs"]) for c in cells] == [(1e-3, 1.0), (1e-3, 2.0)]
    assert all(c["n"] == 8 and c["metric"] == "tpa" and c["train_run"] for c in cells)
    assert doc["evidence"]["old_alignment"][0]["metric"] == "tpa_old"
    # train/api.py applied each cell's settings: distinct runs, recorded in their provenance.
    assert cells[0]["train_run"] != cells[1]["train_run"]
    for c in cells:
        prov = json.loads((runs / "train" / c["train_run"] / "results.json").read_text())
        assert prov["provenance"]["train_settings"] == "tuned"
        assert (prov["provenance"]["lr"], prov["provenance"]["epochs"]) == (c["lr"], c["epochs"])
    assert doc["tuned"]["naive_dpo"] == tune_mod.settings(tune_mod.select(cells))
    assert sum(line.startswith("tune naive_dpo lr=") for line in lines) == 2
    evals = list((runs / "eval_tpa").iterdir())
    assert len(evals) == 3 and all(d.name.split("-")[-2] == "val" for d in evals)
    assert not (runs / "eval_likelihood_tpa").exists()

    path = tune_mod.write_tuned(doc, tmp_path / "tuned" / "tiny.yaml")
    loaded = load_config("tiny", [*overrides, f"tuned_from={path}"])
    assert loaded.tuned == doc["tuned"]
    assert loaded.train_for("naive_dpo").epochs == doc["tuned"]["naive_dpo"]["epochs"]
    assert yaml.safe_load(path.read_text())["evidence"] == doc["evidence"]
    # Resumable: a second pass trains and evaluates nothing new — on two worker processes it
    # finds the same cached cells and returns the same evidence in the same order.
    monkeypatch.undo()
    again = tune_mod.tune(cfg, echo=lines.append, jobs=2)
    assert again["evidence"] == doc["evidence"] and again["tuned"] == doc["tuned"]
    assert len(list((runs / "eval_tpa").iterdir())) == 3


def test_a_benchmark_without_extra_pairs_takes_validation_out_of_the_pool(tmp_path):
    from pathlib import Path
    fixture = Path(__file__).parent / "fixtures" / "pku_saferlhf_sample.jsonl"
    common = ["data.benchmark=pku_saferlhf", f"data.pku_path={fixture}", "data.shift=default",
              "data.n_test=6", "data.train_sizes=[6]", "data.n_train_pool=6",
              "data.noise_levels=[0.0]"]
    plain = _prepare(tmp_path / "plain", *common)
    tuned = _prepare(tmp_path / "val", *common, "data.n_val=4")
    pool = read_pairs(tuned.triage_run.path("train.pool.jsonl"))
    val = read_pairs(tuned.val)
    assert len(val) >= 4
    splits.check_prompt_disjoint(pool, read_pairs(tuned.test), val=val)
    plain_pool = read_pairs(plain.triage_run.path("train.pool.jsonl"))
    assert sorted(p.id for p in pool + val) == sorted(p.id for p in plain_pool)
    assert tuned.test.read_bytes() == plain.test.read_bytes()
