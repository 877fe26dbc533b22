"""The ``tiny`` preset: a randomly initialised Llama and a ChatML BPE tokenizer, built locally.

The tokenizer is trained with ``tokenizers`` on ``tiny_corpus.txt`` (shipped in the package);
training is deterministic, and the result is cached under ``cache_root()/models/`` by the hash of
everything that determines it, so every process (and every machine) gets the same token ids.
The model is built from a fixed config with a fixed seed: same seed, same weights.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from realignbench.runs import cache_root, content_hash

log = logging.getLogger(__name__)

CORPUS = Path(__file__).with_name("tiny_corpus.txt")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 1024
DEFAULT_SYSTEM = "You are a helpful assistant."
# ChatML, like SmolLM2's template: a default system prompt when the conversation has none.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
MODEL_CONFIG = dict(
    hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=1024, rope_theta=10000.0,
    tie_word_embeddings=True, rms_norm_eps=1e-5,
    # Wider than HF's default 0.02 so random logits have clear margins: greedy decoding is then
    # not decided by float rounding (batched == one-at-a-time holds exactly).
    initializer_range=0.1)


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS.read_text(encoding="utf-8").splitlines(), trainer)
    return tok


def tokenizer_dir() -> Path:
    """The cached tokenizer directory, trained on first use."""
    import tokenizers
    key = content_hash("tiny-tokenizer-v1", CORPUS.read_text(encoding="utf-8"), SPECIAL,
                       VOCAB_SIZE, CHAT_TEMPLATE, tokenizers.__version__)[:16]
    target = cache_root() / "models" / f"tiny-tokenizer-{key}"
    if (target / "tokenizer.json").exists():
        return target
    from transformers import PreTrainedTokenizerFast
    fast = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(), bos_token="<|im_start|>", eos_token="<|im_end|>",
        unk_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=1024)
    fast.chat_template = CHAT_TEMPLATE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-tok-", dir=target.parent))
    tmp.chmod(0o755)     # mkdtemp makes it private; the cache is shared
    fast.save_pretrained(tmp)
    try:
        os.replace(tmp, target)          # atomic; a concurrent builder wrote the same bytes
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("tiny tokenizer cached in %s", target)
    return target


def build_model(vocab_size: int, seed: int = 0, dtype: torch.dtype = torch.float32):
    """A randomly initialised Llama (about 3 M parameters), identical for identical seeds."""
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=-(-vocab_size // 64) * 64, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0, **MODEL_CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.to(dtype)
