"""Claim verdicts: the rule itself, and all three outcomes end to end from run records."""
import json

import pytest

from synthruns import default_value, populate
from realignbench.config import load_config
from realignbench.reports.claims import (INCONCLUSIVE, NOT_EVALUATED, NOT_REPRODUCED,
                                         REPRODUCED, combine, evaluate_claims, verdict,
                                         write_claims)
from realignbench.reports.records import CellError, load_records

CLAIM_TABLES = (2, 4, 5, 8)


@pytest.mark.parametrize("lo, hi, relation, expected", [
    (0.01, 0.2, ">", REPRODUCED),
    (-0.2, -0.01, ">", NOT_REPRODUCED),
    (-0.1, 0.1, ">", INCONCLUSIVE),
    (0.0, 0.1, ">", INCONCLUSIVE),           # touching 0 does not exclude it
    (0.0, 0.1, ">=", REPRODUCED),             # ...but is enough for "at least"
    (-0.01, 0.1, ">=", INCONCLUSIVE),
    (-0.2, -0.01, ">=", NOT_REPRODUCED),
    (float("nan"), float("nan"), ">", INCONCLUSIVE),
])
def test_verdict_rule(lo, hi, relation, expected):
    assert verdict(lo, hi, relation) == expected


def test_verdict_margin_and_combination():
    assert verdict(-0.01, 0.1, ">=", margin=0.02) == REPRODUCED
    assert verdict(-0.05, -0.03, ">=", margin=0.02) == NOT_REPRODUCED
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([INCONCLUSIVE, NOT_REPRODUCED]) == NOT_REPRODUCED
    assert combine([REPRODUCED, NOT_EVALUATED]) == NOT_EVALUATED
    with pytest.raises(ValueError):
        verdict(0, 1, "<")


def _claims(tmp_path, seeds, value_fn=default_value, strict=True, **kw):
    cfg = load_config("tiny", [f"seeds={seeds}"]).to_dict()
    populate(tmp_path, cfg, tables=CLAIM_TABLES, value_fn=value_fn, **kw)
    result = evaluate_claims(load_records(tmp_path), cfg, strict=strict)
    return {c["id"]: c for c in result["claims"]}, result


def test_all_three_outcomes_from_records(tmp_path):
    def values(stage, subject, metric):
        v = default_value(stage, subject, metric)
        seed = subject.get("seed") or 0
        if stage == "eval_tpa" and subject.get("method") == "trace_no_triage":
            return 0.90 + 0.001 * seed                 # w/o triage clearly BETTER: refuted
        if stage == "eval_tpa" and subject.get("method") == "trace_no_impact":
            return 0.70 + (0.05 if seed % 2 else -0.05)   # straddles full TRACE: inconclusive
        return v
    claims, result = _claims(tmp_path, [0, 1, 2], values)
    assert claims["triage_raises_tpa"]["verdict"] == NOT_REPRODUCED
    assert claims["impact_raises_tpa"]["verdict"] == INCONCLUSIVE
    assert claims["trace_beats_naive_every_size"]["verdict"] == REPRODUCED
    assert len(claims["trace_beats_naive_every_size"]["parts"]) == 2      # one per data size
    part = claims["triage_raises_tpa"]["parts"][0]
    assert part["ci_kind"] == "paired-t" and part["seeds"] == [0, 1, 2]
    assert part["diff"] == pytest.approx(0.7068 - 0.901, abs=1e-9)   # seed jitter: +0.002 mean
    assert part["diff_ci"][1] < 0
    md = write_claims(result, tmp_path / "out")[0].read_text()
    assert "Verdict rule" in md and "**not reproduced**" in md and "**inconclusive**" in md
    assert "-19.4 [" in md                       # the numbers behind the verdict, in points
    assert json.loads((tmp_path / "out" / "claims.json").read_text())["claims"][0]["verdict"]


def test_single_seed_uses_quadrature_of_run_cis(tmp_path):
    claims, _ = _claims(tmp_path, [0])
    part = claims["trace_small_vs_naive_large"]["parts"][0]
    assert part["ci_kind"] == "quadrature"
    assert part["diff_ci"][1] - part["diff"] == pytest.approx((0.05 ** 2 * 2) ** 0.5)
    assert claims["trace_small_vs_naive_large"]["verdict"] == REPRODUCED
    # Win-rate claim: DPO-Gold ≥ TRACE by 7 points ± 7.07 (two 0.05 half-widths): inconclusive;
    # TRACE vs the fixed 50% point: reproduced.
    parts = claims["win_rate_order"]["parts"]
    assert [p["verdict"] for p in parts] == [INCONCLUSIVE, REPRODUCED]
    assert claims["win_rate_order"]["verdict"] == INCONCLUSIVE


def test_missing_cells_fail_or_are_marked_not_evaluated(tmp_path):
    skip = lambda stage, s: stage == "eval_tpa" and s.get("noise") == 0.2   # noqa: E731
    with pytest.raises(CellError, match=r"claim 'trace_noisy_vs_u2a_clean'.*table 8, row '0.2'"):
        _claims(tmp_path / "a", [0], skip=skip)
    claims, _ = _claims(tmp_path / "b", [0], skip=skip, strict=False)
    assert claims["trace_noisy_vs_u2a_clean"]["verdict"] == NOT_EVALUATED
    assert claims["triage_raises_tpa"]["verdict"] == REPRODUCED
