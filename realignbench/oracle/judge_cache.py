"""Content-hash cache for LLM answers: append-only JSONL shards, safe for concurrent writers.

A key hashes everything that determines the answer (judge id with its settings, model, policy
id/version/text, prompt, response), so a rerun of the same work makes zero API calls. Each entry
is one line written with a single ``write`` under an exclusive ``flock`` on its shard, so
processes appending at once never interleave; a line cut short by a crash is skipped on read
and the next entry starts on a fresh line.
Entries never hold credentials: only the answer, its status and its token usage.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from realignbench.runs import cache_root, content_hash

log = logging.getLogger(__name__)

N_SHARDS = 16


def answer_key(kind: str, judge_id: str, model: str, policy: Any, *texts: str) -> str:
    """The cache key of one answer; ``kind`` separates verdicts from corrections."""
    return content_hash(kind, judge_id, model, getattr(policy, "id", ""),
                        getattr(policy, "version", ""), content_hash(getattr(policy, "text", "")),
                        list(texts))


class JudgeCache:
    def __init__(self, directory: Path | str | None = None):
        self.dir = Path(directory) if directory else cache_root() / "llm"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _shard(self, key: str) -> Path:
        return self.dir / f"shard-{int(key[:4], 16) % N_SHARDS:02d}.jsonl"

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            entries: dict[str, dict[str, Any]] = {}
            bad = 0
            for shard in sorted(self.dir.glob("shard-*.jsonl")):
                for line in shard.read_text(encoding="utf-8").splitlines():
                    try:
                        row = json.loads(line)
                        entries[row["key"]] = row
                    except (json.JSONDecodeError, KeyError, TypeError):
                        bad += 1      # torn tail of an interrupted write; the item is redone
            if bad:
                log.warning("judge cache %s: skipped %d unreadable line(s)", self.dir, bad)
            self._entries = entries
        return self._entries

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        row = {"key": key, **entry}
        data = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self._shard(key), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data     # never glue an entry onto a torn line
                while data:          # a regular-file write is complete in practice; be sure
                    data = data[os.write(fd, data):]
                # No fsync: a line lost in a power cut costs one repeated call, not a wrong
                # answer, and 40k fsyncs would stall the event loop for minutes.
            finally:
                os.close(fd)         # closing releases the lock
            self._load()[key] = row

    def __len__(self) -> int:
        with self._lock:
            return len(self._load())
