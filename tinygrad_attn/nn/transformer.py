"""Transformer models: `MLP`, `TransformerBlock`, `GPT`, and the one-layer `AttentionClassifier`.

The block is pre-LayerNorm, as in GPT-2:  x = x + attn(ln1(x));  x = x + mlp(ln2(x)).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import functional as F
from ..core import no_grad
from ..tensors import Tensor
from .layers import Dropout, Embedding, LayerNorm, Linear
from . import nanogpt_layout
from .module import Module, ModuleList, as_generator, check_size
from .multihead import MultiHeadAttention

__all__ = ["MLP", "TransformerBlock", "GPT", "AttentionClassifier"]


def _as_given(idx: Any, ids: np.ndarray) -> Any:
    """The caller's Tensor when there is one (a drawn graph then shows its name), else the ids."""
    return idx if isinstance(idx, Tensor) else ids


def _token_ids(idx: Any, where: str, block_size: int) -> np.ndarray:
    """Token ids (B, T) as an int64 array, checked against the context size."""
    ids = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{where}: token ids must be integers, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{where}: token ids must be (batch, time), got shape {ids.shape}")
    if ids.shape[1] > block_size:
        raise ValueError(f"{where}: sequence length {ids.shape[1]} exceeds block_size {block_size}")
    if ids.shape[1] == 0:
        raise ValueError(f"{where}: got an empty sequence (shape {ids.shape})")
    return ids


def _check_gelu(where: str, gelu: Any) -> str:
    if gelu not in ("none", "tanh"):
        raise ValueError(f"{where}: gelu must be 'tanh' (GPT-2's form) or 'none' (exact, nanoGPT's), got {gelu!r}")
    return gelu


class MLP(Module):
    """Position-wise feed-forward: Linear(d_model -> d_ff), GELU, Linear back.

    The GELU is the tanh form by default, as in GPT-2, asked for explicitly: `nn.GELU()` and
    `F.gelu` default to the exact erf form, as in PyTorch (`gelu="none"` here, as nanoGPT).
    `bias=False`: neither linear has a bias.
    """

    def __init__(self, d_model: int, d_ff: int, rng: int | np.random.Generator | None = None, bias: bool = True,
                 gelu: str = "tanh"):
        super().__init__()
        self.gelu = _check_gelu("MLP", gelu)
        self.fc1 = Linear(d_model, d_ff, bias=bias, rng=rng)
        self.fc2 = Linear(d_ff, d_model, bias=bias, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.gelu))


