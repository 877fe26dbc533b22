"""The Makefile switches the hub off only for the offline presets and the test targets
(issue 18, item 7): GPU presets must be able to download their model, PKU-SafeRLHF and lm-eval
data, while `make test` and `make reproduce` on smol stay offline as before."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HF_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
# A rule added from the command line: `+` runs it even under -n, so a goal's other recipes
# (install, pytest, reproduce) are only printed while this one reports what they would see.
PROBE = 'hfprobe: ; +@echo "probe HUB=[$$HF_HUB_OFFLINE] DS=[$$HF_DATASETS_OFFLINE]"'

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _seen_by(goal: str, *make_args: str) -> str:
    """The probe line as the recipes of ``goal`` would see the environment."""
    env = {k: v for k, v in os.environ.items()
           if k not in HF_VARS and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    args = ["make", "-n", "--no-print-directory", "--eval", PROBE]
    if goal != "hfprobe":
        args += ["--eval", f"{goal}: hfprobe"]
    out = subprocess.run([*args, goal, *make_args], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    probes = [line for line in out.splitlines() if line.startswith("probe ")]
    assert probes, out
    return probes[0]


OFFLINE, ONLINE = "probe HUB=[1] DS=[1]", "probe HUB=[] DS=[]"


@pytest.mark.parametrize("preset", ["", "PRESET=smol", "PRESET=tiny"])
def test_offline_presets_keep_the_hub_off(preset):
    args = (preset,) if preset else ()
    assert _seen_by("reproduce", *args) == OFFLINE
    assert _seen_by("hfprobe", *args) == OFFLINE


@pytest.mark.parametrize("preset", ["paper", "llama-3.1-8b", "qwen2.5-7b", "gemma-2-9b"])
def test_gpu_presets_may_reach_the_hub(preset):
    assert _seen_by("reproduce", f"PRESET={preset}") == ONLINE
    assert _seen_by("table-5", f"PRESET={preset}") == ONLINE


@pytest.mark.parametrize("goal", ["test", "test-fast", "smoke"])
def test_test_targets_are_offline_whatever_the_preset(goal):
    assert _seen_by(goal, "PRESET=llama-3.1-8b") == OFFLINE


def test_a_value_from_the_environment_is_passed_on():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = subprocess.run(["make", "-n", "--no-print-directory", "--eval", PROBE, "hfprobe",
                          "PRESET=llama-3.1-8b"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert OFFLINE in out
