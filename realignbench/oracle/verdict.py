"""Verdict: what every oracle returns for one (prompt, response) under one policy."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

OK, UNPARSEABLE = "ok", "unparseable"


@dataclass(frozen=True)
class Verdict:
    compliant: bool                  # never True when status is "unparseable"
    violated: tuple[str, ...] = ()   # violated dimensions / categories / requirements
    rationale: str = ""
    judge_id: str = ""
    status: str = OK                 # "ok" | "unparseable"

    def __post_init__(self):
        if self.status == UNPARSEABLE and self.compliant:
            raise ValueError("an unparseable verdict can never count as compliant")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["violated"] = list(self.violated)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        return cls(compliant=bool(d["compliant"]), violated=tuple(d.get("violated", ())),
                   rationale=d.get("rationale", ""), judge_id=d.get("judge_id", ""),
                   status=d.get("status", OK))


@dataclass(frozen=True)
class JudgeItem:
    """One thing to judge. ``labels`` are the response's structured annotations, if any
    (the label oracle needs them; free-text and LLM judges must ignore them)."""
    prompt: str
    response: str
    labels: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Oracle(Protocol):
    """``judge(items, policy) -> verdicts``, batched; implementations cache by content hash
    (judge id + policy id/version + prompt + response)."""
    judge_id: str

    def judge(self, items: Sequence[JudgeItem], policy: Any) -> list[Verdict]: ...
