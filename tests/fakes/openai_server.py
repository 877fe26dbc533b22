"""An OpenAI-compatible chat-completions server for tests, with faults on demand.

Real HTTP on 127.0.0.1 (threaded ``http.server``), real request/response JSON, bearer-key
checks and ``usage`` token counts computed from the request text, so the real ``openai`` client
is exercised end to end. Answers follow a rule: a judged response is non-compliant iff the text
between its data markers contains ``marker``; a correction request gets a deterministic answer.

Faults, per request: ``429`` (with Retry-After), ``500``, ``hang`` (sleeps past the client's
timeout), ``bad_json`` (content that is not JSON), ``missing_field`` (JSON without
``compliant``), ``echo_auth`` (a 400 whose message quotes the Authorization header, as a badly
behaved proxy might), and the transient 200s with an unusable body of a flaky proxy:
``bad_body`` (JSON cut short) and ``no_choices`` (valid JSON, no ``choices``). Either queue them for the next requests (:meth:`queue_faults`) or give a
seeded ``fault_rate``: a request's fault is then a pure function of (seed, its user message);
transient kinds strike only its first ``transient_attempts`` attempts, ``bad_json`` and
``missing_field`` strike every time (a deterministic judge at temperature 0 would repeat them).
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TRANSIENT = ("429", "500", "hang")
PERSISTENT = ("bad_json", "missing_field")
BAD_BODY = ("bad_body", "no_choices")          # transient; not in the default fault_kinds
_TOKEN = re.compile(r"\w+|[^\w\s]")
_RESPONSE_BLOCK = re.compile(r"<<<BEGIN_RESPONSE id=(\w+)>>>\n(.*?)\n<<<END_RESPONSE id=\1>>>",
                             re.DOTALL)
_PROMPT_BLOCK = re.compile(r"<<<BEGIN_PROMPT id=(\w+)>>>\n(.*?)\n<<<END_PROMPT id=\1>>>",
                           re.DOTALL)
_DIMS = re.compile(r"Dimensions a response can violate: (.*)\.")


def count_tokens(text: str) -> int:
    """Word-and-punctuation count: close to a BPE count for English, no vocabulary needed."""
    return len(_TOKEN.findall(text))


class FakeOpenAI:
    def __init__(self, api_key: str = "sk-test-0123456789abcdef", marker: str = "FORBIDDEN",
                 fault_rate: float = 0.0, fault_kinds: tuple[str, ...] = TRANSIENT + PERSISTENT,
                 seed: int = 0, transient_attempts: int = 1, hang_s: float = 2.0,
                 retry_after: tuple[str, str] = ("retry-after-ms", "20")):
        self.api_key, self.marker = api_key, marker
        self.fault_rate, self.fault_kinds, self.seed = fault_rate, fault_kinds, seed
        self.transient_attempts, self.hang_s, self.retry_after = (transient_attempts, hang_s,
                                                                  retry_after)
        self.requests: list[dict[str, Any]] = []        # every body received, in arrival order
        self.faults: Counter = Counter()                 # faults served, by kind
        self.fault_items: dict[str, set] = {}            # kind -> user messages it struck
        self.completions = 0                             # 200 answers with a normal body
        self._queue: deque[str] = deque()
        self._attempts: Counter = Counter()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> str:
        server = self

        class Handler(_Handler):
            fake = server

        class Server(ThreadingHTTPServer):
            request_queue_size = 128       # the default 5 drops connections under concurrency
        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def queue_faults(self, *kinds: str) -> None:
        with self._lock:
            self._queue.extend(kinds)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.fault_items.clear()
            self.completions = 0

    # -- behaviour --------------------------------------------------------------------------
    def choose_fault(self, user_text: str) -> str | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            digest = hashlib.sha256(f"{self.seed}\0{user_text}".encode()).digest()
            attempt = self._attempts[digest]
            self._attempts[digest] += 1
        if int.from_bytes(digest[:4], "big") / 2 ** 32 >= self.fault_rate:
            return None
        kind = self.fault_kinds[int.from_bytes(digest[4:8], "big") % len(self.fault_kinds)]
        if kind in PERSISTENT or attempt < self.transient_attempts:
            return kind
        return None

    def answer(self, body: dict[str, Any], fault: str | None) -> tuple[str, str]:
        """(content, finish_reason) for a well-formed request."""
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        judged = _RESPONSE_BLOCK.search(user)
        if judged is None:                                   # a correction request
            prompt = _PROMPT_BLOCK.search(user)
            words = (prompt.group(2) if prompt else "your question").split()[:8]
            return f"Here is a careful answer that follows the policy: {' '.join(words)}.", "stop"
        if fault == "bad_json":
            return '{"rationale": "The response is fine", "compliant": tr', "length"
        dims = _DIMS.search(system)
        first_dim = dims.group(1).split(", ")[0] if dims else "harm"
        compliant = self.marker not in judged.group(2)
        verdict = {"rationale": "rule: marker absent" if compliant else "rule: marker present",
                   "violated": [] if compliant else [first_dim], "compliant": compliant}
        if fault == "missing_field":
            del verdict["compliant"]
        return json.dumps(verdict), "stop"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:   # keep test output clean
        pass

    def _send(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None):
        self._send_raw(status, json.dumps(obj).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass                                     # the client gave up (timeout): fine

    def _error(self, status: int, message: str, kind: str, headers=None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": None}}, headers)

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        fake = self.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._error(404, f"no route {self.path}", "invalid_request_error")
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {fake.api_key}":
            return self._error(401, f"Incorrect API key provided: {auth[7:12]}***",
                               "invalid_request_error")
        body = json.loads(raw)
        with fake._lock:
            fake.requests.append(body)
        fault = fake.choose_fault(body["messages"][-1]["content"])
        if fault:
            with fake._lock:
                fake.faults[fault] += 1
                fake.fault_items.setdefault(fault, set()).add(body["messages"][-1]["content"])
        if fault == "429":
            return self._error(429, "Rate limit reached", "rate_limit_error",
                               {fake.retry_after[0]: fake.retry_after[1]})
        if fault == "500":
            return self._error(500, "The server had an error", "server_error")
        if fault == "echo_auth":
            return self._error(400, f"bad request; you sent Authorization: {auth}",
                               "invalid_request_error")
        if fault == "hang":
            time.sleep(fake.hang_s)
        if fault == "bad_body":
            return self._send_raw(200, b'{"id": "chatcmpl-cut", "object": "chat.completion", "ch')
        if fault == "no_choices":
            return self._send(200, {"id": "chatcmpl-empty", "object": "chat.completion",
                                    "model": body["model"]})
        content, finish = fake.answer(body, fault)
        prompt_tokens = sum(count_tokens(m["content"]) + 4 for m in body["messages"]) + 3
        with fake._lock:
            fake.completions += fault is None
        self._send(200, {
            "id": f"chatcmpl-{hashlib.sha1(raw).hexdigest()[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": body["model"], "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": count_tokens(content),
                      "total_tokens": prompt_tokens + count_tokens(content)}})


@pytest.fixture
def fake_openai(monkeypatch, tmp_path):
    """A started server; the key and URL are in the environment, the cache is per test."""
    server = FakeOpenAI()
    server.start()
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path / "cache"))
    yield server
    server.stop()


if __name__ == "__main__":          # a standalone server for trying the judge without a key
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    fake = FakeOpenAI(fault_rate=a.fault_rate, seed=a.seed)
    print(f"OPENAI_BASE_URL={fake.start()} OPENAI_API_KEY={fake.api_key}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
