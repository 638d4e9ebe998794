"""Scaled dot-product attention, as two readable ops.

    scores  = q @ kᵀ · scale                 (scale = 1/√d unless given)
    masked  = scores, with -inf where a query may not attend to a key
    weights = softmax over keys of masked    (shifted by the row max, so exp never overflows)
    output  = weights @ v

- `scaled_dot_product_attention(q, k, v)`: one op, q, k, v -> output. With
  `return_weights=True` it is two ops instead, `attention_weights` then an ordinary matmul, so
  the weights are a node on the loss path and `weights.retain_grad()` shows dL/dW.
- `attention_weights(q, k)`: the weights alone, as one op.

Backward, with G = dL/doutput and W the saved weights (`ctx.saved.attn_weights`):

    dV = Wᵀ G
    dW = G Vᵀ
    dS = W ⊙ (dW − rowsum(dW ⊙ W))     (the softmax backward, row by row)
    dQ = dS K · scale
    dK = dSᵀ Q · scale

A query row with no allowed key gets zero weights, a zero output and zero gradients, never
NaN; a disallowed key gets exactly zero gradient from that query. The code below is the
reference a learner reads; `kernels/attention.py` computes the same numbers faster and runs
by default (`ta.use_kernels(False)` runs this code instead).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..kernels import attention as kernels
from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply, as_tensor
from .masks import allowed_keys, check_mask, mask_scores

__all__ = ["scaled_dot_product_attention", "attention_weights", "SDPA", "ATTENTION_WEIGHTS"]


# ---- the math, on NumPy arrays (packed attention runs the same, head by head) ----
def softmax_over_keys(scores: np.ndarray) -> np.ndarray:
    """softmax along the last axis: exp(s − max) / Σ exp(s − max). A row that is all -inf
    (no allowed key) gives zeros instead of 0/0."""
    shift = np.max(scores, axis=-1, keepdims=True)
    shift[~np.isfinite(shift)] = 0
    exps = np.exp(scores - shift)
    total = np.sum(exps, axis=-1, keepdims=True)
    total[total == 0] = 1
    return exps / total


def attention_probs(q: np.ndarray, k: np.ndarray, allowed: np.ndarray | None, scale: np.floating) -> np.ndarray:
    """The weights (..., Tq, Tk): softmax over keys of the masked scores q kᵀ · scale."""
    scores = q @ np.swapaxes(k, -1, -2) * scale
    return softmax_over_keys(mask_scores(scores, allowed))


def attention_backward(upstream_grad: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       attn_weights: np.ndarray, scale: np.floating) -> tuple:
    """dQ, dK, dV of output = W @ v with W = softmax(q kᵀ · scale), given G = dL/doutput."""
    G, W = upstream_grad, attn_weights
    dV = np.swapaxes(W, -1, -2) @ G
    dW = G @ np.swapaxes(v, -1, -2)
    dS = W * (dW - np.sum(dW * W, axis=-1, keepdims=True))
    dQ = dS @ k * scale
    dK = np.swapaxes(dS, -1, -2) @ q * scale
    return dQ, dK, dV


# ---- scaled_dot_product_attention: q, k, v -> softmax(q kᵀ · scale) @ v ----
def sdpa_forward(ctx, q, k, v, mask, is_causal, scale):
    allowed = allowed_keys(mask, is_causal, q.shape[-2], k.shape[-2])
    weights = attention_probs(q, k, allowed, scale)
    ctx.save(attn_weights=weights, scale=scale, mask=mask, is_causal=is_causal)
    return weights @ v


def sdpa_backward(ctx, upstream_grad):
    q, k, v = (x.data for x in ctx.inputs)
    return attention_backward(upstream_grad, q, k, v, ctx.saved.attn_weights, ctx.saved.scale)


SDPA = define("scaled_dot_product_attention", forward=sdpa_forward, backward=sdpa_backward, unbroadcast=True,
              formulas=("dQ = dS·K·scale, with dS = W ⊙ (dW − rowsum(dW ⊙ W)) and dW = G·Vᵀ",
                        "dK = dSᵀ·Q·scale",
                        "dV = Wᵀ·G"),
              kernel=(kernels.sdpa_forward, kernels.sdpa_backward))


# ---- attention_weights: q, k -> softmax(q kᵀ · scale) ----
def weights_forward(ctx, q, k, mask, is_causal, scale):
    weights = attention_probs(q, k, allowed_keys(mask, is_causal, q.shape[-2], k.shape[-2]), scale)
    ctx.save(attn_weights=weights, scale=scale, mask=mask, is_causal=is_causal)
    return weights


def weights_backward(ctx, upstream_grad):
    q, k = (x.data for x in ctx.inputs)
    W, scale = ctx.saved.attn_weights, ctx.saved.scale
    dW = upstream_grad
    dS = W * (dW - np.sum(dW * W, axis=-1, keepdims=True))
    return dS @ k * scale, np.swapaxes(dS, -1, -2) @ q * scale


ATTENTION_WEIGHTS = define("attention_weights", forward=weights_forward, backward=weights_backward,
                           unbroadcast=True,
                           formulas=("dQ = dS·K·scale, with dS = W ⊙ (G − rowsum(G ⊙ W))", "dK = dSᵀ·Q·scale"),
                           kernel=(kernels.weights_forward, kernels.weights_backward))


# ---- checking the inputs (the public functions below, attention_steps and packed attention) ----
def check_inputs(where: str, q: Any, k: Any, v: Any = None) -> tuple[Tensor, Tensor, Tensor | None, tuple[int, ...]]:
    """q, k (and v) as tensors, checked; also the shape of the scores (..., Tq, Tk)."""
    given = [("q", q, "(..., Tq, d)"), ("k", k, "(..., Tk, d)")]
    if v is not None:
        given.append(("v", v, "(..., Tk, dv)"))
    tensors = []
    for name, x, dims in given:
        x = x if isinstance(x, Tensor) else as_tensor(x, where)
        if x.data.ndim < 2:
            raise ValueError(f"{where}: {name} must be {dims} with at least 2 dims, got shape {x.shape}")
        if x.data.dtype.kind != "f":
            raise TypeError(f"{where}: {name} must be floating point, got dtype {x.dtype}")
        tensors.append(x)
    if len({x.data.dtype for x in tensors}) != 1:
        raise TypeError(f"{where}: q, k{', v' if v is not None else ''} need one dtype, got "
                        f"{', '.join(str(x.dtype) for x in tensors)}")
    q, k = tensors[0], tensors[1]
    v = tensors[2] if v is not None else None
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{where}: q {q.shape} and k {k.shape} need the same feature size d "
                         f"({q.shape[-1]} != {k.shape[-1]})")
    if v is not None and k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{where}: k {k.shape} and v {v.shape} need the same number of keys Tk "
                         f"({k.shape[-2]} != {v.shape[-2]})")
    if q.shape[-1] == 0 or k.shape[-2] == 0:
        raise ValueError(f"{where}: needs d >= 1 and at least one key, got q {q.shape} and k {k.shape}")
    try:
        scores_batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
        if v is not None:
            np.broadcast_shapes(scores_batch, v.shape[:-2])
    except ValueError:
        shapes = f"q {q.shape}, k {k.shape}" + (f" and v {v.shape}" if v is not None else "")
        raise ValueError(f"{where}: batch dims of {shapes} cannot be broadcast together") from None
    return q, k, v, scores_batch + (q.shape[-2], k.shape[-2])


def check_scale(scale: float | None, d: int, dtype: np.dtype, where: str) -> np.floating:
    """The scale as a number of the inputs' dtype: 1/√d unless given."""
    if scale is None:
        return dtype.type(1.0 / math.sqrt(d))
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not math.isfinite(scale):
        raise ValueError(f"{where}: scale must be a finite number or None (1/√d), got {scale!r}")
    return dtype.type(scale)


