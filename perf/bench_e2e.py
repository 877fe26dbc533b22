"""End-to-end: wall time of each pipeline stage, read from the run records
(``<runs>/<stage>/<name>/COMPLETED``, written by ``realignbench.runs``). Nothing is rerun.

Besides the per-stage sums it reports the graph's span (first run's start to last run's end,
the wall clock the workers took together) and, when the caller timed a whole clean-clone
``make reproduce`` (install and prefetch included) and passes it, that wall time against the
budget of issue 17."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

BUDGET_S = 60 * 60          # default `make reproduce` on 2 cores, install and prefetch included


def _finished(record: dict) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(record["finished_at"], "%Y-%m-%dT%H:%M:%S%z")
    except (KeyError, ValueError):
        return None


def run(runs_dir: str | Path = "runs", reproduce_wall_s: float | None = None) -> dict:
    root = Path(runs_dir)
    stages: dict[str, dict] = {}
    starts, ends = [], []
    for marker in sorted(root.glob("*/*/COMPLETED")):
        run_dir = marker.parent
        try:
            record = json.loads(marker.read_text())
            wall = float(record["wall_s"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{marker}: unreadable run record ({err}); expected JSON with "
                             "a numeric 'wall_s'") from err
        stage = stages.setdefault(run_dir.parent.name, {"runs": [], "total_wall_s": 0.0})
        stage["runs"].append({"name": run_dir.name, "wall_s": wall,
                              "finished_at": record.get("finished_at", "")})
        stage["total_wall_s"] = round(stage["total_wall_s"] + wall, 3)
        end = _finished(record)
        if end is not None:
            ends.append(end)
            starts.append(end - datetime.timedelta(seconds=wall))
    span = (max(ends) - min(starts)).total_seconds() if ends else None
    return {"runs_dir": str(root), "stages": stages,
            "total_wall_s": round(sum(s["total_wall_s"] for s in stages.values()), 3),
            "span_s": None if span is None else round(span, 1),
            "reproduce_wall_s": reproduce_wall_s, "budget_s": BUDGET_S,
            "note": "" if stages else "no runs yet"}
