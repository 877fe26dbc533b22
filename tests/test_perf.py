"""perf/ helpers (alternation, ratios, run-record reading, report), and a --quick smoke run of
the benchmarks on tiny so the scripts do not rot. The benchmarks themselves are not tests."""
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))    # perf/ lives at the repo root

from perf import bench_e2e  # noqa: E402
from perf.report import render  # noqa: E402
from perf.timing import alternate, ratio, summarise  # noqa: E402


def test_variants_alternate_after_one_warmup_each():
    calls = []
    runs, values = alternate({"a": lambda: calls.append("a") or 1,
                              "b": lambda: calls.append("b") or 2}, repeats=3, log=lambda m: None)
    assert calls == ["a", "b"] * 4
    assert values == {"a": 1, "b": 2}
    assert [len(r) for r in runs.values()] == [3, 3]


def test_ratio_and_summary_use_medians():
    fast = [{"wall_s": w, "cpu_per_wall": 2.0, "load1": 0.5} for w in (1.0, 2.0, 9.0)]
    slow = [{"wall_s": w, "cpu_per_wall": 2.0, "load1": 0.5} for w in (4.0, 10.0, 18.0)]
    r = ratio(fast, slow)
    assert r["of_medians"] == 5.0                  # 10 / 2
    assert r["median_pairwise"] == 4.0             # median of 4, 5, 2
    s = summarise(fast, work=8, unit="samples")
    assert s["median_wall_s"] == 2.0 and s["samples_per_s"] == 4.0


def test_e2e_reads_completed_run_records(tmp_path):
    assert bench_e2e.run(tmp_path / "none")["note"] == "no runs yet"
    for stage, name, wall in [("data", "d1", 1.5), ("train", "t1", 30.0), ("train", "t2", 12.5)]:
        (tmp_path / stage / name).mkdir(parents=True)
        (tmp_path / stage / name / "COMPLETED").write_text(json.dumps({"wall_s": wall}))
    (tmp_path / "train" / "unfinished").mkdir()          # no COMPLETED: not counted
    res = bench_e2e.run(tmp_path)
    assert res["stages"]["train"]["total_wall_s"] == 42.5
    assert [r["name"] for r in res["stages"]["train"]["runs"]] == ["t1", "t2"]
    assert res["total_wall_s"] == 44.0
    assert res["span_s"] is None                           # no finish times recorded
    (tmp_path / "data" / "d1" / "COMPLETED").write_text("{}")
    with pytest.raises(ValueError, match="d1/COMPLETED"):
        bench_e2e.run(tmp_path)


def test_e2e_span_runs_from_first_start_to_last_end(tmp_path):
    # t1 ran 10:00:00-10:00:30, t2 10:00:20-10:01:00 (in parallel): span 60 s, not 70.
    for name, wall, end in [("t1", 30.0, "10:00:30"), ("t2", 40.0, "10:01:00")]:
        (tmp_path / "train" / name).mkdir(parents=True)
        (tmp_path / "train" / name / "COMPLETED").write_text(json.dumps(
            {"wall_s": wall, "finished_at": f"2026-12-07T{end}+0000"}))
    res = bench_e2e.run(tmp_path, reproduce_wall_s=4000.0)
    assert res["span_s"] == 60.0 and res["total_wall_s"] == 70.0
    assert res["reproduce_wall_s"] == 4000.0 and res["budget_s"] == 3600


VARIANT = {"repeats": 3, "wall_s": [1.0, 1.1, 1.2], "median_wall_s": 1.1,
           "samples_per_s": 14.5, "work": 16, "unit": "samples",
           "median_cpu_per_wall": 1.9, "load1": [0.4, 0.5, 0.6]}
MACHINE = {"cpu_model": "Test CPU", "cpu_family": "25", "logical_cpus": 2,
           "cpu_flags": {"avx2": True}, "torch_threads": 2,
           "torch_interop_threads": 2, "cuda": False, "python": "3.11",
           "versions": {"torch": "2.x"}, "git_commit": "abc",
           "loadavg_start": [0.5, 0.5, 0.5], "loadavg_end": [1, 1, 1]}


