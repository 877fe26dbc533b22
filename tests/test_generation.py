"""Generation backends on the tiny preset (SmolLM2 checks: tests/test_smol.py)."""
import pytest

from realignbench.config import ModelConfig
from realignbench.models.chat import encode_prompt
from realignbench.models.backend import get_backend
from realignbench.models.generation import Generation, HFBackend, split_at_stop
from realignbench.models.loading import load_model

PROMPTS = [(f"p{i}", text) for i, text in enumerate([
    "What is the capital of France?", "Hi", "Write a haiku about the sea.",
    "How many days are there in a week? Please answer briefly and explain why.",
    "Explain what a policy is.", "Twelve plus seven?", "Give me a tip for sleeping better.",
    "I have been feeling anxious lately. What should I do?", "Name a colour.", "Good morning!",
    "Tell me about rivers and mountains in a few words.", "What is a preference pair?",
    "Why is the sky blue?", "List three months.", "Who should I ask about a legal question?",
    "Summarise the quick brown fox sentence."])]


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny", dtype="fp32")


def test_batched_greedy_equals_one_at_a_time(tiny):
    model, tok = tiny
    assert len(PROMPTS) == 16
    batched = HFBackend(model, tok, max_prompt_tokens=64, batch_size=16, progress=False)
    single = HFBackend(model, tok, max_prompt_tokens=64, batch_size=1, progress=False)
    a = batched.generate(PROMPTS, max_new_tokens=16)
    b = single.generate(PROMPTS, max_new_tokens=16)
    assert [g.prompt_id for g in a] == [pid for pid, _ in PROMPTS]
    assert a == b
    assert all(1 <= g.n_tokens <= 16 for g in a)
    # The prompts really differ in length, so the batch really was left-padded.
    assert len({len(encode_prompt(tok, t, 64)) for _, t in PROMPTS}) > 5


def test_greedy_matches_a_manual_argmax_loop(tiny):
    import torch
    model, tok = tiny
    ids = encode_prompt(tok, PROMPTS[0][1], 64)
    manual = []
    with torch.no_grad():
        seq = torch.tensor([ids])
        for _ in range(8):
            nxt = model(seq).logits[0, -1].argmax().item()
            manual.append(nxt)
            if nxt == tok.convert_tokens_to_ids("<|im_end|>"):
                break
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    (gen,) = HFBackend(model, tok, 64, progress=False).generate([PROMPTS[0]], max_new_tokens=8)
    assert gen.n_tokens == len(manual)
    assert gen.text == tok.decode(manual, skip_special_tokens=True)


def test_sampling_is_seeded_and_differs_from_greedy(tiny):
    model, tok = tiny
    backend = HFBackend(model, tok, 64, batch_size=8, progress=False)
    s1 = backend.generate(PROMPTS[:8], 8, do_sample=True, temperature=1.0, seed=3)
    s2 = backend.generate(PROMPTS[:8], 8, do_sample=True, temperature=1.0, seed=3)
    s3 = backend.generate(PROMPTS[:8], 8, do_sample=True, temperature=1.0, seed=4)
    greedy = backend.generate(PROMPTS[:8], 8)
    assert s1 == s2
    assert s1 != s3 and s1 != greedy


def test_stop_and_lengths():
    assert split_at_stop([5, 6, 2, 9], [2]) == ([5, 6, 2], True)
    assert split_at_stop([5, 6], [2, 7]) == ([5, 6], False)


def test_generation_finished_flag_and_max_new_tokens(tiny):
    model, tok = tiny
    gens = HFBackend(model, tok, 64, progress=False).generate(PROMPTS, max_new_tokens=3)
    for g in gens:
        assert isinstance(g, Generation) and g.n_tokens <= 3
        assert g.finished or g.n_tokens == 3


def test_bad_inputs_are_clear_errors(tiny):
    model, tok = tiny
    backend = HFBackend(model, tok, 64, progress=False)
    with pytest.raises(ValueError, match=r"prompts\[1\] must be an \(id, text\) pair"):
        backend.generate([("a", "hi"), "oops"], 4)
    with pytest.raises(ValueError, match="max_new_tokens"):
        backend.generate(PROMPTS[:1], 0)
    with pytest.raises(ValueError, match="generation_backend"):
        get_backend(ModelConfig(generation_backend="tgi"), model, tok)


def test_get_backend_hf(tiny):
    model, tok = tiny
    backend = get_backend(ModelConfig(preset="tiny", max_prompt_tokens=64), model, tok,
                          progress=False)
    assert isinstance(backend, HFBackend) and backend.max_prompt_tokens == 64


@pytest.mark.gpu
def test_vllm_greedy_agrees_with_hf(tmp_path):
    pytest.importorskip("vllm")
    from realignbench.models.vllm_backend import VLLMBackend
    model, tok = load_model("tiny", dtype="fp32")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    hf = HFBackend(model.cuda(), tok, 64, progress=False).generate(PROMPTS, 16)
    vl = VLLMBackend(str(tmp_path), tok, 64, dtype="fp32",
                     gpu_memory_utilization=0.3).generate(PROMPTS, 16)
    assert [g.prompt_id for g in vl] == [g.prompt_id for g in hf]
    same = sum(a.text == b.text and a.n_tokens == b.n_tokens for a, b in zip(hf, vl))
    assert same >= 14, f"only {same}/16 greedy outputs agree between HF and vLLM"
