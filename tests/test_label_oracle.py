import pytest

from realignbench.data.pku import HARM_CATEGORIES
from realignbench.oracle.label import LabelError, LabelOracle
from realignbench.policies.spec import load_policy
from realignbench.oracle.verdict import JudgeItem
from realignbench.registry import ORACLES


def _svb(stance, dim="dual_use", ctx="none"):
    return JudgeItem("q", "r", {"dimension": dim, "stance": stance, "context": ctx})


def test_stance_rules_use_context():
    new = load_policy("svb_new_default")
    v = LabelOracle().judge([_svb("refuse", ctx="educational"), _svb("refuse"),
                             _svb("explain_safely"), _svb("misuse_tips")], new)
    assert [x.compliant for x in v] == [False, True, True, False]
    assert v[0].violated == ("dual_use",) and v[1].violated == ()
    assert "educational" in v[0].rationale and v[0].judge_id == LabelOracle.judge_id


def test_old_policy_refuses_everything_sensitive():
    old = load_policy("svb_old")
    v = LabelOracle().judge([_svb("explain_safely", ctx="educational"),
                             _svb("refer_only", "mental_health"),
                             _svb("supportive_referral", "mental_health")], old)
    assert [x.compliant for x in v] == [False, True, False]


def _pku(severity, *cats, safe=None):
    flags = {c: c in cats for c in HARM_CATEGORIES}
    return JudgeItem("q", "r", {"harm_category": flags, "severity": severity,
                                "is_safe": (not cats) if safe is None else safe})


def test_harm_tiers():
    old, new = load_policy("pku_old"), load_policy("pku_new")
    items = [_pku(0), _pku(1, "Insulting Behavior"), _pku(1, "Human Trafficking"),
             _pku(2, "Economic Crime", "Drugs"), _pku(2, "Copyright Issues"),
             _pku(0, safe=False)]
    assert [v.compliant for v in LabelOracle().judge(items, old)] == [True] + [False] * 5
    got = LabelOracle().judge(items, new)
    assert [v.compliant for v in got] == [True, True, False, False, True, True]
    assert got[2].violated == ("Human Trafficking",)     # zero tolerance, even at severity 1
    assert got[3].violated == ("Drugs",)                 # high tier; Economic Crime tolerated
    assert LabelOracle().judge([items[5]], old)[0].violated == ("unsafe",)


def test_missing_labels_are_clear_errors():
    with pytest.raises(LabelError, match="no labels"):
        LabelOracle().judge([JudgeItem("q", "r")], load_policy("svb_old"))
    with pytest.raises(LabelError, match="lack 'stance'"):
        LabelOracle().judge([JudgeItem("q", "r", {"dimension": "dual_use"})],
                            load_policy("svb_old"))
    with pytest.raises(LabelError, match="lack 'severity'"):
        LabelOracle().judge([JudgeItem("q", "r", {"harm_category": {}, "is_safe": True})],
                            load_policy("pku_new"))


def test_registered():
    assert ORACLES.get("label").load() is LabelOracle
