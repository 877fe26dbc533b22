"""Tables 1-8 from synthetic run records, in all four formats; numbers trace back to records."""
import csv
import io
import json
import math
import re
from pathlib import Path

import pytest

from synthruns import default_value, populate, write_run, metric
from realignbench.config import load_config
from realignbench.reports.build import build_table
from scipy import stats

from realignbench.reports.records import load_records
from realignbench.reports.render import to_json, to_latex, to_markdown, write_table
from realignbench.reports.spec import SpecError, load_spec

SEEDS = [0, 1, 2]
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # All four local suites (the tiny preset itself runs only the two loglikelihood ones).
    suites = "[local_knowledge_mcq,local_arith_exact,local_commonsense_completion,local_hard_mcq]"
    cfg = load_config("tiny", [f"seeds={SEEDS}", f"eval.capability_suites={suites}"]).to_dict()
    populate(root, cfg)
    return cfg, load_records(root)


def _cell(table, row, col):
    return next(c for c in table["cells"] if c["row"] == row and c["column"] == col)


@pytest.mark.parametrize("number", range(1, 9))
def test_every_table_renders_in_every_format(world, number, tmp_path):
    cfg, recs = world
    table = build_table(load_spec(number, cfg), recs, cfg)
    paths = write_table(table, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"table-{number}.{e}" for e in ("md", "csv", "tex", "json"))
    md = (tmp_path / "tables" / f"table-{number}.md").read_text()
    assert md.startswith(f"### Table {number}.") and "Provenance: preset tiny" in md
    data = json.loads((tmp_path / "tables" / f"table-{number}.json").read_text())
    assert data["table"] == number and len(data["cells"]) == len(data["rows"]) * len(
        data["columns"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tables" / f"table-{number}.csv")
                                           .read_text())))
    assert len(rows) == len(data["cells"])
    tex = (tmp_path / "tables" / f"table-{number}.tex").read_text()
    assert tex.count(r"\\") >= len(data["rows"]) + 1 and r"\begin{tabular}" in tex
    # Every "ok" cell names the runs it came from, and those runs exist.
    for c in data["cells"]:
        if c["status"] == "ok" and not c.get("diff"):
            assert c["runs"] and all(Path(r).is_dir() for r in c["runs"])


@pytest.mark.parametrize("number,row,column", [(1, "mref_loop", "ours"), (2, "trace", "win_vs_u2a"),
                                               (3, "old_alignment", None),
                                               (6, "old_alignment", None), (7, "old_alignment", "tpa")])
def test_per_seed_models_are_read_for_every_seed(world, number, row, column):
    # M_ref is trained once per seed, like every method (the base model alone is seedless), and
    # the human panel compares one seed's models.
    cfg, recs = world
    table = build_table(load_spec(number, cfg), recs, cfg)
    cells = [c for c in table["cells"] if c["row"] == row and column in (None, c["column"])
             and c["status"] == "ok" and not c.get("diff")]
    assert cells and all(c["seeds"] == SEEDS and len(c["runs"]) == 3 for c in cells)


def test_multi_seed_cell_without_samples_is_mean_with_t_interval_across_seeds(world):
    cfg, recs = world
    table = build_table(load_spec(5, cfg), recs, cfg)
    cell = _cell(table, "48", "trace")
    vals = [default_value("eval_tpa", {"method": "trace", "train_size": 48, "seed": s}, "tpa")
            for s in SEEDS]
    assert cell["value"] == pytest.approx(sum(vals) / 3)
    sd = math.sqrt(sum((v - cell["value"]) ** 2 for v in vals) / 2)
    assert cell["ci"][1] - cell["value"] == pytest.approx(4.303 * sd / math.sqrt(3), rel=1e-3)
    assert cell["ci_kind"] == "t-across-seeds" and cell["seeds"] == SEEDS and cell["n"] == 72
    # Δ column without per-prompt samples: per-seed differences, and marked unpaired.
    delta = _cell(table, "48", "delta")
    assert delta["value"] == pytest.approx(cell["value"] - _cell(table, "48", "naive_dpo")["value"])
    assert delta["ci_kind"] == "paired-t-across-seeds" and delta["paired"] is False
    assert "no per-prompt values" in delta["unpaired_reason"]
    md = to_markdown(table)
    assert f"{cell['value'] * 100:.1f}" in md and "+40.0" in md and "UNPAIRED" in md


