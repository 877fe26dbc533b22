"""Render a built table (``build.build_table``) as Markdown, CSV, LaTeX and JSON.

Every renderer reads only the built dict, so the four files always agree. Ours: value, 95% CI
and n (a Δ column: the paired difference, its CI and whether it is paired); the paper's value
sits in its own column beside ours, verbatim from the spec.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from realignbench.runs import atomic_write_text

log = logging.getLogger("realignbench")


def _num(x: float, show: dict[str, Any], sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "undef."
    scaled = x * show.get("scale", 1)
    text = f"{scaled:+.{show.get('digits', 2)}f}" if sign else f"{scaled:.{show.get('digits', 2)}f}"
    return text


def cell_parts(cell: dict[str, Any]) -> tuple[str, str]:
    """(value, "[lo, hi] n=…") as display strings."""
    if cell["status"] in ("n/a", "missing"):
        return cell["status"], ""
    show = cell.get("display") or {}
    value = _num(cell["value"], show, show.get("sign", False))
    lo, hi = cell["ci"]
    ci = f"[{_num(lo, show, show.get('sign', False))}, {_num(hi, show, show.get('sign', False))}]"
    no_spread = lo == hi and not cell.get("diff")      # a Δ shows even a zero-width CI
    if cell.get("ci_kind") == "constant" or value == "undef." or no_spread:
        ci = ""                      # a census or a count: no sampling uncertainty to show
    n = f"n={cell['n']}" if cell.get("n") and not cell.get("diff") else ""
    if cell.get("diff"):             # a Δ says whether its CI is paired over prompts
        n = "paired" if cell.get("paired") else "UNPAIRED"
    return value, " ".join(p for p in (ci, n) if p)


def _has_paper(table: dict[str, Any], col_id: str) -> bool:
    return any(c["column"] == col_id and c.get("paper") is not None for c in table["cells"])


def _grid(table: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["row"], c["column"]): c for c in table["cells"]}


def _best(table: dict[str, Any]) -> set[tuple[str, str]]:
    """Cells holding the best value of their column, by the column's direction."""
    out = set()
    for col in table["columns"]:
        cells = [c for c in table["cells"] if c["column"] == col["id"] and c["status"] == "ok"
                 and not c.get("diff") and c["value"] is not None and math.isfinite(c["value"])]
        direction = (cells[0].get("display") or {}).get("direction") if cells else None
        if len(cells) < 2 or direction not in ("higher", "lower"):
            continue
        pick = max if direction == "higher" else min
        best = pick(c["value"] for c in cells)
        winners = [c for c in cells if c["value"] == best]
        if len(winners) == 1:                       # a tie has no best
            out.add((winners[0]["row"], winners[0]["column"]))
    return out


def header_label(col: dict[str, Any]) -> str:
    chance = col.get("chance")
    return f"{col['label']} (chance {chance * 100:g}%)" if chance is not None else col["label"]


def provenance_line(table: dict[str, Any]) -> str:
    p = table["provenance"]
    seeds = ", ".join(str(s) for s in p["seeds"]) or "none (built once)"
    parts = [f"preset {p['preset']} (model {p['model']})",
             f"benchmark {p['benchmark']}, shift {p['shift']!r}", f"seeds {seeds}",
             f"judge {', '.join(p['judge']) or 'n/a'}",
             f"nll_weight {', '.join(p['nll_weight']) or 'n/a'}",
             f"{p['n_runs']} run(s)"]
    if p["simulated"]:
        parts.append("human eval: SIMULATED panel (no human annotators)")
    elif p["human"]:
        parts.append("human eval: human annotators")
    if len(p["nll_weight"]) > 1:
        parts.append("WARNING: nll_weight differs between cells (settings not matched)")
    return "Provenance: " + "; ".join(parts) + "."


def caption(table: dict[str, Any]) -> str:
    sim = "SIMULATED human panel. " if table["provenance"]["simulated"] else ""
    return f"{sim}{table['caption']}".strip()


def paper_line(table: dict[str, Any]) -> str:
    paper = table["paper"]
    p = table["provenance"]
    if not paper.get("has_values"):
        return f"Paper values: {paper.get('source', 'none')}."
    ours = (f"ours: {p['benchmark']} shift {p['shift']!r}, model preset {p['model']} "
            f"(preset {p['preset']})")
    return (f"Paper values: {paper.get('source', 'none')}. Setting differs — "
            f"{paper.get('setting', 'n/a')}; {ours}. Compare directions, not magnitudes.")


