"""Response-token log-probs from one forward over a padded batch of sequences.

The LM head runs only on positions whose next token is a response target (labels != -100),
so a batch of 16 sequences never materialises a [16, T, vocab] logits tensor. Log-softmax is
taken in fp32 whatever the weights' dtype. Wrapping the model in an ``nn.Module`` keeps the
forward inside ``accelerate``'s DDP wrapper (gradients sync) and lets ``torch.func`` call it
functionally (impact scores by JVP). Given a ``TrunkCache`` (``train/trunk.py``), the decoder
starts from the cached input of the first adapted layer when the cache's guard allows.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from realignbench.models.chat import IGNORE


def _causal_lm(model: nn.Module) -> nn.Module:
    """The ``*ForCausalLM`` module inside a (possibly PEFT-wrapped) model."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


class SequenceScorer(nn.Module):
    """``forward(input_ids, attention_mask, labels, full_rows=None)`` returns a dict:

    * ``logp`` [S]: summed log-prob of each sequence's target tokens;
    * ``n_tokens`` [S]: number of target tokens;
    * ``full`` [N, V] and ``full_rows`` [N]: full-vocabulary log-probs at the target
      positions of the rows flagged in ``full_rows`` (for the KL anchor), row-major order.
    """

    def __init__(self, model: nn.Module, trunk=None):
        super().__init__()
        self.model = model
        self.trunk = trunk                        # a TrunkCache of ``model``, or None

    def forward(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor,
                full_rows: Tensor | None = None) -> dict[str, Tensor]:
        lm = _causal_lm(self.model)
        if self.trunk is not None:
            hidden = self.trunk.last_hidden(input_ids, attention_mask)
        else:
            hidden = lm.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                      use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        mask = targets != IGNORE
        return _read(lm, hidden[:, :-1][mask], targets[mask], mask.nonzero()[:, 0],
                     input_ids.shape[0], full_rows)

    @property
    def packable(self) -> bool:
        """Whether ``forward_packed`` applies: packed rows need an attention implementation
        that takes an arbitrary (4-D) mask."""
        impl = getattr(_causal_lm(self.model).config, "_attn_implementation", None)
        return impl in ("sdpa", "eager")

    @property
    def hidden_dtype(self) -> torch.dtype:
        return _causal_lm(self.model).get_input_embeddings().weight.dtype

    def forward_packed(self, pack, n_rows: int, full_rows: Tensor | None = None
                       ) -> dict[str, Tensor]:
        """The same outputs for the ``n_rows`` sequences of a ``train.prefix_pack.Packed``
        batch (rows in the order ``pack`` was given them)."""
        lm = _causal_lm(self.model)
        if self.trunk is not None:
            hidden = self.trunk.last_hidden_packed(pack)
        else:
            hidden = pack.run(lm.get_decoder())
        states = hidden.reshape(-1, hidden.shape[-1])[pack.source]
        return _read(lm, states, pack.target, pack.owner, n_rows, full_rows)


def _read(lm: nn.Module, states: Tensor, targets: Tensor, rows: Tensor, n_rows: int,
          full_rows: Tensor | None) -> dict[str, Tensor]:
    """The outputs from the states that predict each target (``rows``: whose target)."""
    logits = lm.get_output_embeddings()(states)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()                   # log-softmax in fp32 (fp64 stays fp64)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:                                       # Gemma-2 caps its logits
        logits = torch.tanh(logits / cap) * cap
    logprobs = logits.log_softmax(-1)
    tok = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    out = {
        "logp": torch.zeros(n_rows, dtype=tok.dtype, device=tok.device).index_add(0, rows, tok),
        "n_tokens": torch.bincount(rows, minlength=n_rows),
    }
    if full_rows is not None:
        keep = full_rows[rows]
        out["full"] = logprobs[keep]
        out["full_rows"] = rows[keep]
    return out
