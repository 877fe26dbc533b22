"""``realignbench tune``: an equal tuning budget for every method (DESIGN §6, docs/tuning.md).

Every tuned method — each registered method the tables train, and M_ref (``old_alignment``) —
trains on the largest training split once per cell of the SAME grid (``tune.grid``: lr ×
epochs), answers the validation prompts (``data.n_val``; training template families, prompts
in neither the pool nor the test split) and is scored by one criterion fixed in advance:

    score = validation agreement − share of degenerate answers

agreement = generative TPA under π_new (M_ref: under π_old, the policy it must hold); an
answer is degenerate when it never ended (cap reached), looped, or carried no recognisable
stance, as far as the TPA records say. The highest score wins; ties go to the smaller lr, then
fewer epochs (the cheaper, gentler setting). M_ref is tuned first and the methods start from
the chosen M_ref. The test split is never opened. Every cell is an ordinary cached run, so an
interrupted tune resumes.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from realignbench.config import Config, tuned_path
from realignbench.oracle.stance_probe import NO_STANCE    # an answer that takes no stance
from realignbench.registry import METHODS
from realignbench.runs import atomic_write_text, file_hash

log = logging.getLogger(__name__)

REFERENCE = "old_alignment"
CRITERION = ("validation agreement (generative TPA under pi_new; M_ref: under pi_old) minus the "
             "share of degenerate answers (unfinished at the cap, n-gram loops, no stance); "
             "ties: smaller lr, then fewer epochs")
# Per-sample flags that mark an answer degenerate, in whatever form the TPA records hold them.
_DEGENERATE_FLAGS = ("unfinished", "loop", "loops", "no_stance")


def tuned_methods(cfg: Config) -> list[str]:
    """M_ref first, then ``tune.methods`` (default: every registered method not excluded and
    not taking another's settings, ``Entry.tuned_as``)."""
    names = cfg.tune.methods or [e.name for e in METHODS
                                 if e.name not in cfg.tune.exclude and not e.tuned_as]
    return [REFERENCE] + [m for m in names if m != REFERENCE]


def grid_cells(cfg: Config, method: str) -> list[dict[str, float | None]]:
    """The grid as ``{lr, epochs}`` cells. A method whose phases take their epochs from its
    own options (M_ref) ignores ``train.epochs``; it gets the lr axis only (epochs None)."""
    g = cfg.tune.grid
    if METHODS.get(method).load().own_epochs:
        return [{"lr": lr, "epochs": None} for lr in sorted(g.lr)]
    return [{"lr": lr, "epochs": ep} for lr in sorted(g.lr) for ep in sorted(g.epochs)]


def is_degenerate(row: dict[str, Any]) -> bool:
    """Unfinished, looping, or without a stance (a flag, or the free-text judge's predicted
    stance ``no_stance``)."""
    if row.get("finished") is False or row.get("stance") == NO_STANCE:
        return True
    return any(bool(row.get(flag)) for flag in _DEGENERATE_FLAGS)


def degenerate_count(results: dict[str, Any], rows: Sequence[dict[str, Any]]) -> int:
    """Answers with any degeneration flag; where the samples carry no flags, the largest of the
    aggregate counts the results hold (a lower bound on the union)."""
    if rows:
        return sum(is_degenerate(r) for r in rows)
    counts = [results.get(k) for k in ("unfinished_generations", "unfinished", "loops",
                                       "no_stance")]
    return max([int(c) for c in counts if isinstance(c, (int, float))], default=0)


def score(cell: dict[str, Any]) -> float:
    return cell["agreement"] - cell["degenerate"] / cell["n"]


def select(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The winning cell: highest score; ties to the smaller lr, then fewer epochs."""
    if not cells:
        raise ValueError("select: no grid cells")
    return min(cells, key=lambda c: (-score(c), c["lr"], c["epochs"] or 0.0))


def settings(cell: dict[str, Any]) -> dict[str, float]:
    return {k: cell[k] for k in ("lr", "epochs") if cell[k] is not None}


def with_settings(cfg: Config, method: str, cell: dict[str, Any]) -> Config:
    return dataclasses.replace(cfg, tuned={**cfg.tuned, method: settings(cell)})


def evaluate_cell(cfg: Config, method: str, cell: dict[str, Any], ctx: dict[str, Any]
                  ) -> dict[str, Any]:
    """Train ``method`` with ``cell``'s settings (cached run) and score it on validation."""
    from realignbench.bench.subject import from_run
    from realignbench.bench.tpa import tpa_stage
    from realignbench.train.api import train_method
    mcfg = with_settings(cfg, method, cell)
    start = cfg.model.preset if METHODS.get(method).load().starts_from == "base" else ctx["ref"]
    train = train_method(mcfg, method, ctx["train_path"], start, seed=ctx["seed"])
    tpa = tpa_stage(mcfg, from_run(train), prepared=ctx["prepared"], judge=ctx["judge"],
                    split="val")
    results = tpa.results()
    metric = "tpa_old" if method == REFERENCE else "tpa"
    if metric not in results["metrics"]:
        raise ValueError(f"{tpa.dir}/results.json: no {metric!r}; M_ref's criterion needs a "
                         "judge that checks pi_old")
    rows = _samples(tpa)
    return {**cell, "metric": metric, "agreement": results["metrics"][metric]["value"],
            "n": results["metrics"][metric]["n"], "degenerate": degenerate_count(results, rows),
            "train_run": train.dir.name, "eval_run": tpa.dir.name}


def _samples(run) -> list[dict[str, Any]]:
    from realignbench.runs import read_jsonl
    path = run.path("samples.jsonl")
    return read_jsonl(path) if path.exists() else []


def context(cfg: Config) -> dict[str, Any]:
    """What every cell shares: the prepared splits (validation included), the judge, the seed
    and the largest training split. ``ref`` (the chosen M_ref's run) is filled in later."""
    from realignbench.bench.tpa import make_judge
    from realignbench.triage.stage import prepare_data
    prepared = prepare_data(cfg)
    if prepared.val is None:
        raise ValueError("tune: no validation split; set data.n_val > 0 in the preset")
    return {"prepared": prepared, "judge": make_judge(cfg), "seed": cfg.seeds[0],
            "train_path": prepared.train[max(prepared.train)], "ref": None, "ref_settings": None}


def run_cell(cfg: Config, ctx: dict[str, Any], method: str, cell: dict[str, Any],
             ref_settings: dict[str, float] | None) -> dict[str, Any]:
    """One grid cell; a method other than M_ref starts from M_ref trained with
    ``ref_settings`` (its cached run, looked up once per process)."""
    if method != REFERENCE and ctx["ref_settings"] != ref_settings:
        ctx["ref"] = _reference(cfg, {REFERENCE: ref_settings or {}}, ctx)
        ctx["ref_settings"] = ref_settings
    return evaluate_cell(cfg, method, cell, ctx)


def tune(cfg: Config, echo: Callable[[str], None] = print, jobs: int = 1) -> dict[str, Any]:
    """Run the grid for every tuned method (M_ref's cells first, then every method's, on
    ``jobs`` worker processes); return the document ``write_tuned`` saves."""
    from tqdm import tqdm

    from realignbench.pipeline.tune_workers import cell_runner
    cfg = dataclasses.replace(cfg, tuned={})      # earlier tuned values must not leak in
    ctx = context(cfg)                             # fails before any training without a val split
    methods = tuned_methods(cfg)
    evidence: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    chosen: dict[str, dict[str, float]] = {}
    bar = tqdm(total=sum(len(grid_cells(cfg, m)) for m in methods), desc="tune", unit="cell")
    with cell_runner(cfg, ctx, jobs, context, run_cell, echo) as run_cells:
        for group in ([REFERENCE], methods[1:]):
            # Longest cells first, so the last one to finish is short.
            todo = sorted(((m, c) for m in group for c in grid_cells(cfg, m)),
                          key=lambda mc: -(mc[1]["epochs"] or 0.0))
            for method, row in run_cells(todo, chosen.get(REFERENCE)):
                evidence[method].append({**row, "score": round(score(row), 6)})
                bar.update(1)
                echo(f"tune {method} lr={row['lr']:g} epochs={row['epochs']}: {row['metric']} "
                     f"{row['agreement']:.3f}, degenerate {row['degenerate']}/{row['n']}, "
                     f"score {score(row):+.3f}  [{row['eval_run']}]")
            for method in group:
                evidence[method].sort(key=lambda r: (r["lr"], r["epochs"] or 0.0))
                chosen[method] = settings(select(evidence[method]))
                echo(f"tune {method}: chose {chosen[method]}")
    bar.close()
    inherited = inherited_settings(chosen)
    return {"preset": cfg.preset, "criterion": CRITERION,
            "grid": dataclasses.asdict(cfg.tune.grid), "seed": cfg.seeds[0],
            "train_size": max(ctx["prepared"].train),
            "validation": {"n_pairs": cfg.data.n_val, "file_hash": file_hash(ctx["prepared"].val)},
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "tuned": {**chosen, **{m: dict(chosen[src]) for m, src in inherited.items()}},
            "inherited": inherited, "evidence": evidence}


def inherited_settings(chosen: dict[str, Any]) -> dict[str, str]:
    """Methods that take another's tuned settings (``Entry.tuned_as``: an ablation changes one
    component of TRACE, so everything else, lr and epochs included, stays TRACE's)."""
    return {e.name: e.tuned_as for e in METHODS
            if e.tuned_as and e.tuned_as in chosen and e.name not in chosen}


def _reference(cfg: Config, chosen: dict[str, dict[str, float]], ctx: dict[str, Any]):
    """M_ref with its chosen settings (a cached run from the grid) — where methods start."""
    from realignbench.train.api import train_method
    rcfg = dataclasses.replace(cfg, tuned={REFERENCE: chosen.get(REFERENCE, {})})
    return train_method(rcfg, REFERENCE, ctx["train_path"], cfg.model.preset, seed=ctx["seed"])


def output_path(cfg: Config, out: str | None) -> Path:
    if out:
        return Path(out)
    if not cfg.tuned_from:
        raise ValueError(f"tune: preset {cfg.preset!r} names no tuned_from file; pass --out")
    return tuned_path(cfg.tuned_from)


def write_tuned(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Written by `realignbench tune` (docs/tuning.md); do not edit by hand.\n"
              "# tuned: the chosen per-method settings; evidence: every grid cell.\n")
    atomic_write_text(path, header + yaml.safe_dump(doc, sort_keys=False))
    return path
