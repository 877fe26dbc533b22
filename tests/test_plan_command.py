"""`realignbench plan --preset P` (issue 18, item 6): every step of the graph with its kind,
resources and ETA, built from the config and the table specs only — no model, no data — with
ETA priors chosen by model scale (never smol's for an 8B model)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from realignbench.cli import main
from realignbench.config import load_config
from realignbench.model_presets import PRESETS
from realignbench.pipeline import stages
from realignbench.pipeline.commands import _duration, _scheduled
from realignbench.pipeline.graph import Step
from realignbench.pipeline.plan import PRIOR, SCALE, build_plan, prior_for
from realignbench.pipeline.resources import MODEL_KINDS, Resources

GPU_PRESETS = ["llama-3.1-8b", "qwen2.5-7b", "gemma-2-9b", "paper"]
STAGE_FUNCTIONS = ["data", "judge_validation", "train", "eval_tpa", "eval_capability", "eval_asr",
                   "human_eval"]

# Files opened while the plan is built; Python's audit hook cannot be removed, so it records
# only while a test says so.
_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], (str, Path)):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


def _forbid_work(monkeypatch) -> None:
    """Any model load or stage call fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("plan ran work: a model load or a stage function was called")
    monkeypatch.setattr("realignbench.models.loading.load_model", refuse)
    for name in STAGE_FUNCTIONS:
        monkeypatch.setattr(stages, name, refuse)


def _rows(out: str) -> dict[str, list[str]]:
    """Step name -> [kind, cpus, gpus, ETA] from the printed table."""
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[0].isdigit():
            rows[fields[1]] = fields[2:]
    return rows


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_plan_lists_every_step_with_resources_and_eta_without_work(preset, monkeypatch, capsys,
                                                                   tmp_path):
    global _opened
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    _forbid_work(monkeypatch)
    _opened = []
    try:
        code = main(["plan", "--preset", preset, "--runs-dir", str(tmp_path / "runs")])
    finally:
        opened, _opened = _opened, None
    assert code == 0
    # Only YAML (presets, table specs) and Python's own modules were read; nothing written.
    assert [f for f in opened if not f.endswith((".yaml", ".py", ".pyc", ".so"))
            and "site-packages" not in f and "/lib/python" not in f] == []
    assert not (tmp_path / "runs").exists()
    out = capsys.readouterr().out
    rows = _rows(out)
    cfg = load_config(preset)
    steps = build_plan(cfg)
    assert list(rows) == [s.name for s in steps]
    prior = PRIOR["7-9b"]
    for step in steps:
        kind, cpus, gpus, eta = rows[step.name]
        assert kind == step.kind
        assert (int(cpus), int(gpus)) == ((1, 1) if step.kind in MODEL_KINDS else (1, 0))
        assert eta == _duration(prior[step.kind] * step.cost)
    assert "scale 7-9b" in out and "on 8 GPUs: about" in out


def test_plan_on_a_machine_without_gpus_asks_for_none(monkeypatch, capsys):
    _forbid_work(monkeypatch)
    assert main(["plan", "--preset", "paper", "--gpus", "0", "--tables", "5"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows and {r[2] for r in rows.values()} == {"0"}


def test_every_model_preset_has_a_scale_and_gpu_models_do_not_get_smols_prior():
    assert set(SCALE) == set(PRESETS)
    assert set(SCALE.values()) <= set(PRIOR)
    for name, preset in PRESETS.items():
        assert (prior_for(name) is PRIOR["7-9b"]) == preset.gpu
    kinds = {s.kind for s in build_plan(load_config("paper"))}
    assert kinds <= set(PRIOR["7-9b"])          # every step kind has a prior at 7-9B


def test_a_model_of_unknown_scale_is_said_so_not_given_another_scales_prior(tmp_path, capsys):
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    assert prior_for(str(model_dir)) is None
    assert main(["plan", "--preset", "tiny", f"model.preset={model_dir}", "--tables", "5"]) == 0
    assert "no ETA prior for model.preset" in capsys.readouterr().out


def _toy(*specs):
    """Steps from (name, deps, seconds, gpus)."""
    steps = [Step(n, "train", lambda out: None, deps=d) for n, d, _, _ in specs]
    return (steps, {n: float(t) for n, _, t, _ in specs},
            {n: Resources(cpus=1, gpus=g) for n, _, _, g in specs})


@pytest.mark.parametrize("gpus, expected", [(1, 30.0), (2, 20.0), (3, 10.0)])
def test_schedule_of_independent_gpu_steps(gpus, expected):
    steps, eta, need = _toy(("a", (), 10, 1), ("b", (), 10, 1), ("c", (), 10, 1))
    assert _scheduled(steps, eta, need, gpus) == expected


def test_schedule_follows_dependencies_and_cpu_steps_take_no_gpu():
    # data (CPU, 5 s) -> m (GPU, 10 s) -> {x, y} (GPU, 4 s each); v (CPU, 20 s) after data
    steps, eta, need = _toy(("data", (), 5, 0), ("m", ("data",), 10, 1),
                            ("x", ("m",), 4, 1), ("y", ("m",), 4, 1), ("v", ("data",), 20, 0))
    assert _scheduled(steps, eta, need, 1) == 25.0       # max(5 + 10 + 4 + 4, 5 + 20)
    assert _scheduled(steps, eta, need, 2) == 25.0       # v is now the longest chain
    eta["v"] = 1.0
    assert _scheduled(steps, eta, need, 2) == 19.0       # 5 + 10 + 4


README = Path(__file__).resolve().parents[1] / "README.md"
README_CASES = [([], 8), (["seeds=[0,1,2]"], 8), (["seeds=[0,1,2]"], 32)]


@pytest.mark.parametrize("overrides, gpus", README_CASES)
def test_readme_estimates_are_what_plan_prints(overrides, gpus, capsys, monkeypatch):
    """The README's wall-time ESTIMATES are pasted from `realignbench plan`: stale if the
    priors or the graph change."""
    _forbid_work(monkeypatch)
    text = README.read_text()
    block = text[text.index("<!-- plan-estimates: begin -->"):
                 text.index("<!-- plan-estimates: end -->")]
    assert main(["plan", "--preset", "paper", "--gpus", str(gpus), *overrides]) == 0
    out = capsys.readouterr().out.splitlines()
    total = next(line for line in out if line.startswith("total: "))
    wall = next(line for line in out if line.startswith(f"on {gpus} GPUs: about "))
    assert total in block
    assert wall.split(" (")[0] in block
