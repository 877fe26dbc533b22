"""CLI: ``realignbench triage`` (runs the data stage first if needed).

    realignbench triage --preset smol [data.shift=...]
    realignbench triage --benchmark pku --path pku.jsonl
"""
from __future__ import annotations

from realignbench.cli_args import add_config_args
from realignbench.data.commands import ALIASES, add_pku_args, data_config


def _cmd_triage(args) -> int:
    from realignbench.triage.stage import prepare_data
    from realignbench.triage.rule import format_mix
    cfg = data_config(args)
    prep = prepare_data(cfg)
    res = prep.triage_run.results()
    print(f"triage ({res['shift']}: {res['policy_old']} -> {res['policy_new']}, "
          f"oracle {res['oracle']}): {prep.triage_run.dir}")
    print(f"  changed dimensions: {res['changed_dimensions'] or 'none'}")
    stats = res["stats"]
    print(f"  pool   {format_mix(stats['pool'])}")
    print(f"  test   {format_mix(stats['test'])}  -> {prep.test}")
    for size, path in prep.train.items():
        print(f"  train{size:<5} {format_mix(stats['train'][str(size)])}  -> {path}")
    print("  by dimension (pool):")
    for dim, mix in stats["pool"]["by_dimension"].items():
        cells = "  ".join(f"{c} {v['n']}" for c, v in mix.items())
        print(f"    {dim:<30} {cells}")
    for key, summ in res["noise"].items():
        print(f"  noise {key:<9} {summ['verdicts_flipped']} verdicts flipped, "
              f"{summ['category_changed']} of {summ['n']} categories changed -> "
              f"{prep.triage_run.path(res['files']['noisy'][key])}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("triage", help="triage pairs under π_new (INVERT/PUNISH/RETAIN), split, "
                                      "nested sizes, oracle noise; runs the data stage if needed")
    p.add_argument("--benchmark", choices=sorted(ALIASES),
                   help="default: the preset's data.benchmark")
    add_pku_args(p)
    add_config_args(p)
    p.set_defaults(func=_cmd_triage)
