"""The method plug-in interface: an options dataclass plus a function from triaged pairs to
typed examples; the shared trainer and objective do the rest.

A method is a :class:`Method` registered in ``realignbench.registry.METHODS``::

    @dataclass
    class NaiveOptions:                       # validated from cfg.methods["naive_dpo"]
        loss: str = "dpo"

    def naive_examples(ctx, pairs, opts):     # ctx: MethodContext, pairs: list[Pair]
        return [Preference(p.id, p.prompt, *naive_orientation(p), loss=opts.loss) for p in pairs]

    NAIVE_DPO = Method(NaiveOptions, naive_examples, judged_per_pair=1)
    # registry: Entry("naive_dpo", "realignbench.baselines.naive:NAIVE_DPO", "…",
    #                 options_target="realignbench.baselines.naive:NaiveOptions")

``build`` may use the model at θ_ref through ``ctx`` (impact scores: ``trace/impact.py``).
Methods with several phases (M_ref: SFT then DPO; U2A: weight rounds) pass ``run`` instead,
calling ``ctx.fit(examples, phase=…)`` as often as they need; each phase checkpoints and
resumes on its own. What ``build``/``run`` returns goes into the run's ``results.json``.

A method also declares what the pipeline, the tables and the cost accounting need to know:
what it asks of the oracle (``judged_per_pair``, ``corrections``) and which of its options
follows the injected oracle-noise rate p (``noise_option``; rDPO's ε = p). Which runs a table
shows is declared by the table specs (``reports/tables/``), not here.

Adding a method is therefore: its file (options, ``build``/``run``, ``Method(...)``), one
``Entry`` in ``registry.METHODS``, and the table rows that show it; the reproduction plan
(``pipeline/plan.py``) trains and evaluates whatever those rows show.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from torch import nn

from realignbench.config import Config
from realignbench.data.schema import Pair
from realignbench.runs import atomic_write_jsonl
from realignbench.train.adapters import merged, prepare_model
from realignbench.train.examples import Example, count_by_kind, to_dict
from realignbench.train.trainer import Trainer

log = logging.getLogger(__name__)


@dataclass
class MethodContext:
    """What a method sees: config, the policy (θ_ref until trained), tokenizer, run dir."""
    cfg: Config
    model: nn.Module
    tokenizer: Any
    out_dir: Path
    seed: int
    accelerator: Any = None
    phases: list[dict] = field(default_factory=list)
    results: dict = field(default_factory=dict)     # a method's own results (weights, counts)
    _trainer: Trainer | None = None

    @property
    def trainer(self) -> Trainer:
        if self._trainer is None:
            self._trainer = Trainer(self.model, self.tokenizer, self.cfg, self.out_dir,
                                    self.seed, self.accelerator)
        self._trainer.model = self.model
        return self._trainer

    @property
    def device(self):
        return self.trainer.acc.device

    def fit(self, examples: Sequence[Example], phase: str = "main", **kwargs) -> dict:
        """Train the current adapters on ``examples`` (see :meth:`Trainer.fit`)."""
        summary = self.trainer.fit(examples, phase=phase, **kwargs)
        self.phases.append(summary)
        return summary

    def restart_adapters(self) -> None:
        """Fold the trained adapters into the weights and attach fresh ones: the current
        model becomes the new reference (M_ref's DPO phase starts from its SFT phase)."""
        base = merged(self.model)
        self.model = prepare_model(base, self.cfg.train, self.seed + len(self.phases))

    def save_examples(self, examples: Sequence[Example], name: str = "examples.jsonl") -> Path:
        """Write the training examples (with weights) into the run directory."""
        path = self.out_dir / name
        atomic_write_jsonl(path, (to_dict(e) for e in examples))
        log.info("%d training examples %s -> %s", len(examples), count_by_kind(examples), path)
        return path


Build = Callable[[MethodContext, list[Pair], Any], list[Example]]
RunFn = Callable[[MethodContext, list[Pair], Any], dict]


@dataclass(frozen=True)
class Method:
    options: type
    build: Build | None = None
    run: RunFn | None = None
    starts_from: str = "m_ref"       # "m_ref": the π_old-aligned model; "base": the preset
    save_merged: bool = False        # also write model/ (merged) — M_ref, loaded as θ_ref
    own_epochs: bool = False         # its phases take their epochs from its options, so
                                     # train.epochs is not part of its run key
    # Oracle work (Table 7 cost): old responses per pair judged under π_new (0: none, 1: only
    # the old chosen, 2: both). Required, so no method is costed by a silent default.
    judged_per_pair: int | None = None
    # Does it need a π_new-compliant correction for every PUNISH pair? A bool, or a predicate
    # on the options when a variant decides (TRACE's oracle_punish).
    corrections: bool | Callable[[Any], bool] = False
    # The option set to the injected noise rate p when p > 0 (rDPO: "epsilon"); "" = none.
    noise_option: str = ""

    def __post_init__(self):
        if (self.build is None) == (self.run is None):
            raise ValueError("a Method needs exactly one of build= or run=")
        if self.starts_from not in ("m_ref", "base"):
            raise ValueError(f"starts_from must be 'm_ref' or 'base', got {self.starts_from!r}")
        if self.judged_per_pair not in (0, 1, 2):
            raise ValueError("a Method declares judged_per_pair: 0, 1 or 2 old responses judged "
                             f"under pi_new per pair, got {self.judged_per_pair!r}")
        if self.noise_option and self.noise_option not in {
                f.name for f in dataclasses.fields(self.options)}:
            raise ValueError(f"noise_option {self.noise_option!r} is not a field of "
                             f"{self.options.__name__}")

    def needs_corrections(self, opts: Any) -> bool:
        return self.corrections(opts) if callable(self.corrections) else bool(self.corrections)

    def train(self, ctx: MethodContext, pairs: list[Pair], opts: Any) -> dict:
        if self.run is not None:
            return {**(self.run(ctx, pairs, opts) or {}), **ctx.results}
        examples = self.build(ctx, pairs, opts)
        ctx.save_examples(examples)
        ctx.fit(examples)
        return {"examples": count_by_kind(examples), **ctx.results}


def config_at_noise(cfg: Config, method: str, noise: float) -> Config:
    """The config a method trains with on triage flipped at rate ``noise``: its declared
    ``noise_option`` set to p when p > 0 (rDPO's ε = p in the noise sweep); else unchanged."""
    from realignbench.registry import METHODS
    option = METHODS.get(method).load().noise_option
    if not option or noise <= 0:
        return cfg
    methods = {**cfg.methods, method: {**cfg.methods.get(method, {}), option: noise}}
    return dataclasses.replace(cfg, methods=methods)
