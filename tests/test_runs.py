import json

import pytest

from realignbench.runs import atomic_write_text, content_hash, run_stage


def test_content_hash_is_stable_and_file_sensitive(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    h1 = content_hash({"b": 1, "a": [1, 2]}, f)
    assert h1 == content_hash({"a": [1, 2], "b": 1}, f)
    f.write_text("y")
    assert content_hash({"b": 1, "a": [1, 2]}, f) != h1


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_text(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_run_stage_writes_records_and_skips_completed(tmp_path):
    calls = []

    def work(run):
        assert (run.dir / "config.resolved.yaml").exists()   # written before any work
        calls.append(1)
        run.append_samples([{"id": "a", "v": 1}])
        run.write_results({"n": 1})

    kwargs = dict(config={"x": 1}, inputs={"seed": 0}, work=work, runs_dir=tmp_path)
    run = run_stage("demo", "demo", **kwargs)
    for name in ("config.resolved.yaml", "results.json", "samples.jsonl", "env.json", "COMPLETED"):
        assert (run.dir / name).exists(), name
    assert json.loads((run.dir / "samples.jsonl").read_text()) == {"id": "a", "v": 1}
    again = run_stage("demo", "demo", **kwargs)
    assert again.dir == run.dir and calls == [1]
    other = run_stage("demo", "demo", **{**kwargs, "inputs": {"seed": 1}})
    assert other.dir != run.dir and calls == [1, 1]


def test_bumping_a_stage_version_makes_its_old_runs_stale(tmp_path, monkeypatch):
    from realignbench import runs
    calls = []

    def work(run):
        calls.append(1)
        run.write_results({})

    kwargs = dict(config={"x": 1}, inputs={}, work=work, runs_dir=tmp_path)
    first = run_stage("demo", "demo", **kwargs)
    assert first.key == runs.content_hash("demo", {"x": 1}, {})     # version 1: key unchanged
    monkeypatch.setitem(runs.STAGE_VERSIONS, "demo", 2)
    second = run_stage("demo", "demo", **kwargs)
    assert second.dir != first.dir and calls == [1, 1]
    assert run_stage("demo", "demo", **kwargs).dir == second.dir and calls == [1, 1]


def test_killed_stage_resumes_from_saved_items(tmp_path):
    def crash(run):
        run.append_samples([{"i": 0}, {"i": 1}])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage("gen", "g", {}, {}, crash, runs_dir=tmp_path)
    seen = []

    def resume(run):
        done = run.saved_samples()
        seen.extend(done)
        run.append_samples([{"i": i} for i in range(len(done), 3)])
        run.write_results({"n": 3})

    run = run_stage("gen", "g", {}, {}, resume, runs_dir=tmp_path)
    assert seen == [{"i": 0}, {"i": 1}]
    assert [r["i"] for r in map(json.loads, (run.dir / "samples.jsonl").read_text().splitlines())] == [0, 1, 2]
