"""train.gpus > 1: a training run's work under torchrun (gloo on CPU here), one run record."""
import pytest

from train_fixtures import tiny_config, write_fixture

from realignbench.train.api import train_method


@pytest.mark.slow
def test_two_process_training_run_is_the_run_a_single_process_would_skip_to(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))
    pairs = write_fixture(tmp_path / "pairs.jsonl", 12)
    common = ["train.max_steps=2", "methods.trace.gold_batch_size=6"]
    run = train_method(tiny_config("train.gpus=2", *common), "trace", pairs, "tiny",
                       runs_dir=tmp_path / "runs")
    assert run.completed and (run.dir / "adapter" / "adapter_config.json").exists()
    (last,) = sorted((run.dir / "checkpoints" / "main").glob("step-*"))[-1:]
    assert {p.name for p in last.glob("rng-rank*.pt")} == {"rng-rank0.pt", "rng-rank1.pt"}
    # The process count is not part of the run: one process finds the same run completed.
    again = train_method(tiny_config(*common), "trace", pairs, "tiny", runs_dir=tmp_path / "runs")
    assert again.dir == run.dir and again.results() == run.results()
