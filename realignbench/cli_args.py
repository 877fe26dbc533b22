"""The arguments every command shares (``--preset``, ``--runs-dir``, ``key=value``) and the
resolved config they give. Below every ``commands.py``, so that no command imports the CLI."""
from __future__ import annotations

import argparse

from realignbench.config import load_config
from realignbench.threads import apply_threads


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="smol",
                   help="preset name (realignbench ls presets) or a YAML path [smol]")
    p.add_argument("--runs-dir", default=None, help="override runs_dir")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. train.lr=5e-5 data.seed=1")


def config_from_args(args: argparse.Namespace):
    overrides = list(args.overrides)
    if args.runs_dir:
        overrides.append(f"runs_dir={args.runs_dir}")
    cfg = load_config(args.preset, overrides)
    apply_threads(cfg)                   # every stage of the command, not only model loads
    return cfg
