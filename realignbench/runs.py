"""Run records (DESIGN §8): one directory per stage and input hash, written atomically.

A run directory holds ``config.resolved.yaml`` (written before any work), ``inputs.json``,
``env.json``, ``results.json``, ``samples.jsonl`` and finally ``COMPLETED`` (JSON with the wall
time). A stage whose input hash matches a completed run is skipped. Per-item progress goes to
``samples.partial.jsonl`` (append + flush) so a killed stage resumes from its last saved item.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

log = logging.getLogger("realignbench")

SCHEMA_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_root() -> Path:
    """Content-addressed caches live here, outside the package (``REALIGNBENCH_CACHE``)."""
    root = Path(os.environ.get("REALIGNBENCH_CACHE", ".cache/realignbench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Path):
        return {"file_sha256": file_hash(obj)} if obj.is_file() else str(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses
        return _canonical(dataclasses.asdict(obj))
    return obj


def content_hash(*objs: Any) -> str:
    """SHA-256 of a canonical JSON of ``objs``; files (Path) are hashed by content."""
    text = json.dumps([_canonical(o) for o in objs], sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_hash(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(path: Path | str):
    """Yield a temp path next to ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)        # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_write_jsonl(path: Path | str, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def append_jsonl(path: Path | str, rows: Iterable[dict], fsync: bool = False) -> None:
    """Append ``rows`` to an append-only JSONL cache under an exclusive ``flock``, in one write
    that starts on a fresh line: a line torn by a killed writer is left alone, never glued to."""
    data = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
    data_b = data.encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data_b = b"\n" + data_b
        while data_b:
            data_b = data_b[os.write(fd, data_b):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)                   # closing releases the lock


def read_jsonl(path: Path | str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=root, capture_output=True, text=True,
                                    timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"commit": commit or None, "dirty": dirty}


