"""Attention kernels: the same numbers as `attention/sdpa.py` and `attention/packed.py`, faster.

The readable reference computes scores, masks them, takes a shifted softmax and multiplies by
v. These kernels do the same arithmetic, with four tricks:

- The weights are kept keys-first, (..., Tk, Tq): NumPy reduces over a middle axis several
  times faster than over the last. They are saved as `attn_weights`, a (..., Tq, Tk)
  swapaxes view of that array (what a viewer reads), and backward swaps it back.
- A mask is added as a 0/-inf bias; the causal one is cached, read-only, so it cannot go stale
  (at most `CAUSAL_BIAS_CACHE_MAX_BYTES` in all; `kernels.release_memory()` empties it).
- Softmax skips its max shift when every score lies where exp neither overflows nor underflows
  (softmax is shift-invariant: the shift only keeps exp in range).
- Large arrays come from `pool.empty` (reused buffers); multi-head attention reads each head's
  q, k, v as views of the packed projection, writes its output already merged, and writes
  dq, dk, dv straight into their column blocks of one d(qkv).

Each kernel saves the reference's names (`attn_weights`, `scale`, `mask`, `is_causal`, and
`n_heads` for packed attention) plus `q_scaled` (q·scale, reused by backward). Inputs arrive
checked by the public functions. This module imports only NumPy and `pool`.
"""
from __future__ import annotations

import collections
import functools
import math
import threading
from typing import Any

import numpy as np

from . import pool

__all__ = ["sdpa_forward", "sdpa_backward", "weights_forward", "weights_backward",
           "packed_forward", "packed_backward", "causal_bias_cache_bytes", "release_causal_biases",
           "CAUSAL_BIAS_CACHE_MAX_BYTES"]


# ---- masks as an additive bias: 0 where attention is allowed, -inf where it is not ----
CAUSAL_BIAS_CACHE_MAX_BYTES = 32 * 1024 * 1024  # the cache's total size; least recently used go first
_CACHED_BIAS_MAX_BYTES = 8 * 1024 * 1024  # a larger causal bias is made afresh each time, never kept


class _BiasCache:
    """Causal biases by (Tq, Tk, keys_first, dtype), least recently used first, at most
    `CAUSAL_BIAS_CACHE_MAX_BYTES` in all. Shared by every thread (the lock guards it)."""

    def __init__(self) -> None:
        self.entries: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()
        self.nbytes = 0
        self.lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self.lock:
            bias = self.entries.get(key)
            if bias is not None:
                self.entries.move_to_end(key)
            return bias

    def put(self, key: tuple, bias: np.ndarray) -> None:
        with self.lock:
            if key in self.entries:
                return
            while self.entries and self.nbytes + bias.nbytes > CAUSAL_BIAS_CACHE_MAX_BYTES:
                self.nbytes -= self.entries.popitem(last=False)[1].nbytes
            if self.nbytes + bias.nbytes <= CAUSAL_BIAS_CACHE_MAX_BYTES:
                self.entries[key] = bias
                self.nbytes += bias.nbytes

    def clear(self) -> int:
        """Empty the cache; returns the bytes it held."""
        with self.lock:
            freed, self.nbytes = self.nbytes, 0
            self.entries.clear()
            return freed


_bias_cache = _BiasCache()


def _causal_bias(queries: int, keys: int, keys_first: bool, dtype: np.dtype) -> np.ndarray:
    """The causal mask as a bias, (Tq, Tk) or (Tk, Tq) when `keys_first`; read-only, so it cannot go stale."""
    dtype = np.dtype(dtype)
    if queries * keys * dtype.itemsize > min(_CACHED_BIAS_MAX_BYTES, CAUSAL_BIAS_CACHE_MAX_BYTES):
        return _make_causal_bias(queries, keys, keys_first, dtype)
    key = (queries, keys, keys_first, dtype)
    bias = _bias_cache.get(key)
    if bias is None:
        bias = _make_causal_bias(queries, keys, keys_first, dtype)
        _bias_cache.put(key, bias)
    return bias


def _make_causal_bias(queries: int, keys: int, keys_first: bool, dtype: np.dtype) -> np.ndarray:
    allowed = np.tri(queries, keys, dtype=bool)
    allowed = np.ascontiguousarray(allowed.T) if keys_first else allowed  # a strided bias adds slowly
    bias = np.where(allowed, dtype.type(0), dtype.type(-np.inf))
    bias.flags.writeable = False
    return bias


