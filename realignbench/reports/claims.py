"""Verdicts on the paper's directional claims (``claims.yaml``) from our numbers → CLAIMS.md.

Each claim part compares two table cells, a − b, read through the same specs as the tables.
The difference is paired at the prompt level and clustered over seeds (``cells.difference``,
``stats.paired_difference``): its 95% CI, the test used, n (prompts × seeds) and the minimal
detectable difference (MDD, 80% power, two-sided 0.05) at that n are reported with the verdict.

Rule (``decide``): an undefined value, or a CI of zero width (no discordant answers — e.g. both
sides at a floor or ceiling), is **inconclusive**: a tie there is never evidence. Otherwise, for
"a > b": reproduced if the CI lies above 0, not reproduced if it lies below 0, else inconclusive.
"a ≥ b" is a non-inferiority claim and needs a margin δ > 0 declared in claims.yaml: reproduced
if CI_lo > −δ, not reproduced if CI_hi < −δ, else inconclusive. An unpaired difference (the runs
have no per-prompt samples) is at most inconclusive. A claim with several parts (or "at every
data size") is reproduced if every part is, not reproduced if any part is not, else
inconclusive.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from realignbench.bench.degeneration import FLAGS as DEGENERATION_FLAGS
from realignbench.reports.build import provenance
from realignbench.reports.cells import CellValue, constant, difference, resolve
from realignbench.reports.records import CellError, RecordSet
from realignbench.reports.render import json_safe, provenance_line
from realignbench.reports.spec import Axis, SpecError, TableSpec, load_spec
from realignbench.runs import atomic_write_text

log = logging.getLogger("realignbench")
CLAIMS_PATH = Path(__file__).parent / "claims.yaml"
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_EVALUATED = "not evaluated"
# A side read from generated answers also reports how many of them degenerated (issue 16: loops
# and answers that never end are shown beside the verdict, not averaged away).
GENERATION_STAGES = ("eval_tpa", "eval_asr")


def decide(lo: float, hi: float, relation: str, margin: float = 0.0,
           paired: bool = True) -> tuple[str, str]:
    """(verdict, reason) by the rule of the module docstring, on the 95% CI [lo, hi] of a − b."""
    if relation not in (">", ">="):
        raise ValueError(f"relation must be '>' or '>=', got {relation!r}")
    if relation == ">=" and not margin > 0:
        raise ValueError("a '>=' claim needs a non-inferiority margin > 0")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE, "a value is undefined"
    if hi - lo <= 0 and lo == 0:
        return INCONCLUSIVE, ("the CI has zero width: no answers differ between the two sides "
                              "(e.g. both at a floor or ceiling), so a tie is no evidence")
    if hi - lo <= 0:
        return INCONCLUSIVE, ("the CI has zero width: every prompt differs alike, so the "
                              "bootstrap has no spread to measure uncertainty with")
    bound = 0.0 if relation == ">" else -margin
    what = "0" if relation == ">" else f"the margin −{margin * 100:g} points"
    if hi < bound:
        return NOT_REPRODUCED, f"the CI lies below {what}"
    if lo > bound and not paired:
        return INCONCLUSIVE, "the CI excludes the bound but the difference is unpaired"
    if lo > bound:
        return REPRODUCED, f"the CI lies above {what}"
    return INCONCLUSIVE, f"the CI contains {what}"


def verdict(lo: float, hi: float, relation: str, margin: float = 0.0,
            paired: bool = True) -> str:
    return decide(lo, hi, relation, margin, paired)[0]


def combine(verdicts: list[str]) -> str:
    if not verdicts or NOT_EVALUATED in verdicts:
        return NOT_EVALUATED if NOT_REPRODUCED not in verdicts else NOT_REPRODUCED
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


@dataclass
class Side:
    label: str
    value: CellValue
    scale: float
    degeneration: dict[str, float] | None = None


def _rows(spec: TableSpec, ref: Any) -> list[Axis]:
    if ref == "*":
        return list(spec.rows)
    if ref in ("first", "last"):
        return [spec.rows[0 if ref == "first" else -1]]
    for row in spec.rows:
        if row.id == str(ref):
            return [row]
        try:
            if float(row.id) == float(ref):
                return [row]
        except (TypeError, ValueError):
            continue
    return []


def _side(ref: Mapping[str, Any], row: Axis | None, specs, records, cfg, where) -> Side:
    if "const" in ref:
        return Side(f"{float(ref['const']) * 100:g}%", constant(ref["const"]), 100.0)
    spec = specs(ref["table"])
    col = next((c for c in spec.columns if c.id == ref["column"]), None)
    if col is None:
        raise SpecError(f"{where}: table {ref['table']} has no column {ref['column']!r}")
    query, show = spec.cell(row, col)
    at = f"{where} (table {spec.number}, row {row.id!r}, column {col.id!r})"
    seeds = list(cfg.get("seeds") or [])
    value = resolve(query, records, seeds, at)
    degeneration = None
    if query.stage in GENERATION_STAGES:
        degeneration = {k: resolve(replace(query, metric=f"degeneration/{k}"), records, seeds,
                                   at).value for k in DEGENERATION_FLAGS}
    return Side(f"{col.label} @ {row.label}", value, show.get("scale", 1), degeneration)


def evaluate_claim(claim: Mapping[str, Any], records: RecordSet, cfg: Mapping[str, Any],
                   specs, strict: bool = True) -> dict[str, Any]:
    parts_out = []
    for i, part in enumerate(claim["parts"]):
        where = f"claim {claim['id']!r} part {i + 1}"
        a_ref, b_ref = part["a"], part["b"]
        a_rows = _rows(specs(a_ref["table"]), a_ref["row"])
        b_rows = (a_rows if b_ref.get("row") == "*" else
                  [None] if "const" in b_ref else _rows(specs(b_ref["table"]), b_ref["row"]))
        if not a_rows or not b_rows:
            msg = f"{where}: row {a_ref['row']!r} / {b_ref.get('row')!r} not in this preset"
            parts_out.append({"verdict": NOT_EVALUATED, "reason": msg})
            continue
        pairs = list(zip(a_rows, b_rows)) if b_ref.get("row") == "*" else \
            [(a, b) for a in a_rows for b in b_rows]
        for a_row, b_row in pairs:
            try:
                a = _side(a_ref, a_row, specs, records, cfg, where)
                b = _side(b_ref, b_row, specs, records, cfg, where)
            except CellError as err:
                if strict:
                    raise
                parts_out.append({"verdict": NOT_EVALUATED, "reason": str(err)})
                continue
            d = difference(a.value, b.value)
            margin = float(part.get("margin", 0.0))
            v, why = decide(d.ci[0], d.ci[1], part["relation"], margin,
                            d.stats.get("paired", False))
            parts_out.append({"a": a.label, "b": b.label, "relation": part["relation"],
                              "a_value": a.value.value, "b_value": b.value.value,
                              "a_ci": list(a.value.ci), "b_ci": list(b.value.ci),
                              "a_degeneration": a.degeneration,
                              "b_degeneration": b.degeneration,
                              "diff": d.value, "diff_ci": list(d.ci), "ci_kind": d.ci_kind,
                              **d.stats, "n": d.n, "seeds": d.seeds or a.value.seeds,
                              "scale": a.scale, "margin": margin, "verdict": v,
                              "reason": why, "_values": [a.value, b.value]})
    return {"id": claim["id"], "claim": claim["claim"], "paper": claim.get("paper", ""),
            "verdict": combine([p["verdict"] for p in parts_out]), "parts": parts_out}


def _line(path: Path, text: str, i: int) -> str:
    """'line N' of claims[i] in the YAML source (for error messages)."""
    try:
        root = yaml.compose(text)
        claims = next(v for k, v in root.value if k.value == "claims")
        return f"line {claims.value[i].start_mark.line + 1}"
    except Exception:   # noqa: BLE001 — a position is a courtesy; the field is named anyway
        return "line ?"


def load_claims(path: Path | str = CLAIMS_PATH) -> list[dict[str, Any]]:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    claims = raw.get("claims") if isinstance(raw, dict) else None
    if not isinstance(claims, list):
        raise SpecError(f"{path}: expected a top-level 'claims' list")
    for i, c in enumerate(claims):
        for key in ("id", "claim", "parts"):
            if key not in c:
                raise SpecError(f"{path}: {_line(path, text, i)}: claims[{i}]: missing {key!r}")
        for j, p in enumerate(c["parts"]):
            where = f"{path}: {_line(path, text, i)}: claims[{i}].parts[{j}]"
            if not {"a", "b", "relation"} <= set(p):
                raise SpecError(f"{where}: needs a, b and relation")
            if p["relation"] not in (">", ">="):
                raise SpecError(f"{where}.relation: must be '>' or '>=', got {p['relation']!r}")
            margin = p.get("margin")
            if p["relation"] == ">=" and not (isinstance(margin, (int, float)) and margin > 0):
                raise SpecError(f"{where}.margin: a '>=' (non-inferiority) claim needs a "
                                f"declared margin > 0, got {margin!r}")
    return claims


def evaluate_claims(records: RecordSet, cfg: Mapping[str, Any], strict: bool = True,
                    path: Path | str = CLAIMS_PATH) -> dict[str, Any]:
    cache: dict[Any, TableSpec] = {}
    def specs(n):
        if n not in cache:
            cache[n] = load_spec(n, cfg)
        return cache[n]
    results = [evaluate_claim(c, records, cfg, specs, strict) for c in load_claims(path)]
    values = [v for r in results for p in r["parts"] for v in p.pop("_values", [])]
    return {"claims": results, "provenance": provenance(values, cfg)}


def _pt(x: float, scale: float, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "undef."
    return f"{x * scale:+.1f}" if sign else f"{x * scale:.1f}"


RULE = ("Verdict rule: each comparison a − b is paired at the prompt level (both methods "
        "answered the same prompts; rows matched by prompt id and seed) and clustered over seeds "
        "(the bootstrap resamples prompts, each with all its seeds); its 95% CI, the test, n "
        "(prompts × seeds) and the minimal detectable difference (MDD: 80% power, two-sided "
        "α 0.05, from the observed discordance) are shown. A CI of zero width (no answers differ, "
        "e.g. both at a floor or ceiling) or an undefined value is **inconclusive**: a tie is no "
        "evidence. Claim 'a > b': **reproduced** if the CI lies above 0, **not reproduced** if "
        "it lies below 0, **inconclusive** otherwise. Claim 'a ≥ b' (non-inferiority, margin δ "
        "declared in claims.yaml): reproduced if CI_lo > −δ, not reproduced if CI_hi < −δ, else "
        "inconclusive. An unpaired comparison (no per-prompt samples) is at most inconclusive. "
        "A claim with several comparisons is reproduced only if all are, and not reproduced if "
        "any is not.")


def _n(p: dict[str, Any]) -> str:
    if p.get("n_clusters"):
        seeds = max(len(p.get("seeds") or []), 1)
        return f"n = {p['n_clusters']} prompts × {seeds} seed(s) = {p['n']}"
    return f"n = {p.get('n', 0)}"


def _stats_cell(p: dict[str, Any]) -> str:
    s = p["scale"]
    bits = [p.get("test", p["ci_kind"]), _n(p)]
    if p.get("p_value") is not None:
        bits.append(f"p = {p['p_value']:.3g}")
    bits.append(f"MDD {_pt(p.get('mdd'), s)}")
    if p["relation"] == ">=":
        bits.append(f"margin {_pt(p['margin'], s)}")
    if not p.get("paired", False):
        bits.append("UNPAIRED: " + p.get("unpaired_reason", ""))
    return "; ".join(bits)


def _degenerate(p: dict[str, Any], side: str) -> str:
    deg = p.get(f"{side}_degeneration")
    if not deg:
        return ""
    return (f" (answers unfinished {_pt(deg['unfinished'], 100)}%, loops "
            f"{_pt(deg['loop'], 100)}%, no stance {_pt(deg['no_stance'], 100)}%)")


def to_markdown(result: dict[str, Any]) -> str:
    lines = ["# Claims of the paper, checked against this run", "",
             "Numbers in percentage points (×100); the paper's numbers come from a different "
             "setting (7-9B models, PKU-SafeRLHF or its own SynthValueBench), so only the "
             "*direction* of each claim is tested.", "", RULE, "",
             provenance_line({"provenance": result["provenance"]}), "",
             "| Claim | Verdict | Paper | Ours: a vs b | a − b [95% CI] → part verdict (why) "
             "| Test, n, MDD |", "|---|---|---|---|---|---|"]
    for c in result["claims"]:
        for i, p in enumerate(c["parts"]):
            head = [c["claim"], f"**{c['verdict']}**", c["paper"]] if i == 0 else ["", "", ""]
            if p["verdict"] == NOT_EVALUATED:
                ours, diff, test = f"not evaluated: {p['reason']}", "", ""
            else:
                s = p["scale"]
                ours = (f"{p['a']} = {_pt(p['a_value'], s)}{_degenerate(p, 'a')} "
                        f"{p['relation']} {p['b']} = {_pt(p['b_value'], s)}{_degenerate(p, 'b')}")
                diff = (f"{_pt(p['diff'], s, True)} [{_pt(p['diff_ci'][0], s, True)}, "
                        f"{_pt(p['diff_ci'][1], s, True)}] → {p['verdict']} ({p['reason']})")
                test = _stats_cell(p)
            lines.append("| " + " | ".join(x.replace("|", "\\|")
                                             for x in [*head, ours, diff, test]) + " |")
    counts = {v: sum(c["verdict"] == v for c in result["claims"])
              for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_EVALUATED)}
    lines += ["", "Summary: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + "."]
    return "\n".join(lines) + "\n"


def write_claims(result: dict[str, Any], out_dir: Path | str) -> list[Path]:
    out = Path(out_dir)
    md, js = out / "CLAIMS.md", out / "claims.json"
    atomic_write_text(md, to_markdown(result))
    atomic_write_text(js, json.dumps(json_safe(result), indent=2, ensure_ascii=False) + "\n")
    log.info("claims -> %s, %s", md, js)
    return [md, js]

