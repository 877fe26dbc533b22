"""Typed configuration: dataclasses, YAML presets, ``key=value`` overrides, a resolved dump.

A preset is a YAML file in ``realignbench/presets/`` (or any path) that may ``inherit:`` another.
Every key is checked against the dataclasses below, so a typo is an error, not a silent default.
Method-specific options live under ``methods.<name>`` and are validated by the method's own
dataclass (registered in :mod:`realignbench.registry`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRESET_DIR = Path(__file__).parent / "presets"


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key (and file when known)."""


@dataclass
class ModelConfig:
    preset: str = "smol"             # a name from realignbench.model_presets
    dtype: str = "auto"              # bf16 | fp32 | fp64 | auto (bf16 only where native: docs/models.md)
    attn_implementation: str = "sdpa"
    max_prompt_tokens: int = 160     # prompt is cut from the start first
    max_length: int = 256            # prompt + response tokens
    generation_backend: str = "hf"   # hf | vllm
    threads: int = 0                 # torch threads; 0 = torch default


@dataclass
class DataConfig:
    benchmark: str = "synthvaluebench"   # synthvaluebench | pku_saferlhf
    shift: str = "default"
    seed: int = 0
    n_train_pool: int = 400          # training pairs available (largest data size)
    n_test: int = 300                # held-out test prompts
    n_val: int = 0                   # validation pairs for `tune` (training families, prompts
                                     # in neither pool nor test); 0 = no validation split
    train_sizes: list[int] = field(default_factory=lambda: [100, 200, 400])
    noise_levels: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2])
    pku_path: str = ""               # local JSONL; empty = the hub through `datasets`
    pku_config: str = "default"
    pku_split: str = "train"
    pku_limit: int = 0               # 0 = all rows
    triage_oracle: str = "label"     # a name from the ORACLES registry


@dataclass
class TrainConfig:
    lr: float = 1e-4
    epochs: float = 1.0
    max_steps: int = 0               # 0 = derived from epochs
    global_batch_size: int = 8       # pairs per optimiser step, across all processes
    micro_batch_size: int = 4        # pairs per forward; accumulation is derived
    warmup_ratio: float = 0.1
    lr_schedule: str = "cosine"      # cosine | linear | constant, after linear warm-up
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    beta: float = 0.1
    nll_weight: float = 0.0          # RPO-style NLL on preferred responses (DESIGN 6a)
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lora_layers: int = 0             # 0 = every decoder layer; N = only the last N (the
                                     # backward pass then stops below them: faster on CPU)
    save_every: int = 0              # checkpoint every N steps; 0 = only at the end
    log_every: int = 1
    gpus: int = 1                    # processes (GPUs) per training step; >1 = DDP under
                                     # torchrun (pipeline/ddp_launch.py); not in the run hash
    trunk_cache: str | bool = "auto"  # auto | off: cache the frozen layers below the adapters
                                     # (train/trunk.py); a speed path, not in any run hash


@dataclass
class EvalConfig:
    # Cap on generated tokens for judged answers (TPA, ASR); they run to end-of-turn below it.
    # 0 = derived: the longest reference answer of the test split (every old response and
    # correction, in the model's tokens, end-of-turn included) × answer_cap_margin. An explicit
    # cap below that longest answer is an error (answer_cap_check=error) or a logged warning
    # with the count of reference answers it would cut (warn).
    max_new_tokens: int = 0
    answer_cap_margin: float = 1.5
    answer_cap_check: str = "error"
    # A generation is a repetition loop when some word n-gram of this length occurs at least
    # loop_min_repeats times (bench/degeneration.py).
    loop_ngram: int = 4
    loop_min_repeats: int = 3
    batch_size: int = 16
    n_bootstrap: int = 1000
    capability_suites: list[str] = field(default_factory=lambda: [
        "local_knowledge_mcq", "local_arith_exact", "local_commonsense_completion",
        "local_hard_mcq"])
    capability_limit: int = 0        # 0 = all items
    tpa_n_prompts: int = 0           # generative TPA on a seeded subsample of test prompts; 0 = all
    tpa_likelihood: bool = True      # report likelihood TPA (eval_likelihood_tpa run) beside it
    asr_n_prompts: int = 40
    judge: str = "embedding"         # ORACLES name that judges generated text (TPA, ASR)
    judge_train_n: int = 2400        # labelled training-family responses for the stance probes
    judge_target: float = 0.95       # held-out agreement the free-text judge must reach
    noise_methods: list[str] = field(default_factory=lambda: ["dpo_gold", "u2a", "trace", "rdpo"])
    # Human evaluation (Table 2): best-of-k blinded study; win rates are "vs human_baseline".
    # The one list of the methods the study compares: the pipeline plans their runs from it.
    human_methods: list[str] = field(default_factory=lambda: ["dpo_gold", "trace", "u2a"])
    human_baseline: str = "u2a"
    human_n_items: int = 0           # prompts per study, a seeded sample; 0 = every test prompt
    human_seed: int = 0              # item sample/order and per-item response shuffle
    human_sim_judges: int = 5        # simulated panel (offline presets): number of judges
    human_sim_accuracy: float = 0.85  # P(a simulated judge agrees with the policy oracle)


