"""`MultiHeadAttention`, and the `AttentionRecord` it keeps for looking inside each head.

One fused projection makes queries, keys and values for all heads at once (one matmul instead
of three); the model width d_model is split into n_heads heads of d_head = d_model / n_heads
channels, each head attends on its own, and an output projection mixes the heads again.

Set `mha.record = True` and every forward leaves `mha.last`, an `AttentionRecord` with each
head's q, k, v, scores, attention weights and outputs. The weights are the very tensor the
output was computed from, so `mha.last.weights.retain_grad()` before backward shows how the
loss wants each head's attention to change. With `record = False` (the default) nothing is
kept and nothing extra is computed: attention is then one `packed_attention` op that reads each
head's q, k, v as views of the projection, which is faster (the same numbers, a shorter graph).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import attention
from ..tensor import Tensor
from .layers import Linear
from .module import Module, check_size

__all__ = ["MultiHeadAttention", "AttentionRecord"]


@dataclass
class AttentionRecord:
    """What one forward of a `MultiHeadAttention` computed, head by head.

    q, k, v         Tensors (B, H, T, d_head): each head's queries, keys and values
    scores          NumPy (B, H, T, T): q·k/√d_head before softmax, -inf where attention is not allowed
    weights         Tensor (B, H, T, T): softmax of the scores; row t says where position t looks
    head_outputs    Tensor (B, H, T, d_head): weights @ v, before the heads are merged
    mask            NumPy bool broadcastable to (B, H, T, T), True where allowed (None: all allowed)
    """

    q: Tensor
    k: Tensor
    v: Tensor
    scores: np.ndarray
    weights: Tensor
    head_outputs: Tensor
    mask: np.ndarray | None

    @property
    def n_heads(self) -> int:
        return self.weights.shape[1]


def _bool_array(value: Any, where: str, name: str) -> np.ndarray:
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype != np.bool_:
        raise TypeError(f"{where}: {name} must be boolean (True where attention is allowed), got dtype {array.dtype}")
    return array


class MultiHeadAttention(Module):
    """Self-attention with `n_heads` heads over inputs (B, T, d_model).

    `causal=True` lets position t attend only to positions <= t (for a GPT).
    forward(x, key_mask=None, attn_mask=None):
      key_mask   bool (B, T), True at real tokens, False at padding (no query attends to padding)
      attn_mask  bool broadcastable to (B, n_heads, T, T), True where attention is allowed
    Parameters: `qkv_proj` (d_model -> 3·d_model: q, then k, then v, each split head-major)
    and `out_proj` (d_model -> d_model).
    """

    def __init__(self, d_model: int, n_heads: int, causal: bool = False, bias: bool = True,
                 rng: int | np.random.Generator | None = None):
        super().__init__()
        self.d_model = check_size("MultiHeadAttention", "d_model", d_model)
        self.n_heads = check_size("MultiHeadAttention", "n_heads", n_heads)
        if self.d_model % self.n_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_head = self.d_model // self.n_heads
        self.causal = bool(causal)
        self.qkv_proj = Linear(self.d_model, 3 * self.d_model, bias=bias, rng=rng)
        self.out_proj = Linear(self.d_model, self.d_model, bias=bias, rng=rng)
        self.record = False
        self.last: AttentionRecord | None = None

    def forward(self, x: Tensor, key_mask: Any = None, attn_mask: Any = None) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != self.d_model:
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"MultiHeadAttention: expected input (batch, time, {self.d_model}), got {shape}")
        batch, time, width = x.shape
        heads, d_head = self.n_heads, self.d_head
        mask = self._mask(batch, time, key_mask, attn_mask)
        qkv = self.qkv_proj(x)  # (B, T, 3·d_model): q | k | v
        is_causal = self.causal and mask is None  # otherwise the causal part is already in `mask`
        if not self.record:
            if self.last is not None:
                self.last = None  # a stale record would describe a different input
            # one op: the heads are views into qkv and come out merged (same numbers as below)
            merged = attention.packed_attention(qkv, heads, mask=mask, is_causal=is_causal)
            merged.name = "merged_heads"
            return self.out_proj(merged)
        q = qkv[:, :, :width].reshape(batch, time, heads, d_head).transpose(0, 2, 1, 3)
        k = qkv[:, :, width:2 * width].reshape(batch, time, heads, d_head).transpose(0, 2, 1, 3)
        v = qkv[:, :, 2 * width:].reshape(batch, time, heads, d_head).transpose(0, 2, 1, 3)
        q.name, k.name, v.name = "q", "k", "v"  # so graphs and the stepper say which is which
        head_outputs, weights = attention.scaled_dot_product_attention(
            q, k, v, mask=mask, is_causal=is_causal, return_weights=True)
        self.last = AttentionRecord(q, k, v, self._scores(q, k, mask), weights, head_outputs,
                                    attention.causal_mask(time) if is_causal else mask)
        head_outputs.name = "head_outputs"
        merged = head_outputs.transpose(0, 2, 1, 3).reshape(batch, time, width)
        return self.out_proj(merged)

    def _mask(self, batch: int, time: int, key_mask: Any, attn_mask: Any) -> np.ndarray | None:
        """Combine padding, an explicit mask and causality into one (…, T, T) boolean mask, or None."""
        mask = None
        if key_mask is not None:
            keys = _bool_array(key_mask, "MultiHeadAttention", "key_mask")
            if keys.shape != (batch, time):
                raise ValueError(f"MultiHeadAttention: key_mask must have shape (batch, time) = {(batch, time)}, got {keys.shape}")
            mask = keys[:, None, None, :]
        if attn_mask is not None:
            allowed = _bool_array(attn_mask, "MultiHeadAttention", "attn_mask")
            try:
                np.broadcast_shapes(allowed.shape, (batch, self.n_heads, time, time))
            except ValueError:
                raise ValueError(
                    f"MultiHeadAttention: attn_mask of shape {allowed.shape} does not broadcast to "
                    f"(batch, heads, time, time) = {(batch, self.n_heads, time, time)}"
                ) from None
            mask = allowed if mask is None else mask & allowed
        if mask is not None and self.causal:
            mask = mask & attention.causal_mask(time)
        return mask

    def _scores(self, q: Tensor, k: Tensor, mask: np.ndarray | None) -> np.ndarray:
        """The pre-softmax scores, for display only (outside the graph)."""
        scores = np.matmul(q.data, np.swapaxes(k.data, -1, -2)) * (1.0 / math.sqrt(self.d_head))
        allowed = attention.causal_mask(q.shape[-2]) if self.causal and mask is None else mask
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        return scores

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}"
