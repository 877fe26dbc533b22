"""CLI: ``realignbench train`` (any registered method) and ``realignbench likelihood-tpa``.

    realignbench train --method old_alignment --preset smol        # M_ref from the base model
    realignbench train --method trace --preset smol [--size 200]   # starts from M_ref
    realignbench train --method trace --train pairs.jsonl --ref runs/train/old_alignment-…
    realignbench likelihood-tpa --model runs/train/trace-… --preset smol
"""
from __future__ import annotations


from realignbench.cli import add_config_args, config_from_args


def _train_path(cfg, args):
    if args.train:
        return args.train
    from realignbench.data.pipeline import prepare_data
    prepared = prepare_data(cfg)
    size = args.size or max(prepared.train)
    if size not in prepared.train:
        raise ValueError(f"--size {size}: no such training size; data.train_sizes = "
                         f"{sorted(prepared.train)}")
    return prepared.train[size]


def _cmd_train(args) -> int:
    from realignbench.train.api import starting_model, train_method
    cfg = config_from_args(args)
    method = args.method or cfg.method
    ref = args.ref or starting_model(cfg, method, seed=args.seed)
    run = train_method(cfg, method, _train_path(cfg, args), ref, seed=args.seed)
    res = run.results()
    print(f"train {method}: {run.dir} ({run.wall_s():.1f}s)")
    for phase in res["training"]["phases"]:
        print(f"  {phase['phase']}: {phase['steps']} steps, {phase['s_per_step']} s/step, "
              f"last loss {phase['last'].get('loss', float('nan')):.4f}")
    if "weights" in res["training"]:
        w = res["training"]["weights"]
        print(f"  weights: kept {w['kept']}, dropped {w['dropped']}")
    if args.likelihood_tpa:
        _print_tpa(cfg, run)
    return 0


def _print_tpa(cfg, model) -> None:
    from realignbench.data.pipeline import prepare_data
    from realignbench.train.likelihood_tpa import likelihood_tpa_stage
    run = likelihood_tpa_stage(cfg, model, prepare_data(cfg).test)
    metrics = run.results()["metrics"]
    print(f"likelihood TPA ({run.dir}):")
    for name, m in metrics.items():
        print(f"  {name:<48} {m['value']:.3f}  [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]  n={m['n']}")


def _cmd_tpa(args) -> int:
    cfg = config_from_args(args)
    _print_tpa(cfg, args.model)
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a method (ls methods); M_ref is --method old_alignment")
    add_config_args(p)
    p.add_argument("--method", help="a registered method [config `method`]")
    p.add_argument("--train", help="triaged pairs JSONL [the prepared data at --size]")
    p.add_argument("--size", type=int, help="training size from data.train_sizes [largest]")
    p.add_argument("--ref", help="starting model θ_ref: preset, model dir or training run "
                                 "[old_alignment: the preset; others: M_ref, trained if needed]")
    p.add_argument("--seed", type=int, help="training seed [seeds[0]]")
    p.add_argument("--likelihood-tpa", action="store_true",
                   help="then report likelihood TPA on the held-out pairs")
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("likelihood-tpa", help="per-token likelihood TPA of a model on the "
                                              "held-out pairs (no judge)")
    add_config_args(p)
    p.add_argument("--model", required=True, help="training run directory or model preset")
    p.set_defaults(func=_cmd_tpa)
