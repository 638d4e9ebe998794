"""Scaled dot-product attention: fused, packed for many heads, or step by step.

    weights = softmax over keys of (q @ kᵀ / √d, with disallowed keys at -inf)
    output  = weights @ v

- `scaled_dot_product_attention(q, k, v)`: one fused op, forward and backward by hand (fast).
  With `return_weights=True` it is two ops instead, `attention_weights` then an ordinary
  matmul, so the weights are a node on the loss path and `weights.retain_grad()` shows dL/dW.
- `packed_attention(qkv, n_heads)`: the fused op for multi-head attention, reading each head's
  q, k, v as views of one packed projection and writing the output with the heads merged.
- `attention_steps(q, k, v)`: the same computation from primitive Tensor ops, every stage a
  named tensor in the graph (scores, scaled_scores, masked_scores, weights, output).

Masks are boolean and True where a query may attend to a key (PyTorch's bool `attn_mask`).
A query row with no allowed key gets zero weights, a zero output and zero gradients, never NaN;
a disallowed key gets exactly zero gradient from that query.

Speed: the weights are kept keys-first, (..., Tk, Tq), because NumPy reduces over a middle axis
faster than over the last; the mask is added as a cached 0/-inf bias; softmax skips its max
shift when every score is small enough for exp; large arrays come from `perf.empty`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import perf
from .core import Op
from .tensor.elementwise import reduce_to
from .tensor.linalg import matmul
from .tensor.tensor import Tensor, as_tensor, make

__all__ = ["scaled_dot_product_attention", "packed_attention", "attention_weights", "attention_steps",
           "AttentionSteps", "causal_mask"]


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


# ---- masks as an additive bias: 0 where attention is allowed, -inf where it is not ----
_CACHED_BIAS_ELEMENTS = 1 << 20  # larger causal biases are made afresh, so the cache stays small


def _causal_bias(queries: int, keys: int, keys_first: bool, dtype: np.dtype) -> np.ndarray:
    """The causal mask as a bias, (Tq, Tk) or (Tk, Tq) when `keys_first`; read-only, so it cannot go stale."""
    if queries * keys <= _CACHED_BIAS_ELEMENTS:
        return _cached_causal_bias(queries, keys, keys_first, dtype)
    return _make_causal_bias(queries, keys, keys_first, dtype)


def _make_causal_bias(queries: int, keys: int, keys_first: bool, dtype: np.dtype) -> np.ndarray:
    allowed = causal_mask(queries, keys)
    allowed = np.ascontiguousarray(allowed.T) if keys_first else allowed  # a strided bias adds slowly
    bias = np.where(allowed, dtype.type(0), dtype.type(-np.inf))
    bias.flags.writeable = False
    return bias


_cached_causal_bias = functools.lru_cache(maxsize=16)(_make_causal_bias)


def _score_bias(mask: Any, is_causal: bool, scores_shape: tuple[int, ...], keys_first: bool,
                dtype: np.dtype, where: str) -> tuple[np.ndarray | None, bool]:
    """The bias to add to the scores (None: nothing masked), and whether a query row can end
    up with no allowed key (only an explicit mask can do that: a causal row always sees key 0)."""
    if mask is None:
        if not is_causal:
            return None, False
        return _causal_bias(scores_shape[-2], scores_shape[-1], keys_first, dtype), False
    allowed = np.atleast_2d(_allowed(mask, is_causal, scores_shape, where))
    if keys_first:  # a contiguous transposed copy: adding a strided view is several times slower
        allowed = np.ascontiguousarray(np.swapaxes(allowed, -1, -2))
    return np.where(allowed, dtype.type(0), dtype.type(-np.inf)), True


# ---- the shared forward: softmax over keys of the masked, scaled scores ----
@functools.lru_cache(maxsize=32)
def _largest_safe_score(dtype: np.dtype, keys: int) -> float:
    """A score bound within which exp neither overflows (even summed over `keys`) nor underflows to 0."""
    info = np.finfo(dtype)
    return 0.5 * min(math.log(float(info.max)) - math.log(keys), -math.log(float(info.tiny)))


def _scores_fit_exp(scores: np.ndarray, keys: int) -> bool:
    """Whether every score lies in ±`_largest_safe_score`, so softmax may skip subtracting the row max.

    Softmax is shift-invariant: the shift only keeps exp in range. A global min and max (two
    fast contiguous passes) replace a per-row max and a subtraction (two slow ones).
    """
    if scores.size == 0:
        return False
    limit = _largest_safe_score(scores.dtype, keys)
    return -limit <= float(scores.min()) and float(scores.max()) <= limit  # NaN: False, so shifted


def _attention_probs(q_scaled: np.ndarray, k: np.ndarray, bias: np.ndarray | None, keys_first: bool,
                     guard_empty_rows: bool) -> np.ndarray:
    """softmax(q_scaled @ kᵀ + bias) over keys, as (..., Tq, Tk), or as (..., Tk, Tq) when
    `keys_first` (NumPy reduces over a middle axis several times faster than over the last)."""
    key_axis = -2 if keys_first else -1
    batch = q_scaled.shape[:-2]
    if batch != k.shape[:-2]:
        batch = np.broadcast_shapes(batch, k.shape[:-2])
    queries, keys = q_scaled.shape[-2], k.shape[-2]
    if keys_first:
        scores = np.matmul(k, np.swapaxes(q_scaled, -1, -2), out=perf.empty(batch + (keys, queries), k.dtype))
    else:
        scores = np.matmul(q_scaled, np.swapaxes(k, -1, -2), out=perf.empty(batch + (queries, keys), k.dtype))
    unshifted = _scores_fit_exp(scores, keys)  # before the bias: its -inf would hide the smallest score
    if bias is not None:
        scores += bias
    if not unshifted:
        shift = scores.max(axis=key_axis, keepdims=True)
        if guard_empty_rows:
            shift[shift == -np.inf] = 0  # a row with no allowed key: exp(-inf - 0) = 0, not NaN
        scores -= shift
    probs = np.exp(scores, out=scores)
    ones = perf.ones(probs.shape[key_axis], probs.dtype)
    # sums over keys in BLAS, several times faster than np.sum
    total = np.matmul(ones, probs)[..., None, :] if keys_first else np.matmul(probs, ones)[..., None]
    if guard_empty_rows:
        total[total == 0] = 1  # the same empty rows: 0 / 1 = 0
    probs *= np.reciprocal(total, out=total)
    return probs


def _attention_grads(grad: np.ndarray, output: np.ndarray, probs_t: np.ndarray, q_scaled: np.ndarray,
                     k: np.ndarray, v: np.ndarray, scale: np.floating, needed: tuple[bool, bool, bool],
                     outs: tuple = (None, None, None)) -> tuple:
    """dq, dk, dv of output = softmax(q kᵀ·scale) @ v (each None unless `needed`), written into
    `outs` where given (they may be strided views, e.g. blocks of one packed array). Otherwise
    they have the batch dims of the scores (broadcast): the caller sums them to the inputs' shape."""
    out_q, out_k, out_v = outs
    batch, (keys, queries) = probs_t.shape[:-2], probs_t.shape[-2:]
    if out_q is None and needed[0]:
        out_q = perf.empty(batch + (queries, k.shape[-1]), grad.dtype)
    if out_k is None and needed[1]:
        out_k = perf.empty(batch + (keys, k.shape[-1]), grad.dtype)
    if out_v is None and needed[2]:
        out_v = perf.empty(batch + (keys, v.shape[-1]), grad.dtype)
    grad_q = grad_k = grad_v = None
    if needed[2]:
        grad_v = np.matmul(probs_t, grad, out=out_v)
    if needed[0] or needed[1]:
        # Σₖ dWₖ·Wₖ = Σₖ (g·vₖ) Wₖ = g·out: a (Tq, dv) product instead of a (Tq, Tk) one
        row_dot = perf.row_dot(grad, output)[..., None, :]
        grad_scores_t = np.matmul(v, np.swapaxes(grad, -1, -2), out=perf.empty(probs_t.shape, grad.dtype))
        grad_scores_t -= row_dot
        grad_scores_t *= probs_t  # disallowed keys have weight 0, so exactly 0 gradient
        if needed[0]:
            grad_q = np.matmul(np.swapaxes(grad_scores_t, -1, -2), k, out=out_q)
            grad_q *= scale
        if needed[1]:
            grad_k = np.matmul(grad_scores_t, q_scaled, out=out_k)
    return grad_q, grad_k, grad_v


