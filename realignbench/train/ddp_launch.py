"""A training run on several GPUs: its work under torchrun, one process per GPU.

With ``train.gpus`` = N > 1, :func:`realignbench.train.api.train_method` (from the pipeline or
the CLI) does not train in its own process: it writes the run's arguments to a file and runs
``python -m torch.distributed.run --standalone --nproc_per_node N -m
realignbench.train.ddp_rank FILE``. Every rank then does the run's work in the same run
directory; the trainer (accelerate) shards each global batch over the ranks and all-reduces the
gradients, so the model is the one a single process trains (tests/test_distributed.py), and
the calling process completes the run as usual (a completed run is skipped without launching
anything). Without CUDA the ranks use gloo on the CPU, which is how the tests run it.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path


def launch(run, cfg, method: str, train_path: Path, ref_spec: str, seed: int,
           noise: float) -> None:
    """Do ``run``'s training work under torchrun with ``cfg.train.gpus`` processes."""
    args = {"dir": str(run.dir), "key": run.key, "cfg": cfg, "method": method,
            "train_path": str(train_path), "ref_spec": ref_spec, "seed": seed, "noise": noise}
    with tempfile.TemporaryDirectory(prefix="ddp-") as tmp:
        spec = Path(tmp) / "train.pkl"
        spec.write_bytes(pickle.dumps(args))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(cfg.train.gpus), "-m", "realignbench.train.ddp_rank",
               str(spec)]
        done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"DDP training of {method} on {cfg.train.gpus} processes failed "
                           f"(torchrun exit code {done.returncode}); the ranks' errors are above")
