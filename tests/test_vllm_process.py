"""The vLLM backend's engine runs in a process of its own: the plumbing, with a fake engine."""
import json
import sys
from pathlib import Path

import pytest

from realignbench.models.chat import encode_prompt, stop_token_ids
from realignbench.models.loading import load_model
from realignbench.models.vllm_backend import VLLMBackend
from realignbench.models.vllm_engine import EngineError

FAKE = (sys.executable, str(Path(__file__).parent / "fakes" / "vllm_engine.py"))
PROMPTS = [("a", "What is the capital of France?"), ("b", "Name a colour."), ("c", "Hi")]


@pytest.fixture
def fake_engine(monkeypatch, tmp_path):
    log = tmp_path / "engine.jsonl"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.setattr(VLLMBackend, "engine_command", FAKE)
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def test_generations_come_back_from_the_engine_process_in_order(fake_engine, capfd):
    _, tok = load_model("tiny")
    backend = VLLMBackend("some/model", tok, 64, dtype="bf16", adapter="/runs/x/adapter",
                          gpu_memory_utilization=0.5)
    out = backend.generate(PROMPTS, max_new_tokens=8)
    stop = stop_token_ids(tok)[0]
    for (pid, text), gen in zip(PROMPTS, out):
        last3 = encode_prompt(tok, text, 64)[-3:]
        assert gen.prompt_id == pid and gen.finished and gen.n_tokens == 4
        assert gen.text == tok.decode(last3 + [stop], skip_special_tokens=True)
    cut = backend.generate(PROMPTS[:1], max_new_tokens=2)[0]     # cap reached before the stop
    assert not cut.finished and cut.n_tokens == 2

    start, gen1, gen2 = fake_engine()
    assert start["engine"] == {"model": "some/model", "tokenizer": "some/model", "revision": None,
                               "dtype": "bfloat16", "gpu_memory_utilization": 0.5,
                               "max_model_len": None, "seed": 0, "enable_lora": True,
                               "max_lora_rank": 64}
    assert gen1["lora"] == "/runs/x/adapter" and gen1["n"] == 3
    assert gen1["sampling"]["temperature"] == 0.0 and gen1["sampling"]["max_tokens"] == 8
    assert gen2["n"] == 1
    # One engine process served every call; closing it ends the process.
    proc = backend.engine.proc
    backend.close()
    assert proc.poll() == 0
    assert "INFO fake engine: loaded weights" in capfd.readouterr().err


def test_an_engine_failure_raises_with_its_traceback_and_the_engine_stays_up(fake_engine):
    _, tok = load_model("tiny")
    backend = VLLMBackend("m", tok, 64)
    with pytest.raises(EngineError, match="CUDA out of memory"):
        backend.generate(PROMPTS, max_new_tokens=13)
    assert len(backend.generate(PROMPTS, max_new_tokens=4)) == 3
    proc = backend.engine.proc
    del backend                                      # garbage: the engine process stops
    assert proc.wait(timeout=30) == 0


def test_a_dead_engine_process_is_a_clear_error(monkeypatch, tmp_path):
    _, tok = load_model("tiny")
    monkeypatch.setattr(VLLMBackend, "engine_command", (sys.executable, "-c", "exit(3)"))
    with pytest.raises(EngineError, match="exited with code 3 during 'start'"):
        VLLMBackend("m", tok, 64)


def test_from_loaded_serves_the_saved_directory_and_leaves_the_gpu_to_the_engine(
        fake_engine, tmp_path):
    model, tok = load_model("tiny")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tok = load_model(tmp_path)

    class Cfg:
        preset, max_prompt_tokens, dtype, max_length = "tiny", 64, "fp32", 128
    backend = VLLMBackend.from_loaded(Cfg, model, tok)
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    (start,) = fake_engine()
    assert start["engine"]["model"] == str(tmp_path) and start["engine"]["max_model_len"] == 512
    assert "enable_lora" not in start["engine"]
    backend.close()


@pytest.mark.gpu
def test_vllm_engine_process_frees_its_memory_when_closed(tmp_path):
    pytest.importorskip("vllm")
    import torch
    model, tok = load_model("tiny", dtype="bf16")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    free_before, _ = torch.cuda.mem_get_info()
    backend = VLLMBackend(str(tmp_path), tok, 64, dtype="bf16", gpu_memory_utilization=0.3)
    assert len(backend.generate(PROMPTS, 8)) == 3
    assert torch.cuda.mem_get_info()[0] < free_before          # the engine holds its share
    backend.close()
    assert torch.cuda.mem_get_info()[0] >= free_before - 2**30  # and gave it back
