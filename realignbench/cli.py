"""``realignbench <command>``: the one entry point. Each subsystem registers its own commands.

Every command takes ``--preset`` and trailing ``key=value`` overrides; the config is resolved,
checked, and dumped into each run directory before any work starts.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import traceback

from realignbench.cli_args import add_config_args, config_from_args
from realignbench.config import ConfigError, dump_yaml

# "module:function" that adds subcommands to the parser; imported lazily-cheap modules only.
COMMAND_MODULES = [
    "realignbench.cli:register_core",
    "realignbench.data.commands:register",
    "realignbench.triage.commands:register",
    "realignbench.bench.human.commands:register",
    "realignbench.reports.commands:register",
    "realignbench.oracle.judge_pairs:register",
    "realignbench.train.commands:register",
    "realignbench.pipeline.commands:register",
    "realignbench.bench.commands:register",
]

# Every stage's folder under the runs directory and the command that writes it, for the
# top-level help; tests/test_cli_stages.py checks it against the pipeline's step
# kinds, every run_stage call and the parser.
STAGES = [
    ("data", "data <benchmark>", "π_old-labelled pairs"),
    ("triage", "triage", "INVERT/PUNISH/RETAIN, splits, sizes, noise (runs data first)"),
    ("judge_pairs", "judge-pairs", "LLM verdicts on both responses of every pair"),
    ("judge_validation", "judge-validation", "the free-text judge vs the label oracle"),
    ("train", "train --method M", "M_ref (old_alignment), the methods, the TRACE variants"),
    ("eval_tpa", "eval tpa", "generative target policy agreement"),
    ("eval_likelihood_tpa", "eval likelihood-tpa", "likelihood TPA (also run by eval tpa)"),
    ("eval_capability", "eval capability", "capability suites"),
    ("eval_asr", "eval asr", "attack success rate"),
    ("human_eval", "human ingest|simulate", "human (or simulated) preference study"),
]


def stages_epilog() -> str:
    width = max(len(folder) for folder, _, _ in STAGES) + 2
    lines = ["stages (folder under --runs-dir, the command that writes it; `reproduce` runs "
             "all but judge_pairs):"]
    lines += [f"  {folder + '/':<{width}} realignbench {command:<22} {what}"
              for folder, command, what in STAGES]
    return "\n".join(lines)


def _cmd_validate(args) -> int:
    cfg = config_from_args(args)
    sys.stdout.write(dump_yaml(cfg))
    print(f"# config OK (preset {cfg.preset})", file=sys.stderr)
    return 0


def _cmd_ls(args) -> int:
    from realignbench import registry
    from realignbench.config import PRESET_DIR
    kinds = {
        "methods": registry.METHODS, "evals": registry.EVALS,
        "oracles": registry.ORACLES, "benchmarks": registry.BENCHMARKS,
        "models": registry.MODELS,
    }
    wanted = [args.what] if args.what else ["presets", *kinds]
    for what in wanted:
        print(f"{what}:")
        if what == "presets":
            for p in sorted(PRESET_DIR.glob("*.yaml")):
                print(f"  {p.stem}")
            continue
        for entry in kinds[what]:
            print(f"  {entry.name:<18} {entry.description}")
    return 0


def _cmd_env(args) -> int:
    import torch  # noqa: F401  (so env_info reports the device and threads)
    from realignbench.runs import env_info
    print(json.dumps(env_info(), indent=2))
    return 0


def register_core(sub) -> None:
    p = sub.add_parser("validate", help="print the fully resolved config and check it")
    add_config_args(p)
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("ls", help="list presets, methods, evaluations, oracles, benchmarks, models")
    p.add_argument("what", nargs="?",
                   choices=["presets", "methods", "evals", "oracles", "benchmarks", "models"])
    p.set_defaults(func=_cmd_ls)
    p = sub.add_parser("env", help="print versions, git state and device (paste into bug reports)")
    p.set_defaults(func=_cmd_env)


def _resolve(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realignbench",
        description="Benchmark and reproduction harness for LLM realignment (TRACE, ICML 2026).",
        epilog=stages_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for target in COMMAND_MODULES:
        _resolve(target)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return int(args.func(args) or 0)
    except (ConfigError, KeyError, ValueError) as err:
        # DataError is a ValueError; all name the file/line/field or config key, so one line
        # is enough for a user. With -v the traceback too: a ValueError may also be a bug.
        if args.verbose:
            traceback.print_exc()
        print(f"realignbench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        # A judge batch with failed items (its answered items are cached): exit 3, as
        # `judge-pairs` does, with the count and how to resume instead of a traceback. The
        # client module is only loaded by commands that judge (it imports openai).
        client = sys.modules.get("realignbench.oracle.chat_client")
        if client is None or not isinstance(err, client.JudgeError):
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"realignbench {args.command}: error: {err} (rerun to resume from the cache)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
