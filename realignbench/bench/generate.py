"""Resumable greedy generation into a run: each finished chunk is appended to the run's
``samples.partial.jsonl``, so a killed evaluation restarts from its last saved item."""
from __future__ import annotations

import logging
from typing import Any, Callable

from realignbench.runs import Run

log = logging.getLogger(__name__)


def generate_into(run: Run, cfg, load: Callable[[], tuple[Any, Any]],
                  items: list[dict[str, Any]], max_new_tokens: int,
                  chunk: int = 0) -> list[dict[str, Any]]:
    """Generate a response for every ``item`` (dicts with ``id`` and ``input``, the text sent
    to the model) not yet saved in ``run``, each until end-of-turn or ``max_new_tokens``; return
    all rows in ``items`` order, each the item plus ``response``, ``n_tokens``, ``finished``
    (False: the cap was reached without end-of-turn). The model is loaded only if work is left."""
    from realignbench.models.backend import get_backend
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("generate_into: item ids must be unique")
    saved = {r["id"]: r for r in run.saved_samples() if r.get("id") in set(ids)}
    todo = [it for it in items if it["id"] not in saved]
    if saved:
        log.info("%s: resuming, %d of %d generations already saved", run.dir, len(saved),
                 len(items))
    if todo:
        model, tok = load()
        backend = get_backend(cfg.model, model, tok, batch_size=cfg.eval.batch_size)
        step = chunk or cfg.eval.batch_size * 4
        for start in range(0, len(todo), step):
            part = todo[start:start + step]
            gens = backend.generate([(it["id"], it["input"]) for it in part],
                                    max_new_tokens=max_new_tokens, do_sample=False)
            rows = [{**it, "response": g.text, "n_tokens": g.n_tokens, "finished": g.finished}
                    for it, g in zip(part, gens)]
            run.append_samples(rows)
            saved.update({r["id"]: r for r in rows})
    return [saved[i] for i in ids]