@dataclass
class MethodTrain:
    """Training settings one method may hold apart from the global ``train.*`` (what `tune`
    chooses); None keeps the global value."""
    lr: float | None = None
    epochs: float | None = None


@dataclass
class TuneGrid:
    lr: list[float] = field(default_factory=lambda: [1e-4, 5e-4])
    epochs: list[float] = field(default_factory=lambda: [1.0, 3.0])


@dataclass
class TuneConfig:
    """The equal tuning budget (docs/tuning.md): every method gets the same grid."""
    grid: TuneGrid = field(default_factory=TuneGrid)
    methods: list[str] = field(default_factory=list)   # empty = every registered method but
    exclude: list[str] = field(default_factory=lambda: ["dpo", "sft"])   # these helpers


@dataclass
class JudgeConfig:
    base_url: str = ""               # llm: OpenAI-compatible endpoint (env OPENAI_BASE_URL)
    model: str = "gpt-4o"
    api_key_env: str = "OPENAI_API_KEY"   # the *name* of the variable; the key is never stored
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 6
    price_in_per_mtok: float = 2.5   # USD per million input tokens (gpt-4o list price)
    price_out_per_mtok: float = 10.0
    max_tokens: int = 300            # llm: budget of one verdict (JSON with a short rationale)
    correction_max_tokens: int = 512  # llm: budget of one π_new-compliant correction
    response_format: str = "json_schema"  # llm: json_schema | json_object | none
    # llm: an answer still unusable (not parseable, cut at max_tokens) when the retries run out:
    # fail (the item fails, is not cached, the stage exits non-zero, a rerun asks again) |
    # record (kept as an `unparseable` verdict, never compliant, cached: a judge that repeats it)
    on_unusable: str = "fail"
    backoff_base_s: float = 1.0      # llm retry delay: base * 2^attempt, jittered, capped
    backoff_max_s: float = 60.0


@dataclass
class Config:
    preset: str = "smol"
    seeds: list[int] = field(default_factory=lambda: [0])
    runs_dir: str = "runs"
    method: str = "trace"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    tune: TuneConfig = field(default_factory=TuneConfig)
    # Per-method training settings ({method: {lr, epochs}}), applied by train/api.py; filled
    # from ``tuned_from`` (written by `realignbench tune`), explicit entries win.
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuned_from: str = ""             # a YAML written by `tune`, relative to presets/; "" = none

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def method_options(self, name: str | None = None):
        """The typed options of a method (its registered dataclass filled from ``methods.<name>``)."""
        from realignbench.registry import METHODS
        name = name or self.method
        entry = METHODS.get(name)
        return build(entry.options, self.methods.get(name, {}), f"methods.{name}")

    def train_for(self, method: str) -> TrainConfig:
        """The ``train`` settings ``method`` trains with: the global ones, with its ``tuned``
        entry (if any) in place of lr/epochs. The one place per-method settings apply."""
        own = build(MethodTrain, self.tuned.get(method, {}), f"tuned.{method}")
        changes = {k: v for k, v in dataclasses.asdict(own).items() if v is not None}
        return dataclasses.replace(self.train, **changes)


