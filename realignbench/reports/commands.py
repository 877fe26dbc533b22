"""``realignbench table N | leaderboard | claims | docs``: reports from run records (DESIGN §9-§10).

Outputs go under ``--out`` (default ``out/``): ``tables/table-N.{md,csv,tex,json}``,
``leaderboard.{html,md}``, ``CLAIMS.md`` + ``claims.json``. ``--expected`` takes the
pipeline's ``{subject_id: run key}`` JSON so that superseded runs count as stale. ``docs``
rewrites the generated blocks of README.md and docs/data.md.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from realignbench.cli_args import add_config_args, config_from_args
from realignbench.reports.records import CellError, load_expected, load_records

ALL_TABLES = list(range(1, 9))


def _table_numbers(text: str) -> list[int]:
    if text == "all":
        return ALL_TABLES
    try:
        numbers = [int(t) for t in text.split(",")]
    except ValueError:
        raise ValueError(f"table: expected 1-8, a comma list or 'all', got {text!r}") from None
    bad = [n for n in numbers if n not in ALL_TABLES]
    if bad:
        raise ValueError(f"table: no table {bad}; tables are 1-8")
    return numbers


def _setup(args):
    cfg = config_from_args(args)
    records = load_records(cfg.runs_dir, load_expected(args.expected))
    return cfg.to_dict(), records


def _fail(command: str, err: CellError) -> int:
    print(f"realignbench {command}: error: {err}", file=sys.stderr)
    return 2


def cmd_table(args) -> int:
    from realignbench.reports.build import build_table, needs
    from realignbench.reports.render import write_table
    from realignbench.reports.spec import load_spec
    cfg, records = _setup(args)
    numbers = _table_numbers(args.number)
    if args.needs:
        for n in numbers:
            for need in needs(load_spec(n, cfg), cfg):
                print(json.dumps({"table": n, **need}, ensure_ascii=False))
        return 0
    failures = []
    for n in numbers:
        try:
            paths = write_table(build_table(load_spec(n, cfg), records, cfg), args.out)
            print(f"table {n}: " + ", ".join(str(p) for p in paths))
        except CellError as err:
            failures.append(err)
            for old in Path(args.out, "tables").glob(f"table-{n}.*"):
                old.unlink()             # never leave an outdated table beside a failed build
    for err in failures:
        _fail("table", err)
    return 2 if failures else 0


def cmd_leaderboard(args) -> int:
    from realignbench.reports.leaderboard import build_leaderboard, write_leaderboard
    cfg, records = _setup(args)
    try:
        board = build_leaderboard(records, cfg, strict=args.strict)
    except CellError as err:
        return _fail("leaderboard", err)
    for path in write_leaderboard(board, args.out):
        print(path)
    return 0


def cmd_claims(args) -> int:
    from realignbench.reports.claims import evaluate_claims, write_claims
    cfg, records = _setup(args)
    try:
        result = evaluate_claims(records, cfg, strict=not args.allow_missing)
    except CellError as err:
        return _fail("claims", err)
    for c in result["claims"]:
        print(f"{c['verdict']:>15}  {c['claim']}")
    for path in write_claims(result, args.out):
        print(path)
    return 0


def cmd_docs(args) -> int:
    """Rewrite the generated blocks of README.md and docs/data.md (``--check``: only compare)."""
    from realignbench.reports.generated_docs import render
    from realignbench.runs import atomic_write_text
    stale = []
    for path, (committed, generated) in render(args.root).items():
        if committed == generated:
            print(f"{path}: up to date")
        elif args.check:
            stale.append(path)
            print(f"{path}: STALE (run `realignbench docs` or `make docs`)")
        else:
            atomic_write_text(path, generated)
            print(f"{path}: rewritten")
    return 1 if stale else 0


def cmd_results(args) -> int:
    """Copy ``out/<preset>`` into the committed ``results/<preset>`` (reports/results_dir.py)."""
    from realignbench.reports.results_dir import copy_results
    src = Path(args.src or Path("out") / args.preset)
    dst = copy_results(src, Path(args.dst or Path("results") / args.preset))
    print(f"results: {src}/ -> {dst}/ (every Markdown file re-renders from its JSON); "
          "commit it, then `make docs` updates the README's results block")
    return 0


def _common(p) -> None:
    p.add_argument("--out", default="out", help="output directory [out]")
    p.add_argument("--expected", default=None, metavar="JSON",
                   help="the pipeline's {subject_id: run key} file; other runs count as stale")
    add_config_args(p)


def _split_table_args(args) -> int:
    """``table N [key=value ...]``: one positional list, so options may come anywhere."""
    args.number, args.overrides = args.items[0], args.items[1:]
    return cmd_table(args)


def register(sub) -> None:
    p = sub.add_parser("table", help="render table N (1-8, '1,5' or 'all') from run records")
    p.add_argument("--needs", action="store_true",
                   help="print the run records the table reads (JSON lines) and exit")
    p.add_argument("--out", default="out", help="output directory [out]")
    p.add_argument("--expected", default=None, metavar="JSON",
                   help="the pipeline's {subject_id: run key} file; other runs count as stale")
    p.add_argument("--preset", default="smol", help="preset name or YAML path [smol]")
    p.add_argument("--runs-dir", default=None, help="override runs_dir")
    p.add_argument("items", nargs="+", metavar="N [key=value ...]",
                   help="table number 1-8, a comma list or 'all', then config overrides")
    p.set_defaults(func=_split_table_args)
    p = sub.add_parser("leaderboard", help="write leaderboard.html and leaderboard.md")
    p.add_argument("--strict", action="store_true", help="fail on any missing cell")
    _common(p)
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("claims", help="verdicts on the paper's claims -> CLAIMS.md")
    p.add_argument("--allow-missing", action="store_true",
                   help="write 'not evaluated' for missing cells instead of failing")
    _common(p)
    p.set_defaults(func=cmd_claims)
    p = sub.add_parser("docs", help="regenerate the marked blocks of README.md and docs/data.md "
                                    "(category mixes, committed results)")
    p.add_argument("--root", default=".", help="repository root [.]")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if a generated block is stale")
    p.set_defaults(func=cmd_docs)
    p = sub.add_parser("results", help="copy a finished report directory (out/<preset>) into "
                                       "the committed results/<preset>, checked to re-render")
    p.add_argument("--preset", default="smol", help="preset name [smol]")
    p.add_argument("--src", default=None, help="report directory [out/<preset>]")
    p.add_argument("--dst", default=None, help="target [results/<preset>]")
    p.set_defaults(func=cmd_results)
