"""Completed run records, indexed by stage and subject, for tables, claims and the leaderboard.

Only runs with a ``COMPLETED`` marker count. A record is *stale* when the pipeline expects a
different run (input/config hash) for the same stage and subject: the caller passes
``expected`` = ``{subject_id(stage, subject): key}`` (see :func:`expected_from_runs`).
Every lookup failure raises :class:`CellError` with a message that names what was looked for.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from realignbench.reports.adapters import adapt

# Subject keys that point at other runs or files rather than identify the experiment: a rerun
# on changed inputs is the same experiment (and the older run is stale), not a new one.
POINTER_KEYS = frozenset({"model_run", "train_path", "ref_model"})
# A subject without these keys has this value: noise exists only where it was injected.
SUBJECT_DEFAULTS = {"noise": 0.0}


class CellError(LookupError):
    """A table cell, claim operand or plot point could not be filled; the message says which."""


class MissingCell(CellError):
    pass


class StaleCell(CellError):
    pass


class RecordError(ValueError):
    """A results.json is malformed; the message names the file and the field."""


def _norm(value: Any) -> Any:
    """Numbers compare by value (100 == 100.0); everything else as is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def subject_id(stage: str, subject: Mapping[str, Any]) -> str:
    """Canonical identity of an experiment cell: stage + subject without pointer keys or nulls."""
    full = {**SUBJECT_DEFAULTS, **subject}
    ident = {k: _norm(v) for k, v in sorted(full.items())
             if k not in POINTER_KEYS and v is not None}
    return f"{stage}:{json.dumps(ident, sort_keys=True, separators=(',', ':'))}"


def expected_from_runs(runs: Iterable[Any]) -> dict[str, str]:
    """``{subject_id: key}`` from the ``Run`` objects a pipeline pass returned (run or skipped)."""
    out = {}
    for run in runs:
        subject = run.results().get("subject") or {}
        out[subject_id(run.stage, subject)] = run.key
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from err


@dataclass
class Record:
    stage: str
    dir: Path
    key: str
    subject: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    wall_s: float | None = None
    finished_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)   # other top-level results fields

    @property
    def id(self) -> str:
        return subject_id(self.stage, self.subject)

    def metric(self, name: str) -> dict[str, Any]:
        """A validated metric record ``{"value", "ci": [lo, hi], "n"}``; ``@wall_s`` is the run's
        wall time from COMPLETED."""
        if name == "@wall_s":
            if self.wall_s is None:
                raise RecordError(f"{self.dir / 'COMPLETED'}: field 'wall_s' missing")
            return {"value": float(self.wall_s), "ci": [float(self.wall_s)] * 2, "n": 0}
        where = f"{self.dir / 'results.json'}: metrics.{name}"
        if name not in self.metrics:
            raise MissingCell(f"{where}: no such metric (has: {sorted(self.metrics)[:12]})")
        m = self.metrics[name]
        if not isinstance(m, dict) or "value" not in m:
            raise RecordError(f"{where}: expected {{'value', 'ci', 'n'}}, got {m!r}")
        try:   # None = undefined (e.g. α with no disagreement possible): shown, never guessed
            value = _num(m["value"])
            ci = [_num(c) for c in (m.get("ci") or [value, value])]
            n = int(m.get("n") or 0)
        except (TypeError, ValueError) as err:
            raise RecordError(f"{where}: non-numeric field ({err})") from err
        if len(ci) != 2:
            raise RecordError(f"{where}.ci: expected [lo, hi], got {m.get('ci')!r}")
        return {**m, "value": value, "ci": ci, "n": n}

    def matches(self, filters: Mapping[str, Any]) -> bool:
        """``filters``: key -> value, or a list (any of); ``None`` matches an absent key."""
        for key, want in filters.items():
            have = _norm(self.subject.get(key, SUBJECT_DEFAULTS.get(key)))
            options = want if isinstance(want, (list, tuple)) else [want]
            if not any(have == _norm(o) for o in options):
                return False
        return True


def _load_one(run_dir: Path) -> Record:
    results_path = run_dir / "results.json"
    if not results_path.exists():
        raise RecordError(f"{run_dir}: COMPLETED but no results.json")
    res = _read_json(results_path)
    if not isinstance(res, dict):
        raise RecordError(f"{results_path}: expected a JSON object")
    res = adapt(run_dir.parent.name, res)
    for fld in ("subject", "metrics", "provenance"):
        if not isinstance(res.get(fld, {}), dict):
            raise RecordError(f"{results_path}: field '{fld}' must be an object")
    inputs = run_dir / "inputs.json"
    key = _read_json(inputs).get("key", "") if inputs.exists() else ""
    done = _read_json(run_dir / "COMPLETED") or {}
    extra = {k: v for k, v in res.items()
             if k not in ("subject", "metrics", "provenance", "schema_version", "stage")}
    return Record(stage=run_dir.parent.name, dir=run_dir, key=key,
                  subject=dict(res.get("subject") or {}), metrics=dict(res.get("metrics") or {}),
                  provenance=dict(res.get("provenance") or {}), wall_s=done.get("wall_s"),
                  finished_at=str(done.get("finished_at", "")), extra=extra)


