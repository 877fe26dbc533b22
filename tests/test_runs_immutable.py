"""A completed run is never changed afterwards (DESIGN §8): no stage writes into another
stage's run directory once that directory has its ``COMPLETED`` marker."""
from __future__ import annotations

import os
from pathlib import Path


def files_written_after_completion(runs_dir: Path) -> list[str]:
    late = []
    for marker in sorted(runs_dir.glob("*/*/COMPLETED")):
        done = marker.stat().st_mtime_ns
        late += [str(f.relative_to(runs_dir)) for f in marker.parent.rglob("*")
                 if f.is_file() and f.stat().st_mtime_ns > done]
    return late


def test_the_finder_sees_a_file_written_after_completed(tmp_path):
    run = tmp_path / "eval_tpa" / "x-abc"
    run.mkdir(parents=True)
    (run / "COMPLETED").write_text("{}")
    assert files_written_after_completion(tmp_path) == []
    late = run / "human_input.jsonl"
    late.write_text("{}\n")
    done = (run / "COMPLETED").stat().st_mtime_ns
    os.utime(late, ns=(done + 1, done + 1))
    assert files_written_after_completion(tmp_path) == ["eval_tpa/x-abc/human_input.jsonl"]


def test_tiny_graph_with_human_eval_leaves_completed_runs_untouched(tmp_path, capsys):
    from realignbench.cli import main
    runs = tmp_path / "runs"
    assert main(["reproduce", "--preset", "tiny", "--tables", "2", "--jobs", "1",
                 "--runs-dir", str(runs), "--out", str(tmp_path / "out")]) == 0
    stage_dirs = [d for d in runs.glob("*/*") if d.is_dir() and d.parent.name != "logs"]
    assert {d.parent.name for d in stage_dirs} >= {"eval_tpa", "human_eval", "train"}
    assert [d for d in stage_dirs if not (d / "COMPLETED").exists()] == []
    assert files_written_after_completion(runs) == []