def causal_bias_cache_bytes() -> int:
    """How many bytes the causal-bias cache holds now."""
    return _bias_cache.nbytes


def release_causal_biases() -> int:
    """Empty the causal-bias cache; returns the bytes it held."""
    return _bias_cache.clear()


def _score_bias(mask: np.ndarray | None, is_causal: bool, queries: int, keys: int, keys_first: bool,
                dtype: np.dtype) -> tuple[np.ndarray | None, bool]:
    """The bias to add to the scores (None: nothing masked), and whether a query row can end
    up with no allowed key (only an explicit mask can do that: a causal row always sees key 0)."""
    if mask is None:
        if not is_causal:
            return None, False
        return _causal_bias(queries, keys, keys_first, dtype), False
    allowed = np.atleast_2d(mask)
    if is_causal:
        allowed = allowed & np.tri(queries, keys, dtype=bool)
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

    A global min and max (two fast contiguous passes) replace a per-row max and a subtraction
    (two slow ones).
    """
    if scores.size == 0:
        return False
    limit = _largest_safe_score(scores.dtype, keys)
    return -limit <= float(scores.min()) and float(scores.max()) <= limit  # NaN: False, so shifted


def _attention_probs(q_scaled: np.ndarray, k: np.ndarray, bias: np.ndarray | None, keys_first: bool,
                     guard_empty_rows: bool) -> np.ndarray:
    """softmax(q_scaled @ kᵀ + bias) over keys, as (..., Tq, Tk), or as (..., Tk, Tq) when `keys_first`."""
    key_axis = -2 if keys_first else -1
    batch = q_scaled.shape[:-2]
    if batch != k.shape[:-2]:
        batch = np.broadcast_shapes(batch, k.shape[:-2])
    queries, keys = q_scaled.shape[-2], k.shape[-2]
    if keys_first:
        scores = np.matmul(k, np.swapaxes(q_scaled, -1, -2), out=pool.empty(batch + (keys, queries), k.dtype))
    else:
        scores = np.matmul(q_scaled, np.swapaxes(k, -1, -2), out=pool.empty(batch + (queries, keys), k.dtype))
    unshifted = _scores_fit_exp(scores, keys)  # before the bias: its -inf would hide the smallest score
    if bias is not None:
        scores += bias
    if not unshifted:
        shift = scores.max(axis=key_axis, keepdims=True)
        if guard_empty_rows:
            shift[shift == -np.inf] = 0  # a row with no allowed key: exp(-inf - 0) = 0, not NaN
        scores -= shift
    probs = np.exp(scores, out=scores)
    ones = pool.ones(probs.shape[key_axis], probs.dtype)
    # sums over keys in BLAS, several times faster than np.sum
    total = np.matmul(ones, probs)[..., None, :] if keys_first else np.matmul(probs, ones)[..., None]
    if guard_empty_rows:
        total[total == 0] = 1  # the same empty rows: 0 / 1 = 0
    np.divide(probs, total, out=probs)  # not × 1/total: that leaves a lone key at 1 ± 1 ulp, not exactly 1
    return probs


def _scaled(q: np.ndarray, scale: np.floating) -> np.ndarray:
    return np.multiply(q, scale, out=pool.empty(q.shape, q.dtype))


def _attention_grads(grad: np.ndarray, output: np.ndarray, probs_t: np.ndarray, q_scaled: np.ndarray,
                     k: np.ndarray, v: np.ndarray, scale: np.floating, needed: tuple[bool, bool, bool],
                     outs: tuple = (None, None, None)) -> tuple:
    """dq, dk, dv of output = softmax(q kᵀ·scale) @ v (each None unless `needed`), written into
    `outs` where given (they may be strided views, e.g. blocks of one packed array). Otherwise
    they have the batch dims of the output (broadcast): the registry sums them to the inputs' shape."""
    out_q, out_k, out_v = outs
    batch, (keys, queries) = grad.shape[:-2], probs_t.shape[-2:]
    if out_q is None and needed[0]:
        out_q = pool.empty(batch + (queries, k.shape[-1]), grad.dtype)
    if out_k is None and needed[1]:
        out_k = pool.empty(batch + (keys, k.shape[-1]), grad.dtype)
    if out_v is None and needed[2]:
        out_v = pool.empty(batch + (keys, v.shape[-1]), grad.dtype)
    grad_q = grad_k = grad_v = None
    if needed[2]:
        grad_v = np.matmul(probs_t, grad, out=out_v)
    if needed[0] or needed[1]:
        # dS = W ⊙ (dW − Σₖ dWₖ·Wₖ), the row sum taken from the same dW it is subtracted from: when
        # the softmax saturates (W one-hot) the two then cancel exactly. (The shortcut Σₖ dWₖ·Wₖ =
        # g·out rounds differently from dW and leaves errors far larger than the true gradient.)
        # dW from V less its mean row: the same dS (each row of W sums to 1), but what V's rows share
        # (all equal, or |v| ≈ 300 with a small spread) is gone before the row sum below, which would
        # otherwise leave rounding × |dW| behind. The reference takes the row sum twice instead: that
        # costs a pass over the (Tq, Tk) scores, this one over V (see attention/sdpa.py)
        v_mean = np.matmul(pool.ones(keys, v.dtype), v)[..., None, :]
        v_mean /= max(keys, 1)  # no keys: V is empty, and so is what is taken from it
        centred_v = np.subtract(v, v_mean, out=pool.empty(v.shape, v.dtype))
        grad_scores_t = np.matmul(centred_v, np.swapaxes(grad, -1, -2),
                                  out=pool.empty(batch + (keys, queries), grad.dtype))
        # Σ over keys of dW·W in one einsum: it reads both arrays once and stores no product (twice as
        # fast as the product then a BLAS sum with a ones-vector)
        grad_scores_t -= np.einsum("...kq,...kq->...q", grad_scores_t, probs_t)[..., None, :]
        grad_scores_t *= probs_t  # disallowed keys have weight 0, so exactly 0 gradient
        if needed[0]:
            grad_q = np.matmul(np.swapaxes(grad_scores_t, -1, -2), k, out=out_q)
            grad_q *= scale
        if needed[1]:
            grad_k = np.matmul(grad_scores_t, q_scaled, out=out_k)
    return grad_q, grad_k, grad_v


