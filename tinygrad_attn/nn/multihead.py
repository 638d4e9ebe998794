"""`MultiHeadAttention`: self-attention with several heads, as one packed attention op.

One fused projection makes queries, keys and values for all heads at once (one matmul instead
of three); the model width d_model is split into n_heads heads of d_head = d_model / n_heads
channels, each head attends on its own, and an output projection mixes the heads again.
Attention itself is one `packed_attention` op that reads each head's q, k, v out of the
projection and returns the heads merged.

To look inside each head (q, k, v, scores, weights, and after backward dL/dweights), record
the forward instead of changing it: `with tinygrad_attn.trace.record_attention() as rec:`.
Observing never changes the graph.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import attention
from ..tensors import Tensor
from .layers import Linear
from .module import Module, check_size

__all__ = ["MultiHeadAttention"]


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

    def forward(self, x: Tensor, key_mask: Any = None, attn_mask: Any = None) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != self.d_model:
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"MultiHeadAttention: expected input (batch, time, {self.d_model}), got {shape}")
        batch, time, _ = x.shape
        mask = self._mask(batch, time, key_mask, attn_mask)
        qkv = self.qkv_proj(x)  # (B, T, 3·d_model): q | k | v
        is_causal = self.causal and mask is None  # otherwise the causal part is already in `mask`
        # one op: each head's q, k, v are cut out of qkv, and the heads come out merged
        merged = attention.packed_attention(qkv, self.n_heads, mask=mask, is_causal=is_causal)
        merged.name = "merged_heads"
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

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}"
