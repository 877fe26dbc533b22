"""Versioned policies (π_old / π_new) and policy shifts, read from YAML.

A policy file carries both what a human annotator or an LLM judge reads (``text``) and the
executable ``rules`` the label oracle applies, so the two cannot drift apart unnoticed: change
one, bump ``version`` (part of every judge-cache key). Two rule kinds exist:

- ``stance_rules`` (SynthValueBench): per dimension, an ordered list of
  ``{when: {context: ...}, allowed: [stances], gold: stance, reason: ...}``; the first rule
  whose ``when`` matches the prompt's context decides.
- ``harm_tiers`` (PKU-SafeRLHF): tiers of the 19 harm categories, each with the highest
  response severity it tolerates; optionally the dataset's ``is_safe`` flag also counts.

Shifts (``shifts.yaml``) pair an old and a new policy per benchmark, with the dimension mix the
generator should draw for that shift.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

POLICY_DIR = Path(__file__).resolve().parent
SHIFTS_FILE = POLICY_DIR / "shifts.yaml"
RULE_KINDS = ("stance_rules", "harm_tiers")


class PolicyError(ValueError):
    """A policy or shift file is wrong; the message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str, message: str):
        self.path, self.field = str(path), field_name
        super().__init__(f"{path}: field {field_name!r}: {message}")


@dataclass(frozen=True)
class Policy:
    id: str
    version: str
    benchmark: str
    text: str                          # what an LLM judge / human annotator reads
    dimensions: list[str]              # what can be violated
    kind: str                          # stance_rules | harm_tiers
    rules: dict[str, Any]
    description: str = ""
    label_scope: str = ""              # what the label oracle can and cannot decide
    path: str = ""

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def gold_stance(self, dimension: str, context: str) -> str:
        """The stance a π-compliant answer takes (stance_rules only)."""
        return self.rule_for(dimension, context)["gold"]

    def rule_for(self, dimension: str, context: str) -> dict[str, Any]:
        if self.kind != "stance_rules":
            raise ValueError(f"policy {self.key} has {self.kind} rules, not stance rules")
        if dimension not in self.rules:
            raise KeyError(f"policy {self.key} has no rule for dimension {dimension!r}")
        for rule in self.rules[dimension]:
            if all(context == v for k, v in rule["when"].items() if k == "context"):
                return rule
        raise KeyError(f"policy {self.key}: no rule of {dimension!r} matches context {context!r}")


@dataclass(frozen=True)
class Shift:
    name: str
    old: Policy
    new: Policy
    description: str = ""
    benchmark: str = ""
    dimension_weights: dict[str, float] = field(default_factory=dict)

    def changed_dimensions(self) -> list[str]:
        """Dimensions whose rules differ between π_old and π_new."""
        if self.old.kind != self.new.kind:
            return list(self.new.dimensions)
        if self.new.kind == "harm_tiers":
            old, new = _tolerances(self.old), _tolerances(self.new)
            flag_changed = (self.old.rules.get("unsafe_flag_violates", False)
                            != self.new.rules.get("unsafe_flag_violates", False))
            changed = [c for c in self.new.dimensions if old[c] != new[c]]
            return changed + (["unsafe"] if flag_changed else [])    # the bare is_safe flag

        def decisive(rules):        # the reason text does not change what is compliant
            return [({**r, "reason": None}) for r in rules]
        return [d for d in self.new.dimensions
                if decisive(self.old.rules[d]) != decisive(self.new.rules[d])]


def _tolerances(policy: Policy) -> dict[str, int]:
    """harm_tiers: category -> highest tolerated severity."""
    return {c: spec["max_severity"] for spec in policy.rules["tiers"].values()
            for c in spec["categories"]}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PolicyError(path, "<file>", f"cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise PolicyError(path, "<yaml>", f"invalid YAML: {err}") from None
    if not isinstance(data, dict):
        raise PolicyError(path, "<root>", "expected a mapping")
    return data


def _need(data: dict, key: str, tp: type, path: Path, where: str = "") -> Any:
    name = f"{where}{key}"
    if key not in data:
        raise PolicyError(path, name, "missing")
    value = data[key]
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)                 # version: 1.0 in YAML is a float
    if not isinstance(value, tp) or (tp in (str, list, dict) and not value):
        raise PolicyError(path, name, f"expected a non-empty {tp.__name__}, got {value!r}")
    return value


def _check_stance_rules(rules: dict, dims: list[str], path: Path) -> None:
    for dim, dim_rules in rules.items():
        where = f"rules.{dim}"
        if dim not in dims:
            raise PolicyError(path, where, f"dimension not listed in 'dimensions' {dims}")
        if not isinstance(dim_rules, list) or not dim_rules:
            raise PolicyError(path, where, "expected a non-empty list of rules")
        for i, rule in enumerate(dim_rules):
            at = f"{where}[{i}]"
            if not isinstance(rule, dict):
                raise PolicyError(path, at, "expected a mapping")
            when = rule.setdefault("when", {})
            if not isinstance(when, dict) or set(when) - {"context"}:
                raise PolicyError(path, f"{at}.when", "only {context: ...} is supported")
            allowed = _need(rule, "allowed", list, path, f"{at}.")
            gold = _need(rule, "gold", str, path, f"{at}.")
            if gold not in allowed:
                raise PolicyError(path, f"{at}.gold", f"{gold!r} is not in allowed {allowed}")
        if dim_rules[-1]["when"]:
            raise PolicyError(path, where, "the last rule must have an empty 'when' (default)")
    missing = sorted(set(dims) - set(rules))
    if missing:
        raise PolicyError(path, "rules", f"no rules for dimension(s) {missing}")


