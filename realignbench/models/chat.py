"""The one tokenisation of (prompt, response) pairs with the model's chat template.

Training, reference log-probs, impact scores and generation all go through this module, so a
response is scored on exactly the tokens the model would have produced after the generation
prompt it sees at evaluation time.

The template is rendered once with sentinel contents and split into a *frame*:

    head  [prompt]  gen  |  [response]  eot  rest
    '<|im_start|>system ... <|im_start|>user\\n'  P  '<|im_end|>\\n<|im_start|>assistant\\n'  R  '<|im_end|>'  '\\n'

``head + prompt + gen`` is the generation prompt (default system prompt included, as the
template injects it); ``eot`` is the template's end-of-turn token; ``rest`` is what the template
writes after it (kept in ``input_ids``, never a target). Labels are -100 everywhere except the
response tokens and ``eot``. Prompt and response are tokenised on their own with special-token
strings split, so text that contains ``<|im_end|>`` cannot end a turn early, and the frame
carries the only BOS (no doubled BOS).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

IGNORE = -100
_S1, _S2 = "RBSENTINELPROMPTXQ", "RBSENTINELRESPONSEXQ"


class TemplateError(ValueError):
    """The tokenizer's chat template cannot be split into prompt / response / end-of-turn."""


@dataclass(frozen=True)
class ChatFrame:
    head: tuple[int, ...]
    gen: tuple[int, ...]
    eot: int
    rest: tuple[int, ...]
    strip_prompt: bool       # the template trims message contents (Llama-3, Gemma)
    strip_response: bool
    template_hash: str


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    n_prompt: int = 0            # tokens before the response (frame + prompt)
    prompt_cut: int = 0          # prompt-content tokens dropped from its start
    response_cut: int = 0        # response tokens dropped from its end

    @property
    def n_target(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def chat_template_hash(tokenizer) -> str:
    """SHA-256 (first 16 hex) of the chat template; goes into every run's env.json."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    if not template:
        raise TemplateError(f"{type(tokenizer).__name__} has no chat template")
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def _ids(tokenizer, text: str, split_special: bool = False) -> list[int]:
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False,
                          split_special_tokens=split_special)["input_ids"])


def _split_once(text: str, sentinel: str) -> tuple[str, str]:
    if text.count(sentinel) != 1:
        raise TemplateError("chat template does not render message content verbatim exactly once")
    before, after = text.split(sentinel)
    return before, after


def _trims(tokenizer, role_messages) -> bool:
    """Whether the template strips whitespace around a message's content."""
    return f" {_S2} " not in _render(tokenizer, role_messages(f" {_S2} "), False)


def chat_frame(tokenizer) -> ChatFrame:
    """The template split into head / gen / eot / rest token ids (cached on the tokenizer)."""
    key = chat_template_hash(tokenizer)
    cached = getattr(tokenizer, "_realignbench_frame", None)
    if cached is not None and cached.template_hash == key:
        return cached
    user = {"role": "user", "content": _S1}
    head, gen = _split_once(_render(tokenizer, [user], True), _S1)
    full = _render(tokenizer, [user, {"role": "assistant", "content": _S2}], False)
    head2, tail = _split_once(full, _S1)
    mid, after = _split_once(tail, _S2)
    if head2 != head or mid != gen:
        raise TemplateError(
            "chat template renders the assistant turn differently from the generation prompt "
            f"(generation prompt ends {gen!r}, assistant turn starts {mid!r}); training and "
            "generation would see different tokens")
    after_ids = _ids(tokenizer, after)
    if not after_ids or not _is_special(tokenizer, after_ids[0]):
        raise TemplateError(f"chat template ends the assistant turn with {after!r}, "
                            "which does not start with a special end-of-turn token")
    frame = ChatFrame(
        head=tuple(_ids(tokenizer, head)), gen=tuple(_ids(tokenizer, gen)), eot=after_ids[0],
        rest=tuple(after_ids[1:]),
        strip_prompt=_trims(tokenizer, lambda c: [{"role": "user", "content": c}]),
        strip_response=_trims(tokenizer, lambda c: [
            {"role": "user", "content": _S1}, {"role": "assistant", "content": c}]),
        template_hash=key)
    try:
        tokenizer._realignbench_frame = frame
    except AttributeError:     # a tokenizer class with __slots__: recompute next time
        pass
    return frame


def _is_special(tokenizer, token_id: int) -> bool:
    if token_id in set(tokenizer.all_special_ids):
        return True
    return tokenizer.convert_ids_to_tokens(token_id) in tokenizer.get_added_vocab()


def end_of_turn_id(tokenizer) -> int:
    return chat_frame(tokenizer).eot


def stop_token_ids(tokenizer) -> list[int]:
    """Ids that end generation: the template's end-of-turn, plus EOS if different."""
    ids = [end_of_turn_id(tokenizer)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _prompt_ids(tokenizer, frame: ChatFrame, prompt: str, max_prompt_tokens: int
                ) -> tuple[list[int], int]:
    budget = max_prompt_tokens - len(frame.head) - len(frame.gen)
    if budget < 1:
        raise ValueError(f"max_prompt_tokens={max_prompt_tokens} leaves no room for the prompt: "
                         f"the chat template alone takes {len(frame.head) + len(frame.gen)} tokens")
    content = _ids(tokenizer, prompt.strip() if frame.strip_prompt else prompt, split_special=True)
    cut = max(0, len(content) - budget)
    return [*frame.head, *content[cut:], *frame.gen], cut


def encode_prompt(tokenizer, prompt: str, max_prompt_tokens: int) -> list[int]:
    """Token ids of the generation prompt (template + prompt + assistant header).

    A prompt over budget loses its *start* (the question is usually at the end)."""
    return _prompt_ids(tokenizer, chat_frame(tokenizer), prompt, max_prompt_tokens)[0]


def encode_pair(tokenizer, prompt: str, response: str, max_prompt_tokens: int,
                max_length: int) -> Encoded:
    """``input_ids`` = generation prompt + response + end-of-turn (+ template rest);
    ``labels`` train only the response tokens and end-of-turn.

    Truncation: the prompt is cut from its start to ``max_prompt_tokens``; then the response
    is cut from its end so the whole fits ``max_length``; end-of-turn is always kept."""
    frame = chat_frame(tokenizer)
    suffix = [frame.eot, *frame.rest]
    room = max_length - max_prompt_tokens - len(suffix)
    if room < 1:
        raise ValueError(f"max_length={max_length} must exceed max_prompt_tokens="
                         f"{max_prompt_tokens} + {len(suffix)} (end-of-turn + template suffix tokens)")
    prompt_ids, prompt_cut = _prompt_ids(tokenizer, frame, prompt, max_prompt_tokens)
    body = response.strip() if frame.strip_response else response
    resp = _ids(tokenizer, body, split_special=True)
    keep = max_length - len(prompt_ids) - len(suffix)
    resp_cut = max(0, len(resp) - keep)
    resp = resp[:len(resp) - resp_cut]
    input_ids = [*prompt_ids, *resp, *suffix]
    labels = [IGNORE] * len(prompt_ids) + resp + [frame.eot] + [IGNORE] * len(frame.rest)
    return Encoded(input_ids, labels, len(prompt_ids), prompt_cut, resp_cut)


class PadCollator:
    """Pads a batch to its longest sequence: ``input_ids`` with ``pad_id``, ``labels`` with
    -100, ``attention_mask`` 0 on padding. ``side="left"`` for generation, "right" for training.

    Features are :class:`Encoded` objects or mappings with ``input_ids`` (and optional
    ``labels``); other keys are passed through as lists."""

    def __init__(self, pad_id: int, side: str = "right", pad_to_multiple_of: int | None = None):
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        if pad_id is None:
            raise ValueError("pad_id is None: set tokenizer.pad_token (load_model does)")
        self.pad_id, self.side, self.multiple = pad_id, side, pad_to_multiple_of

    def _pad(self, seq: list[int], width: int, value: int) -> list[int]:
        fill = [value] * (width - len(seq))
        return fill + list(seq) if self.side == "left" else list(seq) + fill

    def __call__(self, features) -> dict[str, torch.Tensor]:
        rows = [{"input_ids": f.input_ids, "labels": f.labels} if isinstance(f, Encoded)
                else dict(f) for f in features]
        if not rows:
            raise ValueError("PadCollator got an empty batch")
        width = max(len(r["input_ids"]) for r in rows)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        batch = {
            "input_ids": torch.tensor([self._pad(r["input_ids"], width, self.pad_id) for r in rows]),
            "attention_mask": torch.tensor([self._pad([1] * len(r["input_ids"]), width, 0)
                                            for r in rows]),
        }
        if all("labels" in r for r in rows):
            batch["labels"] = torch.tensor([self._pad(r["labels"], width, IGNORE) for r in rows])
        for key in rows[0]:
            if key not in batch and all(key in r for r in rows):
                batch[key] = [r[key] for r in rows]
        return batch
