"""Thin adapters from pipeline steps to the subsystems' stage functions.

Each adapter takes the Config and the outputs of earlier steps and returns what later steps
need (a Run, or PreparedData). No logic of its own beyond choosing inputs.
"""
from __future__ import annotations

from typing import Any


def data(cfg):
    from realignbench.triage.stage import prepare_data
    return prepare_data(cfg)


_JUDGES: dict[str, Any] = {}


def judge(cfg):
    """One free-text judge per judge setting for the whole pipeline (built once)."""
    from realignbench.bench.tpa import make_judge
    key = repr((cfg.eval, cfg.judge, cfg.data))
    if key not in _JUDGES:
        _JUDGES[key] = make_judge(cfg)
    return _JUDGES[key]


def judge_validation(cfg, out: dict[str, Any]):
    from realignbench.bench.judge_validation import judge_validation_stage
    return judge_validation_stage(cfg, prepared=out["data"])


def method_config(cfg, method: str, noise: float):
    """The method's declared noise-linked option follows the injected noise (rDPO: ε = p)."""
    from realignbench.train.plugin import config_at_noise
    return config_at_noise(cfg, method, noise)


def train(cfg, out: dict[str, Any], method: str, size: int, noise: float, seed: int, ref: str):
    from realignbench.train.api import train_method
    prepared = out["data"]
    path = prepared.noisy[(size, noise)] if noise > 0 else prepared.train[size]
    return train_method(method_config(cfg, method, noise), method, path, out[ref], seed=seed,
                        noise=noise)


def subject(cfg, out: dict[str, Any], dep: str, spec: dict[str, Any]):
    from realignbench.bench.subject import from_model, from_run
    if dep == "base":
        return from_model(cfg.model.preset, cfg)
    return from_run(out[dep], noise=spec["noise"])


def eval_tpa(cfg, out, dep: str, spec: dict[str, Any]):
    from realignbench.bench.tpa import tpa_stage
    return tpa_stage(cfg, subject(cfg, out, dep, spec), prepared=out["data"], judge=judge(cfg))


def eval_capability(cfg, out, dep: str, spec: dict[str, Any]):
    from realignbench.bench.capability import capability_stage
    return capability_stage(cfg, subject(cfg, out, dep, spec))


def eval_asr(cfg, out, dep: str, spec: dict[str, Any]):
    from realignbench.bench.asr import asr_stage
    return asr_stage(cfg, subject(cfg, out, dep, spec), prepared=out["data"], judge=judge(cfg))


def human_eval(cfg, out, tpa_steps: tuple[str, ...], seed: int):
    """The simulated panel over the DPO-Gold / TRACE / U2A generations of one seed's TPA runs."""
    from realignbench.bench.human.stage import simulated_human_eval_stage, tpa_generations
    prepared = out["data"]
    generations = tpa_generations([out[step] for step in tpa_steps])
    return simulated_human_eval_stage(cfg, generations, prepared.policy_new.text,
                                      policy_id=prepared.policy_new.key, train_seed=seed)
