"""Run-record index: queries, and missing / stale / ambiguous cells named precisely."""
import json

import pytest

from synthruns import metric, write_run
from realignbench.config import load_config
from realignbench.reports.build import build_table
from realignbench.reports.records import (CellError, MissingCell, RecordError, StaleCell,
                                          expected_from_runs, load_records, subject_id)
from realignbench.reports.spec import load_spec

SUBJ = {"method": "trace", "preset": "tiny", "shift": "default", "seed": 0, "train_size": 48}


def test_query_matches_values_lists_absent_keys_and_noise_default(tmp_path):
    write_run(tmp_path, "eval_tpa", SUBJ, {"tpa": metric(0.7)})
    write_run(tmp_path, "eval_tpa", {**SUBJ, "noise": 0.2}, {"tpa": metric(0.5)})
    write_run(tmp_path, "eval_tpa", {"method": "base", "preset": "tiny"}, {"tpa": metric(0.1)})
    recs = load_records(tmp_path)
    assert len(recs.stage("eval_tpa")) == 3
    assert len(recs.query("eval_tpa", method="trace")) == 2
    # A subject without "noise" is a clean-label run; 48 and 48.0 are the same size.
    (clean,) = recs.query("eval_tpa", method="trace", noise=0.0, train_size=48.0)
    assert clean.metric("tpa")["value"] == 0.7
    assert len(recs.query("eval_tpa", noise=[0.0, 0.2], method="trace")) == 2
    (base,) = recs.query("eval_tpa", train_size=None)
    assert base.subject["method"] == "base"


def test_incomplete_runs_are_not_records_but_are_mentioned(tmp_path):
    run = write_run(tmp_path, "eval_tpa", SUBJ, {"tpa": metric(0.7)})
    (run.dir / "COMPLETED").unlink()
    recs = load_records(tmp_path)
    assert recs.records == [] and recs.incomplete == [run.dir]
    with pytest.raises(MissingCell, match="incomplete run"):
        recs.one("eval_tpa", {"method": "trace"}, "table 5, row '48', column 'trace'")


def test_missing_cell_names_table_row_column_and_the_run_looked_for(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    write_run(tmp_path, "eval_tpa", {**SUBJ, "method": "naive_dpo", "train_size": 24},
              {"tpa": metric(0.3)})
    spec = load_spec(5, cfg)
    with pytest.raises(CellError) as err:
        build_table(spec, load_records(tmp_path), cfg)
    text = str(err.value)
    assert "cell(s) missing or stale" in text
    # Row "24" × column "trace": the query and the closest run are both named.
    line = next(l for l in text.splitlines() if "row '24', column 'trace'" in l)
    assert "table 5 (table-5.yaml)" in line and "'eval_tpa' run" in line
    assert "method='trace'" in line and "train_size=24" in line and "seed=0" in line
    assert "differs in method='naive_dpo'" in line


def test_stale_cell_when_pipeline_expects_another_key(tmp_path):
    old = write_run(tmp_path, "eval_tpa", SUBJ, {"tpa": metric(0.7)}, salt="old-config")
    expected = {subject_id("eval_tpa", SUBJ): "f" * 64}
    recs = load_records(tmp_path, expected)
    with pytest.raises(StaleCell) as err:
        recs.one("eval_tpa", {"method": "trace", "seed": 0}, "table 5, row '48', column 'trace'")
    msg = str(err.value)
    assert "table 5, row '48', column 'trace'" in msg
    assert "ffffffffffff" in msg and str(old.dir) in msg and old.key[:12] in msg


def test_expected_key_picks_the_current_run_among_old_ones(tmp_path):
    write_run(tmp_path, "eval_tpa", {**SUBJ, "model_run": "runs/train/a"}, {"tpa": metric(0.1)},
              salt="old")
    new = write_run(tmp_path, "eval_tpa", {**SUBJ, "model_run": "runs/train/b"},
                    {"tpa": metric(0.9)}, salt="new")
    where = "table 5, row '48', column 'trace'"
    # Without expectations two runs of one subject is a guess, hence an error naming both.
    with pytest.raises(StaleCell, match="2 runs with this subject"):
        load_records(tmp_path).one("eval_tpa", {"method": "trace"}, where)
    expected = expected_from_runs([new])
    rec = load_records(tmp_path, expected).one("eval_tpa", {"method": "trace"}, where)
    assert rec.dir == new.dir and rec.metric("tpa")["value"] == 0.9


def test_filters_matching_several_subjects_is_an_error_unless_one_is_expected(tmp_path):
    write_run(tmp_path, "eval_tpa", SUBJ, {"tpa": metric(0.7)})
    other = write_run(tmp_path, "eval_tpa", {**SUBJ, "seed": 1}, {"tpa": metric(0.6)})
    with pytest.raises(CellError, match="2 different subjects"):
        load_records(tmp_path).one("eval_tpa", {"method": "trace"}, "here")
    rec = load_records(tmp_path, expected_from_runs([other])).one("eval_tpa", {"method": "trace"},
                                                                  "here")
    assert rec.dir == other.dir


def test_malformed_records_name_file_and_field(tmp_path):
    run = write_run(tmp_path, "eval_tpa", SUBJ, {"tpa": {"value": "high", "ci": [0, 1]}})
    rec = load_records(tmp_path).records[0]
    with pytest.raises(RecordError, match=r"results.json: metrics.tpa: non-numeric"):
        rec.metric("tpa")
    with pytest.raises(MissingCell, match=r"metrics.asr: no such metric"):
        rec.metric("asr")
    (run.dir / "results.json").write_text('{"subject": {}\n, oops}')
    with pytest.raises(RecordError, match=r"results.json: line 2: invalid JSON"):
        load_records(tmp_path)


def test_undefined_metric_values_stay_undefined(tmp_path):
    write_run(tmp_path, "human_eval", {"preset": "tiny"},
              {"alpha": {"value": None, "ci": [None, None], "n": 0}})
    m = load_records(tmp_path).records[0].metric("alpha")
    assert m["value"] != m["value"] and m["n"] == 0          # NaN, not 0


def test_triage_stats_are_adapted_to_metric_records(tmp_path):
    run = write_run(tmp_path, "triage", {}, {})
    res = json.loads((run.dir / "results.json").read_text())
    del res["subject"], res["metrics"]
    res.update(benchmark="synthvaluebench", shift="default", oracle="label-oracle-v1",
               stats={"pool": {"n": 40, "categories": {"INVERT": {"n": 10}, "PUNISH": {"n": 14},
                                                       "RETAIN": {"n": 16}},
                               "retain_kind": {"both_compliant": 4}}})
    (run.dir / "results.json").write_text(json.dumps(res))
    (rec,) = load_records(tmp_path).query("triage", benchmark="synthvaluebench", shift="default")
    assert rec.metric("category/invert")["value"] == 0.25
    assert rec.metric("category/retain_both_compliant") == {
        "value": 0.1, "ci": [0.1, 0.1], "n": 40, "count": 4}
    assert rec.provenance["judge"] == "label-oracle-v1"


def test_wall_time_comes_from_completed(tmp_path):
    write_run(tmp_path, "train", SUBJ, {}, wall_s=321.5)
    assert load_records(tmp_path).records[0].metric("@wall_s")["value"] == 321.5
