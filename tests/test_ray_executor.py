"""``reproduce --executor ray``: the tiny graph as Ray tasks on a local Ray instance."""
import json
import sys

import pytest

from realignbench.cli import main


def test_without_ray_the_executor_is_a_one_line_error_before_any_output(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # `import ray` fails
    rc = main(["reproduce", "--preset", "tiny", "--tables", "1", "--executor", "ray",
               "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert rc == 2 and "pip install -e '.[cluster]'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_tiny_table_1_under_ray_then_a_local_pass_does_no_work(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    common = ["reproduce", "--preset", "tiny", "--tables", "1", "--runs-dir",
              str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main([*common, "--executor", "ray"]) == 0
    finally:
        ray.shutdown()
    out = capsys.readouterr().out
    assert "submit judge_validation  (1 CPU, 0 GPU" in out and "done  data" in out
    table = json.loads((tmp_path / "out" / "tables" / "table-1.json").read_text())
    assert table["cells"] and all(c["value"] is not None for c in table["cells"])
    markers = sorted((tmp_path / "runs").glob("*/*/COMPLETED"))
    stamps = [m.stat().st_mtime_ns for m in markers]
    assert main([*common, "--jobs", "1"]) == 0                   # everything is skipped
    assert [m.stat().st_mtime_ns for m in markers] == stamps
