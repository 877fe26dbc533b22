"""The oracle-noise sweep (Table 8): train each method on noise-injected triage, then TPA.

For every p in ``cfg.data.noise_levels`` (p = 0 is the clean triage) and every method in
``cfg.eval.noise_methods``, the method is trained on ``prepare_data(cfg).noisy[(size, p)]`` at
the largest training size (with the method's declared ``noise_option`` set to p: rDPO's ε = p,
as in the paper's sweep) from its usual starting model, and its generative TPA is measured on
the clean held-out test split. Each point is an ordinary ``train`` + ``eval_tpa`` run pair
(``subject.noise`` = p), so reruns skip.
"""
from __future__ import annotations

import logging

from realignbench.bench.subject import from_run
from realignbench.bench.tpa import make_judge, tpa_stage
from realignbench.runs import Run
from realignbench.train.plugin import config_at_noise

log = logging.getLogger(__name__)


def noise_sweep(cfg, methods: list[str] | None = None, size: int | None = None,
                prepared=None) -> list[tuple[str, float, Run, Run]]:
    """``[(method, p, train run, eval_tpa run)]`` for every (p, method) point."""
    from realignbench.triage.stage import prepare_data
    from realignbench.train.api import starting_model, train_method
    prepared = prepared or prepare_data(cfg)
    methods = list(methods or cfg.eval.noise_methods)
    size = size or max(prepared.train)
    missing = [p for p in cfg.data.noise_levels if (size, p) not in prepared.noisy and p > 0]
    if missing:
        raise ValueError(f"no noise-injected triage for size {size} at p={missing}; "
                         f"available: {sorted(prepared.noisy)}")
    judge = make_judge(cfg)
    out = []
    for p in cfg.data.noise_levels:
        path = prepared.train[size] if p == 0 else prepared.noisy[(size, p)]
        for method in methods:
            mcfg = config_at_noise(cfg, method, p)     # rDPO: ε = p
            start = starting_model(mcfg, method)
            train = train_method(mcfg, method, path, start, noise=p)
            tpa = tpa_stage(mcfg, from_run(train, noise=p), prepared=prepared, judge=judge)
            log.info("noise sweep p=%g %s: TPA %.3f", p, method,
                     tpa.results()["metrics"]["tpa"]["value"])
            out.append((method, p, train, tpa))
    return out
