"""Steps' resources, and one GPU of its own for every local worker process."""
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from realignbench.config import load_config
from realignbench.pipeline.parallel import _init_worker
from realignbench.pipeline.plan import build_plan
from realignbench.pipeline.resources import (Resources, pin_worker_gpu, step_resources,
                                             visible_gpus, worker_gpu)


def test_model_steps_take_one_gpu_where_there_are_gpus_and_the_rest_none():
    kinds = {s.kind for s in build_plan(load_config("tiny"))}
    with_gpu = {k for k in kinds if step_resources(k, True).gpus}
    assert with_gpu == {"train", "eval_tpa", "eval_capability", "eval_asr"}
    assert step_resources("data", True) == Resources(cpus=1, gpus=0)
    assert all(step_resources(k, False).gpus == 0 for k in kinds)


def test_workers_get_the_gpus_round_robin():
    gpus = ["0", "1", "2"]
    assert [worker_gpu(k, gpus) for k in (1, 2, 3, 4)] == ["0", "1", "2", "0"]
    assert worker_gpu(1, []) is None


def test_with_several_gpus_per_training_step_workers_get_disjoint_blocks():
    gpus = [str(i) for i in range(8)]
    assert [worker_gpu(k, gpus, 4) for k in (1, 2, 3)] == ["0,1,2,3", "4,5,6,7", "0,1,2,3"]
    assert worker_gpu(1, gpus[:3], 4) == "0,1,2"          # fewer GPUs than asked: all of them
    assert step_resources("train", True, train_gpus=4) == Resources(cpus=4, gpus=4)
    assert step_resources("eval_tpa", True, train_gpus=4) == Resources(cpus=1, gpus=1)
    assert step_resources("train", False, train_gpus=4).gpus == 0


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, GPU-1f2e,5")
    assert visible_gpus() == ["2", "GPU-1f2e", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_pinning_sets_only_this_process(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    assert pin_worker_gpu(2, ["4", "7"]) == "7" and os.environ["CUDA_VISIBLE_DEVICES"] == "7"
    assert pin_worker_gpu(1, []) is None and os.environ["CUDA_VISIBLE_DEVICES"] == "7"


def _worker_view(_):
    time.sleep(1.0)                       # keep this worker busy so the next task gets another
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_pool_workers_of_the_local_executor_each_see_one_gpu(tmp_path):
    cfg = load_config("tiny", [f"runs_dir={tmp_path}"])
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker,
                             initargs=(cfg, 1, str(tmp_path), ("3", "5"))) as pool:
        seen = dict(pool.map(_worker_view, range(4)))
    assert len(seen) == 2 and sorted(seen.values()) == ["3", "5"]
