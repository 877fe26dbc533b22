"""The generated blocks of the documentation (``realignbench docs``, ``make docs``).

Facts that code can compute are never typed into the docs by hand:

- ``docs/data.md`` ``category-mix``: SynthValueBench's INVERT/PUNISH/RETAIN mix per shift for
  the tiny and smol presets, from the generator and the label-oracle triage (no model);
- ``README.md`` ``results``: a summary of the committed results directory ``results/<preset>/``
  (``claims.json``, tables, leaderboard), or a plain statement that none is committed yet.

``tests/test_generated_docs.py`` fails when the committed text differs from what this writes.
"""
from __future__ import annotations

import json
import tempfile
import textwrap
from functools import partial
from pathlib import Path
from typing import Any, Callable

from realignbench.reports.marked_blocks import BlockError, replace_blocks

MIX_PRESETS = ("tiny", "smol")
RESULTS_PRESET = "smol"
CATEGORIES = ("INVERT", "PUNISH", "RETAIN")


# -- docs/data.md: category mixes ----------------------------------------------------------
def triage_stats(preset: str, shift: str) -> dict[str, Any]:
    """The triage stage's statistics for one preset and shift, run in a throw-away runs dir
    (the same code as ``realignbench triage``, so the docs show what a run would get)."""
    from realignbench.config import load_config
    from realignbench.triage.stage import prepare_data
    with tempfile.TemporaryDirectory(prefix="realignbench-docs-") as tmp:
        cfg = load_config(preset, ["data.benchmark=synthvaluebench", f"data.shift={shift}",
                                   f"runs_dir={tmp}"])
        return prepare_data(cfg).triage_run.results()["stats"]


def _mix_cell(stats: dict[str, Any]) -> str:
    shares = " · ".join(f"{c} {100 * stats['categories'][c]['share']:.1f}% "
                        f"({stats['categories'][c]['n']})" for c in CATEGORIES)
    both = stats.get("retain_kind", {}).get("both_compliant", 0)
    return f"{shares}; n = {stats['n']}, {both} RETAIN both-compliant"


def category_mix_block(presets: tuple[str, ...] = MIX_PRESETS) -> str:
    from realignbench.policies.spec import list_shifts
    lines = ["| shift | preset | train pool | test |", "|---|---|---|---|"]
    for shift in list_shifts("synthvaluebench"):
        for preset in presets:
            stats = triage_stats(preset, shift)
            lines.append(f"| `{shift}` | {preset} | {_mix_cell(stats['pool'])} | "
                         f"{_mix_cell(stats['test'])} |")
    return "\n".join(lines)


# -- README.md: committed results ----------------------------------------------------------
def _points(x: float | None, scale: float, sign: bool = False) -> str:
    if x is None:
        return "undef."
    return f"{x * scale:+.1f}" if sign else f"{x * scale:.1f}"


def _claim_rows(claims: list[dict[str, Any]]) -> list[str]:
    rows = ["| Claim | Verdict | Ours: a − b [95% CI], points |", "|---|---|---|"]
    for claim in claims:
        diffs = []
        for part in claim["parts"]:
            if "diff" not in part:
                diffs.append(f"{part['a']} vs {part['b']}: not evaluated")
                continue
            s, lo_hi = part["scale"], part["diff_ci"]
            diffs.append(f"{part['a']} vs {part['b']}: {_points(part['diff'], s, True)} "
                         f"[{_points(lo_hi[0], s, True)}, {_points(lo_hi[1], s, True)}]")
        cells = [claim["claim"], f"**{claim['verdict']}**", "<br>".join(diffs)]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def results_block(root: Path, preset: str = RESULTS_PRESET) -> str:
    results = Path("results") / preset
    claims_file = root / results / "claims.json"
    if not claims_file.is_file():
        return textwrap.fill(
            f"**No results are committed yet**: `{results}/` does not exist, so this README "
            f"states no measured numbers. `make reproduce` (PRESET={preset}) writes every table, "
            f"the leaderboard and CLAIMS.md under `out/{preset}/`; once they are committed under "
            f"`{results}/`, `make docs` summarises them here.", width=99)
    from realignbench.reports.render import provenance_line
    data = json.loads(claims_file.read_text(encoding="utf-8"))
    verdicts = [c["verdict"] for c in data["claims"]]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
    files = sorted(p.relative_to(root).as_posix() for p in (root / results).rglob("*.md"))
    return "\n".join([
        f"**Committed results (`{results}/`).** "
        + provenance_line({"provenance": data["provenance"]}),
        "", *_claim_rows(data["claims"]), "",
        f"Claims: {counts}. Files: " + ", ".join(f"[`{f}`]({f})" for f in files) + "."])


# -- the documents -------------------------------------------------------------------------
def documents(root: Path) -> dict[str, dict[str, Callable[[], str]]]:
    """``{file relative to root: {block name: generator}}``."""
    return {"docs/data.md": {"category-mix": category_mix_block},
            "README.md": {"results": partial(results_block, root)}}


def render(root: Path | str) -> dict[Path, tuple[str, str]]:
    """``{path: (committed text, generated text)}`` for every document with blocks."""
    root = Path(root)
    out = {}
    for name, generators in documents(root).items():
        path = root / name
        if not path.is_file():
            raise BlockError(f"{path}: not found (is --root the repository root?)")
        text = path.read_text(encoding="utf-8")
        out[path] = (text, replace_blocks(text, generators, path))
    return out
