"""Claim verdicts: the rule itself, and every outcome end to end from run records."""
import json

import pytest

from synthruns import default_value, populate
from realignbench.config import load_config
from realignbench.reports.claims import (INCONCLUSIVE, NOT_EVALUATED, NOT_REPRODUCED,
                                         REPRODUCED, combine, decide, evaluate_claims,
                                         load_claims, verdict, write_claims)
from realignbench.reports.records import CellError, load_records
from realignbench.reports.spec import SpecError

CLAIM_TABLES = (2, 4, 5, 8)


@pytest.mark.parametrize("lo, hi, relation, margin, expected", [
    (0.01, 0.2, ">", 0.0, REPRODUCED),
    (-0.2, -0.01, ">", 0.0, NOT_REPRODUCED),
    (-0.1, 0.1, ">", 0.0, INCONCLUSIVE),
    (0.0, 0.1, ">", 0.0, INCONCLUSIVE),            # touching 0 does not exclude it
    (-0.01, 0.1, ">=", 0.02, REPRODUCED),          # non-inferior within the margin
    (-0.05, 0.1, ">=", 0.02, INCONCLUSIVE),
    (-0.05, -0.03, ">=", 0.02, NOT_REPRODUCED),
    (0.0, 0.0, ">=", 0.05, INCONCLUSIVE),          # a tie at a floor: zero width, no evidence
    (0.1, 0.1, ">", 0.0, INCONCLUSIVE),            # zero width, whatever its side
    (float("nan"), float("nan"), ">", 0.0, INCONCLUSIVE),
])
def test_verdict_rule(lo, hi, relation, margin, expected):
    assert verdict(lo, hi, relation, margin) == expected


def test_rule_needs_a_margin_for_at_least_and_pairing_for_evidence():
    with pytest.raises(ValueError, match="margin"):
        verdict(0.01, 0.1, ">=")
    with pytest.raises(ValueError):
        verdict(0, 1, "<")
    v, why = decide(0.01, 0.2, ">", paired=False)
    assert v == INCONCLUSIVE and "unpaired" in why
    assert "no answers differ" in decide(0.0, 0.0, ">=", 0.05)[1]
    assert "no spread" in decide(0.1, 0.1, ">")[1]
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([INCONCLUSIVE, NOT_REPRODUCED]) == NOT_REPRODUCED
    assert combine([REPRODUCED, NOT_EVALUATED]) == NOT_EVALUATED


def test_claims_yaml_without_a_margin_fails_naming_file_line_and_field(tmp_path):
    bad = tmp_path / "claims.yaml"
    bad.write_text("version: 1\nclaims:\n  - id: x\n    claim: y\n    parts:\n"
                   "      - {a: {table: 5, row: first, column: trace}, relation: \">=\","
                   " b: {table: 5, row: last, column: naive_dpo}}\n")
    with pytest.raises(SpecError, match=r"claims\.yaml: line 3: claims\[0\]\.parts\[0\]\.margin"):
        load_claims(bad)
    assert all(p.get("margin", 0) > 0 for c in load_claims() for p in c["parts"]
               if p["relation"] == ">=")


def _claims(tmp_path, seeds, value_fn=default_value, strict=True, samples=True, **kw):
    cfg = load_config("tiny", [f"seeds={seeds}"]).to_dict()
    populate(tmp_path, cfg, tables=CLAIM_TABLES, value_fn=value_fn, samples=samples, **kw)
    result = evaluate_claims(load_records(tmp_path), cfg, strict=strict)
    return {c["id"]: c for c in result["claims"]}, result


