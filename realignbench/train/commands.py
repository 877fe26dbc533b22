"""CLI: ``realignbench train`` (any registered method).

    realignbench train --method old_alignment --preset smol        # M_ref from the base model
    realignbench train --method trace --preset smol [--size 200]   # starts from M_ref
    realignbench train --method trace --train pairs.jsonl --ref runs/train/old_alignment-…
"""
from __future__ import annotations


from realignbench.cli_args import add_config_args, config_from_args


def _train_path(cfg, args):
    if args.train:
        return args.train
    from realignbench.triage.stage import prepare_data
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
    for cat, st in res["training"].get("scores", {}).items():
        rho = "n/a" if st["spearman_length"] is None else f"{st['spearman_length']:+.2f}"
        print(f"  impact scores {cat}: n {st['n']}, median {st['median']:.3g}, "
              f"<= 0 {st['share_le_0']:.0%}, Spearman with length {rho}")
    if args.likelihood_tpa:
        from realignbench.bench.commands import print_likelihood_tpa
        print_likelihood_tpa(cfg, run)
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
