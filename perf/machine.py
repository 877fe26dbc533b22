"""What the numbers were measured on: CPU, cores, threads, library versions, load."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

# Instruction-set flags that decide whether bf16 matmuls run natively on a CPU.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in out:
            out[key] = value.strip()
    return out


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_info() -> dict:
    import torch
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    versions = {"torch": torch.__version__}
    for name in ("transformers", "peft", "accelerate"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return {
        "cpu_model": info.get("model name", platform.processor() or "unknown"),
        "cpu_family": info.get("cpu family", ""),
        "logical_cpus": os.cpu_count(),
        "cpu_flags": {f: f in flags for f in FLAGS},
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda": torch.cuda.is_available(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": _git_commit(),
        "loadavg_start": loadavg(),
    }
