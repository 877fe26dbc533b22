"""The reproduction plan is derived from the table specs and the method registry (issue 15).

Against the hand-written plan it replaced (``fixtures/plan-before-issue-15.json``, commit
d08145b): the same steps with the same kinds, dependencies and costs, so the same run keys;
table tags changed only where the hand-written tags contradicted the table specs; training
runs reordered within their group by the declared rule (headline method first, then the order
in which the tables first show them).
"""
import json
from pathlib import Path

import pytest

from realignbench.config import ConfigError, load_config
from realignbench.pipeline.plan import M_REF, build_plan, train_cost

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "plan-before-issue-15.json").read_text())
CASES = {"tiny": ("tiny", []), "smol": ("smol", []), "tiny_seeds01": ("tiny", ["seeds=[0,1]"])}
ABLATIONS = ("trace_no_triage", "trace_no_kl", "trace_no_impact", "trace_oracle_punish")


def _plan(case):
    """The plan, less the steps of methods added since the snapshot (adding a method is a
    table row, and must not need this test changed)."""
    preset, overrides = CASES[case]
    cfg = load_config(preset, overrides)
    known = {name.split("/")[1] for name, *_ in BEFORE[case] if name.count("/") == 4}
    new = lambda s: s.name.count("/") == 4 and s.name.split("/")[1] not in known  # noqa: E731
    return cfg, [s for s in build_plan(cfg) if not new(s)]


def _corrected_tables(name: str, kind: str, tables: set[int], largest: int) -> set[int]:
    """The old tag, corrected where it contradicted the table specs."""
    parts = name.split("/")
    if kind == "eval_tpa" and parts[1] == "old_alignment":
        return {1, 3, 6, 7}                   # Table 1 shows M_ref's degeneration (issue 16)
    if kind.startswith("eval_") and parts[1] == "old_alignment":
        return {3, 6, 7}                      # Tables 3 and 6 have M_ref rows too
    if kind == "train" and parts[1] == "old_alignment":
        return tables | {1}
    main_result = parts[2:4] == [f"n{largest}", "p0"]
    if len(parts) == 5 and parts[1] in ("naive_dpo", "rdpo") and main_result:
        return tables | {3, 6}                # Tables 3 and 6 have Naive DPO and rDPO rows
    if len(parts) == 5 and parts[1] in ABLATIONS:
        return tables - {7}                   # Table 7 has no ablation rows
    return tables


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_has_the_same_steps_kinds_deps_and_costs_as_before(case):
    cfg, plan = _plan(case)
    now = {s.name: [s.kind, list(s.deps), s.cost] for s in plan}
    before = {name: [kind, deps, cost] for name, kind, deps, _, cost in BEFORE[case]}
    before["base"][2] = 0.0     # issue 18: the base step only names the model (no ETA)
    for name, row in before.items():
        if row[0] == "train":   # issue 17: pairs x the run's (tuned) epochs, not pairs
            method, pairs = name.split("/")[1], row[2]
            if method == M_REF:
                assert pairs == 3 * cfg.data.train_sizes[-1]
                pairs = cfg.data.train_sizes[-1]
            row[2] = train_cost(cfg, method, pairs)
    assert now == before


