"""``realignbench eval tpa|capability|asr|likelihood-tpa``, ``realignbench judge-validation`` and
``realignbench sweep noise``.

Each command writes a run record in the folder of its stage (``eval_tpa``, ``eval_capability``,
``eval_asr``, ``eval_likelihood_tpa``, ``judge_validation``; the sweep writes train + eval_tpa
runs) and prints where it is.
"""
from __future__ import annotations

import json

from realignbench.cli_args import add_config_args, config_from_args


def _subject(args, cfg):
    from realignbench.bench.subject import resolve
    return resolve(cfg, run=args.run, model=args.model)


def _report(run) -> int:
    res = run.results()
    metrics = {k: round(v["value"], 4) for k, v in res.get("metrics", {}).items()
               if isinstance(v, dict) and "value" in v and "/" not in k}
    print(json.dumps({"run": str(run.dir), "metrics": metrics}, indent=2))
    return 0


def _cmd_tpa(args) -> int:
    from realignbench.bench.tpa import tpa_stage
    cfg = config_from_args(args)
    return _report(tpa_stage(cfg, _subject(args, cfg)))


def _cmd_capability(args) -> int:
    from realignbench.bench.capability import capability_stage
    cfg = config_from_args(args)
    return _report(capability_stage(cfg, _subject(args, cfg)))


def _cmd_asr(args) -> int:
    from realignbench.bench.asr import asr_stage
    cfg = config_from_args(args)
    return _report(asr_stage(cfg, _subject(args, cfg)))


def _cmd_judge_validation(args) -> int:
    from realignbench.bench.judge_validation import judge_validation_stage
    return _report(judge_validation_stage(config_from_args(args)))


def print_likelihood_tpa(cfg, model) -> None:
    from realignbench.triage.stage import prepare_data
    from realignbench.bench.likelihood_tpa import likelihood_tpa_stage
    run = likelihood_tpa_stage(cfg, model, prepare_data(cfg).test)
    metrics = run.results()["metrics"]
    print(f"likelihood TPA ({run.dir}):")
    for name, m in metrics.items():
        print(f"  {name:<48} {m['value']:.3f}  [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]  n={m['n']}")


def _cmd_likelihood_tpa(args) -> int:
    cfg = config_from_args(args)
    print_likelihood_tpa(cfg, args.model)
    return 0


def _cmd_noise(args) -> int:
    from realignbench.bench.noise_sweep import noise_sweep
    cfg = config_from_args(args)
    methods = args.methods.split(",") if args.methods else None
    rows = noise_sweep(cfg, methods=methods, size=args.size)
    print(f"{'method':<12} {'p':>5} {'TPA':>6}  run")
    for method, p, _, tpa in rows:
        print(f"{method:<12} {p:>5g} {tpa.results()['metrics']['tpa']['value']:>6.3f}  {tpa.dir}")
    return 0


def register(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a trained run or a base model")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True, metavar="<evaluation>")
    for name, func, text in (
            ("tpa", _cmd_tpa, "target policy agreement of greedy answers (+ likelihood TPA)"),
            ("capability", _cmd_capability, "lm-eval capability suites (local ones offline)"),
            ("asr", _cmd_asr, "attack success rate: fictional nesting, refusal suppression")):
        p = ev_sub.add_parser(name, help=text, description=text)
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--run", help="a completed training run directory (runs/train/...)")
        who.add_argument("--model", help="a base model: preset name (tiny, smol, ...) or dir")
        add_config_args(p)
        p.set_defaults(func=func)
    p = ev_sub.add_parser("likelihood-tpa", help="per-token likelihood TPA of a model on the "
                                                 "held-out pairs (no judge)")
    add_config_args(p)
    p.add_argument("--model", required=True, help="training run directory or model preset")
    p.set_defaults(func=_cmd_likelihood_tpa)
    p = sub.add_parser("judge-validation", help="validate the free-text judge against the label "
                                                "oracle on the held-out template family")
    add_config_args(p)
    p.set_defaults(func=_cmd_judge_validation)
    sw = sub.add_parser("sweep", help="parameter sweeps")
    sw_sub = sw.add_subparsers(dest="sweep_command", required=True, metavar="<sweep>")
    p = sw_sub.add_parser("noise", help="train methods on noise-injected triage, then TPA "
                                        "(p from data.noise_levels)")
    p.add_argument("--methods", default="", help="comma-separated [eval.noise_methods]")
    p.add_argument("--size", type=int, default=None, help="training size [largest]")
    add_config_args(p)
    p.set_defaults(func=_cmd_noise)