# ---- the public functions ----
def attention_weights(q: Any, k: Any, mask: Any = None, is_causal: bool = False,
                      scale: float | None = None) -> Tensor:
    """softmax over keys of q @ kᵀ · scale (default 1/√d), disallowed keys excluded: (..., Tq, Tk).

    One op with its own backward straight to q and k. `mask` and `is_causal` as in
    `scaled_dot_product_attention`.
    """
    where = "attention_weights"
    q, k, _, scores_shape = check_inputs(where, q, k)
    mask = check_mask(mask, scores_shape, where)
    scale = check_scale(scale, q.shape[-1], q.data.dtype, where)
    weights = apply(ATTENTION_WEIGHTS, (q, k), mask=mask, is_causal=bool(is_causal), scale=scale)
    weights.name = "weights"
    return weights


def scaled_dot_product_attention(q: Any, k: Any, v: Any, mask: Any = None, is_causal: bool = False,
                                 return_weights: bool = False, scale: float | None = None
                                 ) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q @ kᵀ / √d) @ v with q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv) -> (..., Tq, dv).

    Leading (batch, head) dims broadcast. `mask`: boolean, True where query i may attend to
    key j, broadcastable to (..., Tq, Tk) without enlarging it. `is_causal`: query i attends
    to keys 0..i, aligned top-left when Tq != Tk (as in PyTorch); combined with `mask` by "and"
    when both are given. A query with no allowed key gets a zero output and zero gradients.
    `scale` replaces 1/√d. With `return_weights=True` returns `(output, weights)`, the
    weights (..., Tq, Tk) being the tensor the output is computed from (on the loss path).
    """
    where = "scaled_dot_product_attention"
    q, k, v, scores_shape = check_inputs(where, q, k, v)
    scale = check_scale(scale, q.shape[-1], q.data.dtype, where)
    mask = check_mask(mask, scores_shape, where)
    if return_weights:
        weights = apply(ATTENTION_WEIGHTS, (q, k), mask=mask, is_causal=bool(is_causal), scale=scale)
        weights.name = "weights"
        return weights @ v, weights
    return apply(SDPA, (q, k, v), mask=mask, is_causal=bool(is_causal), scale=scale)


# ---- usages: sample inputs and PyTorch's version ----
def torch_attention(torch: Any, q: Any, k: Any, v: Any, mask: np.ndarray | None = None, is_causal: bool = False) -> Any:
    attn_mask = None if mask is None else torch.as_tensor(mask)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)


def _torch_attention_weights(torch: Any, q: Any, k: Any, mask: np.ndarray | None = None, is_causal: bool = False) -> Any:
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    allowed = np.ones(tuple(scores.shape[-2:]), dtype=bool) if mask is None else mask
    if is_causal:
        allowed = allowed & np.tri(*scores.shape[-2:], dtype=bool)
    return torch.softmax(scores.masked_fill(~torch.as_tensor(allowed), float("-inf")), dim=-1)


KEY_PADDING = np.array([[True, True, False, False], [True, True, True, True]])[:, None, :]  # (2, 1, 4)
_ATTENTION_SAMPLES = (
    S((2, 4, 3), (2, 5, 3), (2, 5, 2)),
    S((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3), is_causal=True),
    S((3, 3), (5, 3), (5, 4), is_causal=True, note="Tq < Tk: causal is aligned top-left, as in PyTorch"),
    S((2, 4, 3), (2, 4, 3), (2, 4, 3), mask=KEY_PADDING, note="padding keys masked"),
    S((2, 1, 4, 3), (3, 4, 3), (3, 4, 2), note="batch dims broadcast"),
)

SDPA.usage("F.scaled_dot_product_attention", lambda q, k, v, **kw: scaled_dot_product_attention(q, k, v, **kw),
           torch_attention, *_ATTENTION_SAMPLES, note="one fused op; mask True where attention is allowed")
ATTENTION_WEIGHTS.usage("F.scaled_dot_product_attention",
                        lambda q, k, v, **kw: scaled_dot_product_attention(q, k, v, return_weights=True, **kw)[0],
                        torch_attention, *_ATTENTION_SAMPLES, variant="return_weights",
                        note="two ops, attention_weights then matmul, so the weights are on the loss path")
ATTENTION_WEIGHTS.usage("F.attention_weights", lambda q, k, **kw: attention_weights(q, k, **kw),
                        _torch_attention_weights, S((2, 4, 3), (2, 5, 3)), S((2, 4, 3), (2, 4, 3), is_causal=True),
                        S((2, 4, 3), (2, 4, 3), mask=KEY_PADDING))
