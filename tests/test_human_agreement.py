"""Krippendorff's alpha (nominal) against a reliability matrix worked out by hand.

Three annotators, four items, picked methods A, B, C ("-" = item not annotated):

            item1  item2  item3  item4
    ann1      A      A      B      C
    ann2      A      A      B      A
    ann3      A      B      -      -

Coincidence matrix o[c][k]: each ordered pair of values inside one item adds 1/(m_u - 1),
m_u = number of values in the item.
    item1 (A,A,A; m=3): 6 ordered AA pairs x 1/2        -> o_AA += 3
    item2 (A,A,B; m=3): 2 AA, 2 AB, 2 BA pairs x 1/2    -> o_AA += 1, o_AB += 1, o_BA += 1
    item3 (B,B;   m=2): 2 BB pairs x 1                  -> o_BB += 2
    item4 (C,A;   m=2): 1 CA, 1 AC x 1                  -> o_CA += 1, o_AC += 1
So o_AA=4, o_AB=o_BA=1, o_AC=o_CA=1, o_BB=2; n_A=6, n_B=3, n_C=1, n=10.
Nominal: alpha = 1 - (n - 1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k
               = 1 - 9 * 4 / (2 * (6*3 + 6*1 + 3*1)) = 1 - 36/54 = 1/3.

Pair A vs B (keep only A/B picks; item4 keeps one value and drops out):
    o_AA = 3 + 1 = 4, o_AB = o_BA = 1, o_BB = 2; n_A = 5, n_B = 3, n = 8
    alpha = 1 - 7 * 2 / (2 * 5 * 3) = 1 - 14/30 = 8/15.
Method A as "picked A" vs "picked something else" (0/1):
    item1 0,0,0 -> o_00 += 3; item2 0,0,1 -> o_00 += 1, o_01 += 1, o_10 += 1;
    item3 1,1 -> o_11 += 2; item4 1,0 -> o_10 += 1, o_01 += 1
    n_0 = 6, n_1 = 4, n = 10; alpha = 1 - 9 * 4 / (2 * 6 * 4) = 1 - 36/48 = 1/4.
"""
import pytest

from realignbench.bench.human.agreement import alpha_metrics
from realignbench.bench.human.annotations import Choice
from realignbench.bench.human.winrates import win_metrics

TABLE = {"item1": "AAA", "item2": "AAB", "item3": "BB", "item4": "CA"}


def _choices():
    return [Choice(item, f"ann{j + 1}", method)
            for item, picks in TABLE.items() for j, method in enumerate(picks)]


def test_alpha_matches_the_hand_computed_example():
    m = alpha_metrics(_choices(), ["A", "B", "C"], n_boot=200)
    assert m["alpha"]["value"] == pytest.approx(1 / 3)
    assert m["alpha"]["n"] == 4 and m["alpha"]["n_annotations"] == 10
    assert m["alpha/A_vs_B"]["value"] == pytest.approx(8 / 15)
    assert m["alpha/A_vs_B"]["n"] == 3                      # item4 has one A/B pick only
    assert m["alpha/A"]["value"] == pytest.approx(1 / 4)
    lo, hi = m["alpha"]["ci"]
    assert lo <= hi


def test_alpha_is_none_when_undefined():
    # Unanimous picks: no disagreement is possible by chance (D_e = 0).
    same = [Choice(f"i{i}", f"a{j}", "A") for i in range(3) for j in range(3)]
    assert alpha_metrics(same, ["A", "B"], n_boot=10)["alpha"]["value"] is None
    # One annotator: no item has two pairable values.
    one = [Choice(f"i{i}", "a", "AB"[i % 2]) for i in range(4)]
    rec = alpha_metrics(one, ["A", "B"], n_boot=10)["alpha"]
    assert rec["value"] is None and rec["n"] == 0 and rec["ci"] == [None, None]


def test_perfect_agreement_is_one_and_opposite_pairs_are_negative():
    agree = [Choice(f"i{i}", f"a{j}", "AB"[i % 2]) for i in range(6) for j in range(3)]
    assert alpha_metrics(agree, ["A", "B"], n_boot=0)["alpha"]["value"] == pytest.approx(1.0)
    split = [Choice(f"i{i}", f"a{j}", "AB"[j]) for i in range(6) for j in range(2)]
    assert alpha_metrics(split, ["A", "B"], n_boot=0)["alpha"]["value"] < 0


def test_win_rates_from_the_same_table():
    # Picks: A 6 (3+2+1), B 3 (1+2), C 1. win(a vs b) = a / (a + b).
    w = win_metrics(_choices(), ["A", "B", "C"], n_boot=500)
    assert w["win/A_vs_B"]["value"] == pytest.approx(6 / 9) and w["win/A_vs_B"]["n"] == 9
    assert w["win/B_vs_A"]["value"] == pytest.approx(3 / 9)
    assert w["win/A_vs_C"]["value"] == pytest.approx(6 / 7)
    assert w["win/B_vs_C"]["value"] == pytest.approx(3 / 4)
    assert w["win/A_vs_B"]["n_items"] == 4
    assert w["chosen/A"]["value"] == pytest.approx(0.6) and w["chosen/C"]["n"] == 10
    lo, hi = w["win/A_vs_C"]["ci"]
    assert 0 <= lo <= 6 / 7 <= hi <= 1


def test_win_rate_ci_resamples_items_not_annotations():
    # 20 items, 5 annotators in full agreement within an item: the information is 20 items,
    # so the CI must be as wide as with one annotation per item, not sqrt(5) narrower.
    many = [Choice(f"i{i}", f"a{j}", "AB"[i % 2]) for i in range(20) for j in range(5)]
    once = [c for c in many if c.annotator_id == "a0"]
    w_many = win_metrics(many, ["A", "B"], n_boot=2000)["win/A_vs_B"]
    w_once = win_metrics(once, ["A", "B"], n_boot=2000)["win/A_vs_B"]
    width = lambda r: r["ci"][1] - r["ci"][0]
    assert w_many["value"] == w_once["value"] == 0.5
    assert width(w_many) == pytest.approx(width(w_once), abs=0.03)
