"""SIGTERM to a parallel ``reproduce`` (issue 19): its workers stop, nothing is left running."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc (workers, the resource tracker, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"                       # a zombie has stopped; only its entry remains


def test_sigterm_stops_parallel_reproduce_and_orphans_nothing(tmp_path):
    log = (tmp_path / "out.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REALIGNBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("OMP_NUM_THREADS", None)
    command = [sys.executable, "-m", "realignbench.cli", "reproduce", "--preset", "tiny",
               "--tables", "5", "--jobs", "2", "--runs-dir", str(tmp_path / "runs"),
               "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = descendants(proc.pid)
            started = (tmp_path / "out.log").read_text().count("] start")
            if len(workers) >= 3 and started >= 1:      # 2 workers + the resource tracker
                break
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "out.log").read_text()[-2000:]
        time.sleep(3)                               # let the workers get into their steps
        workers |= descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "out.log").read_text()
    assert rc == 128 + signal.SIGTERM, text[-2000:]
    assert "parallel: interrupted; stopping" in text
    time.sleep(2)                                   # the resource tracker sees EOF and exits
    assert [p for p in workers if alive(p)] == []
    # Nothing half-written looks like a run: every directory is COMPLETED or marked FAILED.
    completed = {}
    for run_dir in (tmp_path / "runs").glob("*/*/"):
        if run_dir.parent.name in ("logs", ".locks"):
            continue
        assert (run_dir / "COMPLETED").exists() or (run_dir / "FAILED").exists(), run_dir
        if (run_dir / "COMPLETED").exists():
            completed[run_dir] = (run_dir / "COMPLETED").stat().st_mtime_ns
    # The next run resumes: it finishes, and what was completed is kept, not redone.
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=500)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert {d: (d / "COMPLETED").stat().st_mtime_ns for d in completed} == completed
    assert not list((tmp_path / "runs").glob("*/*/FAILED"))
