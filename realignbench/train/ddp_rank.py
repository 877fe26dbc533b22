"""One rank of a multi-process training run (started by :mod:`realignbench.train.ddp_launch`
under torchrun): the run's work in its directory, with the arguments from the given file."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main() -> None:
    from realignbench.registry import METHODS
    from realignbench.runs import Run
    from realignbench.train.api import train_in_run
    a = pickle.loads(Path(sys.argv[1]).read_bytes())
    cfg, method = a["cfg"], a["method"]
    train_in_run(Run(Path(a["dir"]), "train", a["key"]), cfg, method, METHODS.get(method).load(),
                 cfg.method_options(method), Path(a["train_path"]), a["ref_spec"], a["seed"],
                 a["noise"])


if __name__ == "__main__":
    main()