def test_delta_column_is_paired_over_prompts_and_clustered_over_seeds(tmp_path):
    cfg = load_config("tiny", [f"seeds={SEEDS}"]).to_dict()
    populate(tmp_path, cfg, tables=[5], samples=True)
    table = build_table(load_spec(5, cfg), load_records(tmp_path), cfg)
    trace, naive = _cell(table, "48", "trace"), _cell(table, "48", "naive_dpo")
    assert trace["ci_kind"] == "cluster-bootstrap" and trace["n"] == 72
    # TRACE 0.70 + 48/1e4 → 17 of 24 prompts; Naive 0.30 + … → 7 of 24; nested, so 10
    # discordant prompts, all TRACE-only, in every seed.
    assert trace["value"] == pytest.approx(17 / 24) and naive["value"] == pytest.approx(7 / 24)
    delta = _cell(table, "48", "delta")
    assert delta["paired"] is True and delta["ci_kind"] == "paired"
    assert delta["value"] == pytest.approx(10 / 24)
    assert delta["n"] == 72 and delta["n_clusters"] == 24 and delta["seeds"] == SEEDS
    assert 0 < delta["ci"][0] < 10 / 24 < delta["ci"][1] <= 1
    md = to_markdown(table)
    assert "+41.7 [" in md and "paired" in md and "UNPAIRED" not in md
    row = next(r for r in csv.DictReader(io.StringIO(to_csv_text(table)))
               if r["column"] == "delta" and r["row"] == "48")
    assert row["paired"] == "True" and "prompt clusters" in row["test"]


def to_csv_text(table):
    from realignbench.reports.render import to_csv
    return to_csv(table)


def test_single_seed_cell_keeps_the_runs_own_ci(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, tables=[5])
    table = build_table(load_spec(5, cfg), load_records(tmp_path), cfg)
    cell = _cell(table, "24", "trace")
    assert cell["ci_kind"] == "run"
    assert cell["ci"] == pytest.approx([cell["value"] - 0.05, cell["value"] + 0.05])
    assert "[65.2, 75.2] n=24" in to_markdown(table)


def test_t_quantile_comes_from_scipy_not_a_typed_table():
    from realignbench.stats import t_interval
    mean, (lo, hi) = t_interval([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7)
    assert hi - mean == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3))
    assert hi - mean == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-4)   # printed tables


def test_paper_values_sit_beside_ours_and_setting_differences_are_stated(world):
    cfg, recs = world
    md = to_markdown(build_table(load_spec(5, cfg), recs, cfg))
    # tiny has sizes 24/48: smallest ↔ the paper's 5k, largest ↔ 20k.
    assert re.search(r"\| 24 pairs \| [^|]+ \| 35\.9 \| [^|]+ \| 55\.9 \|", md)
    assert re.search(r"\| 48 pairs \| [^|]+ \| 52\.2 \| [^|]+ \| 70\.7 \|", md)
    assert "Setting differs" in md and "Llama-3.1-8B" in md and "synthvaluebench" in md


def test_capability_columns_are_local_suites_with_chance_levels(world):
    cfg, recs = world
    table = build_table(load_spec(3, cfg), recs, cfg)
    labels = [c["label"] for c in table["columns"]]
    assert all("local suite" in l for l in labels)
    assert not any(re.search(r"MMLU|GSM8K|HellaSwag|GPQA", l) for l in labels)
    md = to_markdown(table)
    assert "Knowledge MCQ (local suite) (chance 25%)" in md and "(chance 0%)" in md
    assert "NOT MMLU" in md                     # the caption says what they are not
    # The paper's "Base Model" numbers sit on the M_ref row, with the footnote saying why.
    assert re.search(r"M_ref \(π_old-aligned, untouched\) † \| [^|]+ \| 70\.6 ± 0\.8", md)