# ---- scaled_dot_product_attention: softmax(q kᵀ·scale) @ v ----
def sdpa_forward(ctx: Any, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
                 is_causal: bool, scale: np.floating) -> np.ndarray:
    queries, keys = q.shape[-2], k.shape[-2]
    bias, guard = _score_bias(mask, is_causal, queries, keys, True, q.dtype)
    q_scaled = _scaled(q, scale)
    probs_t = _attention_probs(q_scaled, k, bias, True, guard)
    batch = probs_t.shape[:-2]
    if batch != v.shape[:-2]:
        batch = np.broadcast_shapes(batch, v.shape[:-2])
    output = np.matmul(np.swapaxes(probs_t, -1, -2), v,
                       out=_empty_like_layout(batch + (queries, v.shape[-1]), q))
    ctx.save(attn_weights=np.swapaxes(probs_t, -1, -2), scale=scale, mask=mask, is_causal=is_causal,
             q_scaled=q_scaled)
    return output


def sdpa_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    q, k, v = ctx.inputs
    saved = ctx.saved
    probs_t = np.swapaxes(saved.attn_weights, -1, -2)  # the keys-first array itself
    shape = upstream_grad.shape[:-2]
    outs = tuple(_empty_like_layout(x.data.shape, x.data) if x.requires_grad and x.data.shape[:-2] == shape
                 else None for x in (q, k, v))
    return _attention_grads(upstream_grad, ctx.data, probs_t, saved.q_scaled, k.data, v.data, saved.scale,
                            (q.requires_grad, k.requires_grad, v.requires_grad), outs)


