"""End-to-end: wall time of each pipeline stage, read from the run records
(``<runs>/<stage>/<name>/COMPLETED``, written by ``realignbench.runs``). Nothing is rerun."""
from __future__ import annotations

import json
from pathlib import Path


def run(runs_dir: str | Path = "runs") -> dict:
    root = Path(runs_dir)
    stages: dict[str, dict] = {}
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
    return {"runs_dir": str(root), "stages": stages,
            "total_wall_s": round(sum(s["total_wall_s"] for s in stages.values()), 3),
            "note": "" if stages else "no runs yet"}
