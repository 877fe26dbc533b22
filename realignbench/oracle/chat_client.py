"""Chat completions over an OpenAI-compatible API: bounded concurrency, retries, accounting.

One :class:`ChatClient` per batch, used inside ``async with``. The ``openai`` client's own
retries are off so that every retry is ours and is counted: 429 (waiting at least as long as
Retry-After says), 408/409, 5xx, timeouts and dropped connections are retried with exponential
backoff and jitter, and so is a 200 whose body is unusable (not JSON, no ``choices``: a flaky
proxy), and so is an answer the caller's ``accept`` refuses (a verdict that does not parse, JSON
cut at ``max_tokens``): an unusable answer is a failure, not an answer, unless the caller asks
to ``keep_last`` one (``judge.on_unusable: record``). 401/403/404 are configuration errors and
stop the batch; any other 4xx is an answer about this one request (e.g. a content filter) and
is returned as :class:`Rejected`. A request whose retries run out raises
:class:`RetriesExhausted`, which the caller records for that item alone; the rest of the batch
goes on.

The API key is read from the environment variable named by ``judge.api_key_env`` and lives only
inside the ``openai`` client; every message this module produces is scrubbed of it.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import openai

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429}
FATAL_STATUS = {401, 403, 404}
MAX_RETRY_AFTER_S = 300.0
GIVE_UP_AFTER_REJECTIONS = 5      # that many 4xx and no success: the endpoint is misconfigured


class JudgeError(RuntimeError):
    """The endpoint cannot be used (bad key/model/URL) or kept failing; never holds the key."""


class RetriesExhausted(JudgeError):
    """One request failed on every attempt; nothing about it is cached, so a rerun asks again."""


class BadBody(ValueError):
    """An HTTP 200 whose body is not a chat completion."""


@dataclass(frozen=True)
class Completion:
    text: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Rejected:
    status: int
    message: str


@dataclass
class Usage:
    """What a batch cost: API calls, HTTP attempts, retries by reason, tokens, cache hits."""
    calls: int = 0                  # completions received (HTTP 200)
    requests: int = 0               # HTTP attempts, failed ones included
    retries: int = 0
    retry_reasons: Counter = field(default_factory=Counter)
    rejected: int = 0               # non-retryable 4xx answers for single requests
    cache_hits: int = 0
    unparseable: int = 0            # fresh answers that did not parse (paid for, no verdict)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def usd(self, price_in_per_mtok: float, price_out_per_mtok: float) -> float:
        return (self.prompt_tokens * price_in_per_mtok
                + self.completion_tokens * price_out_per_mtok) / 1e6

    def to_dict(self, price_in_per_mtok: float, price_out_per_mtok: float) -> dict[str, Any]:
        return {"calls": self.calls, "requests": self.requests, "retries": self.retries,
                "retry_reasons": dict(sorted(self.retry_reasons.items())),
                "rejected": self.rejected, "cache_hits": self.cache_hits,
                "unparseable": self.unparseable, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "usd": round(self.usd(price_in_per_mtok, price_out_per_mtok), 6),
                "prices_usd_per_mtok": {"input": price_in_per_mtok,
                                        "output": price_out_per_mtok}}


def public_url(url: str | None) -> str:
    """The endpoint as it may be recorded: no user:password, query or fragment."""
    if not url:
        return "https://api.openai.com/v1"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def resolve_endpoint(jcfg: Any) -> tuple[str | None, str]:
    """(base_url, api_key) from config and environment; the key itself is never in config."""
    base_url = jcfg.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get(jcfg.api_key_env, "")
    if not key:
        if base_url is None:
            raise JudgeError(f"the LLM judge needs an API key: set the environment variable "
                             f"{jcfg.api_key_env} (named by judge.api_key_env)")
        key = "EMPTY"     # `vllm serve` without --api-key accepts any key
        log.info("%s is not set; sending a placeholder key to %s", jcfg.api_key_env,
                 public_url(base_url))
    return base_url, key


def retry_after_s(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return min(max(float(raw) * scale, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if name == "retry-after" else None
            if parsed is not None:
                return min(max(parsed.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER_S)
    return None


class ChatClient:
    """Async chat completions with retries; ``usage`` accumulates over the client's life."""

    def __init__(self, jcfg: Any, usage: Usage | None = None):
        self.cfg = jcfg
        self.usage = usage if usage is not None else Usage()
        self.base_url, self._key = resolve_endpoint(jcfg)
        self._client: openai.AsyncOpenAI | None = None
        self._sem = asyncio.Semaphore(max(1, jcfg.concurrency))

    def __repr__(self) -> str:
        return f"ChatClient(model={self.cfg.model!r}, base_url={public_url(self.base_url)!r})"

    def scrub(self, text: str) -> str:
        if self._key and self._key != "EMPTY" and len(self._key) >= 4:
            text = text.replace(self._key, "[REDACTED]")
        return text

    async def __aenter__(self) -> "ChatClient":
        self._client = openai.AsyncOpenAI(api_key=self._key, base_url=self.base_url,
                                          timeout=self.cfg.timeout_s, max_retries=0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:       # honour the server, with a little spread
            return retry_after * (1 + 0.1 * random.random())
        cap = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** attempt)
        return cap * (0.5 + 0.5 * random.random())

    async def complete(self, messages: list[dict[str, str]], max_tokens: int,
                       accept: Callable[[Completion], bool] | None = None,
                       keep_last: bool = False, **extra: Any) -> Completion | Rejected:
        """One completion at temperature 0, retried as the module docstring says."""
        assert self._client is not None, "use `async with ChatClient(...)`"
        async with self._sem:
            for attempt in range(self.cfg.max_retries + 1):
                self.usage.requests += 1
                wait_hint = None
                try:
                    resp = await self._client.chat.completions.create(
                        model=self.cfg.model, messages=messages, temperature=0.0,
                        max_tokens=max_tokens, seed=0, **extra)
                except openai.APIStatusError as err:
                    status = err.status_code
                    detail = self.scrub(_error_text(err))
                    if status in FATAL_STATUS:
                        raise JudgeError(f"{public_url(self.base_url)} answered {status}: "
                                         f"{detail}") from None
                    if status < 500 and status not in RETRY_STATUS:
                        return self._rejected(status, detail)
                    reason = "429" if status == 429 else ("5xx" if status >= 500 else str(status))
                    wait_hint = retry_after_s(err.response.headers)
                except openai.APITimeoutError:
                    reason = "timeout"
                except openai.APIConnectionError:
                    reason = "connection"
                except (ValueError, openai.APIResponseValidationError) as err:
                    reason = "bad_body"           # JSONDecodeError, pydantic errors: a 200 body
                    log.debug("unusable response body: %s", self.scrub(str(err))[:200])
                else:
                    try:
                        answer = self._received(resp)
                    except BadBody as err:
                        reason = "bad_body"
                        log.debug("unusable response body: %s", err)
                    else:
                        if accept is None or accept(answer) or (
                                keep_last and attempt == self.cfg.max_retries):
                            return answer
                        reason = "unparseable"    # not a usable answer: retried
                if attempt == self.cfg.max_retries:
                    break
                self.usage.retries += 1
                self.usage.retry_reasons[reason] += 1
                await asyncio.sleep(self._backoff(attempt, wait_hint))
            hint = ("; answers cut at max_tokens need a larger budget"
                    if reason == "unparseable" else "")
            raise RetriesExhausted(f"{public_url(self.base_url)}: gave up after "
                                   f"{self.cfg.max_retries + 1} attempts (last failure: "
                                   f"{reason}{hint})")

    def _received(self, resp: Any) -> Completion:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices or getattr(choices[0], "message",
                                                                     None) is None:
            raise BadBody(f"no choices[0].message in a {type(resp).__name__} answer")
        self.usage.calls += 1
        usage = getattr(resp, "usage", None)
        p_tok = getattr(usage, "prompt_tokens", 0) or 0
        c_tok = getattr(usage, "completion_tokens", 0) or 0
        self.usage.prompt_tokens += p_tok
        self.usage.completion_tokens += c_tok
        choice = choices[0]
        text = choice.message.content
        return Completion(text, getattr(choice, "finish_reason", None), p_tok, c_tok)

    def _rejected(self, status: int, detail: str) -> Rejected:
        self.usage.rejected += 1
        if self.usage.calls == 0 and self.usage.rejected >= GIVE_UP_AFTER_REJECTIONS:
            raise JudgeError(f"{public_url(self.base_url)} rejected the first "
                             f"{self.usage.rejected} requests (last: {status} {detail}); "
                             "check judge.model and judge.response_format")
        return Rejected(status, detail)


def _error_text(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else None
        if msg:
            return str(msg)[:300]
    return str(err.message)[:300]
