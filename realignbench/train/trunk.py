"""The trunk-activation cache: the frozen layers below the adapters run once per sequence.

With LoRA only on the top layers (``train.lora_layers``), the hidden states entering the
first adapted layer k depend only on the token ids and on the weights below k (embeddings,
layers 0..k-1), which no method trains and which M_ref's merged adapters (also top layers)
leave equal to the base model's. :class:`TrunkCache` computes them once per (exact digest of
those weights, token ids, k, dtype, attention implementation, device type), stores each
sequence under ``cache_root()/trunk/`` (atomic writes, digest-checked loads: a corrupt entry
is recomputed and counted), and :meth:`TrunkCache.top_hidden` runs only layers k.. from them.

It is a pure speed path: the result equals the full forward within floating-point tolerance
(tests/test_trunk.py), so ``train.trunk_cache`` stays out of every run key. The guard falls
back to the full forward — and :meth:`TrunkCache.report` says why — unless every LoRA module
and trainable parameter sits at or above layer k, the trunk's weights are still the
fingerprinted tensors (no in-place change since), and the architecture feeds ``inputs_embeds``
to its first layer unchanged with one attention kind for every layer.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from realignbench.runs import atomic_path, cache_root, content_hash

log = logging.getLogger(__name__)
CACHE_VERSION = "trunk-v1"
MODES = ("auto", "off")
# Decoders whose forward hands inputs_embeds to layer 0 untouched (Gemma scales them) and
# indexes no per-layer setting by loop position (a slice of the layers would shift it).
_PASS_THROUGH = ("llama", "mistral", "qwen2", "qwen3")
# Config fields the trunk's numbers depend on besides its weights.
_CONFIG_FIELDS = ("model_type", "hidden_size", "num_attention_heads", "num_key_value_heads",
                  "head_dim", "hidden_act", "rms_norm_eps", "rope_theta", "rope_scaling",
                  "rope_parameters", "attention_bias", "mlp_bias", "attention_dropout")
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def _causal_lm(model: nn.Module) -> nn.Module:
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def decoder_of(model: nn.Module) -> nn.Module:
    return _causal_lm(model).get_decoder()


def first_adapted_layer(model: nn.Module) -> tuple[int | None, str | None]:
    """(k, None) where k is the lowest decoder layer holding a LoRA module or a trainable
    parameter, or (None, why there is no frozen trunk below the adapters)."""
    decoder = decoder_of(model)
    layers = {id(p): i for i, layer in enumerate(decoder.layers) for p in layer.parameters()}
    adapted = [(n, p) for n, p in model.named_parameters() if "lora_" in n or p.requires_grad]
    if not adapted:
        return None, "no adapters and nothing trainable: no adapted layer to start from"
    adapted_ids = {id(p) for _, p in adapted}
    below = [n for n, p in decoder.named_parameters()
             if id(p) in adapted_ids and id(p) not in layers and not n.startswith("norm.")]
    if below:
        return None, f"{below[0]} (below every decoder layer) is trainable"
    indices = [layers[id(p)] if id(p) in layers else _layer_index(n) for n, p in adapted]
    k = min((i for i in indices if i is not None), default=None)
    if not k:
        return None, ("an adapter or trainable parameter sits in layer 0: no frozen trunk"
                      if k == 0 else "no adapter sits in a decoder layer")
    return k, None


def _layer_index(name: str) -> int | None:
    found = _LAYER.search(name)
    return int(found.group(1)) if found else None


def unsupported_reason(model: nn.Module) -> str | None:
    config = _causal_lm(model).config
    kind = getattr(config, "model_type", "?")
    if kind not in _PASS_THROUGH:
        return f"architecture {kind!r} is not one the cache knows to be exact"
    if len(set(getattr(config, "layer_types", None) or ["one"])) > 1:
        return f"{kind} mixes attention kinds across layers (layer_types)"
    if getattr(config, "attention_dropout", 0.0):
        return "attention dropout makes the trunk random"
    return None


def trunk_tensors(model: nn.Module, k: int) -> dict[str, Tensor]:
    """Every parameter and buffer below layer k (embeddings, layers 0..k-1, rotary tables),
    named relative to the decoder, so a PEFT-wrapped and a plain model agree."""
    decoder = decoder_of(model)
    upper = {id(t) for layer in decoder.layers[k:] for t in
             [*layer.parameters(), *layer.buffers()]}
    tensors = dict(decoder.named_parameters())
    tensors.update(decoder.named_buffers())
    return {n.replace(".base_layer", ""): t for n, t in tensors.items()
            if id(t) not in upper and not n.startswith("norm.")}


def trunk_fingerprint(model: nn.Module, k: int) -> str:
    """SHA-256 of every byte of the trunk's tensors and of the config fields it depends on."""
    h = hashlib.sha256()
    config = _causal_lm(model).config
    h.update(repr([(f, getattr(config, f, None)) for f in _CONFIG_FIELDS]).encode())
    with torch.no_grad():
        for name, t in sorted(trunk_tensors(model, k).items()):
            flat = t.detach().contiguous().cpu().reshape(-1)
            h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
            h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return h.hexdigest()


