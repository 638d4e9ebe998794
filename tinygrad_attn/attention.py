"""Scaled dot-product attention, three ways.

    weights = softmax over keys of (q @ kᵀ / √d, with disallowed keys at -inf)
    output  = weights @ v

- `scaled_dot_product_attention(q, k, v)`: one fused op, forward and backward by hand (fast).
  With `return_weights=True` it is two ops instead, `attention_weights` then an ordinary
  matmul, so the weights are a node on the loss path and `weights.retain_grad()` shows dL/dW.
- `attention_steps(q, k, v)`: the same computation from primitive Tensor ops, every stage a
  named tensor in the graph (scores, scaled_scores, masked_scores, weights, output).

Masks are boolean and True where a query may attend to a key (PyTorch's bool `attn_mask`).
A query row with no allowed key gets zero weights, a zero output and zero gradients, never NaN;
a disallowed key gets exactly zero gradient from that query.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .core import Op
from .tensor.elementwise import reduce_to
from .tensor.linalg import matmul
from .tensor.tensor import Tensor, as_tensor, make

__all__ = ["scaled_dot_product_attention", "attention_weights", "attention_steps", "AttentionSteps",
           "causal_mask"]


def causal_mask(T: int, num_keys: int | None = None) -> np.ndarray:
    """Boolean (T, T) mask, True on and below the diagonal: query t sees keys 0..t.

    With `num_keys` it is (T, num_keys), aligned top-left as PyTorch's `is_causal` (query t
    sees keys 0..t whatever the number of keys). A NumPy array: masks never need gradients,
    and `&`, `|`, `~` combine them.
    """
    num_keys = T if num_keys is None else num_keys
    for name, size in (("T", T), ("num_keys", num_keys)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"causal_mask: {name} must be a non-negative int, got {size!r}")
    return np.tri(int(T), int(num_keys), dtype=bool)


# ---- checking inputs ----
def _check_inputs(where: str, q: Any, k: Any, v: Any = None) -> tuple[Tensor, Tensor, Tensor | None, tuple[int, ...]]:
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


def _allowed(mask: Any, is_causal: bool, scores_shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """Where attention is allowed (bool, broadcastable to the scores), or None for everywhere."""
    allowed = None
    if mask is not None:
        allowed = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if allowed.dtype != np.bool_:
            raise TypeError(f"{where}: mask must be boolean (True where attention is allowed), got dtype "
                            f"{allowed.dtype}; for a float mask use mask == 0 or a comparison")
        try:
            fits = np.broadcast_shapes(allowed.shape, scores_shape) == scores_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{where}: mask of shape {allowed.shape} does not broadcast to the scores' "
                             f"shape {scores_shape} (..., Tq, Tk)")
    if is_causal:
        causal = causal_mask(scores_shape[-2], scores_shape[-1])
        allowed = causal if allowed is None else allowed & causal
    return allowed


def _scale(scale: float | None, d: int, dtype: np.dtype, where: str) -> np.floating:
    if scale is None:
        return dtype.type(1.0 / math.sqrt(d))
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not math.isfinite(scale):
        raise ValueError(f"{where}: scale must be a finite number or None (1/√d), got {scale!r}")
    return dtype.type(scale)


# ---- the shared forward: softmax over keys of the masked, scaled scores ----
def _attention_probs(q_scaled: np.ndarray, k: np.ndarray, allowed: np.ndarray | None,
                     keys_first: bool) -> np.ndarray:
    """softmax(q_scaled @ kᵀ, masked) over keys, as (..., Tq, Tk), or as (..., Tk, Tq) when
    `keys_first` (NumPy reduces over a middle axis several times faster than over the last)."""
    key_axis = -2 if keys_first else -1
    if keys_first:
        scores = np.matmul(k, np.swapaxes(q_scaled, -1, -2))
    else:
        scores = np.matmul(q_scaled, np.swapaxes(k, -1, -2))
    if allowed is not None:
        if keys_first:  # a contiguous transposed copy: adding a strided view is several times slower
            allowed = np.ascontiguousarray(np.swapaxes(np.atleast_2d(allowed), -1, -2))
        scores += np.where(allowed, scores.dtype.type(0), scores.dtype.type(-np.inf))
    shift = np.max(scores, axis=key_axis, keepdims=True)
    if allowed is not None:
        shift[shift == -np.inf] = 0  # a row with no allowed key: exp(-inf - 0) = 0, not NaN
    scores -= shift
    probs = np.exp(scores, out=scores)
    ones = np.ones((1, probs.shape[-2]) if keys_first else (probs.shape[-1], 1), dtype=probs.dtype)
    total = np.matmul(ones, probs) if keys_first else np.matmul(probs, ones)  # BLAS beats np.sum here
    if allowed is not None:
        total[total == 0] = 1  # the same empty rows: 0 / 1 = 0
    probs *= np.reciprocal(total, out=total)
    return probs


# ---- one fused op: softmax(q kᵀ/√d) @ v ----
def _sdpa_backward(node: Tensor, grad: np.ndarray) -> tuple:
    q, k, v = node._inputs
    probs_t, q_scaled, scale = node._ctx  # probs_t: the weights, stored keys-first (..., Tk, Tq)
    grad_q = grad_k = grad_v = None
    if v.requires_grad:
        grad_v = reduce_to(np.matmul(probs_t, grad), v)
    if q.requires_grad or k.requires_grad:
        # Σₖ dWₖ·Wₖ = Σₖ (g·vₖ) Wₖ = g·out: a (Tq, dv) product instead of a (Tq, Tk) one
        row_dot = np.einsum("...qd,...qd->...q", grad, node.data)[..., None, :]
        grad_scores_t = np.matmul(v.data, np.swapaxes(grad, -1, -2))
        grad_scores_t -= row_dot
        grad_scores_t *= probs_t  # disallowed keys have weight 0, so exactly 0 gradient
        if q.requires_grad:
            grad_q = np.matmul(np.swapaxes(grad_scores_t, -1, -2), k.data)
            grad_q *= scale
            grad_q = reduce_to(grad_q, q)
        if k.requires_grad:
            grad_k = reduce_to(np.matmul(grad_scores_t, q_scaled), k)
    return grad_q, grad_k, grad_v


SDPA = Op("scaled_dot_product_attention",
          "dV = Wᵀ·G,  dS = W ⊙ (G·Vᵀ - rowsum(G ⊙ out)),  dQ = dS·K/√d,  dK = dSᵀ·Q/√d",
          _sdpa_backward)


# ---- or two ops: the weights as their own node, then an ordinary matmul ----
def _weights_backward(node: Tensor, grad: np.ndarray) -> tuple:
    q, k = node._inputs
    q_scaled, scale = node._ctx
    weights = node.data
    row_dot = np.einsum("...qk,...qk->...q", grad, weights)[..., None]
    grad_scores = grad - row_dot  # never in place: `grad` may be the retained weights.grad
    grad_scores *= weights
    grad_q = grad_k = None
    if q.requires_grad:
        grad_q = np.matmul(grad_scores, k.data)
        grad_q *= scale
        grad_q = reduce_to(grad_q, q)
    if k.requires_grad:
        grad_k = reduce_to(np.matmul(np.swapaxes(grad_scores, -1, -2), q_scaled), k)
    return grad_q, grad_k


ATTENTION_WEIGHTS = Op("attention_weights",
                       "dS = W ⊙ (G - rowsum(G ⊙ W)),  dQ = dS·K/√d,  dK = dSᵀ·Q/√d",
                       _weights_backward)

OPS = (SDPA, ATTENTION_WEIGHTS)


def _weights(q: Tensor, k: Tensor, allowed: np.ndarray | None, scale: np.floating) -> Tensor:
    q_scaled = q.data * scale
    weights = make(_attention_probs(q_scaled, k.data, allowed, keys_first=False), (q, k), ATTENTION_WEIGHTS,
                   (q_scaled, scale))
    weights.name = "weights"
    return weights


def attention_weights(q: Any, k: Any, mask: Any = None, is_causal: bool = False,
                      scale: float | None = None) -> Tensor:
    """softmax over keys of q @ kᵀ · scale (default 1/√d), disallowed keys excluded: (..., Tq, Tk).

    One op with its own backward straight to q and k. `mask` and `is_causal` as in
    `scaled_dot_product_attention`.
    """
    where = "attention_weights"
    q, k, _, scores_shape = _check_inputs(where, q, k)
    allowed = _allowed(mask, is_causal, scores_shape, where)
    return _weights(q, k, allowed, _scale(scale, q.shape[-1], q.data.dtype, where))


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
    q, k, v, scores_shape = _check_inputs(where, q, k, v)
    allowed = _allowed(mask, is_causal, scores_shape, where)
    scale = _scale(scale, q.shape[-1], q.data.dtype, where)
    if return_weights:
        weights = _weights(q, k, allowed, scale)
        return matmul(weights, v), weights
    q_scaled = q.data * scale
    probs_t = _attention_probs(q_scaled, k.data, allowed, keys_first=True)
    output = np.matmul(np.swapaxes(probs_t, -1, -2), v.data)
    return make(output, (q, k, v), SDPA, (probs_t, q_scaled, scale))


# ---- the composed version: every stage a named tensor ----
@dataclass
class AttentionSteps:
    """Every stage of attention as a tensor in the graph, named after its field.

    `masked_scores` is `scaled_scores` itself when nothing is masked.
    """

    scores: Tensor         # q @ kᵀ                    (..., Tq, Tk)
    scaled_scores: Tensor  # scores · scale (1/√d)
    masked_scores: Tensor  # -inf where attention is not allowed
    weights: Tensor        # softmax over keys
    output: Tensor         # weights @ v                (..., Tq, dv)


def attention_steps(q: Any, k: Any, v: Any, mask: Any = None, is_causal: bool = False,
                    scale: float | None = None) -> AttentionSteps:
    """`scaled_dot_product_attention` built from primitive ops, keeping every intermediate.

    Same arguments and results as the fused op (the backward is the chain of the primitive
    ops' rules). The disallowed scores are -inf, so inside `detect_anomaly()` the masked_fill
    step is reported as non-finite; the fused op has no such step.
    """
    where = "attention_steps"
    q, k, v, scores_shape = _check_inputs(where, q, k, v)
    allowed = _allowed(mask, is_causal, scores_shape, where)
    scale = _scale(scale, q.shape[-1], q.data.dtype, where)
    scores = q @ k.swapaxes(-1, -2)
    scaled_scores = scores * float(scale)
    masked_scores = scaled_scores if allowed is None else scaled_scores.masked_fill(~allowed, -math.inf)
    weights = masked_scores.softmax(axis=-1)
    output = weights @ v
    steps = AttentionSteps(scores, scaled_scores, masked_scores, weights, output)
    for name in ("scores", "scaled_scores", "masked_scores", "weights", "output"):
        tensor = getattr(steps, name)
        if tensor.name is None:
            tensor.name = name
    return steps
