"""A method is one plug-in (issue 15): what the pipeline, the tables, the cost accounting and
the noise sweep know about a method is declared by its ``Method`` (or by the table specs).

The last test adds a method the way a contributor would — one file (here: this one), one
registry entry, the table rows that show it (a temporary spec) — and checks that it is
planned, trained, evaluated and rendered on ``tiny`` without touching any other file.
"""
import json
from dataclasses import dataclass

import pytest

from realignbench.config import load_config
from realignbench.registry import METHODS, Entry
from realignbench.train.cost import oracle_calls
from realignbench.train.examples import Preference
from realignbench.train.plugin import Method, config_at_noise
from train_fixtures import make_pairs

# (old responses judged per pair, a correction per PUNISH pair?) of every shipped method: the
# counts train/cost.py kept per method name before the plug-ins declared them.
BEFORE = {"naive_dpo": (1, False), "rdpo": (1, False), "old_alignment": (0, False),
          "dpo": (0, False), "sft": (0, False), "trace": (2, False),
          "trace_no_triage": (2, False), "trace_no_impact": (2, False), "trace_no_kl": (2, False),
          "u2a": (2, False), "dpo_gold": (2, True), "trace_oracle_punish": (2, True)}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_each_method_declares_the_oracle_calls_it_makes(name):
    pairs = make_pairs(12)                          # INVERT, PUNISH, RETAIN in turn: 4 PUNISH
    plugin, opts = METHODS.get(name).load(), load_config("tiny").method_options(name)
    judged, corrects = BEFORE[name]
    assert oracle_calls(plugin, opts, pairs) == judged * 12 + (4 if corrects else 0)


@dataclass
class _Opts:
    flip: float = 0.0


def _build(ctx, pairs, opts):
    return []


def test_a_method_must_declare_its_oracle_work_and_a_real_noise_option():
    with pytest.raises(ValueError, match="judged_per_pair"):
        Method(_Opts, build=_build)
    with pytest.raises(ValueError, match="'epsilon' is not a field of _Opts"):
        Method(_Opts, build=_build, judged_per_pair=0, noise_option="epsilon")


def test_the_declared_noise_option_follows_the_injected_noise_rate():
    cfg = load_config("tiny")
    assert config_at_noise(cfg, "rdpo", 0.2).method_options("rdpo").epsilon == 0.2
    assert config_at_noise(cfg, "rdpo", 0.0) is cfg             # clean triage: the default ε
    assert config_at_noise(cfg, "dpo_gold", 0.2) is cfg         # declares no noise option


def test_registering_a_method_twice_is_an_error_and_unregister_removes_it():
    entry = Entry("toy_twice", "realignbench.baselines.naive_dpo:NAIVE_DPO", "toy")
    METHODS.register(entry)
    try:
        with pytest.raises(ValueError, match="already registered"):
            METHODS.register(entry)
    finally:
        METHODS.unregister("toy_twice")
    assert "toy_twice" not in METHODS


# -- adding a method: this file + one registry entry + a table row ----------------------------

@dataclass
class SwapAllOptions:
    """No options of its own."""


def swap_all_examples(ctx, pairs, opts):
    """A trivial DPO variant: prefer the old rejected response in every pair."""
    return [Preference(p.id, p.prompt, p.rejected, p.chosen) for p in pairs]


SWAP_ALL_DPO = Method(SwapAllOptions, build=swap_all_examples, judged_per_pair=1,
                      corrections=True)

TOY_TABLE = """\
version: 1
table: 9
title: "A toy method"
defaults:
  subject: {preset: $preset, shift: $data.shift, train_size: "$data.train_sizes[-1]", noise: 0.0}
  seeds: each
rows:
  - {id: swap_all, label: "Swap-all DPO", subject: {method: toy_swap_all_dpo}}
columns:
  - {id: tpa, label: "TPA", stage: eval_tpa, metric: tpa, scale: 100, unit: "%"}
  - {id: oracle_calls, label: "Oracle calls", stage: train, metric: cost/oracle_calls, digits: 0}
"""


@pytest.fixture
def toy_method():
    METHODS.register(Entry("toy_swap_all_dpo", f"{__name__}:SWAP_ALL_DPO",
                           "toy: DPO preferring every old rejected response",
                           options_target=f"{__name__}:SwapAllOptions"))
    yield "toy_swap_all_dpo"
    METHODS.unregister("toy_swap_all_dpo")


def test_a_new_method_is_planned_trained_evaluated_and_rendered_from_its_table_row(
        toy_method, tmp_path):
    from realignbench.data.schema import read_pairs
    from realignbench.pipeline.graph import execute
    from realignbench.pipeline.plan import build_plan
    from realignbench.reports.build import build_table
    from realignbench.reports.records import load_records, save_expected
    from realignbench.reports.render import write_table
    from realignbench.reports.spec import load_spec
    from realignbench.runs import Run, read_jsonl
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "table-9.yaml").write_text(TOY_TABLE)
    cfg = load_config("tiny", [f"runs_dir={tmp_path / 'runs'}"])
    steps = build_plan(cfg, tables_dir=tables)
    assert [s.name for s in steps] == [
        "data", "judge_validation", "base", "train/old_alignment/s0",
        f"train/{toy_method}/n48/p0/s0", f"eval_tpa/{toy_method}/n48/p0/s0"]
    assert all(s.tables == {9} for s in steps if s.name != "base")

    outputs = execute(steps, echo=lambda line: None)
    runs = [v for v in outputs.values() if isinstance(v, Run)]
    cfg_dict = cfg.to_dict()
    records = load_records(cfg.runs_dir, save_expected(tmp_path / "expected.json", runs))
    write_table(build_table(load_spec(9, cfg_dict, tables), records, cfg_dict), tmp_path / "out")

    pairs = read_pairs(outputs["data"].train[48])
    trained = outputs[f"train/{toy_method}/n48/p0/s0"]
    examples = read_jsonl(trained.path("examples.jsonl"))        # the toy's own examples
    rejected = {p.id: p.rejected for p in pairs}
    assert len(examples) == 48 and all(e["preferred"] == rejected[e["source"]] for e in examples)
    table = json.loads((tmp_path / "out" / "tables" / "table-9.json").read_text())
    cells = {c["column"]: c for c in table["cells"]}
    punish = sum(p.category == "PUNISH" for p in pairs)
    assert cells["oracle_calls"]["value"] == len(pairs) + punish     # 1 judged + corrections
    assert 0.0 <= cells["tpa"]["value"] <= 1.0
    assert "Swap-all DPO" in (tmp_path / "out" / "tables" / "table-9.md").read_text()
