"""The leaderboard: one self-contained HTML page (inline SVG, inline CSS, no scripts) + Markdown.

Built from the same table specs as the tables (7 for the rows, 5 and 8 for the curves, 3 for
the capability bars, 2 for the human panel), so the page can never disagree with them. Methods
found in TPA records but absent from the specs get rows too, labelled as extra. Missing cells
show as "missing" with a banner counting them; ``strict`` turns them into a build error.
Every piece of text — labels, method ids, generation excerpts — goes through ``html.escape``,
and a Content-Security-Policy forbids scripts outright as a second line of defence.
"""
from __future__ import annotations

import dataclasses
import logging
from html import escape
from pathlib import Path
from typing import Any, Mapping

from realignbench.reports import svg
from realignbench.reports.build import build_table
from realignbench.reports.records import RecordSet
from realignbench.reports.render import cell_parts, header_label, provenance_line
from realignbench.reports.spec import Axis, load_spec
from realignbench.runs import atomic_write_text, read_jsonl

log = logging.getLogger("realignbench")
TEXT_FIELDS = ("generation", "response", "output", "completion", "text")
EXCERPT_CHARS = 160
MODES = {"extra": "extra (not in the paper's tables)", "ablation": "ablation (Table 4)"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _extra_rows(spec, records: RecordSet, cfg: Mapping[str, Any]) -> list[Axis]:
    """Methods evaluated at the leaderboard's setting that no spec row names."""
    known = {r.fields.get("subject", {}).get("method") for r in spec.rows}
    data = cfg.get("data") or {}
    found = records.query("eval_tpa", preset=cfg.get("preset"), shift=data.get("shift"),
                          train_size=(data.get("train_sizes") or [None])[-1], noise=0.0)
    methods = sorted({str(r.subject.get("method")) for r in found} - {str(k) for k in known})
    return [Axis(id=m, label=m, fields={"subject": {"method": m}}, note="extra") for m in methods]


def _excerpt(cell: Mapping[str, Any]) -> str:
    """The first generation saved by the row's first TPA run (samples.jsonl), shortened."""
    for run in cell.get("runs", [])[:1]:
        path = Path(run) / "samples.jsonl"
        if path.exists():
            for row in read_jsonl(path)[:1]:
                for key in TEXT_FIELDS:
                    if isinstance(row.get(key), str):
                        text = " ".join(row[key].split())
                        return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")
    return ""


def leaderboard_spec(cfg: Mapping[str, Any]):
    """Table 7's rows and columns plus the Table 4 ablations (the page's main table)."""
    spec7 = load_spec(7, cfg)
    in_7 = {r.fields["subject"]["method"] for r in spec7.rows}     # trace, trace_ours
    ablations = [dataclasses.replace(r, label=f"TRACE ablation: {r.label}", note="ablation",
                                     paper=None)
                 for r in load_spec(4, cfg).rows if r.fields["subject"]["method"] not in in_7]
    return dataclasses.replace(spec7, rows=spec7.rows + ablations)


def build_leaderboard(records: RecordSet, cfg: Mapping[str, Any],
                      strict: bool = False) -> dict[str, Any]:
    spec7 = leaderboard_spec(cfg)
    spec7 = dataclasses.replace(spec7, rows=spec7.rows + _extra_rows(spec7, records, cfg))
    tables = {7: build_table(spec7, records, cfg, strict)}
    for n in (2, 3, 5, 8):
        tables[n] = build_table(load_spec(n, cfg), records, cfg, strict)
    missing = [c["error"] for t in tables.values() for c in t["cells"]
               if c["status"] == "missing"]
    grid = {(c["row"], c["column"]): c for c in tables[7]["cells"]}
    rows = []
    for row in tables[7]["rows"]:
        tpa = grid.get((row["id"], "tpa"), {})
        prov = tpa.get("provenance") or {}
        seeds = tpa.get("seeds") or []
        label = [f"preset {cfg.get('preset')}",
                 f"{len(seeds)} seed(s)" if seeds else "built once",
                 f"judge {', '.join(prov.get('judge', [])) or 'n/a'}",
                 f"nll_weight {', '.join(prov.get('nll_weight', [])) or 'n/a'}",
                 MODES.get(row.get("note", ""), "reproduced")]
        rows.append({"id": row["id"], "label": row["label"], "provenance": " · ".join(label),
                     "excerpt": _excerpt(tpa) if tpa.get("status") == "ok" else ""})
    return {"tables": tables, "rows": rows, "missing": missing,
            "provenance": tables[7]["provenance"], "human": tables[2]["provenance"]}


# ---------------------------------------------------------------- plots from built tables
def _pct(cell: Mapping[str, Any] | None) -> tuple:
    if not cell or cell.get("status") != "ok" or cell.get("value") is None:
        return (None, None, None)
    s = (cell.get("display") or {}).get("scale", 1)
    return (cell["value"] * s, cell["ci"][0] * s, cell["ci"][1] * s)


def _curves(table: Mapping[str, Any], title: str, x_label: str, x_of) -> str:
    grid = {(c["row"], c["column"]): c for c in table["cells"]}
    rows = table["rows"]
    ticks = [(x_of(r, i), r["label"]) for i, r in enumerate(rows)]
    series = {c["label"]: [(x_of(r, i), *_pct(grid.get((r["id"], c["id"]))))
                           for i, r in enumerate(rows)]
              for c in table["columns"] if not c.get("diff")}
    return svg.line_chart(title, x_label, "TPA (%)", series, ticks)


def plots(board: Mapping[str, Any]) -> dict[str, str]:
    t = board["tables"]
    def num(r, i):
        try:
            return float(r["id"])
        except ValueError:
            return float(i)
    t3 = t[3]
    g3 = {(c["row"], c["column"]): c for c in t3["cells"]}
    bars = {r["label"]: [_pct(g3.get((r["id"], c["id"]))) for c in t3["columns"]]
            for r in t3["rows"]}
    refs = [c["chance"] * 100 if c.get("chance") is not None else None for c in t3["columns"]]
    g7 = {(c["row"], c["column"]): c for c in t[7]["cells"]}
    points = [(r["label"], _pct(g7.get((r["id"], "capability")))[0],
               _pct(g7.get((r["id"], "tpa")))[0]) for r in t[7]["rows"]]
    return {
        "tpa_vs_size": _curves(t[5], "TPA vs training-data size", "training pairs", num),
        "noise": _curves(t[8], "TPA vs oracle noise p", "noise rate p", num),
        "capability": svg.bar_chart("Capability by suite (dashed: chance)", "accuracy (%)",
                                    [c["short"] for c in t3["columns"]], bars, refs),
        "scatter": svg.scatter("TPA vs capability", "capability, mean of suites (%)",
                               "TPA (%)", points),
    }


# ---------------------------------------------------------------- HTML and Markdown
STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}
.ci{color:#666;font-size:12px}.prov{color:#555;font-size:12px}.banner{padding:8px 12px;
margin:8px 0;border-radius:4px}.sim{background:#fff3cd}.miss{background:#f8d7da}
.excerpt{font-family:monospace;font-size:12px;max-width:320px;white-space:pre-wrap}
figure{display:inline-block;margin:4px}svg text{font-size:11px}svg .t{font-size:13px;
font-weight:600}.ax{stroke:#444}.grid{stroke:#eee}.ref{stroke:#000;stroke-dasharray:4 3}"""


def _td(cell: Mapping[str, Any] | None) -> str:
    value, rest = cell_parts(cell or {"status": "missing"})
    return (f'<td class="num">{escape(value)}'
            + (f'<br><span class="ci">{escape(rest)}</span>' if rest else "") + "</td>")


def _html_table(table: Mapping[str, Any], table_id: str,
                extra: Mapping[str, Any] | None = None) -> str:
    extra = extra or {}
    grid = {(c["row"], c["column"]): c for c in table["cells"]}
    head = "".join(f"<th>{escape(header_label(c))}</th>" for c in table["columns"])
    extra_head = "".join(f"<th>{escape(h)}</th>" for h in extra.get("head", []))
    body = []
    for i, row in enumerate(table["rows"]):
        cells = "".join(_td(grid.get((row["id"], c["id"]))) for c in table["columns"])
        more = "".join(extra["cells"][i]) if extra else ""
        body.append(f'<tr data-row="{escape(row["id"])}"><th scope="row">'
                    f'{escape(row["label"])}{extra.get("sub", lambda i: "")(i)}</th>'
                    f"{cells}{more}</tr>")
    return (f'<table id="{escape(table_id)}"><thead><tr><th>Method</th>{head}{extra_head}'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def to_html(board: Mapping[str, Any]) -> str:
    t7, rows = board["tables"][7], board["rows"]
    extra = {"head": ["Example generation (TPA run, escaped)"],
             "cells": [[f'<td class="excerpt">{escape(r["excerpt"])}</td>'] for r in rows],
             "sub": lambda i: f'<br><span class="prov">{escape(rows[i]["provenance"])}</span>'}
    banners = []
    if board["human"]["simulated"]:
        banners.append('<p class="banner sim">Human evaluation below is a SIMULATED panel '
                       "(no human annotators).</p>")
    if board["missing"]:
        items = "".join(f"<li>{escape(m)}</li>" for m in board["missing"][:20])
        banners.append(f'<details class="banner miss"><summary><b>{len(board["missing"])} '
                       f"cell(s) missing</b> (the runs that were looked for)</summary>"
                       f"<ul>{items}</ul></details>")
    figs = "".join(f'<figure id="plot-{escape(k)}">{v}</figure>' for k, v in plots(board).items())
    t2 = board["tables"][2]
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>realignbench leaderboard</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>realignbench leaderboard</h1>",
        f'<p class="prov">{escape(provenance_line(t7))}</p>', *banners,
        # The caption defines the columns, degeneration figures included.
        f'<p class="prov">{escape(t7["caption"])}</p>',
        "<h2>All methods</h2>", _html_table(t7, "leaderboard", extra),
        "<h2>Plots</h2>", figs,
        f"<h2>Human preference ({'SIMULATED panel' if board['human']['simulated'] else 'human annotators'})</h2>",
        f'<p class="prov">{escape(provenance_line(t2))}</p>', _html_table(t2, "human"),
        '<p class="prov">Built from run records only (realignbench leaderboard); every number '
        "links back to a run directory in tables/table-N.json.</p>", "</body></html>", ""])


def to_markdown(board: Mapping[str, Any]) -> str:
    t7 = board["tables"][7]
    grid = {(c["row"], c["column"]): c for c in t7["cells"]}
    cols = t7["columns"]
    lines = ["# realignbench leaderboard", "", provenance_line(t7), "", _md(t7["caption"]), ""]
    if board["human"]["simulated"]:
        lines += ["Human evaluation (Table 2) is a SIMULATED panel.", ""]
    if board["missing"]:
        lines += [f"**{len(board['missing'])} cell(s) missing** (see leaderboard.html).", ""]
    lines += ["| Method | Provenance | " + " | ".join(header_label(c) for c in cols) + " |",
              "|---|---|" + "---:|" * len(cols)]
    for r in board["rows"]:
        vals = [" ".join(cell_parts(grid.get((r["id"], c["id"]), {"status": "missing"}))).strip()
                for c in cols]
        lines.append("| " + " | ".join(_md(x) for x in [r["label"], r["provenance"], *vals]) + " |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Markdown viewers render inline HTML, so escape it here too."""
    return escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """A board read back from ``leaderboard.json`` (JSON keys are strings; tables are by int)."""
    return {**data, "tables": {int(k): v for k, v in data["tables"].items()}}


def write_leaderboard(board: Mapping[str, Any], out_dir: Path | str) -> list[Path]:
    """``leaderboard.{html,md}`` and the ``leaderboard.json`` they render from."""
    import json

    from realignbench.reports.render import json_safe
    out = Path(out_dir)
    html, md, js = out / "leaderboard.html", out / "leaderboard.md", out / "leaderboard.json"
    atomic_write_text(js, json.dumps(json_safe(board), indent=2, ensure_ascii=False,
                                     allow_nan=False) + "\n")
    atomic_write_text(html, to_html(board))
    atomic_write_text(md, to_markdown(board))
    log.info("leaderboard -> %s, %s (%d rows, %d missing cells)", html, md, len(board["rows"]),
             len(board["missing"]))
    return [html, md, js]