def test_all_three_outcomes_from_paired_records(tmp_path):
    def values(stage, subject, metric):
        v = default_value(stage, subject, metric)
        seed = subject.get("seed") or 0
        if stage == "eval_tpa" and subject.get("method") == "trace_no_triage":
            return 0.90                                # w/o triage clearly BETTER: refuted
        if stage == "eval_tpa" and subject.get("method") == "trace_no_impact":
            return 0.70 + (0.05 if seed % 2 else -0.05)   # straddles full TRACE: inconclusive
        return v
    claims, result = _claims(tmp_path, [0, 1, 2], values)
    assert claims["triage_raises_tpa"]["verdict"] == NOT_REPRODUCED
    assert claims["impact_raises_tpa"]["verdict"] == INCONCLUSIVE
    assert claims["trace_beats_naive_every_size"]["verdict"] == REPRODUCED
    assert claims["trace_small_vs_naive_large"]["verdict"] == REPRODUCED
    assert len(claims["trace_beats_naive_every_size"]["parts"]) == 2      # one per data size
    part = claims["triage_raises_tpa"]["parts"][0]
    # TRACE 17/24 vs w/o triage 22/24 on nested prompt sets in all three seeds.
    assert part["paired"] is True and part["ci_kind"] == "paired" and part["seeds"] == [0, 1, 2]
    assert part["diff"] == pytest.approx(-5 / 24)
    assert part["n"] == 72 and part["n_clusters"] == 24 and part["diff_ci"][1] < 0
    assert part["mdd"] > 0 and "prompt clusters × 3 seed(s)" in part["test"]
    md = write_claims(result, tmp_path / "out")[0].read_text()
    assert "Verdict rule" in md and "**not reproduced**" in md and "**inconclusive**" in md
    assert "-20.8 [" in md and "n = 24 prompts × 3 seed(s) = 72" in md and "MDD" in md
    saved = json.loads((tmp_path / "out" / "claims.json").read_text())
    # Every TPA and win-rate difference is paired; capability has no per-item reader yet.
    assert all(p["paired"] for c in saved["claims"] for p in c["parts"]
               if c["id"] != "kl_preserves_capability")


def test_every_generated_side_shows_its_degenerate_answers(tmp_path):
    def values(stage, subject, metric):
        if metric == "degeneration/loop":
            return 0.25 if subject.get("method") == "trace" else 0.0
        return default_value(stage, subject, metric)
    claims, result = _claims(tmp_path, [0, 1, 2], values)
    part = claims["trace_beats_naive_every_size"]["parts"][0]
    assert part["a_degeneration"]["loop"] == pytest.approx(0.25)
    assert part["b_degeneration"]["loop"] == 0.0 and set(part["a_degeneration"]) == {
        "unfinished", "loop", "no_stance"}
    capability = claims["kl_preserves_capability"]["parts"][0]
    assert capability["a_degeneration"] is None          # not read from generated answers
    md = write_claims(result, tmp_path / "out")[0].read_text()
    assert "loops 25.0%" in md and "loops 0.0%" in md


def test_one_seed_uses_the_exact_mcnemar_test(tmp_path):
    claims, _ = _claims(tmp_path, [0])
    part = claims["trace_beats_naive_every_size"]["parts"][0]
    assert part["discordant"] == [10, 0]              # 17 vs 7 of 24, nested
    assert part["p_value"] == pytest.approx(2 * 0.5 ** 10)
    assert part["test"].startswith("exact McNemar")
    # Win rates from one panel: paired over its items; vs the fixed 50% an exact binomial test.
    order = claims["win_rate_order"]["parts"]
    assert all(p["paired"] for p in order) and order[0]["margin"] == 0.05
    assert order[1]["test"].startswith("exact binomial test against 0.5")


def test_a_tie_at_the_floor_is_inconclusive_not_reproduced(tmp_path):
    def floor(stage, subject, metric):
        if stage == "eval_tpa" and subject.get("method") in ("trace", "naive_dpo"):
            return 0.0
        return default_value(stage, subject, metric)
    claims, _ = _claims(tmp_path, [0], floor)
    c = claims["trace_small_vs_naive_large"]
    assert c["verdict"] == INCONCLUSIVE
    assert c["parts"][0]["diff_ci"] == [0.0, 0.0] and "zero width" in c["parts"][0]["reason"]


def test_without_samples_a_difference_is_unpaired_and_never_evidence(tmp_path):
    claims, _ = _claims(tmp_path, [0], samples=False)
    part = claims["trace_beats_naive_every_size"]["parts"][0]
    assert part["paired"] is False and part["ci_kind"] == "quadrature"
    assert part["diff_ci"][0] > 0                       # would pass, but unpaired:
    assert claims["trace_beats_naive_every_size"]["verdict"] == INCONCLUSIVE


def test_missing_cells_fail_or_are_marked_not_evaluated(tmp_path):
    skip = lambda stage, s: stage == "eval_tpa" and s.get("noise") == 0.2   # noqa: E731
    with pytest.raises(CellError, match=r"claim 'trace_noisy_vs_u2a_clean'.*table 8, row '0.2'"):
        _claims(tmp_path / "a", [0], skip=skip)
    claims, _ = _claims(tmp_path / "b", [0], skip=skip, strict=False)
    assert claims["trace_noisy_vs_u2a_clean"]["verdict"] == NOT_EVALUATED
    assert claims["triage_raises_tpa"]["verdict"] == REPRODUCED
