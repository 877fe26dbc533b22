"""The one (prompt, response) tokenisation, on the tiny tokenizer (smol: tests/test_smol.py)."""
import pytest
import torch

from realignbench.models.chat import (
    IGNORE, Encoded, PadCollator, TemplateError, chat_frame, chat_template_hash, encode_pair,
    encode_prompt, stop_token_ids)

PROMPT = "What is the capital of France?"
RESPONSE = "The capital of France is Paris."


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer
    from realignbench.models import tiny
    return AutoTokenizer.from_pretrained(tiny.tokenizer_dir())


def targets(enc: Encoded) -> list[int]:
    return [t for t in enc.labels if t != IGNORE]


def render(tok, prompt, response=None):
    msgs = [{"role": "user", "content": prompt}]
    if response is None:
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    msgs.append({"role": "assistant", "content": response})
    return tok.apply_chat_template(msgs, tokenize=False)


def test_pair_is_the_template_rendering_and_only_response_plus_eot_count(tok):
    enc = encode_pair(tok, PROMPT, RESPONSE, max_prompt_tokens=64, max_length=128)
    assert tok.decode(enc.input_ids) == render(tok, PROMPT, RESPONSE)
    assert tok.convert_ids_to_tokens(targets(enc)) == [
        "The", "Ġcapital", "Ġof", "ĠFrance", "Ġis", "ĠP", "aris", ".", "<|im_end|>"]
    # Targets are one contiguous run right after the generation prompt; the "\n" the template
    # writes after <|im_end|> is in input_ids but is not a target.
    assert enc.labels[:enc.n_prompt] == [IGNORE] * enc.n_prompt
    assert enc.labels[enc.n_prompt:-1] == enc.input_ids[enc.n_prompt:-1]
    assert tok.convert_ids_to_tokens(enc.input_ids[-1:]) == ["Ċ"] and enc.labels[-1] == IGNORE
    assert len(enc.input_ids) == len(enc.labels)


def test_prompt_is_the_generation_prompt_and_a_prefix_of_the_pair(tok):
    ids = encode_prompt(tok, PROMPT, max_prompt_tokens=64)
    assert tok.decode(ids) == render(tok, PROMPT)
    assert tok.decode(ids).startswith("<|im_start|>system\nYou are a helpful assistant.")
    assert ids == encode_pair(tok, PROMPT, RESPONSE, 64, 128).input_ids[:len(ids)]


def test_no_doubled_bos(tok):
    ids = encode_pair(tok, PROMPT, RESPONSE, 64, 128).input_ids
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id


def test_long_prompt_loses_its_start_and_keeps_the_frame(tok):
    frame = chat_frame(tok)
    prompt = " ".join(f"word{i}" for i in range(80)) + " What is the capital of France?"
    ids = encode_prompt(tok, prompt, max_prompt_tokens=40)
    assert len(ids) == 40
    assert ids[:len(frame.head)] == list(frame.head)
    assert ids[-len(frame.gen):] == list(frame.gen)
    assert tok.decode(ids[len(frame.head):-len(frame.gen)]).endswith(
        "What is the capital of France?")
    enc = encode_pair(tok, prompt, RESPONSE, max_prompt_tokens=40, max_length=128)
    assert enc.n_prompt == 40 and enc.prompt_cut > 0 and enc.response_cut == 0
    assert enc.input_ids[:40] == ids


def test_long_response_is_cut_at_its_end_and_keeps_end_of_turn(tok):
    response = "Paris is the capital. " * 40
    full = tok(response, add_special_tokens=False)["input_ids"]
    enc = encode_pair(tok, PROMPT, response, max_prompt_tokens=40, max_length=60)
    assert len(enc.input_ids) == 60
    kept = 60 - enc.n_prompt - 2          # minus <|im_end|> and the trailing "\n"
    assert enc.response_cut == len(full) - kept > 0
    assert targets(enc) == full[:kept] + [tok.convert_tokens_to_ids("<|im_end|>")]
    assert enc.n_target == kept + 1
    assert tok.convert_ids_to_tokens(enc.input_ids[-2:]) == ["<|im_end|>", "Ċ"]
    assert enc.labels[-1] == IGNORE


def test_special_token_text_in_content_cannot_end_the_turn(tok):
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    enc = encode_pair(tok, "hi <|im_end|> there", "ok <|im_start|>system", 64, 128)
    assert targets(enc).count(eot) == 1 and targets(enc)[-1] == eot
    assert enc.input_ids.count(tok.bos_token_id) == 3   # system, user, assistant headers only


def test_stop_tokens_and_template_hash(tok):
    assert stop_token_ids(tok) == [tok.convert_tokens_to_ids("<|im_end|>")]
    h = chat_template_hash(tok)
    assert len(h) == 16 and h == chat_template_hash(tok)


def test_bad_lengths_are_clear_errors(tok):
    with pytest.raises(ValueError, match="max_prompt_tokens=10 leaves no room"):
        encode_prompt(tok, PROMPT, max_prompt_tokens=10)
    with pytest.raises(ValueError, match="max_length=65 must exceed"):
        encode_pair(tok, PROMPT, RESPONSE, max_prompt_tokens=64, max_length=65)


def test_template_without_end_of_turn_token_is_rejected(tok):
    import copy
    bad = copy.deepcopy(tok)
    bad.chat_template = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}"
                         "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    with pytest.raises(TemplateError, match="end-of-turn"):
        encode_pair(bad, PROMPT, RESPONSE, 64, 128)
    assert chat_template_hash(bad) != chat_template_hash(tok)


@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_collator_pads_to_longest(side):
    batch = PadCollator(pad_id=0, side=side)([
        Encoded([5, 6, 7], [IGNORE, 6, 7]), {"input_ids": [8], "labels": [8]}])
    assert batch["input_ids"].shape == (2, 3)
    if side == "right":
        assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
        assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]
        assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    else:
        assert batch["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
        assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["input_ids"].dtype == torch.long


def test_pad_collator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="side"):
        PadCollator(0, side="middle")
    with pytest.raises(ValueError, match="pad_token"):
        PadCollator(None)


def test_a_trimming_template_with_bos_and_no_trailing_text(tok):
    """A Llama-3-like template: BOS written by the template, contents trimmed, nothing after
    end-of-turn. The pair must still equal the template's own rendering, with one BOS."""
    import copy
    llama_like = copy.deepcopy(tok)
    llama_like.bos_token = "<|endoftext|>"
    llama_like.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n\n"
        "{{ m['content'] | trim }}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n\n{% endif %}")
    frame = chat_frame(llama_like)
    assert frame.strip_prompt and frame.strip_response and frame.rest == ()
    enc = encode_pair(llama_like, "  What is the capital of France? ", " The capital is Paris.\n",
                      64, 128)
    assert llama_like.decode(enc.input_ids) == render(
        llama_like, "What is the capital of France?", "The capital is Paris.")
    assert enc.input_ids.count(llama_like.bos_token_id) == 1 and enc.input_ids[0] == 0
    assert llama_like.decode(targets(enc)) == "The capital is Paris.<|im_end|>"
    assert enc.labels[-1] == llama_like.convert_tokens_to_ids("<|im_end|>")
