"""Bridges from stage results that predate the evaluation-records contract to metric records.

The triage stage writes ``stats`` (counts and shares per category, RETAIN sub-cases) rather
than ``subject`` + ``metrics``; tables read metric records only, so this derives them. A stage
that writes ``metrics`` itself is never touched. Shares of the pool are a census, not a sample,
so their CI is the point itself.
"""
from __future__ import annotations

from typing import Any, Callable


def _census(count: int, n: int) -> dict[str, Any]:
    share = count / n if n else float("nan")
    return {"value": share, "ci": [share, share], "n": n, "count": count}


def triage(results: dict[str, Any]) -> dict[str, Any]:
    pool = (results.get("stats") or {}).get("pool") or {}
    n = int(pool.get("n", 0))
    cats = pool.get("categories") or {}
    metrics = {f"category/{c.lower()}": _census(int(v.get("n", 0)), n) for c, v in cats.items()}
    both = int((pool.get("retain_kind") or {}).get("both_compliant", 0))
    metrics["category/retain_both_compliant"] = _census(both, n)
    subject = {"benchmark": results.get("benchmark"), "shift": results.get("shift")}
    provenance = {"simulated": False, "judge": results.get("oracle")}
    return {**results, "subject": subject, "metrics": metrics,
            "provenance": {**provenance, **(results.get("provenance") or {})}}


ADAPTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"triage": triage}


def adapt(stage: str, results: dict[str, Any]) -> dict[str, Any]:
    if "metrics" in results or stage not in ADAPTERS:
        return results
    return ADAPTERS[stage](results)
