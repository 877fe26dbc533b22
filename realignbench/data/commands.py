"""CLI: ``realignbench data <benchmark>`` (the triage command reuses its PKU flags).

    realignbench data synthvaluebench --preset smol [data.shift=trivial data.seed=1]
    realignbench data pku --path pku.jsonl [--name alpaca-7b] [--split train] [--limit 2000]
"""
from __future__ import annotations

import argparse

from realignbench.cli_args import add_config_args, config_from_args

ALIASES = {"synthvaluebench": "synthvaluebench", "svb": "synthvaluebench",
           "pku": "pku_saferlhf", "pku_saferlhf": "pku_saferlhf"}


def add_pku_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", help="local JSONL file or dataset directory "
                                  "(default: the hub through `datasets`)")
    p.add_argument("--name", help="config: default, alpaca-7b, alpaca2-7b, alpaca3-8b")
    p.add_argument("--split", help="split [train]")
    p.add_argument("--limit", type=int, help="keep the first N rows")


def data_config(args):
    extra = [f"data.benchmark={ALIASES[args.benchmark]}"] if args.benchmark else []
    for flag, key in (("path", "pku_path"), ("name", "pku_config"), ("split", "pku_split"),
                      ("limit", "pku_limit")):
        value = getattr(args, flag, None)
        if value is not None:
            extra.append(f"data.{key}={value}")
    args.overrides = extra + list(args.overrides)     # explicit key=value wins
    return config_from_args(args)


def _cmd_data(args) -> int:
    from realignbench.data.stage import data_stage
    cfg = data_config(args)
    run = data_stage(cfg)
    res = run.results()
    print(f"data ({cfg.data.benchmark}, shift {cfg.data.shift}, seed {cfg.data.seed}): {run.dir}")
    for role, name in res["files"].items():
        print(f"  {role:<6} {run.path(name)}")
    print(f"  {res['n_train']} train pairs" + (f", {res['n_test']} test pairs"
                                                if res["n_test"] is not None else
                                                " (test split made at triage)"))
    return 0


def register(sub) -> None:
    # `data` takes the benchmark as a sub-command: argparse cannot mix a second positional with
    # the trailing key=value overrides once options sit between them.
    p = sub.add_parser("data", help="build a benchmark's π_old-labelled pairs (the data stage)")
    bench = p.add_subparsers(dest="benchmark", required=True, metavar="<benchmark>")
    q = bench.add_parser("synthvaluebench", aliases=["svb"], help="generate SynthValueBench")
    add_config_args(q)
    q.set_defaults(func=_cmd_data)
    q = bench.add_parser("pku", aliases=["pku_saferlhf"], help="load PKU-SafeRLHF")
    add_pku_args(q)
    add_config_args(q)
    q.set_defaults(func=_cmd_data)