class TransformerBlock(Module):
    """Pre-LayerNorm block: x = x + attn(ln1(x)); x = x + mlp(ln2(x)).

    `dropout` > 0 drops elements of each branch's output before it is added back (training only).
    `bias=False`: no bias in any linear or layer norm; `gelu`: the MLP's GELU ("tanh" or "none").
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, causal: bool = True, dropout: float = 0.0,
                 rng: int | np.random.Generator | None = None, bias: bool = True, gelu: str = "tanh"):
        super().__init__()
        generator = as_generator(rng, "TransformerBlock")
        self.ln1 = LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=causal, bias=bias, rng=generator)
        self.ln2 = LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, check_size("TransformerBlock", "d_ff", d_ff), rng=generator, bias=bias,
                       gelu=_check_gelu("TransformerBlock", gelu))
        self.drop = Dropout(dropout)

    def forward(self, x: Tensor, key_mask: Any = None) -> Tensor:
        x = x + self.drop(self.attn(self.ln1(x), key_mask=key_mask))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(Module):
    """A small GPT: token + learned position embeddings, `n_layers` causal blocks, a final
    LayerNorm and a linear head to vocabulary logits.

    forward(idx) takes token ids (B, T) with T <= block_size and returns logits (B, T, vocab_size):
    position t's logits predict token t + 1 from tokens 0..t.

    The defaults are this library's teaching GPT: a head with a bias, not tied to the token
    embedding, and the tanh GELU. The keyword options make it nanoGPT's architecture exactly
    (`GPT.nanogpt(...)` sets them all): `tie_weights=True` (the head's weight is the token
    embedding's), `head_bias=False`, `gelu="none"` (exact GELU), `bias=` (biases in the blocks'
    linears and in every layer norm) and d_ff = 4·d_model.
    """

    def __init__(self, vocab_size: int, block_size: int, d_model: int, n_heads: int, n_layers: int, d_ff: int,
                 dropout: float = 0.0, rng: int | np.random.Generator | None = None, *, bias: bool = True,
                 head_bias: bool = True, tie_weights: bool = False, gelu: str = "tanh"):
        super().__init__()
        self.vocab_size = check_size("GPT", "vocab_size", vocab_size)
        self.block_size = check_size("GPT", "block_size", block_size)
        n_layers = check_size("GPT", "n_layers", n_layers)
        generator = as_generator(rng, "GPT")
        self.tok_emb = Embedding(self.vocab_size, d_model, rng=generator)
        self.pos_emb = Embedding(self.block_size, d_model, rng=generator)
        self.drop = Dropout(dropout)
        self.blocks = ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, causal=True, dropout=dropout, rng=generator, bias=bias,
                             gelu=_check_gelu("GPT", gelu))
            for _ in range(n_layers)
        )
        self.ln_f = LayerNorm(d_model, bias=bias)
        self.head = Linear(d_model, self.vocab_size, bias=head_bias, rng=generator)
        self.tie_weights = bool(tie_weights)
        if self.tie_weights:  # one tensor, as nanoGPT: the head's (Linear) initialisation is the one kept
            self.tok_emb.weight = self.head.weight

    @classmethod
    def nanogpt(cls, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, bias: bool = True,
                dropout: float = 0.0, rng: int | np.random.Generator | None = None) -> "GPT":
        """nanoGPT's architecture, from its GPTConfig's fields: tied embedding and head, a head
        without bias, exact GELU, d_ff = 4·n_embd, and `bias` on the blocks' linears and the layer
        norms. Its weights load from a nanoGPT checkpoint with `load_state_dict(d, style="nanogpt")`."""
        return cls(vocab_size, block_size, n_embd, n_head, n_layer, 4 * check_size("GPT.nanogpt", "n_embd", n_embd),
                   dropout=dropout, rng=rng, bias=bias, head_bias=False, tie_weights=True, gelu="none")

    def _state_tensors_in_style(self, style: str, where: str) -> dict[str, Tensor]:
        if style == "nanogpt":
            return nanogpt_layout.state_tensors(self, where)
        return super()._state_tensors_in_style(style, where)

    def _state_dict_in_style(self, state_dict: Mapping[str, Any], style: str) -> Mapping[str, Any]:
        if style == "nanogpt":
            return nanogpt_layout.without_skipped_keys(state_dict)
        return super()._state_dict_in_style(state_dict, style)

    def forward(self, idx: Any) -> Tensor:
        ids = _token_ids(idx, "GPT", self.block_size)
        x = self.tok_emb(_as_given(idx, ids)) + self.pos_emb(Tensor(np.arange(ids.shape[1]), name="positions"))
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0, greedy: bool = False,
                 rng: int | np.random.Generator | None = None) -> Tensor:
        """Extend each row of `idx` (B, T) by `max_new_tokens` tokens, one at a time.

        Each new token comes from the logits at the last position (the context is cut to the
        last `block_size` tokens): the most likely one with `greedy=True`, otherwise a sample
        from softmax(logits / temperature) drawn with `rng` (a seed gives the same text every
        time). Runs under no_grad with dropout off. Returns a Tensor of ids (B, T + max_new_tokens).
        """
        ids = _token_ids(idx, "GPT.generate", np.iinfo(np.int64).max).astype(np.int64)
        steps = check_size("GPT.generate", "max_new_tokens", max_new_tokens, minimum=0)
        if not greedy and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                           or not temperature > 0):
            raise ValueError(f"GPT.generate: temperature must be a positive number, got {temperature!r}")
        generator = None if greedy else as_generator(rng, "GPT.generate")
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(steps):
                    logits = self(ids[:, -self.block_size:]).data[:, -1, :].astype(np.float64)
                    if greedy:
                        next_ids = logits.argmax(axis=-1)
                    else:
                        next_ids = _sample(logits / temperature, generator)
                    ids = np.concatenate([ids, next_ids[:, None]], axis=1)
        finally:
            self.train(was_training)
        return Tensor(ids)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, block_size={self.block_size}"


def _sample(logits: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """One id per row, drawn with probability softmax(logits)."""
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probs, axis=-1)
    draws = generator.random(len(logits)) * cumulative[:, -1]  # scale instead of normalising
    return np.minimum((cumulative <= draws[:, None]).sum(axis=-1), logits.shape[-1] - 1)


class AttentionClassifier(Module):
    """One attention layer that labels every token: embeddings, non-causal self-attention (so a
    word can use cues on either side), then a linear head to `n_classes` per position.

        x = tok_emb(idx) + pos_emb(t);  h = x + attn(ln(x), key_mask);  logits = head(ln_f(h))

    forward(idx, key_mask=None) -> logits (B, T, n_classes). Padding positions are hidden from
    attention by `key_mask` (True at real tokens), or, when `pad_id` is given, by idx != pad_id.
    """

    def __init__(self, vocab_size: int, block_size: int, d_model: int, n_heads: int, n_classes: int,
                 pad_id: int | None = None, rng: int | np.random.Generator | None = None):
        super().__init__()
        self.vocab_size = check_size("AttentionClassifier", "vocab_size", vocab_size)
        self.block_size = check_size("AttentionClassifier", "block_size", block_size)
        self.n_classes = check_size("AttentionClassifier", "n_classes", n_classes)
        if pad_id is not None:
            check_size("AttentionClassifier", "pad_id", pad_id, minimum=0)
        self.pad_id = pad_id
        generator = as_generator(rng, "AttentionClassifier")
        self.tok_emb = Embedding(self.vocab_size, d_model, rng=generator)
        self.pos_emb = Embedding(self.block_size, d_model, rng=generator)
        self.ln = LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=False, rng=generator)
        self.ln_f = LayerNorm(d_model)
        self.head = Linear(d_model, self.n_classes, rng=generator)

    def forward(self, idx: Any, key_mask: Any = None) -> Tensor:
        ids = _token_ids(idx, "AttentionClassifier", self.block_size)
        if key_mask is None and self.pad_id is not None:
            key_mask = ids != self.pad_id
        x = self.tok_emb(_as_given(idx, ids)) + self.pos_emb(Tensor(np.arange(ids.shape[1]), name="positions"))
        h = x + self.attn(self.ln(x), key_mask=key_mask)
        return self.head(self.ln_f(h))

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, block_size={self.block_size}, n_classes={self.n_classes}"
