"""The paper presets are the paper's protocol (issue 18, item 1).

Each row of PAPER is a value the paper states, with the section of
shared/reference/paper-protocol.md ("PP") it comes from; the resolved presets must carry it.
"""
from __future__ import annotations

import pytest
import yaml

from realignbench.config import PRESET_DIR, load_config
from realignbench.model_presets import PRESETS

MODELS = ("llama-3.1-8b", "qwen2.5-7b", "gemma-2-9b")       # PP §4 Models
TRACE_ROWS = ("trace", "trace_no_triage", "trace_no_impact", "trace_no_kl", "trace_oracle_punish")

# (config key, the paper's value, where the paper says so)
PAPER = [
    ("train.epochs", 1.0, "PP §4 TRACE hyper-parameters: epochs 1"),
    ("train.lr", 1e-4, "PP §4: learning rate 1e-4"),
    ("train.lr_schedule", "cosine", "PP §4: cosine schedule"),
    ("train.weight_decay", 0.0, "PP §4: no weight decay"),
    ("train.global_batch_size", 12, "PP §4: 1 per device x grad-accum 4 x 3 GPUs"),
    ("train.beta", 0.3, "PP §4: beta 0.3"),
    ("train.nll_weight", 0.0, "PP §5 losses: no NLL term"),
    ("train.lora", True, "PP §4: LoRA on by default"),
    ("train.lora_r", 32, "PP §4: LoRA r = 32"),
    ("train.lora_alpha", 16, "PP §4: LoRA alpha = 16"),
    ("train.lora_dropout", 0.1, "PP §4: LoRA dropout 0.1"),
    ("train.lora_targets", ["q_proj", "v_proj"], "PP §4: targets q_proj, v_proj"),
    ("train.lora_layers", 0, "PP §4: every layer (no layer subset in the code)"),
    ("model.max_length", 256, "PP §4: max length 256 tokens, prompt + response"),
    ("model.dtype", "bf16", "PP §4: weights loaded in bf16"),
    ("data.benchmark", "pku_saferlhf", "PP §2: PKU-SafeRLHF"),
    ("data.pku_config", "default", "PP §2 Data pipeline 1: config default"),
    ("data.pku_split", "train", "PP §2 Data pipeline 1: split train"),
    ("data.train_sizes", [5000, 10000, 20000], "PP §2 step 4: 5k / 10k / 20k"),
    ("data.n_test", 2000, "PP §2 step 4 / §3.1: pku_test_2k"),
    ("data.noise_levels", [0.0, 0.1, 0.2], "PP §3.5: noise 10 % and 20 %"),
    ("data.triage_oracle", "llm", "PP §2 step 2: GPT-4o triage"),
    ("judge.model", "gpt-4o", "PP §2 step 2 / §3.1: GPT-4o"),
    ("eval.judge", "llm", "PP §3.1 / §3.3: LLM judge for TPA and ASR"),
    ("eval.max_new_tokens", 256, "PP §3.1: max_new_tokens 256"),
    ("eval.tpa_n_prompts", 0, "PP §3.1: TPA on every held-out test prompt"),
    ("eval.capability_limit", 0, "issue 18: full benchmarks, no item limit"),
    ("eval.capability_suites", ["mmlu", "gsm8k", "hellaswag", "gpqa_main_zeroshot"],
     "PP §3.4: MMLU, GSM8K, HellaSwag, GPQA"),
]
# Method options (resolved through each method's own dataclass)
PAPER_METHODS = [
    *[(m, "gold_batch_size", 100, "PP §4: gold batch B = 100 (README run)") for m in TRACE_ROWS],
    *[(m, "alpha_kl", 0.1, "PP §4: alpha_KL 0.1") for m in TRACE_ROWS],
    *[(m, "weight_norm", "sum1", "PP §5 step 6: L1 normalisation") for m in TRACE_ROWS],
    *[(m, "weight_groups", "joint", "PP §5 step 6: over D_conf = D_I u D_II") for m in TRACE_ROWS],
    ("u2a", "gold_batch_size", 100, "PP §4: the same gold batch"),
]


def _get(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


@pytest.fixture(scope="module", params=("paper", *MODELS))
def resolved(request):
    return request.param, load_config(request.param)


@pytest.mark.parametrize("key, value, source", PAPER, ids=[row[0] for row in PAPER])
def test_preset_has_the_papers_value(resolved, key, value, source):
    name, cfg = resolved
    got = _get(cfg, key)
    assert got == (pytest.approx(value) if isinstance(value, float) else value), \
        f"{name}: {key} = {got!r}, the paper has {value!r} ({source})"


@pytest.mark.parametrize("method, option, value, source", PAPER_METHODS,
                         ids=[f"{m}.{o}" for m, o, _, _ in PAPER_METHODS])
def test_method_options_are_the_papers(resolved, method, option, value, source):
    name, cfg = resolved
    got = getattr(cfg.method_options(method), option)
    assert got == value, f"{name}: methods.{method}.{option} = {got!r}, paper {value!r} ({source})"


def test_the_largest_size_fits_the_pool_and_the_batch_fits_three_gpus(resolved):
    """PP §4: the paper trained on 3 GPUs; the global batch must split across them."""
    _, cfg = resolved
    assert cfg.data.train_sizes[-1] <= cfg.data.n_train_pool
    assert cfg.train.global_batch_size % (3 * cfg.train.micro_batch_size) == 0


def test_paper_preset_stands_alone_and_models_set_only_the_model():
    paper = yaml.safe_load((PRESET_DIR / "paper.yaml").read_text())
    assert "inherit" not in paper
    for name in MODELS:
        child = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
        assert child == {"inherit": "paper", "preset": name, "model": {"preset": name}}
        cfg = load_config(name)
        assert cfg.preset == name and cfg.model.preset == name and PRESETS[name].gpu


def test_model_presets_differ_from_paper_only_in_model_and_name():
    base = load_config("paper").to_dict()
    for name in MODELS:
        cfg = load_config(name).to_dict()
        diff = {k for k in base if base[k] != cfg[k]}
        assert diff <= {"preset", "model"}, name          # llama is also paper.yaml's model
        assert {k for k in base["model"] if base["model"][k] != cfg["model"][k]} <= {"preset"}


def test_no_smol_calibration_leaks_into_the_paper_preset():
    """The values the issue found inherited from smol (epochs 3, last 8 layers, all seven
    projections, 40 items per suite, 48 TPA prompts, M_ref 3 + 2 epochs) are gone."""
    smol, paper = load_config("smol"), load_config("paper")
    for key in ("train.epochs", "train.lora_layers", "train.lora_targets", "train.lr",
                "train.nll_weight", "eval.capability_limit"):
        assert _get(paper, key) != _get(smol, key), key
    assert paper.methods["old_alignment"] != smol.methods["old_alignment"]