def _check(tp: Any, value: Any, where: str) -> Any:
    """Coerce ``value`` to type ``tp`` or raise a ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a {tp}")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):          # YAML 1.1 reads "3e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def build(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, rejecting unknown keys."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {k: _check(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def preset_path(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    path = PRESET_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown preset {name!r}; known presets: {known}")
    return path


def load_preset_dict(name: str) -> dict[str, Any]:
    path = preset_path(name)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    parent = data.pop("inherit", None)
    return _merge(load_preset_dict(parent), data) if parent else data


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = _merge({}, data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k} is not a section")
        node[keys[-1]] = value
    return data


def load_config(preset: str = "smol", overrides: list[str] | None = None) -> Config:
    """Load a preset, apply ``key=value`` overrides and return a checked :class:`Config`."""
    data = apply_overrides(load_preset_dict(preset), list(overrides or []))
    data.setdefault("preset", preset_path(preset).stem)
    cfg = build(Config, data)
    cfg.tuned = {**read_tuned(cfg.tuned_from), **cfg.tuned}
    validate(cfg)
    return cfg


def tuned_path(name: str) -> Path:
    """A ``tuned_from`` value as a path (relative ones are under presets/)."""
    path = Path(name)
    return path if path.is_absolute() else PRESET_DIR / path


def read_tuned(name: str) -> dict[str, dict[str, Any]]:
    """The ``tuned`` mapping of a file written by `tune`; {} when unset or not yet written
    (the preset then trains every method with the global ``train.*``)."""
    if not name or not tuned_path(name).exists():
        return {}
    path = tuned_path(name)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    tuned = data.get("tuned") if isinstance(data, dict) else None
    if not isinstance(tuned, dict):
        raise ConfigError(f"{path}: expected a top-level 'tuned' mapping {{method: {{lr, epochs}}}}")
    for method, settings in tuned.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"{path}: tuned.{method}: expected a mapping, got {settings!r}")
        build(MethodTrain, settings, f"{path}: tuned.{method}")
    return tuned


def validate(cfg: Config) -> None:
    """Cross-field checks that a dataclass type cannot express."""
    if cfg.judge.on_unusable not in ("fail", "record"):
        raise ConfigError(f"judge.on_unusable: {cfg.judge.on_unusable!r} is not fail|record")
    t = cfg.train
    if t.gpus < 1:
        raise ConfigError(f"train.gpus: {t.gpus} must be at least 1")
    if t.global_batch_size % t.micro_batch_size:
        raise ConfigError("train.global_batch_size must be a multiple of train.micro_batch_size")
    if t.trunk_cache is False:       # YAML 1.1 reads a bare `off` as false
        t.trunk_cache = "off"
    if t.trunk_cache not in ("auto", "off"):
        raise ConfigError(f"train.trunk_cache: {t.trunk_cache!r} is not auto|off")
    if cfg.model.dtype not in ("bf16", "fp32", "fp64", "auto"):
        raise ConfigError(f"model.dtype: {cfg.model.dtype!r} is not bf16|fp32|fp64|auto")
    from realignbench.registry import MODELS
    if cfg.model.preset not in MODELS and not Path(cfg.model.preset).exists():
        raise ConfigError(f"model.preset: {cfg.model.preset!r} is neither a model preset "
                          f"{MODELS.names()} nor an existing path")
    e = cfg.eval
    if e.max_new_tokens < 0 or e.answer_cap_margin < 1.0:
        raise ConfigError("eval.max_new_tokens must be >= 0 (0 = derived from measured answer "
                          "lengths) and eval.answer_cap_margin >= 1.0")
    if e.answer_cap_check not in ("error", "warn"):
        raise ConfigError(f"eval.answer_cap_check: {e.answer_cap_check!r} is not error|warn")
    if e.loop_ngram < 1 or e.loop_min_repeats < 2:
        raise ConfigError("eval.loop_ngram must be >= 1 and eval.loop_min_repeats >= 2")
    if cfg.model.generation_backend not in ("hf", "vllm"):
        raise ConfigError(f"model.generation_backend: {cfg.model.generation_backend!r} "
                          "is not hf|vllm")
    if sorted(cfg.data.train_sizes) != cfg.data.train_sizes or not cfg.data.train_sizes:
        raise ConfigError("data.train_sizes must be a non-empty ascending list")
    if cfg.data.train_sizes[-1] > cfg.data.n_train_pool:
        raise ConfigError("data.train_sizes exceeds data.n_train_pool")
    if any(not 0 <= p < 0.5 for p in cfg.data.noise_levels):
        raise ConfigError("data.noise_levels must lie in [0, 0.5)")
    from realignbench.registry import METHODS
    for name in cfg.methods:
        METHODS.get(name)          # unknown method names are errors
    for name in cfg.eval.human_methods:
        if name not in METHODS:
            raise ConfigError(f"eval.human_methods: {name!r} is not a registered method; "
                              f"known: {METHODS.names()}")
    for name in [*cfg.tuned, *cfg.tune.methods, *cfg.tune.exclude]:
        if name not in METHODS:
            raise ConfigError(f"tuned/tune: unknown method {name!r}; known: {METHODS.names()}")
    for name in cfg.tuned:
        cfg.train_for(name)        # values type-check
    if cfg.data.n_val < 0:
        raise ConfigError("data.n_val must be >= 0")
    g = cfg.tune.grid
    if not g.lr or not g.epochs or min(g.lr) <= 0 or min(g.epochs) <= 0:
        raise ConfigError("tune.grid.lr and tune.grid.epochs must be non-empty and positive")
    if cfg.method in METHODS:
        cfg.method_options()        # options type-check


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
