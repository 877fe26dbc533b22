import numpy as np

from realignbench.stats import bootstrap_ci, metric


def test_bootstrap_ci_brackets_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 2, 50)
    large = rng.integers(0, 2, 5000)
    lo, hi = bootstrap_ci(small)
    assert lo <= small.mean() <= hi
    lo2, hi2 = bootstrap_ci(large)
    assert hi2 - lo2 < (hi - lo) / 3


def test_metric_record_shape():
    m = metric([1, 0, 1, 1])
    assert m["value"] == 0.75 and m["n"] == 4 and m["ci"][0] <= 0.75 <= m["ci"][1]
