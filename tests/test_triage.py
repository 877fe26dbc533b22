import pytest

from realignbench.data.schema import Pair
from realignbench.oracle.verdict import Verdict
from realignbench.triage.rule import (apply_verdicts, category_of, format_mix, triage,
                                       triage_stats)


@pytest.mark.parametrize("c, r, cat", [(False, True, "INVERT"), (False, False, "PUNISH"),
                                       (True, False, "RETAIN"), (True, True, "RETAIN")])
def test_rule(c, r, cat):
    assert category_of(c, r) == cat


class FakeOracle:
    """Compliant iff the response text contains 'ok'."""
    judge_id = "fake"

    def judge(self, items, policy):
        return [Verdict("ok" in it.response, () if "ok" in it.response else ("d",),
                        judge_id=self.judge_id) for it in items]


def _pair(i, chosen, rejected, dim="d1"):
    return Pair(id=f"p{i}", prompt=f"q{i}", chosen=chosen, rejected=rejected, source="t",
                labels={"chosen": {}, "rejected": {}}, meta={"dimension": dim})


def test_triage_keeps_orientation_and_records_subcases():
    pairs = [_pair(0, "bad", "ok"), _pair(1, "bad", "bad"), _pair(2, "ok", "bad", "d2"),
             _pair(3, "ok", "ok", "d2")]
    out = triage(pairs, FakeOracle(), policy_new=None, shift="s")
    assert [p.category for p in out] == ["INVERT", "PUNISH", "RETAIN", "RETAIN"]
    assert [(p.chosen, p.rejected) for p in out] == [(p.chosen, p.rejected) for p in pairs]
    assert [p.meta.get("retain_kind") for p in out] == [None, None, "chosen_only",
                                                        "both_compliant"]
    assert out[0].verdicts["chosen"]["violated"] == ["d"] and out[0].meta["shift"] == "s"
    assert pairs[0].category is None              # inputs untouched
    stats = triage_stats(out)
    assert stats["categories"]["RETAIN"] == {"n": 2, "share": 0.5}
    assert stats["by_dimension"]["d2"]["RETAIN"]["n"] == 2
    assert stats["by_shift"]["s"]["INVERT"]["n"] == 1
    assert stats["retain_kind"] == {"chosen_only": 1, "both_compliant": 1}
    assert "INVERT 25.0% (1)" in format_mix(stats)


def test_reapplying_verdicts_clears_stale_retain_kind():
    p = apply_verdicts(_pair(0, "a", "b"), Verdict(True), Verdict(True))
    assert p.meta["retain_kind"] == "both_compliant"
    q = apply_verdicts(p, Verdict(False), Verdict(True))
    assert q.category == "INVERT" and "retain_kind" not in q.meta


def test_stats_refuse_untriaged():
    with pytest.raises(ValueError, match="triaged"):
        triage_stats([_pair(0, "a", "b")])
