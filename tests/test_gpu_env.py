"""The GPU environment can be rebuilt (issue 18, item 5): constraints/gpu.txt pins vLLM and the
torch/transformers it pins, agrees with pyproject's exact pins, and the Makefile runs GPU presets
in that environment (.venv-gpu) and tiny/smol in the CPU one. No network: `make -n`."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")   # Python >= 3.11, as vLLM needs

ROOT = Path(__file__).resolve().parents[1]
GPU_TXT = ROOT / "constraints" / "gpu.txt"
PRESET_GOALS = ["reproduce", "table-5", "tune", "leaderboard", "data"]


def _pins(path: Path) -> dict[str, Requirement]:
    """Every requirement of a constraints file by canonical name; a bad line names its line."""
    pins: dict[str, Requirement] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#")[0].strip()
        if not text:
            continue
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name not in pins, f"{path.name}:{number}: {name} pinned twice"
        pins[name] = req
    return pins


def _exact(req: Requirement) -> str | None:
    specs = list(req.specifier)
    return specs[0].version if len(specs) == 1 and specs[0].operator == "==" else None


def test_gpu_constraints_pin_every_package_exactly():
    pins = _pins(GPU_TXT)
    assert {"vllm", "torch", "transformers"} <= set(pins)
    assert {n: str(r) for n, r in pins.items() if _exact(r) is None} == {}
    assert _exact(pins["vllm"]).startswith("0.33.")


def test_gpu_constraints_agree_with_pyprojects_exact_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("gpu", "eval", "cluster"):
        declared += project["optional-dependencies"][extra]
    pins = _pins(GPU_TXT)
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if _exact(req) is not None:
            assert name in pins, f"pyproject pins {req}, constraints/gpu.txt does not"
        if name in pins:
            assert req.specifier.contains(_exact(pins[name]), prereleases=True), \
                f"constraints/gpu.txt {pins[name]} is outside pyproject's {req}"


def _dry_run(goal: str, preset: str) -> str:
    """The commands `make goal PRESET=preset` would run, as if nothing were built yet (-B)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-n", "-B", "--no-print-directory", goal, f"PRESET={preset}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@needs_make
@pytest.mark.parametrize("goal", PRESET_GOALS)
@pytest.mark.parametrize("preset", ["paper", "llama-3.1-8b", "qwen2.5-7b", "gemma-2-9b"])
def test_gpu_presets_run_in_the_gpu_environment(goal, preset):
    out = _dry_run(goal, preset)
    assert "-m venv .venv-gpu" in out
    assert "-c constraints/gpu.txt" in out and "constraints/cpu.txt" not in out
    assert ".venv-gpu/bin/realignbench " in out and ".venv/bin/realignbench" not in out
    assert f"--preset {preset}" in out


@needs_make
@pytest.mark.parametrize("goal", PRESET_GOALS)
@pytest.mark.parametrize("preset", ["smol", "tiny"])
def test_offline_presets_stay_in_the_cpu_environment(goal, preset):
    out = _dry_run(goal, preset)
    assert ".venv-gpu" not in out and "constraints/gpu.txt" not in out
    assert ".venv/bin/realignbench " in out


@needs_make
def test_test_targets_stay_in_the_cpu_environment_whatever_the_preset():
    for goal in ("test-fast", "smoke"):
        assert ".venv-gpu" not in _dry_run(goal, "llama-3.1-8b")
