"""The statistics module against closed forms and hand-computed planted examples."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from realignbench.stats import (cluster_estimate, items_frame, mcnemar_exact, metric,
                                minimal_detectable_difference, paired_difference,
                                proportion_ci, ratio_metric, t_interval, unit_statistic_ci)

Z = stats.norm.ppf(0.975)


def planted(a_only: int, b_only: int, both: int, neither: int, seed=0):
    """Two methods on the same prompts: counts of each (a, b) outcome pattern."""
    a = [1] * a_only + [0] * b_only + [1] * both + [0] * neither
    b = [0] * a_only + [1] * b_only + [1] * both + [0] * neither
    ids = [f"p{i}" for i in range(len(a))]
    return items_frame(ids, a, seed=seed), items_frame(ids, b, seed=seed)


def test_a_proportion_gets_the_wilson_interval_in_closed_form():
    m = metric([1, 0, 1, 1])
    p, n = 0.75, 4
    centre = (p + Z ** 2 / (2 * n)) / (1 + Z ** 2 / n)
    half = Z / (1 + Z ** 2 / n) * math.sqrt(p * (1 - p) / n + Z ** 2 / (4 * n * n))
    assert m["value"] == 0.75 and m["n"] == 4 and m["ci_method"] == "wilson"
    assert m["ci"] == pytest.approx([centre - half, centre + half])
    # All-zero proportions still have an interval of non-zero width (no 0-width at a floor).
    assert metric([0] * 10)["ci"][1] > 0.2
    assert proportion_ci(10, 10, "exact")[0] == pytest.approx(0.025 ** (1 / 10))


def test_a_non_binary_mean_gets_a_bootstrap_that_brackets_it_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=50), rng.normal(size=5000)
    m, m2 = metric(small), metric(large)
    assert m["ci_method"] == "bootstrap" and m["ci"][0] <= small.mean() <= m["ci"][1]
    assert m2["ci"][1] - m2["ci"][0] < (m["ci"][1] - m["ci"][0]) / 3
    assert metric(small, seed=3) == metric(small, seed=3)        # seeded: reproducible


def test_exact_mcnemar_on_hand_computed_discordant_counts():
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert mcnemar_exact(0, 0) == 1.0
    a, b = planted(8, 2, 5, 5)
    d = paired_difference(a, b)
    assert d.discordant == (8, 2) and d.p_value == pytest.approx(112 / 1024)
    assert d.value == pytest.approx(6 / 20) and d.test.startswith("exact McNemar")


def test_paired_bootstrap_matches_the_paired_wald_interval_on_a_planted_example():
    # 400 prompts, 60 only a, 20 only b: d = 0.1, discordance ψ = 0.2,
    # SE = sqrt((ψ − d²)/n) = sqrt(0.19/400) — the textbook paired (McNemar) interval.
    a, b = planted(60, 20, 200, 120)
    d = paired_difference(a, b, n_boot=4000)
    se = math.sqrt(0.19 / 400)
    assert d.value == pytest.approx(0.1)
    assert d.ci == pytest.approx((0.1 - Z * se, 0.1 + Z * se), abs=0.006)
    # Treating the two methods as independent (0.65 vs 0.55) would be ~1.5x wider here:
    # the prompts both answer alike carry no information about the difference.
    unpaired = 2 * Z * math.sqrt((0.65 * 0.35 + 0.55 * 0.45) / 400)
    assert d.ci[1] - d.ci[0] < 0.7 * unpaired


def test_minimal_detectable_difference_solves_connors_equation():
    a, b = planted(60, 20, 200, 120)
    d = paired_difference(a, b)
    psi, n = 0.2, 400
    zb = stats.norm.ppf(0.8)
    assert d.mdd == pytest.approx(minimal_detectable_difference(psi, n))
    assert d.mdd * math.sqrt(n) == pytest.approx(Z * math.sqrt(psi)
                                                 + zb * math.sqrt(psi - d.mdd ** 2))
    assert d.mdd == pytest.approx((Z + zb) * math.sqrt(psi / n), abs=0.001)   # small-δ form
    assert minimal_detectable_difference(0.2, 1600) == pytest.approx(d.mdd / 2, rel=0.02)


def test_a_tie_at_the_floor_has_a_zero_width_interval_and_no_mdd():
    a, b = planted(0, 0, 0, 30)
    d = paired_difference(a, b)
    assert d.value == 0 and d.ci == (0.0, 0.0) and d.discordant == (0, 0)
    assert d.p_value == 1.0 and math.isnan(d.mdd)


def test_seeds_are_clustered_two_identical_seeds_double_n_not_the_information():
    a, b = planted(12, 4, 20, 14)
    one = paired_difference(a, b)
    a2 = pd.concat([a, a.assign(seed=1)])
    b2 = pd.concat([b, b.assign(seed=1)])
    two = paired_difference(a2, b2)
    assert two.n == 2 * one.n and two.n_clusters == one.n_clusters == 50
    assert two.ci == pytest.approx(one.ci) and two.mdd == pytest.approx(one.mdd)
    assert two.seeds == [0, 1] and two.p_value is None and "2 seed(s)" in two.test
    # Resampling rows as if independent would have shrunk the interval by about √2.
    est = cluster_estimate(a2)
    assert est["n"] == 100 and est["n_clusters"] == 50
    assert est["ci"] == pytest.approx(cluster_estimate(a)["ci"])


def test_pairs_are_matched_by_prompt_id_not_by_row_order():
    a, b = planted(12, 4, 20, 14)
    shuffled = b.sample(frac=1.0, random_state=1)
    assert paired_difference(a, shuffled).ci == paired_difference(a, b).ci
    partial = paired_difference(a, b.iloc[:-5])                 # b missed five prompts
    assert partial.n == len(a) - 5
    with pytest.raises(ValueError, match="share no"):
        paired_difference(a, b.assign(id=b["id"] + "x"))


def test_against_a_fixed_point_uses_the_exact_binomial_test():
    a = items_frame(range(20), [1] * 15 + [0] * 5)
    d = paired_difference(a, 0.5)
    assert d.value == pytest.approx(0.25)
    assert d.p_value == pytest.approx(stats.binomtest(15, 20, 0.5).pvalue)
    assert d.ci[0] < 0.25 < d.ci[1]


def test_ratio_of_sums_and_unit_statistic_cis():
    r = ratio_metric([1, 2, 0, 3, 0], [2, 2, 1, 3, 0])
    assert r["value"] == pytest.approx(6 / 8) and r["n"] == 8 and r["n_items"] == 4
    assert r["ci"][0] <= 0.75 <= r["ci"][1]
    x = np.random.default_rng(0).normal(size=200)
    lo, hi = unit_statistic_ci(len(x), lambda idx: float(x[idx].mean()), n_boot=2000)
    assert lo == pytest.approx(x.mean() - Z * x.std() / math.sqrt(200), abs=0.03)
    assert hi == pytest.approx(x.mean() + Z * x.std() / math.sqrt(200), abs=0.03)


def test_t_interval_uses_scipy_quantiles():
    mean, (lo, hi) = t_interval([0.6, 0.7, 0.8])
    assert hi - mean == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3))
    assert t_interval([0.5, 0.5]) == (0.5, (0.5, 0.5))


def test_duplicate_prompt_ids_are_refused_with_the_offending_id():
    a, b = planted(3, 1, 2, 2)
    with pytest.raises(ValueError, match=r"side b has several rows .*'p0'"):
        paired_difference(a, pd.concat([b, b.iloc[:1]]))
