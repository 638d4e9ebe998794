"""Multi-head attention of one packed projection, as `nn.MultiHeadAttention` makes it.

qkv (B, T, 3·d) holds q | k | v side by side; each of them is cut head-major into H heads of
d / H channels. The op:

    q, k, v = split_heads(qkv)                      each (B, H, T, d/H)
    weights = softmax over keys of (q kᵀ · scale, masked)       per head, as in sdpa.py
    output  = merge_heads(weights @ v)              (B, T, d): the heads side by side again

and backward is attention's backward per head, the three gradients put back side by side:
d(qkv) = [merge(dQ), merge(dK), merge(dV)]. The reference below copies the heads out; the
kernel (`kernels/attention.py`) reads them as views of qkv and writes d(qkv) in place.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import attention as kernels
from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply, as_tensor
from .masks import allowed_keys, check_mask
from .sdpa import KEY_PADDING, attention_backward, attention_probs, check_scale, torch_attention

__all__ = ["packed_attention", "PACKED_ATTENTION", "split_heads", "merge_heads"]


def heads_of(x: np.ndarray, n_heads: int) -> np.ndarray:
    """(B, T, H·d) -> (B, H, T, d): the channels cut into H heads."""
    batch, time, width = x.shape
    return x.reshape(batch, time, n_heads, width // n_heads).transpose(0, 2, 1, 3)


def merge_heads(heads: np.ndarray) -> np.ndarray:
    """(B, H, T, d) -> (B, T, H·d): the heads side by side again."""
    batch, n_heads, time, d_head = heads.shape
    return heads.transpose(0, 2, 1, 3).reshape(batch, time, n_heads * d_head)


def split_heads(qkv: np.ndarray, n_heads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, T, 3·H·d) -> q, k, v, each (B, H, T, d)."""
    q, k, v = np.split(qkv, 3, axis=-1)
    return heads_of(q, n_heads), heads_of(k, n_heads), heads_of(v, n_heads)


# ---- packed_attention: qkv -> merge_heads(softmax(q kᵀ · scale) @ v) ----
def packed_forward(ctx, qkv, n_heads, mask, is_causal, scale):
    q, k, v = split_heads(qkv, n_heads)
    time = qkv.shape[1]
    weights = attention_probs(q, k, allowed_keys(mask, is_causal, time, time), scale)
    ctx.save(attn_weights=weights, scale=scale, mask=mask, is_causal=is_causal, n_heads=n_heads)
    return merge_heads(weights @ v)


def packed_backward(ctx, upstream_grad):
    n_heads = ctx.saved.n_heads
    q, k, v = split_heads(ctx.inputs[0].data, n_heads)
    dQ, dK, dV = attention_backward(heads_of(upstream_grad, n_heads), q, k, v,
                                    ctx.saved.attn_weights, ctx.saved.scale)
    return (np.concatenate([merge_heads(dQ), merge_heads(dK), merge_heads(dV)], axis=-1),)


PACKED_ATTENTION = define(
    "packed_attention", forward=packed_forward, backward=packed_backward,
    formulas=("per head: dQ = dS·K·scale, dK = dSᵀ·Q·scale, dV = Wᵀ·G (dS = W ◦ (dW − rowsum(dW ◦ W)), "
              "dW = G·Vᵀ); d(qkv) = [dQ, dK, dV] side by side",),
    kernel=(kernels.packed_forward, kernels.packed_backward))


def packed_attention(qkv: Any, n_heads: int, mask: Any = None, is_causal: bool = False,
                     scale: float | None = None) -> Tensor:
    """Multi-head attention of a packed projection: qkv (B, T, 3·d) holds q | k | v, each split
    head-major into `n_heads` heads of d / n_heads channels; returns (B, T, d), heads merged.

    The same numbers as cutting qkv into per-head q, k, v, calling
    `scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal, scale=scale)` and merging the heads
    back, but one op (its kernel reads the heads as views and writes d(qkv) in one array).
    `mask` broadcasts to (B, n_heads, T, T).
    """
    where = "packed_attention"
    qkv = qkv if isinstance(qkv, Tensor) else as_tensor(qkv, where)
    if isinstance(n_heads, bool) or not isinstance(n_heads, (int, np.integer)) or n_heads < 1:
        raise ValueError(f"{where}: n_heads must be a positive int, got {n_heads!r}")
    if qkv.data.dtype.kind != "f":
        raise TypeError(f"{where}: qkv must be floating point, got dtype {qkv.dtype}")
    if qkv.data.ndim != 3 or qkv.shape[-1] == 0 or qkv.shape[-1] % (3 * n_heads) or qkv.shape[1] == 0:
        raise ValueError(f"{where}: qkv must be (batch, time >= 1, 3·n_heads·d_head) with n_heads={n_heads}, "
                         f"got shape {qkv.shape}")
    batch, time, width = qkv.shape
    n_heads = int(n_heads)
    mask = check_mask(mask, (batch, n_heads, time, time), where)
    scale = check_scale(scale, width // (3 * n_heads), qkv.data.dtype, where)
    return apply(PACKED_ATTENTION, (qkv,), n_heads=n_heads, mask=mask, is_causal=bool(is_causal), scale=scale)


# ---- usages ----
def _torch_packed_attention(torch: Any, qkv: Any, n_heads: int, mask: np.ndarray | None = None,
                            is_causal: bool = False) -> Any:
    batch, time, width = qkv.shape
    q, k, v = (part.reshape(batch, time, n_heads, -1).transpose(1, 2) for part in qkv.chunk(3, dim=-1))
    merged = torch_attention(torch, q, k, v, mask, is_causal).transpose(1, 2)
    return merged.reshape(batch, time, width // 3)


PACKED_ATTENTION.usage(
    "ta.attention.packed_attention", lambda qkv, **kw: packed_attention(qkv, **kw), _torch_packed_attention,
    S((2, 4, 12), n_heads=2, is_causal=True), S((1, 3, 9), n_heads=1),
    S((2, 4, 6), n_heads=2, mask=KEY_PADDING[:, None], note="padding keys masked"),
    note="q, k, v are column blocks of one (B, T, 3·d) input, split into heads; output (B, T, d) "
         "with the heads merged (what nn.MultiHeadAttention uses)")