def test_report_marks_a_missed_target():
    record = {"benchmark": "impact", "preset": "smol", "command": "python -m perf.run",
              "elapsed_s": 12.0, "machine": MACHINE,
              "result": {"preset": "smol", "dtype": "bf16", "examples": 16,
                         "variants": {"jvp_batched": VARIANT, "autograd_batch1": VARIANT},
                         "ratios": {"jvp_vs_autograd_batch1": {"of_medians": 1.7,
                                                               "median_pairwise": 1.6}},
                         "agreement": {"jvp_vs_autograd_batch1": 2e-6},
                         "target": {"ratio": 5.0, "applies": True,
                                    "keys": ["jvp_vs_autograd_batch1"]}},
              "profile": {"jvp_batched": {"total_self_cpu_s": 3.0, "top": [
                  {"op": "aten::mm", "calls": 10, "self_cpu_s": 2.0, "share": 0.667}]}}}
    text = render([record], "full")
    assert "1.70×" in text and "**MISSED**" in text
    assert "aten::mm" in text and "Test CPU" in text


def test_a_comparison_can_have_its_own_target():
    """The train benchmark: ≥ 4× the authors' loop, but ≥ 1.5× TRL."""
    from perf.run import _missed
    result = {"preset": "smol", "dtype": "fp32",
              "variants": {"ours": VARIANT, "authors_loop": VARIANT, "trl": VARIANT},
              "ratios": {"ours_vs_authors_loop": {"of_medians": 4.2, "median_pairwise": 4.1},
                         "ours_vs_trl": {"of_medians": 1.6, "median_pairwise": 1.6}},
              "target": {"ratio": 4.0, "ratio_by_key": {"ours_vs_trl": 1.5}, "applies": True,
                         "keys": ["ours_vs_authors_loop", "ours_vs_trl"]}}
    record = {"benchmark": "train", "preset": "smol", "command": "python -m perf.run",
              "elapsed_s": 12.0, "machine": MACHINE, "result": result}
    text = render([record], "full")
    assert "≥ 4: **met**" in text and "≥ 1.5: **met**" in text and not _missed(result)
    result["ratios"]["ours_vs_trl"]["of_medians"] = 1.4
    assert "≥ 1.5: **MISSED**" in render([record], "full") and _missed(result)


@pytest.mark.slow
def test_quick_perf_run_on_tiny(tmp_path):
    from perf.run import main
    docs = tmp_path / "performance.md"
    assert main(["--quick", "--no-lock", "--max-wait", "0", "--results-dir", str(tmp_path),
                 "--docs", str(docs), "--runs-dir", str(tmp_path / "runs")]) == 0
    impact = json.loads((tmp_path / "quick-impact-tiny.json").read_text())["result"]
    assert impact["agreement"]["jvp_vs_autograd_batch1"] < 1e-4        # tiny runs in fp32
    assert impact["agreement"]["ghost_vs_autograd_batch1"] < 1e-4
    assert impact["exact_ceiling_vs_autograd_batch1"] > 0
    assert impact["agreement"]["authors_loop_vs_autograd_batch1"] < 1e-4
    train = json.loads((tmp_path / "quick-train-tiny.json").read_text())["result"]
    assert train["agreement"]["max_abs_loss_diff"] < 1e-4
    assert train["agreement"]["adapter_diff_over_update"] < 1e-2
    assert train["agreement"]["adapter_norm_diff_over_update"] < 1e-2
    assert train["agreement"]["step_losses_trl"][0] == pytest.approx(math.log(2), abs=1e-6)
    assert train["agreement"]["trl_our_tokens_max_abs_loss_diff"] < 1e-4
    assert train["agreement"]["trl_our_tokens_adapter_norm_diff_over_update"] < 1e-2
    assert set(train["ratios"]) == {"ours_vs_authors_loop", "ours_vs_trl"}
    trunk = json.loads((tmp_path / "quick-trunk-tiny.json").read_text())["result"]["agreement"]
    assert trunk["train_trunk_used"] and trunk["train_trunk_hits"] > 0
    assert trunk["tpa_trunk_used"] and trunk["tpa_trunk_hits"] > 0
    assert trunk["adapter_relative_difference"] <= 1e-5
    assert trunk["tpa_max_abs_margin_diff"] < 1e-4
    gen = json.loads((tmp_path / "quick-generate-tiny.json").read_text())["result"]
    assert gen["agreement"]["identical_texts"] == gen["agreement"]["of"]
    text = docs.read_text()
    assert "## Impact scores — tiny" in text and "no runs yet" in text.lower()


def test_e2e_report_states_the_budget_verdict():
    from perf.report import _e2e_budget
    res = {"span_s": 3000.0, "reproduce_wall_s": 4000.0, "budget_s": 3600}
    text = " ".join(_e2e_budget(res))
    assert "50.0 min" in text and "66.7 min" in text and "**MISSED**" in text
    assert "met." in " ".join(_e2e_budget({**res, "reproduce_wall_s": 3500.0}))
    assert _e2e_budget({"span_s": None, "reproduce_wall_s": None, "budget_s": 3600}) == []
