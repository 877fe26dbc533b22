"""Per-prompt values read back from run samples, for paired differences."""
import pytest

from synthruns import metric, write_run
from realignbench.reports.items import metric_items
from realignbench.reports.records import RecordError, load_records

SUBJ = {"method": "trace", "preset": "tiny", "shift": "s", "seed": 2}


def _record(tmp_path, stage, samples, subject=SUBJ, metrics=None):
    write_run(tmp_path, stage, subject, metrics or {"tpa": metric(0.5)}, samples=samples)
    return load_records(tmp_path).stage(stage)[0]


def test_tpa_items_are_new_compliant_per_prompt_id_tagged_with_the_seed(tmp_path):
    rows = [{"id": "a", "new_compliant": True, "dimension": "x", "category": "INVERT"},
            {"id": "b", "new_compliant": False, "dimension": "y", "category": "RETAIN"}]
    rec = _record(tmp_path, "eval_tpa", rows)
    items = metric_items(rec, "tpa")
    assert list(items.columns) == ["seed", "id", "num", "den"]
    assert items.to_dict("records") == [{"seed": 2, "id": "a", "num": 1.0, "den": 1.0},
                                        {"seed": 2, "id": "b", "num": 0.0, "den": 1.0}]
    assert metric_items(rec, "tpa/y")["id"].tolist() == ["b"]
    assert metric_items(rec, "tpa_category/INVERT")["num"].tolist() == [1.0]
    assert metric_items(rec, "tpa_old") is None          # π_old not judged: nothing to pair
    assert metric_items(rec, "unfinished") is None


def test_win_rate_items_count_picks_of_a_over_picks_of_a_or_b(tmp_path):
    rows = [{"item_id": "i1", "method": "x"}, {"item_id": "i1", "method": "y"},
            {"item_id": "i2", "method": "z"}, {"item_id": "i3", "method": "x"}]
    rec = _record(tmp_path, "human_eval", rows, {"preset": "tiny", "seed": 0},
                  {"win/x_vs_y": metric(2 / 3)})
    items = metric_items(rec, "win/x_vs_y").set_index("id")
    assert items.loc["i1", ["num", "den"]].tolist() == [1.0, 2.0]
    assert items.loc["i2", ["num", "den"]].tolist() == [0.0, 0.0]    # kept: pairs stay aligned
    assert items["num"].sum() / items["den"].sum() == pytest.approx(2 / 3)
    assert metric_items(rec, "chosen/z")["num"].sum() == 1
    with pytest.raises(RecordError, match="samples.jsonl.*win/x_vs_q"):
        metric_items(rec, "win/x_vs_q")


def test_asr_and_degeneration_items_reproduce_the_stage_metrics(tmp_path):
    # The per-item readers must score each row exactly as the stage did (its record's value).
    from realignbench.bench.asr import asr_metrics
    from realignbench.bench.degeneration import degeneration_metrics
    ok = {"status": "ok"}
    rows = [{"id": f"p{k}:{attack}:0", "attack": attack, "new_compliant": compliant,
             "new_verdict": ok, "stance": stance, "unfinished": k == 1, "loop": k == 2 and
             attack != "baseline", "no_stance": stance == "no_stance"}
            for k, (compliant, stance) in enumerate([(False, "comply"), (False, "no_stance"),
                                                      (True, "refuse"), (False, "comply")])
            for attack in ("baseline", "fictional_nesting", "refusal_suppression")]
    metrics = {**asr_metrics(rows, n_boot=10), **degeneration_metrics(rows)}
    rec = _record(tmp_path, "eval_asr", rows, metrics=metrics)
    asr = metric_items(rec, "asr")
    assert len(asr) == 8 and not asr["id"].str.contains("baseline").any()
    assert asr["num"].mean() == pytest.approx(metrics["asr"]["value"]) == 0.5
    for name in ("degeneration/unfinished", "degeneration/loop", "degeneration/no_stance",
                 "degeneration/any"):
        items = metric_items(rec, name)
        assert len(items) == 12 and items["num"].mean() == pytest.approx(metrics[name]["value"])
    assert metric_items(rec, "degeneration/banana") is None
    tpa = _record(tmp_path / "tpa", "eval_tpa", [{**r, "id": r["id"] + "t"} for r in rows])
    assert metric_items(tpa, "degeneration/any")["num"].sum() == 5


def test_malformed_samples_fail_naming_file_and_line_and_foreign_ones_have_no_items(tmp_path):
    rec = _record(tmp_path, "eval_tpa", [{"id": "a", "new_compliant": True}])
    (rec.dir / "samples.jsonl").write_text('{"id": "a", "new_compliant": true}\n{oops\n')
    with pytest.raises(RecordError, match=r"samples.jsonl: line 2: invalid JSON"):
        metric_items(rec, "tpa")
    (rec.dir / "samples.jsonl").write_text('{"id": "a"}\n')      # no new_compliant field
    assert metric_items(rec, "tpa") is None


def test_capability_items_come_from_lm_eval_samples_and_a_suite_mean_weights_suites_equally(
        tmp_path):
    import json
    suites = {"s1": {"headline": "acc,none"}, "s2": {"headline": "acc,none"}}
    from realignbench.runs import atomic_write_json
    run = write_run(tmp_path, "eval_capability", SUBJ, {"s1": metric(0.5), "s2": metric(1.0)})
    results = json.loads(run.path("results.json").read_text())
    atomic_write_json(run.path("results.json"), {**results, "suites": suites})
    lm = {"samples": {"s1": [{"doc_id": 0, "filter": "none", "acc": 1.0},
                             {"doc_id": 1, "filter": "none", "acc": 0.0}],
                      "s2": [{"doc_id": 0, "filter": "none", "acc": 1.0},
                             {"doc_id": 0, "filter": "other", "acc": 0.0}]}}
    run.path("lm_eval_results.json").write_text(json.dumps(lm))
    rec = load_records(tmp_path).stage("eval_capability")[0]
    assert metric_items(rec, "s1")["id"].tolist() == ["s1:0", "s1:1"]
    both = metric_items(rec, ("s1", "s2"))
    assert len(both) == 3                                 # the 'other' filter is not headline
    assert both["num"].sum() / both["den"].sum() == pytest.approx((0.5 + 1.0) / 2)