def _empty_like_layout(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    """A pooled array of `shape` laid out in memory as `like` is, when `like` is a permuted view of
    a C-contiguous array keeping its last axis last (q, k, v split from one (B, T, 3C) projection
    and transposed to (B, H, T, d)): the output and dq, dk, dv then transpose back to (B, T, H, d)
    contiguous, so the `view(B, T, C)` after attention and the reshape before the split's gradient
    copy nothing. Otherwise C-contiguous."""
    if like.shape[:-2] == shape[:-2] and like.ndim > 2 and not like.flags.c_contiguous:
        order = sorted(range(like.ndim), key=lambda axis: -like.strides[axis])  # outermost in memory first
        if order[-1] == like.ndim - 1 and np.transpose(like, order).flags.c_contiguous:
            buffer = pool.empty(tuple(shape[axis] for axis in order), like.dtype)
            return np.transpose(buffer, np.argsort(order))
    return pool.empty(shape, like.dtype)


# ---- attention_weights: softmax(q kᵀ·scale) alone, queries-first (it is the node's result) ----
def weights_forward(ctx: Any, q: np.ndarray, k: np.ndarray, mask: np.ndarray | None, is_causal: bool,
                    scale: np.floating) -> np.ndarray:
    bias, guard = _score_bias(mask, is_causal, q.shape[-2], k.shape[-2], False, q.dtype)
    q_scaled = _scaled(q, scale)
    weights = _attention_probs(q_scaled, k, bias, False, guard)
    ctx.save(attn_weights=weights, scale=scale, mask=mask, is_causal=is_causal, q_scaled=q_scaled)
    return weights


def weights_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    q, k = ctx.inputs
    saved = ctx.saved
    weights = saved.attn_weights
    row_dot = pool.row_dot(upstream_grad, weights)[..., None]
    grad_scores = upstream_grad - row_dot  # never in place: `upstream_grad` may be the retained weights.grad
    grad_scores -= pool.row_dot(grad_scores, weights)[..., None]  # again, as in _attention_grads
    grad_scores *= weights
    grad_q = grad_k = None
    if q.requires_grad:
        grad_q = np.matmul(grad_scores, k.data)
        grad_q *= saved.scale
    if k.requires_grad:
        grad_k = np.matmul(np.swapaxes(grad_scores, -1, -2), saved.q_scaled)
    return grad_q, grad_k


# ---- packed_attention: every head's q, k, v read as views of one (B, T, 3·d) projection ----
def _split_heads(packed: np.ndarray, n_heads: int, parts: int) -> tuple[np.ndarray, ...]:
    """(B, T, parts·H·d) -> `parts` arrays (B, H, T, d): views into `packed`, nothing copied."""
    batch, time, width = packed.shape
    heads = packed.reshape(batch, time, parts, n_heads, width // (parts * n_heads))
    return tuple(heads[:, :, part].transpose(0, 2, 1, 3) for part in range(parts))


def packed_forward(ctx: Any, qkv: np.ndarray, n_heads: int, mask: np.ndarray | None, is_causal: bool,
                   scale: np.floating) -> np.ndarray:
    batch, time, width = qkv.shape
    d_head = width // (3 * n_heads)
    bias, guard = _score_bias(mask, is_causal, time, time, True, qkv.dtype)
    q, k, v = _split_heads(qkv, n_heads, 3)
    q_scaled = _scaled(q, scale)
    probs_t = _attention_probs(q_scaled, k, bias, True, guard)
    merged = pool.empty((batch, time, n_heads, d_head), qkv.dtype)
    np.matmul(np.swapaxes(probs_t, -1, -2), v, out=merged.transpose(0, 2, 1, 3))  # written in merged order
    ctx.save(attn_weights=np.swapaxes(probs_t, -1, -2), scale=scale, mask=mask, is_causal=is_causal,
             n_heads=n_heads, q_scaled=q_scaled)
    return merged.reshape(batch, time, n_heads * d_head)


def packed_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    qkv = ctx.inputs[0].data
    saved = ctx.saved
    n_heads = saved.n_heads
    _, k, v = _split_heads(qkv, n_heads, 3)
    (grad_heads,), (out_heads,) = _split_heads(upstream_grad, n_heads, 1), _split_heads(ctx.data, n_heads, 1)
    grad_qkv = pool.empty(qkv.shape, qkv.dtype)
    # dq, dk, dv land straight in their column blocks of d(qkv): no zeros, no sums, no copies
    _attention_grads(grad_heads, out_heads, np.swapaxes(saved.attn_weights, -1, -2), saved.q_scaled, k, v,
                     saved.scale, (True, True, True), _split_heads(grad_qkv, n_heads, 3))
    return (grad_qkv,)
