"""Benchmarks (not tests) of realignbench's fast paths against the straightforward ones.

``make perf`` (or ``python -m perf.run``) measures, side by side in one process, the batched
forward-mode impact scores, the trainer, batched generation and the pipeline's stage times,
writes ``perf/results/*.json`` and regenerates ``docs/performance.md``.
"""
