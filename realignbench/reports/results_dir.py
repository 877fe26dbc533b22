"""``realignbench results``: copy a finished report directory (``out/<preset>/``, written by
``make reproduce``) into the committed ``results/<preset>/``.

Every Markdown file there is a rendering of a JSON file beside it (a table, the claims, the
leaderboard), so ``rerender`` can rebuild each one from its JSON alone: the copy is refused if
any differs (a hand edit, or a renderer that changed since the run), and
``tests/test_results_dir.py`` checks the committed directory the same way. ``make docs`` then
summarises it in the README. The copy is all or nothing: written beside the target, then
swapped in.
"""
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path
from typing import Any, Callable

from realignbench.runs import atomic_write_json, git_state

# The files a full reproduce pass writes, relative to its report directory.
TOP_FILES = ("CLAIMS.md", "claims.json", "leaderboard.md", "leaderboard.html",
             "leaderboard.json", "expected.json")
TABLE_SUFFIXES = (".md", ".csv", ".tex", ".json")


class ResultsError(ValueError):
    pass


def _renderers() -> dict[str, Callable[[dict[str, Any]], str]]:
    from realignbench.reports import claims, leaderboard, render
    return {"table": render.to_markdown, "claims": claims.to_markdown,
            "leaderboard": lambda d: leaderboard.to_markdown(leaderboard.from_json(d))}


def rendered_pairs(directory: Path) -> list[tuple[Path, Path, str]]:
    """``(markdown, json, renderer)`` for every rendered file of a report directory."""
    pairs = [(directory / "CLAIMS.md", directory / "claims.json", "claims"),
             (directory / "leaderboard.md", directory / "leaderboard.json", "leaderboard")]
    pairs += [(j.with_suffix(".md"), j, "table")
              for j in sorted((directory / "tables").glob("table-*.json"))]
    return pairs


def rerender(directory: Path | str) -> list[str]:
    """Every Markdown file that its JSON does not reproduce exactly (empty = all agree)."""
    directory = Path(directory)
    renderers = _renderers()
    stale = []
    for md, js, kind in rendered_pairs(directory):
        if not md.is_file() or not js.is_file():
            stale.append(f"{md.name if not md.is_file() else js.name}: missing")
            continue
        data = json.loads(js.read_text(encoding="utf-8"))
        if renderers[kind](data) != md.read_text(encoding="utf-8"):
            stale.append(f"{md.relative_to(directory)}: differs from what {js.name} renders")
    return stale


def _sources(src: Path) -> list[Path]:
    missing = [name for name in TOP_FILES if not (src / name).is_file()]
    tables = sorted(p for p in (src / "tables").glob("table-*") if p.suffix in TABLE_SUFFIXES)
    if missing or not tables:
        raise ResultsError(f"{src}: not a full reproduce pass (missing: "
                           f"{', '.join(missing) or 'tables/'}); run `make reproduce` first")
    return [src / name for name in TOP_FILES] + tables


def run_commits(tables: list[Path]) -> dict[str, int]:
    """``{commit: runs}`` over the run records the tables cite (their ``env.json``), so the
    results name the code that trained and evaluated them, not only the code that rendered
    them; a cited run no longer on disk counts under "unknown"."""
    cited = {r for f in tables if f.suffix == ".json"
             for c in json.loads(f.read_text(encoding="utf-8"))["cells"] for r in c.get("runs", [])}
    counts: dict[str, int] = {}
    for run in sorted(cited):
        env = Path(run) / "env.json"
        git = json.loads(env.read_text(encoding="utf-8")).get("git", {}) if env.is_file() else {}
        commit = git.get("commit", "unknown") + ("-dirty" if git.get("dirty") else "")
        counts[commit] = counts.get(commit, 0) + 1
    return counts


def copy_results(src: Path | str, dst: Path | str) -> Path:
    """Check ``src`` re-renders from its JSON, then replace ``dst`` with a copy of it and a
    ``provenance.json`` (seeds, git state, the commits of the cited runs, when and from
    where)."""
    src, dst = Path(src), Path(dst)
    files = _sources(src)
    stale = rerender(src)
    if stale:
        raise ResultsError(f"{src}: Markdown does not re-render from its JSON: "
                           + "; ".join(stale))
    claims = json.loads((src / "claims.json").read_text(encoding="utf-8"))
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for f in files:
        target = tmp / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    atomic_write_json(tmp / "provenance.json", {
        "copied_from": str(src), "seeds": claims["provenance"]["seeds"],
        "preset": claims["provenance"]["preset"], "git": git_state(),
        "run_commits": run_commits([f for f in files if f.parent.name == "tables"]),
        "copied": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    old = dst.with_name(dst.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        dst.rename(old)
    tmp.rename(dst)
    shutil.rmtree(old, ignore_errors=True)
    return dst
