"""π_new-compliant corrections written by the same LLM client as the judge.

DPO-Gold and ``oracle_punish`` on PKU-SafeRLHF need, for a PUNISH pair (both responses violate
π_new), a response that does comply. The writer sees the prompt and the non-compliant old
response "for context only" (both delimited as data), at temperature 0, and every answer is
cached by content hash like the verdicts. ``add_corrections`` can have the judge check each
correction and drop the ones that still violate π_new, instead of training on them.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Sequence

from realignbench.data.schema import Pair
from realignbench.oracle.chat_client import ChatClient, Completion, RetriesExhausted, Usage
from realignbench.oracle.judge_cache import JudgeCache, answer_key
from realignbench.oracle.llm import JudgeIncomplete, gather_cached, judge_config, run_sync
from realignbench.oracle.prompting import PROMPT_VERSION, correction_messages
from realignbench.oracle.verdict import JudgeItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correction:
    text: str           # "" when nothing usable came back
    status: str         # ok | truncated | empty | rejected


class CorrectionWriter:
    """``write([(prompt, prior_or_None), ...], policy) -> list[Correction]``."""

    def __init__(self, cfg: Any = None, cache: JudgeCache | None = None):
        self.cfg = judge_config(cfg)
        self.cache = cache if cache is not None else JudgeCache()
        self.usage = Usage()
        self.writer_id = f"llm-writer:{self.cfg.model}@{PROMPT_VERSION}"

    def _key(self, policy: Any, prompt: str, prior: str | None) -> str:
        settings = f"{self.writer_id}|{self.cfg.correction_max_tokens}"
        return answer_key("correction", settings, self.cfg.model, policy, prompt, prior or "")

    def write(self, requests: Sequence[tuple[str, str | None]], policy: Any) -> list[Correction]:
        return run_sync(lambda: self.awrite(requests, policy))

    async def awrite(self, requests: Sequence[tuple[str, str | None]],
                     policy: Any) -> list[Correction]:
        keys = [self._key(policy, p, prior) for p, prior in requests]
        done: dict[str, Correction] = {}
        todo: dict[str, tuple[str, str | None]] = {}
        for key, req in zip(keys, requests):
            if key in done or key in todo:
                continue
            hit = self.cache.get(key)
            if hit is not None:
                done[key] = Correction(hit["text"], hit["status"])
                self.usage.cache_hits += 1
            else:
                todo[key] = req
        failed: dict[str, str] = {}
        if todo:
            async with ChatClient(self.cfg, self.usage) as client:
                def job(key: str, req: tuple[str, str | None]):
                    async def run() -> None:
                        try:
                            done[key] = await self._write_one(client, policy, key, *req)
                        except RetriesExhausted as err:     # this request only; go on
                            failed[key] = str(err)
                    return run
                await gather_cached({k: job(k, r) for k, r in todo.items()},
                                    desc=f"corrections {self.cfg.model}")
        if failed:
            raise JudgeIncomplete(failed, len(done) + len(failed), what="correction")
        return [done[k] for k in keys]

    async def _write_one(self, client: ChatClient, policy: Any, key: str, prompt: str,
                         prior: str | None) -> Correction:
        answer = await client.complete(correction_messages(policy, prompt, prior),
                                       self.cfg.correction_max_tokens,
                                       accept=lambda a: bool((a.text or "").strip()))
        if not isinstance(answer, Completion):
            corr = Correction("", "rejected")
        else:
            text = client.scrub((answer.text or "").strip())
            status = ("empty" if not text else
                      "truncated" if answer.finish_reason == "length" else "ok")
            corr = Correction(text, status)
        self.cache.put(key, {"kind": "correction", "writer_id": self.writer_id,
                             "model": self.cfg.model, "policy": f"{policy.id}@{policy.version}",
                             "text": corr.text, "status": corr.status})
        return corr


def noncompliant_response(pair: Pair) -> str | None:
    """The old response to show as context: old chosen if it violates π_new, else rejected."""
    verdicts = pair.verdicts or {}
    for side in ("chosen", "rejected"):
        v = verdicts.get(side)
        if v is not None and not v.get("compliant", False):
            return getattr(pair, side)
    return None


def add_corrections(pairs: Sequence[Pair], policy: Any, writer: CorrectionWriter,
                    categories: Sequence[str] | None = ("PUNISH",),
                    verify_with: Any = None) -> tuple[list[Pair], dict[str, int]]:
    """Give each pair in ``categories`` (None = all) that lacks one a written correction.

    With ``verify_with`` (an Oracle), corrections it does not judge compliant are dropped.
    Returns the new pairs (same order) and counts of what happened.
    """
    wanted = [i for i, p in enumerate(pairs) if p.correction is None
              and (categories is None or p.category in categories)]
    written = writer.write([(pairs[i].prompt, noncompliant_response(pairs[i])) for i in wanted],
                           policy)
    stats = {"requested": len(wanted), "written": 0, "empty_or_rejected": 0,
             "truncated": 0, "dropped_noncompliant": 0}
    usable = [(i, c) for i, c in zip(wanted, written) if c.text]
    stats["empty_or_rejected"] = len(wanted) - len(usable)
    stats["truncated"] = sum(c.status == "truncated" for _, c in usable)
    if verify_with is not None and usable:
        verdicts = verify_with.judge([JudgeItem(pairs[i].prompt, c.text) for i, c in usable],
                                     policy)
        kept = [(i, c) for (i, c), v in zip(usable, verdicts) if v.compliant]
        stats["dropped_noncompliant"] = len(usable) - len(kept)
        usable = kept
    out = list(pairs)
    for i, c in usable:
        out[i] = dataclasses.replace(pairs[i], correction=c.text)
    stats["written"] = len(usable)
    log.info("corrections: %s", stats)
    return out, stats