def tensor_digest(t: Tensor) -> str:
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


@contextlib.contextmanager
def _only_layers(decoder: nn.Module, part: slice):
    """Run the decoder's own forward (masks, positions, rotary tables) over a slice of its
    layers: the same code path as the full forward, so nothing of it is re-implemented."""
    layers = decoder.layers
    decoder.layers = nn.ModuleList(list(layers)[part])
    try:
        yield
    finally:
        decoder.layers = layers


def real_spans(attention_mask: Tensor) -> list[tuple[int, int]] | None:
    """Per row, the [start, end) of its tokens; None unless each row's mask is one
    contiguous block (left or right padding, as ``PadCollator`` makes)."""
    spans = []
    for row in attention_mask.bool().cpu():
        idx = row.nonzero().flatten()
        if len(idx) == 0 or int(idx[-1] - idx[0]) + 1 != len(idx):
            return None
        spans.append((int(idx[0]), int(idx[-1]) + 1))
    return spans


class TrunkCache:
    """The cached trunk of one model object; ``report()`` says whether it was used and why
    not, with hit/miss counts since the last report."""

    def __init__(self, model: nn.Module, mode: str = "auto"):
        if mode not in MODES:
            raise ValueError(f"train.trunk_cache: {mode!r} is not one of {MODES}")
        self.model, self.mode = model, mode
        self.layer: int | None = None
        self.reason: str | None = "train.trunk_cache=off" if mode == "off" else None
        self.counts = {"hits": 0, "misses": 0, "recomputed_corrupt": 0, "full_forwards": 0}
        self._ready: tuple[Tensor, Tensor, Tensor] | None = None      # see prefetch()
        if self.reason is None:
            self.layer, self.reason = first_adapted_layer(model)
        if self.reason is None:
            self.reason = unsupported_reason(model)
        if self.reason is None:
            self._fingerprint()
        if self.reason is not None and mode != "off":
            log.info("trunk cache not used: %s", self.reason)

    def _fingerprint(self) -> None:
        tensors = trunk_tensors(self.model, self.layer)
        self._watch = [(t, t._version) for t in tensors.values()]
        sample = next(iter(decoder_of(self.model).layers[self.layer].parameters()))
        self.identity = {"version": CACHE_VERSION, "layer": self.layer,
                         "weights": trunk_fingerprint(self.model, self.layer),
                         "dtype": str(sample.dtype), "device": sample.device.type,
                         "attn": getattr(_causal_lm(self.model).config,
                                         "_attn_implementation", None)}
        self.dir = cache_root() / "trunk" / content_hash(self.identity)[:32]

    # -- the guard ----------------------------------------------------------------------
    def usable(self) -> bool:
        """The guard, re-checked per forward: placement of adapters (they may be added after
        construction) and the trunk weights being the fingerprinted tensors, unchanged."""
        if self.reason is not None:
            return False
        k, why = first_adapted_layer(self.model)
        if why is not None or k < self.layer:
            self.reason = why or (f"an adapter or trainable parameter sits in layer {k}, "
                                  f"below the cached layer {self.layer}")
        elif any(t._version != v for t, v in self._watch):
            self.reason = "a trunk weight changed in place after it was fingerprinted"
        if self.reason is not None:
            log.warning("trunk cache disabled from now on: %s", self.reason)
        return self.reason is None

    def report(self) -> dict:
        """Used or not (and why), the cached layer, and counts since the previous report."""
        out = {"mode": self.mode, "used": self.reason is None, "reason": self.reason,
               "layer": self.layer, **self.counts}
        self.counts = dict.fromkeys(self.counts, 0)
        return out

    # -- forwards -----------------------------------------------------------------------
    def last_hidden(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The decoder's last hidden state [B, T, H]: from the cache when the guard allows,
        else (counted in ``full_forwards``) the full forward."""
        decoder = decoder_of(self.model)
        ready, self._ready = self._ready, None
        spans = real_spans(attention_mask) if self.usable() else None
        if spans is None:
            self.counts["full_forwards"] += 1
            return decoder(input_ids=input_ids, attention_mask=attention_mask,
                           use_cache=False).last_hidden_state
        if ready is not None and ready[0] is input_ids and ready[1] is attention_mask:
            start = ready[2]
        else:
            start = self.layer_input(input_ids, spans)
        with _only_layers(decoder, slice(self.layer, None)):
            return decoder(inputs_embeds=start, attention_mask=attention_mask,
                           use_cache=False).last_hidden_state

    def prefetch(self, input_ids: Tensor, attention_mask: Tensor) -> None:
        """Load or compute this batch's layer-k input now, for the next forward on these very
        tensors: a forward inside a ``torch.func`` transform (impact scores by JVP) must not
        do it there, where new tensors are wrapped and cannot be hashed or saved."""
        spans = real_spans(attention_mask) if self.usable() else None
        self._ready = None if spans is None else (input_ids, attention_mask,
                                                  self.layer_input(input_ids, spans))

    def layer_input(self, input_ids: Tensor, spans: list[tuple[int, int]]) -> Tensor:
        """Hidden states entering layer k, laid out as the padded batch (zeros at pads:
        the masks keep every real position from reading them)."""
        rows = self.sequence_inputs([input_ids[r, a:b].tolist() for r, (a, b) in enumerate(spans)],
                                    input_ids.device)
        out = rows[0].new_zeros(*input_ids.shape, rows[0].shape[-1], device=input_ids.device)
        for r, (a, b) in enumerate(spans):
            out[r, a:b] = rows[r].to(input_ids.device)
        return out

    def sequence_inputs(self, tokens: list[list[int]], device) -> list[Tensor]:
        """Per token sequence, the hidden states entering layer k [len, H] (cached)."""
        rows = [self._load(t) for t in tokens]
        missing = [r for r, h in enumerate(rows) if h is None]
        if missing:
            for r, h in zip(missing, self._compute([tokens[r] for r in missing], device)):
                rows[r] = h
        self.counts["hits"] += len(rows) - len(missing)
        self.counts["misses"] += len(missing)
        return rows

    def last_hidden_packed(self, pack) -> Tensor:
        """The decoder's last hidden state over a ``train.prefix_pack.Packed`` batch: layers
        k.. from the cached inputs of its sequences when the guard allows, else the full
        forward (counted in ``full_forwards``)."""
        decoder = decoder_of(self.model)
        if not self.usable():
            self.counts["full_forwards"] += 1
            return pack.run(decoder)
        device = pack.input_ids.device
        hidden = self.sequence_inputs([p.tokens for p in pack.pieces], device)
        start = hidden[0].new_zeros(*pack.input_ids.shape, hidden[0].shape[-1], device=device)
        for piece, h in zip(pack.pieces, hidden):
            start[piece.row, piece.at:piece.at + piece.stop - piece.start] = \
                h[piece.start:piece.stop].to(device)
        with _only_layers(decoder, slice(self.layer, None)):
            return pack.run(decoder, inputs_embeds=start)

    @torch.no_grad()
    def _compute(self, tokens: list[list[int]], device) -> list[Tensor]:
        """Run layers 0..k-1 (the decoder's own forward on a slice of its layers) on
        right-padded ``tokens`` and store each sequence's layer-k input."""
        decoder = decoder_of(self.model)
        width = max(len(t) for t in tokens)
        ids = torch.zeros(len(tokens), width, dtype=torch.long, device=device)
        mask = torch.zeros_like(ids)
        for r, t in enumerate(tokens):
            ids[r, :len(t)] = torch.tensor(t, device=device)
            mask[r, :len(t)] = 1
        captured = {}

        def capture(_module, args):           # the final norm's input = layer k's input
            captured["h"] = args[0].detach()
        hook = decoder.norm.register_forward_pre_hook(capture)
        try:
            with _only_layers(decoder, slice(0, self.layer)):
                decoder(input_ids=ids, attention_mask=mask, use_cache=False)
        finally:
            hook.remove()
        out = [captured["h"][r, :len(t)].cpu().clone() for r, t in enumerate(tokens)]
        for t, h in zip(tokens, out):
            self._store(t, h)
        return out

    # -- storage ------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key[:40]}.pt"

    def _key(self, tokens: list[int]) -> str:
        return content_hash(self.identity, tokens)

    def _load(self, tokens: list[int]) -> Tensor | None:
        key = self._key(tokens)
        path = self._path(key)
        if not path.exists():
            return None
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            hidden = stored["hidden"]
            ok = (stored["key"] == key and hidden.shape[0] == len(tokens)
                  and stored["digest"] == tensor_digest(hidden))
        except Exception as err:                  # truncated or garbled file: any load error
            ok, why = False, str(err)
        else:
            why = "its key, shape or digest does not match"
        if not ok:
            log.warning("trunk cache entry %s is corrupt (%s): recomputing it", path, why)
            self.counts["recomputed_corrupt"] += 1
            return None
        return hidden

    def _store(self, tokens: list[int], hidden: Tensor) -> None:
        key = self._key(tokens)
        with atomic_path(self._path(key)) as tmp:
            torch.save({"key": key, "digest": tensor_digest(hidden), "hidden": hidden}, tmp)