def test_train_cost_follows_the_tuned_epochs():
    cfg = load_config("smol", [])
    assert train_cost(cfg, "trace", 96) == 96 * cfg.train_for("trace").epochs
    assert train_cost(cfg, "naive_dpo", 96) == 96 * cfg.train_for("naive_dpo").epochs
    opts = cfg.method_options(M_REF)
    assert train_cost(cfg, M_REF, 96) == 96 * (opts.sft_epochs + opts.dpo_epochs)
    longer = load_config("smol", ["tuned.trace.epochs=2.0"])
    assert train_cost(longer, "trace", 96) == 192


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_tables_are_the_old_tags_corrected_to_the_table_specs(case):
    cfg, plan = _plan(case)
    largest = cfg.data.train_sizes[-1]
    tables = {s.name: set(s.tables) for s in plan}
    for name, kind, _, old, _ in BEFORE[case]:
        assert tables[name] == _corrected_tables(name, kind, set(old), largest), name


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_order_moves_only_training_runs_within_their_group(case):
    _, plan = _plan(case)
    names = [s.name for s in plan]
    for i, step in enumerate(plan):                  # every dependency runs before its step
        assert all(names.index(d) < i for d in step.deps), step.name
    before = [s[0] for s in BEFORE[case]]
    runs = lambda ns: [n for n in ns if n.count("/") == 4]           # noqa: E731
    others = lambda ns: [n for n in ns if n.count("/") != 4]         # noqa: E731
    assert others(names) == others(before)
    groups = lambda ns: [n.split("/")[2:] for n in runs(ns)]         # noqa: E731
    assert groups(names) == groups(before)            # same (size, noise, seed) sequence


def test_tiny_training_order_is_headline_first_then_as_the_tables_show_them():
    _, plan = _plan("tiny")
    trains = [s.name.removeprefix("train/").removesuffix("/s0") for s in plan if s.kind == "train"]
    assert trains == [
        "old_alignment",
        "trace/n48/p0", "dpo_gold/n48/p0", "u2a/n48/p0",          # Table 2 (human study)
        "naive_dpo/n48/p0", "rdpo/n48/p0",                         # Table 3
        *(f"{m}/n48/p0" for m in ABLATIONS),                       # Table 4
        "trace/n24/p0", "naive_dpo/n24/p0",                        # Table 5
        "trace/n48/p0.2", "dpo_gold/n48/p0.2", "u2a/n48/p0.2", "rdpo/n48/p0.2"]   # Table 8


def test_the_human_study_compares_eval_human_methods():
    cfg = load_config("tiny", ["eval.human_methods=[naive_dpo,trace]",
                               "eval.human_baseline=naive_dpo"])
    human = {s.name: s for s in build_plan(cfg)}["human_eval/s0"]
    assert human.deps == ("data", "eval_tpa/naive_dpo/n48/p0/s0", "eval_tpa/trace/n48/p0/s0")
    with pytest.raises(ConfigError, match="eval.human_methods: 'banana'"):
        load_config("tiny", ["eval.human_methods=[banana]"])


def test_a_table_row_naming_an_unknown_method_is_an_error_naming_table_and_row(tmp_path):
    (tmp_path / "table-9.yaml").write_text(
        "table: 9\ntitle: t\n"
        "defaults: {stage: eval_tpa, metric: tpa, subject: {method: banana}}\n"
        "rows: [{id: banana_row}]\ncolumns: [{id: tpa}]\n")
    with pytest.raises(ValueError, match="table 9 row banana_row column tpa: method 'banana'"):
        build_plan(load_config("tiny"), tables_dir=tmp_path)


@pytest.mark.parametrize("stage,metric,shown", [("eval_tpa", "tpa", "old_alignment"),
                                                ("human_eval", "win/trace_vs_u2a", "dpo_gold")])
def test_a_per_seed_model_read_with_seeds_one_is_an_error_naming_table_and_row(
        tmp_path, stage, metric, shown):
    # M_ref and the human panel exist once per seed: a `seeds: one` cell finds one run per seed
    # and refuses to render (three matches) as soon as seeds=[0,1,2].
    (tmp_path / "table-9.yaml").write_text(
        "table: 9\ntitle: t\n"
        f"defaults: {{stage: eval_tpa, metric: tpa, seeds: one}}\n"
        "rows: [{id: base, subject: {method: base}},\n"
        f"       {{id: mref, stage: {stage}, metric: '{metric}', subject: {{method: old_alignment}}}}]\n"
        "columns: [{id: tpa}]\n")
    with pytest.raises(ValueError, match=f"table 9 row mref column tpa: {shown}.* (is|are) trained "
                                         "once per seed"):
        build_plan(load_config("tiny"), tables_dir=tmp_path)