class RecordSet:
    """All completed records under a runs directory, with the pipeline's expectations."""

    def __init__(self, records: Iterable[Record], expected: Mapping[str, str] | None = None,
                 incomplete: Iterable[Path] = (), runs_dir: Path | str = "runs"):
        self.records = list(records)
        self.expected = dict(expected or {})
        self.incomplete = list(incomplete)
        self.runs_dir = Path(runs_dir)
        self._by_stage: dict[str, list[Record]] = {}
        for r in self.records:
            self._by_stage.setdefault(r.stage, []).append(r)

    def stage(self, stage: str) -> list[Record]:
        return list(self._by_stage.get(stage, []))

    def query(self, stage: str, **filters: Any) -> list[Record]:
        return [r for r in self._by_stage.get(stage, []) if r.matches(filters)]

    def one(self, stage: str, filters: Mapping[str, Any], where: str = "") -> Record:
        """Exactly the record the pipeline expects for (stage, filters); else a CellError.

        Several matching runs (an old config and a new one) are resolved by ``expected``;
        without expectations the choice would be a guess, so it is an error.
        """
        found = self.query(stage, **filters)
        want = f"{where}: looked for a completed {stage!r} run with subject {_show(filters)}"
        if not found:
            raise MissingCell(f"{want} in {self.runs_dir}/{stage}/; none found."
                              + self._near_misses(stage, filters))
        ids = {r.id for r in found}
        if len(ids) > 1 and len(ids & set(self.expected)) == 1:
            found = [r for r in found if r.id in self.expected]    # the pipeline's subject
            ids = {found[0].id}
        if len(ids) > 1:
            raise CellError(f"{want}; the filters match {len(ids)} different subjects "
                            f"({', '.join(sorted(str(r.dir) for r in found)[:4])}); the table "
                            f"spec must pin the subject")
        sid = found[0].id
        if sid in self.expected:
            key = self.expected[sid]
            good = [r for r in found if r.key == key]
            if good:
                return good[0]
            raise StaleCell(f"{want}: the pipeline expects run key {key[:12]} "
                            f"({self.runs_dir}/{stage}/*-{key[:12]}) but only stale run(s) exist: "
                            f"{', '.join(f'{r.dir} (key {r.key[:12]})' for r in found)}")
        if len(found) > 1:
            raise StaleCell(f"{want}: {len(found)} runs with this subject "
                            f"({', '.join(str(r.dir) for r in found)}); at most one can be "
                            f"current — pass the pipeline's expected keys or remove stale runs")
        return found[0]

    def _near_misses(self, stage: str, filters: Mapping[str, Any]) -> str:
        runs = self.stage(stage)
        if not runs:
            pending = [p for p in self.incomplete if p.parent.name == stage]
            tail = f" ({len(pending)} incomplete run(s), e.g. {pending[0]})" if pending else ""
            return f" The stage has no completed runs{tail}."
        def misses(r: Record) -> list[str]:
            return [k for k in filters if not r.matches({k: filters[k]})]
        best = sorted(runs, key=lambda r: len(misses(r)))[:3]
        lines = [f"{r.dir}: differs in {', '.join(f'{k}={r.subject.get(k)!r}' for k in misses(r))}"
                 for r in best]
        return " Closest runs: " + "; ".join(lines)


def _show(filters: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in sorted(filters.items())) + "}"


def load_records(runs_dir: Path | str = "runs",
                 expected: Mapping[str, str] | None = None) -> RecordSet:
    """Load every completed run under ``runs_dir/<stage>/<name>-<hash>/``."""
    runs_dir = Path(runs_dir)
    records, incomplete = [], []
    for run_dir in sorted(runs_dir.glob("*/*/")):
        if (run_dir / "COMPLETED").exists():
            records.append(_load_one(run_dir))
        elif (run_dir / "config.resolved.yaml").exists():
            incomplete.append(run_dir)
    return RecordSet(records, expected, incomplete, runs_dir)


def save_expected(path: Path | str, runs: Iterable[Any]) -> dict[str, str]:
    """Write the expected-keys file for ``realignbench table --expected`` from pipeline Runs."""
    from realignbench.runs import atomic_write_json
    expected = expected_from_runs(runs)
    atomic_write_json(path, expected)
    return expected


def load_expected(path: Path | str | None) -> dict[str, str]:
    """An expected-keys file written by the pipeline: ``{subject_id: key}`` JSON."""
    if not path:
        return {}
    data = _read_json(Path(path))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise RecordError(f"{path}: expected a JSON object of subject_id -> run key")
    return data
