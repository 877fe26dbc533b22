"""SmolLM2-135M-Instruct (preset ``smol``): tokenisation on its real tokenizer, loading, greedy
answers. Needs `make prefetch` (the test target runs it); without it these fail with that hint."""
import pytest
import torch

from realignbench.models.chat import IGNORE, chat_frame, encode_pair, encode_prompt
from realignbench.models.loading import ModelLoadError, load_model
from realignbench.models.smol_cache import smol_dir

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer
    path = smol_dir()
    if path is None:
        raise ModelLoadError("SmolLM2 is not in the cache: run `make prefetch`")
    return AutoTokenizer.from_pretrained(path)


def _targets(enc):
    return [t for t in enc.labels if t != IGNORE]


def test_smol_pair_counts_exactly_the_response_and_im_end(tok):
    enc = encode_pair(tok, "What is the capital of France?", "The capital of France is Paris.",
                      max_prompt_tokens=96, max_length=192)
    assert tok.convert_ids_to_tokens(_targets(enc)) == [
        "The", "Ġcapital", "Ġof", "ĠFrance", "Ġis", "ĠParis", ".", "<|im_end|>"]
    assert tok.decode(enc.input_ids) == (
        SYSTEM + "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\nThe capital of France is Paris.<|im_end|>\n")
    # 24 frame tokens (default system prompt + user header), 7 prompt, 6 generation header.
    assert enc.n_prompt == 24 + 7 + 6 and len(enc.input_ids) == enc.n_prompt + 7 + 2
    assert enc.input_ids[0] == 1 and enc.input_ids[1] != 1          # one <|im_start|>, no BOS
    assert tok.convert_ids_to_tokens(enc.input_ids[-1:]) == ["Ċ"] and enc.labels[-1] == IGNORE


def test_smol_generation_prompt_keeps_the_default_system_prompt(tok):
    ids = encode_prompt(tok, "Hi", max_prompt_tokens=96)
    assert tok.decode(ids) == SYSTEM + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert ids == encode_pair(tok, "Hi", "Hello!", 96, 192).input_ids[:len(ids)]


def test_smol_truncation_of_prompt_and_response(tok):
    frame = chat_frame(tok)
    prompt = "Background: " + "the weather was mild. " * 60 + "Question: is Paris in France?"
    response = "Yes. " + "Paris is the capital and largest city of France. " * 30
    enc = encode_pair(tok, prompt, response, max_prompt_tokens=64, max_length=100)
    assert len(enc.input_ids) == 100 and enc.n_prompt == 64
    assert enc.input_ids[:len(frame.head)] == list(frame.head)
    assert tok.decode(enc.input_ids[:64]).endswith(
        "Question: is Paris in France?<|im_end|>\n<|im_start|>assistant\n")
    assert enc.prompt_cut > 0 and enc.response_cut > 0
    full = tok(response, add_special_tokens=False)["input_ids"]
    kept = 100 - 64 - 2
    assert _targets(enc) == full[:kept] + [2] and enc.n_target == 35
    assert tok.decode(_targets(enc)).startswith("Yes. Paris is the capital")


@pytest.mark.slow
def test_smol_loads_offline_and_knows_paris():
    from realignbench.models.generation import HFBackend
    model, tok = load_model("smol", dtype="fp32")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tok.pad_token == "<|endoftext|>" and tok.model_max_length == 8192
    assert model.generation_config.eos_token_id == [2]
    (gen,) = HFBackend(model, tok, 96, progress=False).generate(
        [("q", "What is the capital of France?")], max_new_tokens=24)
    assert "Paris" in gen.text and gen.finished
    bf16, _ = load_model("smol", dtype="bf16")
    assert next(bf16.parameters()).dtype == torch.bfloat16


def test_conversion_record_shows_an_exact_copy_of_the_gguf():
    """`make prefetch` compared the reloaded safetensors with the GGUF-loaded model (through
    load_model's GGUF path); the record proves which file it was and that logits were equal."""
    import json
    from realignbench.model_presets import SMOL_GGUF_SHA256, SMOL_WHEEL_SHA256
    record = json.loads((smol_dir() / "realignbench-source.json").read_text())
    assert record["gguf_sha256"] == SMOL_GGUF_SHA256 and record["wheel_sha256"] == SMOL_WHEEL_SHA256
    assert record["reload_max_abs_logit_diff"] == 0.0 and record["dtype"] == "fp32"