def env_info(**extra: Any) -> dict[str, Any]:
    """Package versions, git state, device and threads; ``extra`` adds seeds, template hash…"""
    from importlib import metadata
    packages = {}
    for name in ("torch", "transformers", "peft", "accelerate", "lm-eval", "datasets",
                 "openai", "numpy", "krippendorff", "vllm"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    info: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": packages,
        "git": git_state(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
    if "torch" in sys.modules:
        import torch
        info["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        info["torch_threads"] = torch.get_num_threads()
    info.update(extra)
    return info


class Run:
    """One stage's run directory. Use :func:`run_stage` rather than driving it by hand."""

    def __init__(self, directory: Path, stage: str, key: str):
        self.dir = Path(directory)
        self.stage = stage
        self.key = key

    def path(self, name: str) -> Path:
        return self.dir / name

    @property
    def completed(self) -> bool:
        return self.path("COMPLETED").exists()

    @property
    def failed(self) -> bool:
        return self.path("FAILED").exists()

    def begin(self, config: dict[str, Any], inputs: dict[str, Any], **env_extra: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path("FAILED").unlink(missing_ok=True)     # a new attempt replaces the old record
        atomic_write_text(self.path("config.resolved.yaml"),
                          yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        atomic_write_json(self.path("inputs.json"), {"stage": self.stage, "key": self.key,
                                                     "inputs": _canonical(inputs)})
        atomic_write_json(self.path("env.json"), env_info(**env_extra))

    def update_env(self, **extra: Any) -> None:
        env = json.loads(self.path("env.json").read_text())
        env.update(extra)
        atomic_write_json(self.path("env.json"), env)

    def write_results(self, results: dict[str, Any]) -> None:
        atomic_write_json(self.path("results.json"), {"schema_version": SCHEMA_VERSION,
                                                      "stage": self.stage, **results})

    def results(self) -> dict[str, Any]:
        return json.loads(self.path("results.json").read_text())

    # -- per-item progress, for resumable generation and judging ---------------------------
    def saved_samples(self) -> list[dict]:
        partial = self.path("samples.partial.jsonl")
        if not partial.exists():
            return []
        rows, torn = [], 0
        for line in partial.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                torn += 1                # a line cut by a kill: its item is redone
        if torn:
            log.warning("%s: skipped %d torn line(s)", partial, torn)
        return rows

    def append_samples(self, rows: Iterable[dict]) -> None:
        append_jsonl(self.path("samples.partial.jsonl"), rows, fsync=True)

    def write_samples(self, rows: Iterable[dict]) -> None:
        atomic_write_jsonl(self.path("samples.jsonl"), rows)

    def complete(self, wall_s: float) -> None:
        if not self.path("results.json").exists():
            raise RuntimeError(f"{self.dir}: refusing to mark complete without results.json")
        if not self.path("samples.jsonl").exists():
            self.write_samples(self.saved_samples())
        self.path("samples.partial.jsonl").unlink(missing_ok=True)
        atomic_write_json(self.path("COMPLETED"), {"wall_s": round(wall_s, 3),
                                                   "finished_at": time.strftime(
                                                       "%Y-%m-%dT%H:%M:%S%z")})

    def wall_s(self) -> float:
        return json.loads(self.path("COMPLETED").read_text())["wall_s"]

    def fail(self, err: BaseException) -> None:
        """Mark the attempt failed; if even that cannot be written (disk full), remove the
        record files so that what remains does not look like a run."""
        try:
            atomic_write_json(self.path("FAILED"), {
                "error": f"{type(err).__name__}: {err}",
                "failed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        except OSError:
            for name in RECORD_FILES:
                self.path(name).unlink(missing_ok=True)
            if self.dir.is_dir() and not any(self.dir.iterdir()):
                self.dir.rmdir()


RECORD_FILES = ("config.resolved.yaml", "inputs.json", "env.json", "results.json")


@contextmanager
def run_lock(run: Run):
    """Hold an exclusive advisory lock on ``run``'s key; wait (saying for whom) if taken.

    Under ``torchrun`` every rank runs the stage as one run: rank 0 holds the lock for the job,
    and the other ranks must not wait on it (rank 0 waits for them in collectives)."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    # Outside the stage's folder, so that listings of runs see only runs.
    lock_path = run.dir.parent.parent / ".locks" / f"{run.stage}.{run.dir.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            log.warning("%s: another process (pid %s) is running this stage; waiting for it",
                        run.dir, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)                   # closing releases the lock


def run_dir_for(stage: str, name: str, key: str, runs_dir: Path | str = "runs") -> Path:
    return Path(runs_dir) / stage / f"{name}-{key[:12]}"


# A stage's code version, part of its run key: bump a stage's number when a code change alters
# what the stage computes, so that runs made by the old code count as stale (as lm-eval versions
# its tasks). Version 1 is implicit and leaves the key as it was before versions existed.
STAGE_VERSIONS: dict[str, int] = {}


def portable_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without what only says where and how fast it runs: moving a runs directory
    must not change keys, nor may a thread count (``model.threads``; the pipeline gives its
    workers one each, the serial pass after them the default)."""
    out = {k: v for k, v in config.items() if k != "runs_dir"}
    if isinstance(out.get("model"), dict):
        out["model"] = {k: v for k, v in out["model"].items() if k != "threads"}
    return out


def stage_key(stage: str, config: dict[str, Any], inputs: dict[str, Any]) -> str:
    version = STAGE_VERSIONS.get(stage, 1)
    if version == 1:
        return content_hash(stage, config, inputs)
    return content_hash(stage, config, inputs, {"stage_version": version})


def run_stage(stage: str, name: str, config: dict[str, Any], inputs: dict[str, Any],
              work: Callable[..., None], runs_dir: Path | str = "runs",
              force: bool = False, prepare: Callable[[], Any] | None = None,
              **env_extra: Any) -> Run:
    """Run ``work(run)`` in the run directory for (stage, config, inputs) unless already done.

    The key hashes the resolved config, the inputs (files by content) and the stage's code
    version, so a changed input gives a new run directory and an unchanged one is skipped.
    ``prepare()``, if given, reads and validates the inputs before anything is created; its
    value is passed on as ``work(run, prepared)``.
    """
    key = stage_key(stage, config, inputs)
    run = Run(run_dir_for(stage, name, key, runs_dir), stage, key)
    if run.completed and not force:
        log.info("skip %s %s: completed run %s", stage, name, run.dir)
        return run
    args = (prepare(),) if prepare is not None else ()
    with run_lock(run):
        if run.completed and not force:       # another process finished it while we waited
            log.info("skip %s %s: completed meanwhile by another process: %s", stage, name,
                     run.dir)
            return run
        if force:
            run.path("COMPLETED").unlink(missing_ok=True)
        log.info("%s %s -> %s", stage, name, run.dir)
        start = time.perf_counter()
        try:
            run.begin(config, inputs, **env_extra)
            work(run, *args)
            run.complete(time.perf_counter() - start)
        except BaseException as err:          # Ctrl-C and SIGTERM too: say the run stopped
            run.fail(err)
            raise
    log.info("%s %s done in %.1fs: %s", stage, name, time.perf_counter() - start, run.dir)
    return run
