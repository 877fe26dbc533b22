"""Capability through lm-eval's own model types (GPU presets) vs the in-memory path (CPU)."""
import json

import numpy as np
import pytest

from realignbench.bench.capability import (evaluate_model, evaluate_source, is_instruct,
                                           lm_eval_model)
from realignbench.bench.subject import from_model, from_run
from realignbench.config import load_config
from realignbench.model_presets import get_preset
from realignbench.models.loading import load_model

SUITE = "local_knowledge_mcq"


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    """A saved tiny model and a LoRA adapter on it with non-zero weights (so it matters)."""
    from peft import LoraConfig, get_peft_model
    root = tmp_path_factory.mktemp("lm_eval_model")
    model, tok = load_model("tiny")
    model.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    model, tok = load_model(root / "base")
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    peft.save_pretrained(root / "adapter")
    tok.save_pretrained(root / "adapter")
    return root


def test_local_suites_keep_the_in_memory_path():
    cfg = load_config("tiny")
    assert lm_eval_model(cfg, from_model("tiny", cfg)) is None


def test_hub_suites_use_lm_eval_hf_with_the_adapter_as_peft(adapter_dir):
    cfg = load_config("tiny", ["eval.capability_suites=[mmlu]", "model.dtype=bf16"])
    kind, args = lm_eval_model(cfg, from_model("llama-3.1-8b", cfg))
    preset = get_preset("llama-3.1-8b")
    assert kind == "hf" and args["pretrained"] == preset.hub_id
    assert args["revision"] == preset.revision and args["dtype"] == "bfloat16"
    assert "peft" not in args
    kind, args = lm_eval_model(cfg, from_model(str(adapter_dir / "adapter"), cfg))
    assert (args["pretrained"], args["peft"]) == (str(adapter_dir / "base"),
                                                  str(adapter_dir / "adapter"))
    with pytest.raises(ValueError, match="exists only in memory"):
        lm_eval_model(cfg, from_model("tiny", cfg))


def test_vllm_backend_passes_the_adapter_as_lora(adapter_dir):
    cfg = load_config("tiny", ["eval.capability_suites=[mmlu, local_knowledge_mcq]",
                               "model.generation_backend=vllm"])
    kind, args = lm_eval_model(cfg, from_model(str(adapter_dir / "adapter"), cfg))
    assert kind == "vllm" and args["lora_local_path"] == str(adapter_dir / "adapter")
    assert args["enable_lora"] and "device" not in args


def test_a_training_run_is_its_reference_plus_its_adapter(tmp_path, adapter_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "COMPLETED").write_text("")
    (run / "results.json").write_text(json.dumps({"stage": "train", "subject": {}}))
    (run / "inputs.json").write_text(json.dumps({"key": "abcdef0123"}))
    (run / "base.json").write_text(json.dumps({"spec": str(adapter_dir / "base"),
                                               "dtype": "fp32"}))
    assert from_run(run).source() == {"pretrained": str(adapter_dir / "base"), "revision": None,
                                      "peft": str(run / "adapter")}
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text("{}")
    assert from_run(run).source()["pretrained"] == str(run / "model")


def _logliks(res):
    return np.array([[r[0] for r in s["filtered_resps"]] for s in res["samples"][SUITE]])


def test_lm_eval_hf_with_peft_matches_the_merged_model_in_memory(adapter_dir, tmp_path):
    """The reference: the adapter merged into the in-memory model, the current CPU path."""
    assert is_instruct({"pretrained": str(adapter_dir / "base"), "revision": None,
                        "peft": str(adapter_dir / "adapter")})
    args = {"pretrained": str(adapter_dir / "base"), "peft": str(adapter_dir / "adapter"),
            "dtype": "float32", "device": "cpu"}
    own, _ = evaluate_source("hf", args, [SUITE], 8, 6, 0, False, tmp_path)
    model, tok = load_model(adapter_dir / "adapter", merge_adapter=True)
    ref, _ = evaluate_model(model, tok, [SUITE], 8, 6, 0, device="cpu")
    ref = json.loads(json.dumps(ref, default=str))
    assert np.allclose(_logliks(own), _logliks(ref), atol=1e-4)
    base, _ = load_model(adapter_dir / "base")
    plain, _ = evaluate_model(base, tok, [SUITE], 8, 6, 0, device="cpu")
    plain = json.loads(json.dumps(plain, default=str))
    assert not np.allclose(_logliks(plain), _logliks(ref), atol=1e-4)   # the adapter matters


@pytest.mark.gpu
def test_lm_eval_hf_runs_on_cuda_with_peft(adapter_dir, tmp_path):
    args = {"pretrained": str(adapter_dir / "base"), "peft": str(adapter_dir / "adapter"),
            "dtype": "bfloat16", "device": "cuda:0"}
    res, _ = evaluate_source("hf", args, [SUITE], 8, 8, 0, True, tmp_path)
    assert len(res["samples"][SUITE]) == 8


def test_a_failure_in_lm_evals_process_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"lm-eval \(hf model, .*nowhere\) failed in its process"):
        evaluate_source("hf", {"pretrained": str(tmp_path / "nowhere"), "device": "cpu"},
                        [SUITE], 8, 2, 0, False, tmp_path)