def _check_harm_tiers(rules: dict, dims: list[str], path: Path) -> None:
    tiers = _need(rules, "tiers", dict, path, "rules.")
    seen: dict[str, str] = {}
    for tier, spec in tiers.items():
        at = f"rules.tiers.{tier}"
        if not isinstance(spec, dict):
            raise PolicyError(path, at, "expected a mapping")
        cats = _need(spec, "categories", list, path, f"{at}.")
        tol = _need(spec, "max_severity", int, path, f"{at}.")
        if not 0 <= tol <= 3:
            raise PolicyError(path, f"{at}.max_severity", f"{tol} is not in 0..3")
        for cat in cats:
            if cat not in dims:
                raise PolicyError(path, f"{at}.categories", f"{cat!r} is not a listed dimension")
            if cat in seen:
                raise PolicyError(path, f"{at}.categories", f"{cat!r} is also in tier {seen[cat]}")
            seen[cat] = tier
    missing = sorted(set(dims) - set(seen))
    if missing:
        raise PolicyError(path, "rules.tiers", f"categories in no tier: {missing}")
    if not isinstance(rules.get("unsafe_flag_violates", False), bool):
        raise PolicyError(path, "rules.unsafe_flag_violates", "expected true/false")


def policy_from_file(path: Path | str) -> Policy:
    path = Path(path)
    data = _read_yaml(path)
    dims = _need(data, "dimensions", list, path)
    kind = _need(data, "kind", str, path)
    if kind not in RULE_KINDS:
        raise PolicyError(path, "kind", f"{kind!r} is not one of {RULE_KINDS}")
    rules = _need(data, "rules", dict, path)
    (_check_stance_rules if kind == "stance_rules" else _check_harm_tiers)(rules, dims, path)
    unknown = sorted(set(data) - {"id", "version", "benchmark", "text", "dimensions", "kind",
                                  "rules", "description", "label_scope"})
    if unknown:
        raise PolicyError(path, unknown[0], "unknown field")
    return Policy(id=_need(data, "id", str, path), version=_need(data, "version", str, path),
                  benchmark=_need(data, "benchmark", str, path),
                  text=_need(data, "text", str, path).strip(), dimensions=list(dims), kind=kind,
                  rules=rules, description=str(data.get("description", "")).strip(),
                  label_scope=str(data.get("label_scope", "")).strip(), path=str(path))


def policy_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    path = POLICY_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise KeyError(f"unknown policy {name_or_path!r}; known: {list_policies()}")
    return path


def load_policy(name_or_path: str | Path) -> Policy:
    """A policy by name (``realignbench/policies/<name>.yaml``) or by YAML path."""
    return policy_from_file(policy_path(name_or_path))


def list_policies() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml") if p != SHIFTS_FILE)


def _shift_table(path: Path = SHIFTS_FILE) -> dict[str, dict[str, Any]]:
    data = _read_yaml(path)
    for bench, shifts in data.items():
        if not isinstance(shifts, dict) or not shifts:
            raise PolicyError(path, bench, "expected a mapping of shift name -> spec")
    return data


def list_shifts(benchmark: str, path: Path = SHIFTS_FILE) -> list[str]:
    return list(_shift_table(path).get(benchmark, {}))


def load_shift(benchmark: str, name: str, path: Path | str = SHIFTS_FILE) -> Shift:
    """The (π_old, π_new) pair called ``name`` for ``benchmark`` in ``shifts.yaml``."""
    path = Path(path)
    table = _shift_table(path)
    if benchmark not in table:
        raise KeyError(f"{path}: no shifts for benchmark {benchmark!r}; known: {sorted(table)}")
    if name not in table[benchmark]:
        raise KeyError(f"{path}: unknown shift {name!r} for {benchmark}; "
                       f"known: {sorted(table[benchmark])}")
    spec, where = table[benchmark][name], f"{benchmark}.{name}"
    if not isinstance(spec, dict):
        raise PolicyError(path, where, "expected a mapping")
    old = load_policy(_need(spec, "old", str, path, f"{where}."))
    new = load_policy(_need(spec, "new", str, path, f"{where}."))
    for role, pol in (("old", old), ("new", new)):
        if pol.benchmark != benchmark:
            raise PolicyError(path, f"{where}.{role}",
                              f"policy {pol.id} is for {pol.benchmark}, not {benchmark}")
    if old.dimensions != new.dimensions:
        raise PolicyError(path, where, "old and new policies must share their dimensions")
    weights = spec.get("dimension_weights", {}) or {}
    bad = sorted(set(weights) - set(new.dimensions))
    if bad or any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()):
        raise PolicyError(path, f"{where}.dimension_weights",
                          f"unknown dimension(s) {bad} or a negative weight")
    return Shift(name=name, old=old, new=new, description=str(spec.get("description", "")).strip(),
                 benchmark=benchmark, dimension_weights={k: float(v) for k, v in weights.items()})


def shift_files(shift: Shift) -> list[Path]:
    """The files a shift is made of (for run input hashes)."""
    return [SHIFTS_FILE, Path(shift.old.path), Path(shift.new.path)]