def test_record_chance_overrides_the_suites_file(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, tables=[3],
             skip=lambda stage, s: s.get("method") == "base")
    write_run(tmp_path, "eval_capability", {"method": "base", "preset": "tiny",
                                            "shift": "default"},
              {s: {**metric(0.5), "chance": 0.5} for s in cfg["eval"]["capability_suites"]})
    table = build_table(load_spec(3, cfg), load_records(tmp_path), cfg)
    assert _cell(table, "base", "local_knowledge_mcq")["chance"] == 0.5
    assert _cell(table, "trace", "local_knowledge_mcq")["chance"] == 0.25


def test_human_table_caption_says_simulated(world, tmp_path):
    cfg, recs = world
    table = build_table(load_spec(2, cfg), recs, cfg)
    for text in (to_markdown(table), to_latex(table)):
        assert "SIMULATED" in text
    assert _cell(table, "u2a", "win_vs_u2a")["status"] == "n/a"
    # A human panel says so instead.
    populate(tmp_path, cfg, tables=[2], simulated=False)
    human = build_table(load_spec(2, cfg), load_records(tmp_path), cfg)
    assert "SIMULATED" not in to_markdown(human) and "human annotators" in to_markdown(human)


def test_undefined_values_render_as_undefined_everywhere(tmp_path):
    cfg = load_config("tiny", ["seeds=[0]"]).to_dict()
    populate(tmp_path, cfg, tables=[2], value_fn=lambda st, s, m: 0.5)
    run = next((tmp_path / "human_eval").iterdir())
    res = json.loads((run / "results.json").read_text())
    res["metrics"]["alpha/trace"] = {"value": None, "ci": [None, None], "n": 0}
    (run / "results.json").write_text(json.dumps(res))
    table = build_table(load_spec(2, cfg), load_records(tmp_path), cfg)
    assert "| undef. |" in to_markdown(table)
    assert json.loads(to_json(table))["cells"][7]["value"] is None     # strict JSON: null
    assert "undef." in to_latex(table)


def test_latex_escapes_specials(world):
    cfg, recs = world
    tex = to_latex(build_table(load_spec(4, cfg), recs, cfg))
    assert r"nll\_weight" in tex and r"(\%)" in tex and "≻" not in tex
    assert re.search(r"(?<!\\)%", tex.split(r"\begin{tabular}")[1]) is None


def test_spec_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "table-9.yaml"
    bad.write_text("table: 9\ntitle: x\nrows: [{id: a, colour: red}]\ncolumns: []\n")
    with pytest.raises(SpecError, match=r"table-9.yaml: rows\[0\]: unknown key\(s\) \['colour'\]"):
        load_spec(bad, load_config("tiny", []).to_dict())
    bad.write_text("table: 9\ntitle: x\ndefaults: {metric: '$data.nope'}\nrows: []\ncolumns: []\n")
    with pytest.raises(SpecError, match=r"defaults.metric: cannot resolve '\$data.nope'"):
        load_spec(bad, load_config("tiny", []).to_dict())


@pytest.mark.skipif(not (SHARED / "seeds" / "paper-tables.txt").exists(),
                    reason="the paper texts in ../shared are not available")
def test_paper_values_are_quoted_from_the_sources():
    """Every paper number in the specs appears in the cited paper texts (no typos, no inventions)."""
    sources = "".join((SHARED / p).read_text() for p in (
        "seeds/paper-tables.txt", "seeds/paper-summary.txt", "reference/paper-protocol.md"))
    cfg = load_config("smol", []).to_dict()
    for n in range(1, 9):
        for row in load_spec(n, cfg).paper.get("values", {}).values():
            for value in row.values():
                number = re.match(r"[+−-]?[\d.]+( ± [\d.]+)?", str(value)).group(0)
                assert number.lstrip("+") in sources, (n, value)