# ---- one fused op: softmax(q kᵀ/√d) @ v ----
def _sdpa_backward(node: Tensor, grad: np.ndarray) -> tuple:
    q, k, v = node._inputs
    probs_t, q_scaled, scale = node._ctx  # probs_t: the weights, stored keys-first (..., Tk, Tq)
    grads = _attention_grads(grad, node.data, probs_t, q_scaled, k.data, v.data, scale,
                             (q.requires_grad, k.requires_grad, v.requires_grad))
    return tuple(None if g is None else reduce_to(g, x) for g, x in zip(grads, (q, k, v)))


SDPA = Op("scaled_dot_product_attention",
          "dV = Wᵀ·G,  dS = W ⊙ (G·Vᵀ - rowsum(G ⊙ out)),  dQ = dS·K/√d,  dK = dSᵀ·Q/√d",
          _sdpa_backward)


# ---- the same op reading q | k | v from one packed array, as multi-head attention makes them ----
def _split_heads(packed: np.ndarray, n_heads: int, parts: int) -> tuple[np.ndarray, ...]:
    """(B, T, parts·H·d) -> `parts` arrays (B, H, T, d): views into `packed`, nothing copied."""
    batch, time, width = packed.shape
    heads = packed.reshape(batch, time, parts, n_heads, width // (parts * n_heads))
    return tuple(heads[:, :, part].transpose(0, 2, 1, 3) for part in range(parts))


def _packed_attention_backward(node: Tensor, grad: np.ndarray) -> tuple:
    qkv = node._inputs[0]
    probs_t, q_scaled, scale, n_heads = node._ctx
    _, k, v = _split_heads(qkv.data, n_heads, 3)
    (grad_heads,), (out_heads,) = _split_heads(grad, n_heads, 1), _split_heads(node.data, n_heads, 1)
    grad_qkv = perf.empty(qkv.data.shape, qkv.data.dtype)
    # dq, dk, dv land straight in their column blocks of d(qkv): no zeros, no sums, no copies
    _attention_grads(grad_heads, out_heads, probs_t, q_scaled, k, v, scale, (True, True, True),
                     _split_heads(grad_qkv, n_heads, 3))
    return (grad_qkv,)


PACKED_ATTENTION = Op("packed_attention",
                      "per head: dV = Wᵀ·G,  dS = W ⊙ (G·Vᵀ - rowsum(G ⊙ out)),  dQ = dS·K/√d,  dK = dSᵀ·Q/√d;"
                      "  d(qkv) = [dQ, dK, dV] side by side",
                      _packed_attention_backward)


def packed_attention(qkv: Any, n_heads: int, mask: Any = None, is_causal: bool = False,
                     scale: float | None = None) -> Tensor:
    """Multi-head attention of a packed projection: qkv (B, T, 3·d) holds q | k | v, each split
    head-major into `n_heads` heads of d / n_heads channels; returns (B, T, d), heads merged.

    The same numbers as cutting qkv into per-head q, k, v, calling
    `scaled_dot_product_attention(q, k, v, mask, is_causal, scale=scale)` and merging the heads
    back, but one op without the copies: the heads are views into qkv, the output is written
    already merged and the gradient goes straight into one (B, T, 3·d) array.
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
    d_head = width // (3 * n_heads)
    dtype = qkv.data.dtype
    bias, guard = _score_bias(mask, is_causal, (batch, n_heads, time, time), True, dtype, where)
    scale = _scale(scale, d_head, dtype, where)
    q, k, v = _split_heads(qkv.data, n_heads, 3)
    q_scaled = np.multiply(q, scale, out=perf.empty(q.shape, dtype))
    probs_t = _attention_probs(q_scaled, k, bias, True, guard)
    merged = perf.empty((batch, time, n_heads, d_head), dtype)
    np.matmul(np.swapaxes(probs_t, -1, -2), v, out=merged.transpose(0, 2, 1, 3))  # written in merged order
    return make(merged.reshape(batch, time, n_heads * d_head), (qkv,), PACKED_ATTENTION,
                (probs_t, q_scaled, scale, n_heads))


# ---- or two ops: the weights as their own node, then an ordinary matmul ----
def _weights_backward(node: Tensor, grad: np.ndarray) -> tuple:
    q, k = node._inputs
    q_scaled, scale = node._ctx
    weights = node.data
    row_dot = perf.row_dot(grad, weights)[..., None]
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

OPS = (SDPA, PACKED_ATTENTION, ATTENTION_WEIGHTS)


def _weights(q: Tensor, k: Tensor, bias: np.ndarray | None, guard: bool, scale: np.floating) -> Tensor:
    q_scaled = np.multiply(q.data, scale, out=perf.empty(q.shape, q.data.dtype))
    weights = make(_attention_probs(q_scaled, k.data, bias, False, guard), (q, k), ATTENTION_WEIGHTS,
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
    bias, guard = _score_bias(mask, is_causal, scores_shape, False, q.data.dtype, where)
    return _weights(q, k, bias, guard, _scale(scale, q.shape[-1], q.data.dtype, where))


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
    scale = _scale(scale, q.shape[-1], q.data.dtype, where)
    if return_weights:
        bias, guard = _score_bias(mask, is_causal, scores_shape, False, q.data.dtype, where)
        weights = _weights(q, k, bias, guard, scale)
        return matmul(weights, v), weights
    bias, guard = _score_bias(mask, is_causal, scores_shape, True, q.data.dtype, where)
    q_scaled = np.multiply(q.data, scale, out=perf.empty(q.shape, q.data.dtype))
    probs_t = _attention_probs(q_scaled, k.data, bias, True, guard)
    output = np.matmul(np.swapaxes(probs_t, -1, -2), v.data,
                       out=perf.empty(scores_shape[:-1] + v.shape[-1:], q.data.dtype))
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