def to_markdown(table: dict[str, Any]) -> str:
    grid, best = _grid(table), _best(table)
    head, align = ["Row"], ["---"]
    for col in table["columns"]:
        head.append(header_label(col))
        align.append("---:")
        if _has_paper(table, col["id"]):
            head.append("paper")
            align.append("---:")
    lines = [f"### Table {table['table']}. {table['title']}", "", f"_{caption(table)}_", "",
             "| " + " | ".join(_md(h) for h in head) + " |", "|" + "|".join(align) + "|"]
    for row in table["rows"]:
        out = [_md(row["label"]) + (" †" if row.get("note") else "")]
        for col in table["columns"]:
            cell = grid.get((row["id"], col["id"]), {"status": "n/a"})
            value, rest = cell_parts(cell)
            if (row["id"], col["id"]) in best:
                value = f"**{value}**"
            out.append(_md(f"{value} {rest}".strip()))
            if _has_paper(table, col["id"]):
                out.append(_md(str(cell.get("paper") if cell.get("paper") is not None else "—")))
        lines.append("| " + " | ".join(out) + " |")
    lines += ["", provenance_line(table), "", paper_line(table)]
    lines += [f"† {r['label']}: {r['note']}" for r in table["rows"] if r.get("note")]
    lines += list(table["notes"])
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


CSV_FIELDS = ["table", "row", "row_label", "column", "column_label", "status", "value", "ci_lo",
              "ci_hi", "n", "seeds", "ci_kind", "paired", "test", "mdd", "scale", "chance",
              "paper", "stage", "metric", "runs"]


def to_csv(table: dict[str, Any]) -> str:
    """Tidy CSV: one line per cell, unscaled values (``scale`` says how the tables show them)."""
    rows = {r["id"]: r["label"] for r in table["rows"]}
    cols = {c["id"]: c["label"] for c in table["columns"]}
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for c in table["cells"]:
        q = c.get("query") or {}
        metric = q.get("metric")
        w.writerow({
            "table": table["table"], "row": c["row"], "row_label": rows[c["row"]],
            "column": c["column"], "column_label": cols[c["column"]], "status": c["status"],
            "value": c.get("value", ""), "ci_lo": (c.get("ci") or ["", ""])[0],
            "ci_hi": (c.get("ci") or ["", ""])[1], "n": c.get("n", ""),
            "seeds": " ".join(str(s) for s in c.get("seeds", [])), "ci_kind": c.get("ci_kind", ""),
            "paired": c.get("paired", ""), "test": c.get("test", ""), "mdd": c.get("mdd", ""),
            "scale": (c.get("display") or {}).get("scale", 1), "chance": c.get("chance", ""),
            "paper": "" if c.get("paper") is None else c["paper"], "stage": q.get("stage", ""),
            "metric": "+".join(metric) if isinstance(metric, (list, tuple)) else metric or "",
            "runs": ";".join(c.get("runs", []))})
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "≥": r"$\geq$", "≻": r"$\succ$", "Δ": r"$\Delta$", "−": "-", "α": r"$\alpha$",
        "π": r"$\pi$", "ε": r"$\varepsilon$", "±": r"$\pm$", "†": r"$^\dagger$", "↔": r"$\leftrightarrow$"}


def tex(text: Any) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def to_latex(table: dict[str, Any]) -> str:
    grid, best = _grid(table), _best(table)
    head, spec = ["Row"], "l"
    for col in table["columns"]:
        head.append(tex(header_label(col)))
        spec += "r"
        if _has_paper(table, col["id"]):
            head.append(r"\textit{paper}")
            spec += "r"
    body = []
    for row in table["rows"]:
        out = [tex(row["label"])]
        for col in table["columns"]:
            cell = grid.get((row["id"], col["id"]), {"status": "n/a"})
            value, rest = cell_parts(cell)
            value = tex(value)
            if (row["id"], col["id"]) in best:
                value = rf"\textbf{{{value}}}"
            out.append(value + (rf" {{\scriptsize {tex(rest)}}}" if rest else ""))
            if _has_paper(table, col["id"]):
                paper = cell.get("paper")
                out.append(rf"\textit{{{tex(paper)}}}" if paper is not None else "--")
        body.append(" & ".join(out) + r" \\")
    notes = " ".join(tex(t) for t in [provenance_line(table), paper_line(table), *table["notes"]])
    return "\n".join([
        r"\begin{table}[t]", r"\centering", r"\small",
        rf"\caption{{{tex(table['title'])}. {tex(caption(table))}}}",
        rf"\label{{tab:realignbench-{table['table']}}}",
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(head) + r" \\", r"\midrule",
        *body, r"\bottomrule", r"\end{tabular}",
        rf"\par\smallskip\parbox{{\linewidth}}{{\scriptsize {notes}}}", r"\end{table}", ""])


def json_safe(obj: Any) -> Any:
    """Strict JSON: undefined numbers (NaN) become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def to_json(table: dict[str, Any]) -> str:
    return json.dumps(json_safe(table), indent=2, ensure_ascii=False, default=str,
                      allow_nan=False) + "\n"


def write_table(table: dict[str, Any], out_dir: Path | str) -> list[Path]:
    """Write ``tables/table-N.{md,csv,tex,json}`` under ``out_dir`` (atomically)."""
    base = Path(out_dir) / "tables" / f"table-{table['table']}"
    paths = []
    for ext, render in (("md", to_markdown), ("csv", to_csv), ("tex", to_latex),
                        ("json", to_json)):
        path = base.with_suffix(f".{ext}")
        atomic_write_text(path, render(table))
        paths.append(path)
    log.info("table %s -> %s.{md,csv,tex,json}", table["table"], base)
    return paths
