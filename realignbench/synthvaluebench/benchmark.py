"""SynthValueBench as a registered benchmark: config keys, input files, builder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from realignbench.data.benchmark import BenchmarkData
from realignbench.policies.spec import load_shift, shift_files
from realignbench.synthvaluebench import generator
from realignbench.synthvaluebench.text import SLOTS_FILE, TEMPLATES_FILE


def stage_config(cfg) -> dict[str, Any]:
    d = cfg.data
    out = {"benchmark": "synthvaluebench", "shift": d.shift, "seed": d.seed,
           "n_train_pool": d.n_train_pool, "n_test": d.n_test}
    if d.n_val:                       # absent at 0, so untuned presets keep their run keys
        out["n_val"] = d.n_val
    return out


def stage_inputs(cfg) -> dict[str, Any]:
    shift = load_shift("synthvaluebench", cfg.data.shift)
    return {"generator": generator.GENERATOR_VERSION, "templates": TEMPLATES_FILE,
            "slots": SLOTS_FILE, "code": Path(generator.__file__),
            "shift_files": shift_files(shift)}


def build(cfg) -> BenchmarkData:
    shift = load_shift("synthvaluebench", cfg.data.shift)
    train, test = generator.generate(shift, cfg.data.seed, cfg.data.n_train_pool, cfg.data.n_test)
    val = (generator.generate_validation(shift, cfg.data.seed, cfg.data.n_val, train)
           if cfg.data.n_val else None)
    stats = {"generator": generator.GENERATOR_VERSION, "shift": shift.name,
             "policy_old": shift.old.key, "policy_new": shift.new.key,
             "train": generator.split_stats(train), "test": generator.split_stats(test)}
    if val is not None:
        stats["val"] = generator.split_stats(val)
    return BenchmarkData(train=train, test=test, stats=stats, val=val)
