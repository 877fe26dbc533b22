"""The LLM judge: an :class:`~realignbench.oracle.verdict.Oracle` over chat completions.

Works with GPT-4o (the paper's proxy oracle) or any OpenAI-compatible server, e.g. a local
``vllm serve`` (README, "LLM judge"). Each verdict is one call at temperature 0 asking for a
structured JSON answer. Any unusable answer — a bad body, JSON cut at ``max_tokens``, a schema
mismatch — is asked for again within the retry budget: it is not a verdict. Only a real answer
is cached (by content hash, so a rerun makes zero calls): a parsed verdict, the API's refusal of
this very request (a 4xx), or — only with ``judge.on_unusable: record`` — the unusable answer
a judge still gave on its last attempt; the last two are ``Verdict(status="unparseable",
compliant=False)``.
An item whose retries run out (timeouts, 5xx, unusable answers) is cached as nothing, the other
items finish, and the batch then raises :class:`JudgeIncomplete` naming how many failed, so the
stage exits non-zero and a rerun asks for exactly those items again (a judge that keeps cutting
its answers short needs a larger ``judge.max_tokens``; the failure message says so).
``usage`` counts calls, retries by reason, tokens and cache hits.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections import Counter
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from tqdm.auto import tqdm

from realignbench.config import ConfigError, JudgeConfig
from realignbench.oracle.chat_client import (ChatClient, Completion, JudgeError,
                                              RetriesExhausted, Usage, public_url)
from realignbench.oracle.judge_cache import JudgeCache, answer_key
from realignbench.oracle.prompting import (PROMPT_VERSION, judge_messages, parse_verdict,
                                           verdict_schema)
from realignbench.oracle.verdict import OK, UNPARSEABLE, JudgeItem, Verdict
from realignbench.runs import atomic_write_json

log = logging.getLogger(__name__)
T = TypeVar("T")
RESPONSE_FORMATS = ("json_schema", "json_object", "none")


class JudgeIncomplete(JudgeError):
    """Some items got no answer within their retry budget; the others are cached."""

    def __init__(self, failed: dict[str, str], total: int, what: str = "judge item"):
        self.failed = failed                 # cache key -> last failure
        last = next(iter(failed.values()))
        super().__init__(f"{len(failed)} of {total} {what}(s) failed (e.g. {last}); the "
                         f"{total - len(failed)} answered are cached, so a rerun asks only for "
                         f"the {len(failed)} failed")


def judge_config(cfg: Any) -> JudgeConfig:
    """Accept a full Config, a JudgeConfig, or None (defaults)."""
    jcfg = getattr(cfg, "judge", cfg) or JudgeConfig()
    if jcfg.response_format not in RESPONSE_FORMATS:
        raise ConfigError(f"judge.response_format: {jcfg.response_format!r} is not one of "
                          f"{RESPONSE_FORMATS}")
    return jcfg


def run_sync(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even under a running loop (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_fn())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


async def gather_cached(jobs: dict[str, Callable[[], Awaitable[None]]], desc: str) -> None:
    """Run one job per cache key with a progress bar; on the first failure cancel the rest
    (finished jobs are already cached, so a rerun resumes) and re-raise it."""
    tasks = [asyncio.ensure_future(job()) for job in jobs.values()]
    try:
        with tqdm(total=len(tasks), desc=desc, unit="call", leave=False) as bar:
            for fut in asyncio.as_completed(tasks):
                await fut
                bar.update()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class LLMJudge:
    """``LLMJudge(cfg).judge(items, policy) -> list[Verdict]`` in the order of ``items``."""

    check_old_policy = False       # calls cost money: triage skips its π_old sanity pass

    @classmethod
    def from_config(cls, cfg: Any) -> "LLMJudge":
        return cls(cfg)

    def __init__(self, cfg: Any = None, cache: JudgeCache | None = None):
        self.cfg = judge_config(cfg)
        self.cache = cache if cache is not None else JudgeCache()
        self.usage = Usage()
        self.statuses: Counter = Counter()     # verdicts returned, cached ones included
        self.failed_items = 0                  # items that ran out of retries, over all batches
        self.judge_id = f"llm:{self.cfg.model}@{PROMPT_VERSION}"
        self.endpoint = public_url(self.cfg.base_url or os.environ.get("OPENAI_BASE_URL"))

    def _key(self, policy: Any, item: JudgeItem) -> str:
        settings = f"{self.judge_id}|{self.cfg.response_format}|{self.cfg.max_tokens}"
        return answer_key("verdict", settings, self.cfg.model, policy, item.prompt,
                          item.response)

    def _format(self, policy: Any) -> dict[str, Any]:
        if self.cfg.response_format == "json_schema":
            schema = verdict_schema(list(getattr(policy, "dimensions", []) or []))
            return {"response_format": {"type": "json_schema", "json_schema": schema}}
        if self.cfg.response_format == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}

    def judge(self, items: Sequence[JudgeItem], policy: Any) -> list[Verdict]:
        return run_sync(lambda: self.ajudge(items, policy))

    async def ajudge(self, items: Sequence[JudgeItem], policy: Any) -> list[Verdict]:
        keys = [self._key(policy, it) for it in items]
        done: dict[str, Verdict] = {}
        todo: dict[str, JudgeItem] = {}
        for key, item in zip(keys, items):
            if key in done or key in todo:
                continue
            hit = self.cache.get(key)
            if hit is not None:
                done[key] = Verdict.from_dict(hit["verdict"])
                self.usage.cache_hits += 1
            else:
                todo[key] = item
        log.info("%s: %d item(s), %d distinct answers cached, %d to ask for", self.judge_id,
                 len(items), len(done), len(todo))
        failed: dict[str, str] = {}
        if todo:
            async with ChatClient(self.cfg, self.usage) as client:
                def job(key: str, item: JudgeItem):
                    async def run() -> None:
                        try:
                            done[key] = await self._judge_one(client, policy, key, item)
                        except RetriesExhausted as err:     # this item only; go on
                            failed[key] = str(err)
                    return run
                await gather_cached({k: job(k, it) for k, it in todo.items()},
                                    desc=f"judge {self.cfg.model}")
        if failed:
            self.failed_items += len(failed)
            log.error("%s: %d of %d distinct item(s) failed after every retry", self.judge_id,
                      len(failed), len(done) + len(failed))
            raise JudgeIncomplete(failed, len(done) + len(failed))
        verdicts = [done[k] for k in keys]
        self.statuses.update(v.status for v in verdicts)
        return verdicts

    async def _judge_one(self, client: ChatClient, policy: Any, key: str,
                         item: JudgeItem) -> Verdict:
        dims = list(getattr(policy, "dimensions", []) or [])

        def usable(answer: Completion) -> bool:
            return parse_verdict(client.scrub(answer.text or ""), dims).ok
        answer = await client.complete(judge_messages(policy, item.prompt, item.response),
                                       self.cfg.max_tokens, accept=usable,
                                       keep_last=self.cfg.on_unusable == "record",
                                       **self._format(policy))
        raw = client.scrub(answer.text or "") if isinstance(answer, Completion) else ""
        if isinstance(answer, Completion):
            parsed = parse_verdict(raw, dims)
            error = parsed.error
            if not parsed.ok and answer.finish_reason == "length":
                error += f" (answer cut at max_tokens={self.cfg.max_tokens})"
        else:
            parsed, error = None, f"request rejected ({answer.status}): {answer.message}"
        if parsed is not None and parsed.ok:
            verdict = Verdict(parsed.compliant, parsed.violated, client.scrub(parsed.rationale),
                              self.judge_id, OK)
        else:                  # a refusal, or (on_unusable: record) the last unusable answer
            self.usage.unparseable += 1
            log.debug("unparseable verdict: %s", error)
            verdict = Verdict(False, (), f"unparseable judge answer: {error}; raw: {raw[:300]!r}",
                              self.judge_id, UNPARSEABLE)
        tokens = ({"prompt": answer.prompt_tokens, "completion": answer.completion_tokens}
                  if isinstance(answer, Completion) else {})
        self.cache.put(key, {"kind": "verdict", "judge_id": self.judge_id,
                             "model": self.cfg.model,
                             "policy": f"{policy.id}@{policy.version}",
                             "verdict": verdict.to_dict(), "raw": raw[:4000], "tokens": tokens})
        return verdict

    # -- accounting --------------------------------------------------------------------------
    def usage_record(self) -> dict[str, Any]:
        """What this judge cost so far; goes into a run's results and ``judge_usage.json``."""
        return {"judge": self.judge_id, "model": self.cfg.model, "endpoint": self.endpoint,
                **self.usage.to_dict(self.cfg.price_in_per_mtok, self.cfg.price_out_per_mtok),
                "verdicts": dict(sorted(self.statuses.items())),
                "failed_items": self.failed_items}

    def write_usage(self, run: Any) -> dict[str, Any]:
        record = self.usage_record()
        atomic_write_json(run.path("judge_usage.json"), record)
        return record
