"""Run by tests/test_distributed.py under torchrun (2 CPU processes, gloo): train a method on
the tiny fixture and save the final adapter weights. Usage: ddp_worker.py METHOD PAIRS RUNS OUT"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import tiny_config  # noqa: E402

from realignbench.train.api import train_method  # noqa: E402
from realignbench.train.trainer import get_accelerator  # noqa: E402

torch.set_num_threads(1)
method, pairs, runs, out = sys.argv[1:5]
acc = get_accelerator()
# The score path is pinned (not ``auto``): the test's bounds were measured with JVP scores, and
# with batch-1 autograd's (weights as close across world sizes: 8e-9 vs 1.8e-8) the training
# trajectory amplifies the all-reduce order differently (max entry 5.2e-5, issue 17).
cfg = tiny_config("train.max_steps=3", "train.save_every=1", f"methods.{method}.gold_batch_size=6",
                  f"methods.{method}.score_method=jvp")
run = train_method(cfg, method, pairs, "tiny", runs_dir=runs)
if acc.is_main_process:
    last = sorted((run.dir / "checkpoints" / "main").glob("step-*"))[-1]
    torch.save({"weights": torch.load(last / "trainable.pt"), "world": acc.num_processes,
                "results": run.results()["training"]}, out)
