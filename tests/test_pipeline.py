"""The reproduction graph: table selection, and a real resumable pass on tiny (Table 1)."""
import json

from realignbench.config import load_config
from realignbench.pipeline.graph import select
from realignbench.pipeline.plan import build_plan


def _names(steps):
    return [s.name for s in steps]


def test_table_selection_takes_only_what_the_table_needs():
    cfg = load_config("tiny")
    plan = build_plan(cfg)
    assert len(set(_names(plan))) == len(plan)                       # unique step names
    t5 = _names(select(plan, [5]))
    trains = [n for n in t5 if n.startswith("train/")]
    assert sorted(trains) == sorted(["train/old_alignment/s0", "train/naive_dpo/n24/p0/s0",
                                     "train/trace/n24/p0/s0", "train/naive_dpo/n48/p0/s0",
                                     "train/trace/n48/p0/s0"])
    assert not any(n.startswith(("eval_capability/", "eval_asr/", "human_eval/")) for n in t5)
    t8 = _names(select(plan, [8]))
    assert "train/rdpo/n48/p0.2/s0" in t8 and "train/naive_dpo/n24/p0/s0" not in t8
    t1 = _names(select(plan, [1]))
    assert t1 == ["data", "judge_validation", "base", "train/old_alignment/s0",
                  "eval_tpa/old_alignment/s0"]          # Table 1 shows M_ref's degeneration


def test_plan_order_trains_trace_first_and_defers_capability_and_asr():
    plan = build_plan(load_config("tiny"))
    names = _names(plan)
    for i, step in enumerate(plan):                     # every dependency runs before its step
        assert all(names.index(d) < i for d in step.deps), step.name
    method_trains = [n for n in names if n.startswith("train/") and "old_alignment" not in n]
    assert method_trains[0].startswith("train/trace/")
    slow = [i for i, s in enumerate(plan) if s.kind in ("eval_capability", "eval_asr")]
    rest = [i for i, s in enumerate(plan) if s.kind not in ("eval_capability", "eval_asr")]
    assert slow and min(slow) > max(rest)


def test_reproduce_table_1_on_tiny_then_resume_does_no_work(tmp_path, capsys):
    from realignbench.cli import main
    args = ["reproduce", "--preset", "tiny", "--tables", "1", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    table = json.loads((tmp_path / "out" / "tables" / "table-1.json").read_text())
    assert table["cells"] and all(c["value"] is not None for c in table["cells"])
    markers = sorted((tmp_path / "runs").glob("*/*/COMPLETED"))
    stamps = [m.stat().st_mtime_ns for m in markers]
    capsys.readouterr()
    assert main(args) == 0                                           # second pass: all skipped
    assert [m.stat().st_mtime_ns for m in markers] == stamps
    assert sorted((tmp_path / "runs").glob("*/*/COMPLETED")) == markers


def test_parallel_workers_run_the_graph_and_a_sequential_pass_then_does_no_work(tmp_path, capsys):
    from realignbench.cli import main
    common = ["reproduce", "--preset", "tiny", "--tables", "5", "--runs-dir",
              str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert main([*common, "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "parallel: 2 workers" in printed and "done  train/trace/n24/p0/s0" in printed
    logs = "".join(p.read_text() for p in (tmp_path / "runs" / "logs").glob("worker-*.log"))
    assert "=== step train/old_alignment/s0" in logs
    markers = sorted((tmp_path / "runs").glob("*/*/COMPLETED"))
    stamps = [m.stat().st_mtime_ns for m in markers]
    assert main([*common, "--jobs", "1"]) == 0                       # same run keys: all skipped
    assert [m.stat().st_mtime_ns for m in markers] == stamps
    table = json.loads((tmp_path / "out" / "tables" / "table-5.json").read_text())
    assert table["cells"] and all(c["value"] is not None for c in table["cells"])


def test_a_step_failing_in_a_worker_stops_the_pass_with_its_error(tmp_path, capsys):
    from realignbench.cli import main
    rc = main(["reproduce", "--preset", "tiny", "--tables", "1", "--jobs", "2", "--runs-dir",
               str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "eval.judge=label"])
    captured = capsys.readouterr()
    assert rc == 2 and "FAILED judge_validation: ValueError" in captured.out
    assert "eval.judge='label'" in captured.err
    assert not (tmp_path / "out" / "tables").exists()


def test_critical_first_puts_the_most_waited_on_steps_first():
    from realignbench.pipeline.graph import critical_first
    steps = build_plan(load_config("tiny"))
    ordered = [s.name for s in sorted(steps, key=critical_first(steps))]
    assert ordered[:2] == ["data", "base"]
    assert ordered.index("train/old_alignment/s0") < ordered.index("eval_tpa/base")
    assert ordered.index("train/old_alignment/s0") < min(
        i for i, n in enumerate(ordered) if n.startswith("train/trace/"))


def test_a_step_that_nothing_else_can_run_beside_gets_the_idle_cores():
    from realignbench.pipeline.parallel import step_threads
    assert step_threads(cores=2, base=1, running=[], others_ready=False) == 2      # M_ref first
    assert step_threads(cores=2, base=1, running=[], others_ready=True) == 1
    assert step_threads(cores=8, base=2, running=[2, 2], others_ready=False) == 4  # the tail
    assert step_threads(cores=2, base=1, running=[2], others_ready=False) == 1     # never 0


def test_a_step_budget_overrides_model_threads_until_cleared():
    import torch

    from realignbench.config import load_config
    from realignbench.threads import apply_threads, set_step_threads
    before = torch.get_num_threads()
    cfg = load_config("tiny", ["model.threads=1"])
    try:
        set_step_threads(2)
        apply_threads(cfg)
        assert torch.get_num_threads() == 2
        set_step_threads(None)
        apply_threads(cfg)
        assert torch.get_num_threads() == 1
    finally:
        set_step_threads(None)
        torch.set_num_threads(before)
