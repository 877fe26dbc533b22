"""``realignbench human export|ingest|simulate|page``: the human-evaluation commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from realignbench.cli_args import add_config_args, config_from_args


def _gen_map(pairs: list[str]) -> dict[str, Path]:
    """``--gen method=path`` pairs, in the order given."""
    out: dict[str, Path] = {}
    for pair in pairs or []:
        method, sep, path = pair.partition("=")
        if not sep or not method or not path:
            raise ValueError(f"--gen {pair!r}: expected METHOD=PATH")
        if method in out:
            raise ValueError(f"--gen: method {method!r} given twice")
        out[method] = Path(path)
    if not out:
        raise ValueError("give each method's generations with --gen METHOD=PATH")
    return out


def _policy(args, cfg) -> tuple[str, str]:
    """(policy id, text annotators read): a text file, a named/YAML policy, or the shift's π_new."""
    if args.policy_file:
        return Path(args.policy_file).stem, Path(args.policy_file).read_text(encoding="utf-8")
    from realignbench.policies.spec import load_policy, load_shift
    pol = (load_policy(args.policy) if args.policy
           else load_shift(cfg.data.benchmark, cfg.data.shift).new)
    return f"{pol.id}@{pol.version}", pol.text


def _add_policy_args(p) -> None:
    p.add_argument("--policy", help="policy name or YAML path [π_new of data.benchmark/shift]")
    p.add_argument("--policy-file", help="plain-text policy shown to annotators instead")


def _print_summary(run) -> None:
    res = run.results()
    print(res["caption"])
    for name, rec in res["metrics"].items():
        v, (lo, hi) = rec["value"], rec["ci"]
        shown = "undefined" if v is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
        print(f"  {name:<28} {shown}  n={rec['n']}")
    print(f"  annotators: {json.dumps(res['annotators'])}")
    print(f"results: {run.path('results.json')}", file=sys.stderr)


def _cmd_export(args) -> int:
    from realignbench.bench.human.export import export_study
    cfg = config_from_args(args)
    policy_id, text = _policy(args, cfg)
    out = export_study(args.out, _gen_map(args.gen), text, policy_id=policy_id,
                       baseline=args.baseline or cfg.eval.human_baseline,
                       seed=cfg.eval.human_seed if args.seed is None else args.seed,
                       n_items=cfg.eval.human_n_items if args.n_items is None else args.n_items,
                       title=args.title)
    for role, path in out.items():
        print(f"{role}: {path}")
    print("give annotators triplets.json and annotate.html; keep keys.json private",
          file=sys.stderr)
    return 0


def _cmd_ingest(args) -> int:
    from realignbench.bench.human.stage import human_eval_stage
    cfg = config_from_args(args)
    _print_summary(human_eval_stage(cfg, args.triplets, args.keys, args.annotations,
                                    force=args.force, train_seed=args.train_seed))
    return 0


def _cmd_simulate(args) -> int:
    from realignbench.bench.human.stage import simulated_human_eval_stage
    cfg = config_from_args(args)
    gens = _gen_map(args.gen)
    cfg.eval.human_methods = list(gens)
    policy_id, text = _policy(args, cfg)
    _print_summary(simulated_human_eval_stage(cfg, gens, text, policy_id, force=args.force,
                                              train_seed=args.train_seed))
    return 0


def _cmd_page(args) -> int:
    from realignbench.bench.human.page import copy_page
    print(copy_page(args.out))
    return 0


def register(sub) -> None:
    human = sub.add_parser("human", help="human evaluation: blinded triplets, annotation page, "
                                         "win rates, Krippendorff's alpha")
    hs = human.add_subparsers(dest="human_command", required=True, metavar="<action>")

    p = hs.add_parser("export", help="write blinded triplets.json + keys.json + annotate.html")
    p.add_argument("--gen", action="append", metavar="METHOD=PATH",
                   help="a method's generations (JSONL: prompt_id, prompt, text); repeat")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--baseline", help="win rates are vs this method [eval.human_baseline]")
    p.add_argument("--seed", type=int, help="shuffle seed, recorded in keys.json [eval.human_seed]")
    p.add_argument("--n-items", type=int, help="sample this many prompts [eval.human_n_items]")
    p.add_argument("--title", default="", help="study title shown on the page")
    _add_policy_args(p)
    add_config_args(p)
    p.set_defaults(func=_cmd_export)

    p = hs.add_parser("ingest", help="validate annotation files and write a human_eval run")
    p.add_argument("--triplets", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--annotations", nargs="+", required=True, metavar="FILE",
                   help="the page's JSON/CSV exports (one or more annotators)")
    p.add_argument("--force", action="store_true", help="recompute even if a run exists")
    p.add_argument("--train-seed", type=int, help="training seed of the compared models, "
                   "the record's subject seed [first of seeds]")
    add_config_args(p)
    p.set_defaults(func=_cmd_ingest)

    p = hs.add_parser("simulate", help="fill the human eval with a SIMULATED panel that follows "
                                       "the policy oracle's verdicts (offline presets)")
    p.add_argument("--gen", action="append", metavar="METHOD=PATH",
                   help="a method's judged generations (prompt_id, prompt, text, compliant)")
    p.add_argument("--force", action="store_true", help="recompute even if a run exists")
    p.add_argument("--train-seed", type=int, help="training seed of the compared models, "
                   "the record's subject seed [first of seeds]")
    _add_policy_args(p)
    add_config_args(p)
    p.set_defaults(func=_cmd_simulate)

    p = hs.add_parser("page", help="copy the annotation page (static HTML) somewhere")
    p.add_argument("--out", default="annotate.html")
    p.set_defaults(func=_cmd_page)
