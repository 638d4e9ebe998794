"""Scaled dot-product attention, as two readable ops.

    scores  = q @ kᵀ · scale                 (scale = 1/√d unless given)
    masked  = scores, with -inf where a query may not attend to a key
    weights = softmax over keys of masked    (shifted by the row max, so exp never overflows)
    output  = weights @ v

- `scaled_dot_product_attention(q, k, v)`: one op, q, k, v -> output. With
  `return_weights=True` it is two ops instead, `attention_weights` then an ordinary matmul, so
  the weights are a node on the loss path and `weights.retain_grad()` shows dL/dW.
- `attention_weights(q, k)`: the weights alone, as one op.
- A floating-point `attn_mask` (PyTorch's additive mask) is a bias on the scores: the weights
  are then `biased_attention_weights(q, k, bias)`, one op whose backward also reaches the bias
  (dBias = dS), followed by a matmul with v.
- `dropout_p` > 0 drops weights (F.dropout, from the generator `ta.manual_seed` sets) before
  the matmul with v, as PyTorch does whenever dropout_p > 0.

Backward, with G = dL/doutput and W the saved weights (`ctx.saved.attn_weights`):

    dV = Wᵀ G
    dW = G Vᵀ
    dS = W ◦ (dW − rowsum(dW ◦ W))     (the softmax backward, row by row)
    dQ = dS K · scale
    dK = dSᵀ Q · scale

The row sum is taken twice: dW − rowsum(dW ◦ W) is 0 in every row where dW is the same for
every key, but in floats the weights sum to 1 only to within rounding, so what is left is
rounding × |dW| (values ≈ 300 in float32 leave dQ wrong in its third digit). Taking the row sum
of what is left, and subtracting it too, removes that error; in exact arithmetic it subtracts 0.
(The kernel gets the same effect more cheaply by taking V's mean row from V before dW = G Vᵀ,
which leaves dS unchanged because each row of W sums to 1.)

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
from .masks import allowed_keys, check_attn_mask, mask_scores

__all__ = ["scaled_dot_product_attention", "attention_weights", "SDPA", "ATTENTION_WEIGHTS",
           "BIASED_ATTENTION_WEIGHTS"]


# ---- the math, on NumPy arrays (packed attention runs the same, head by head) ----
def softmax_over_keys(scores: np.ndarray) -> np.ndarray:
    """softmax along the last axis: exp(s − max) / Σ exp(s − max). A row that is all -inf
    (no allowed key) gives zeros instead of 0/0."""
    shift = np.max(scores, axis=-1, keepdims=True)
    shift[shift == -np.inf] = 0  # only all -inf rows: a +inf or NaN score makes its row NaN, as in PyTorch
    exps = np.exp(scores - shift)
    total = np.sum(exps, axis=-1, keepdims=True)
    total[total == 0] = 1
    return exps / total


def attention_probs(q: np.ndarray, k: np.ndarray, allowed: np.ndarray | None, scale: np.floating) -> np.ndarray:
    """The weights (..., Tq, Tk): softmax over keys of the masked scores q kᵀ · scale."""
    scores = q @ np.swapaxes(k, -1, -2) * scale
    return softmax_over_keys(mask_scores(scores, allowed))


def softmax_backward(W: np.ndarray, dW: np.ndarray) -> np.ndarray:
    """dS = W ◦ (dW − rowsum(dW ◦ W)): the gradient of the scores, given that of the weights."""
    centred = dW - np.sum(dW * W, axis=-1, keepdims=True)
    centred = centred - np.sum(centred * W, axis=-1, keepdims=True)  # 0 in exact arithmetic (see the top)
    return W * centred


def attention_backward(upstream_grad: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       attn_weights: np.ndarray, scale: np.floating) -> tuple:
    """dQ, dK, dV of output = W @ v with W = softmax(q kᵀ · scale), given G = dL/doutput."""
    G, W = upstream_grad, attn_weights
    dV = np.swapaxes(W, -1, -2) @ G
    dW = G @ np.swapaxes(v, -1, -2)
    dS = softmax_backward(W, dW)
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
              formulas=("dQ = dS·K·scale, with dS = W ◦ (dW − rowsum(dW ◦ W)) and dW = G·Vᵀ",
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
    dS = softmax_backward(W, upstream_grad)
    return dS @ k * scale, np.swapaxes(dS, -1, -2) @ q * scale


ATTENTION_WEIGHTS = define("attention_weights", forward=weights_forward, backward=weights_backward,
                           unbroadcast=True,
                           formulas=("dQ = dS·K·scale, with dS = W ◦ (G − rowsum(G ◦ W))", "dK = dSᵀ·Q·scale"),
                           kernel=(kernels.weights_forward, kernels.weights_backward))


# ---- biased_attention_weights: q, k, bias -> softmax(q kᵀ · scale + bias) (a float attn_mask) ----
def biased_weights_forward(ctx, q, k, bias, is_causal, scale):
    scores = q @ np.swapaxes(k, -1, -2) * scale + bias
    allowed = allowed_keys(None, is_causal, q.shape[-2], k.shape[-2])
    weights = softmax_over_keys(mask_scores(scores, allowed))
    ctx.save(attn_weights=weights, scale=scale, is_causal=is_causal)
    return weights


def biased_weights_backward(ctx, upstream_grad):
    q, k, _ = (x.data for x in ctx.inputs)
    W, scale = ctx.saved.attn_weights, ctx.saved.scale
    dS = softmax_backward(W, upstream_grad)
    return dS @ k * scale, np.swapaxes(dS, -1, -2) @ q * scale, dS  # the registry sums dS to the bias's shape


BIASED_ATTENTION_WEIGHTS = define(
    "biased_attention_weights", forward=biased_weights_forward, backward=biased_weights_backward, unbroadcast=True,
    formulas=("dQ = dS·K·scale, with dS = W ◦ (G − rowsum(G ◦ W))", "dK = dSᵀ·Q·scale",
              "dBias = dS (summed over the dims the bias was broadcast along)"))


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
def _given_mask(attn_mask: Any, mask: Any, where: str) -> Any:
    """`attn_mask`, or `mask` (our older spelling, kept as an alias)."""
    if mask is None:
        return attn_mask
    if attn_mask is not None:
        raise TypeError(f"{where}: got both attn_mask and mask; mask is an alias of attn_mask, pass one")
    return mask


def _weights(q: Tensor, k: Tensor, allowed: Any, bias: Any, is_causal: bool, scale: np.floating) -> Tensor:
    """The attention weights as one node: a boolean mask goes into the op, a float one (`bias`,
    from `check_attn_mask`) is an input of its own."""
    if bias is None:
        weights = apply(ATTENTION_WEIGHTS, (q, k), mask=allowed, is_causal=bool(is_causal), scale=scale)
    else:
        weights = apply(BIASED_ATTENTION_WEIGHTS, (q, k, bias), is_causal=bool(is_causal), scale=scale)
    weights.name = "weights"
    return weights


def attention_weights(query: Any, key: Any, attn_mask: Any = None, is_causal: bool = False,
                      scale: float | None = None, *, mask: Any = None) -> Tensor:
    """softmax over keys of query @ keyᵀ · scale (default 1/√d), masked: (..., Tq, Tk).

    One op with its own backward straight to q and k (and to a float mask). `attn_mask`
    (`mask=` is an alias) and `is_causal` as in `scaled_dot_product_attention`.
    """
    where = "attention_weights"
    q, k, _, scores_shape = check_inputs(where, query, key)
    scale = check_scale(scale, q.shape[-1], q.data.dtype, where)
    allowed, bias = check_attn_mask(_given_mask(attn_mask, mask, where), scores_shape, q.data.dtype, where)
    return _weights(q, k, allowed, bias, is_causal, scale)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, *, scale: float | None = None, enable_gqa: bool = False,
                                 return_weights: bool = False, mask: Any = None) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q @ kᵀ / √d + mask) @ v with query (..., Tq, d), key (..., Tk, d), value (..., Tk, dv)
    -> (..., Tq, dv), as torch.nn.functional.scaled_dot_product_attention.

    Leading (batch, head) dims broadcast. `attn_mask` (`mask=` is our older alias) broadcasts
    to (..., Tq, Tk) without enlarging it: boolean, True where query i may attend to key j; or
    floating point, added to the scores (-inf excludes a key). `is_causal`: query i attends to
    keys 0..i, aligned top-left when Tq != Tk (as in PyTorch); with a mask as well (PyTorch
    refuses the pair) both apply. A query with no allowed key gets a zero output and zero
    gradients. `dropout_p` > 0 drops attention weights with that probability (scaling the rest
    by 1/(1 - p)) whenever it is given, as in PyTorch: pass 0.0 when evaluating. `scale`
    replaces 1/√d. `scale` and `enable_gqa` (refused) are keyword-only, as in PyTorch.
    With `return_weights=True` returns `(output, weights)`, the weights
    (..., Tq, Tk) being the tensor the output is computed from (on the loss path; before dropout).
    """
    where = "scaled_dot_product_attention"
    if enable_gqa:
        raise NotImplementedError(f"{where}: enable_gqa=True is not supported; repeat the key and value heads to "
                                  "the number of query heads first")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float, np.integer, np.floating)) \
            or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{where}: dropout_p must be a probability in [0, 1], got {dropout_p!r}")
    q, k, v, scores_shape = check_inputs(where, query, key, value)
    scale = check_scale(scale, q.shape[-1], q.data.dtype, where)
    allowed, bias = check_attn_mask(_given_mask(attn_mask, mask, where), scores_shape, q.data.dtype, where)
    if not (return_weights or dropout_p > 0 or bias is not None):  # the usual case: one fused op
        return apply(SDPA, (q, k, v), mask=allowed, is_causal=bool(is_causal), scale=scale)
    weights = _weights(q, k, allowed, bias, is_causal, scale)
    attended = weights
    if dropout_p > 0:
        from ..functional.regularization import dropout  # functional imports attention: looked up at call time

        attended = dropout(weights, float(dropout_p))
    out = attended @ v
    return (out, weights) if return_weights else out


# ---- usages: sample inputs and PyTorch's version ----
def torch_attention(torch: Any, q: Any, k: Any, v: Any, attn_mask: Any = None, is_causal: bool = False,
                    **kwargs: Any) -> Any:
    if isinstance(attn_mask, np.ndarray):
        attn_mask = torch.as_tensor(attn_mask)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                                            **kwargs)


def _torch_attention_weights(torch: Any, q: Any, k: Any, attn_mask: np.ndarray | None = None,
                             is_causal: bool = False) -> Any:
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    allowed = np.ones(tuple(scores.shape[-2:]), dtype=bool) if attn_mask is None else attn_mask
    if is_causal:
        allowed = allowed & np.tri(*scores.shape[-2:], dtype=bool)
    return torch.softmax(scores.masked_fill(~torch.as_tensor(allowed), float("-inf")), dim=-1)


KEY_PADDING = np.array([[True, True, False, False], [True, True, True, True]])[:, None, :]  # (2, 1, 4)
_ATTENTION_SAMPLES = (
    S((2, 4, 3), (2, 5, 3), (2, 5, 2)),
    S((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3), is_causal=True),
    S((3, 3), (5, 3), (5, 4), is_causal=True, note="Tq < Tk: causal is aligned top-left, as in PyTorch"),
    S((2, 4, 3), (2, 4, 3), (2, 4, 3), attn_mask=KEY_PADDING, note="padding keys masked"),
    S((2, 1, 4, 3), (3, 4, 3), (3, 4, 2), note="batch dims broadcast"),
    S((2, 4, 3), (2, 4, 3), (2, 4, 3), scale=0.3),
)

SDPA.usage("F.scaled_dot_product_attention", lambda q, k, v, **kw: scaled_dot_product_attention(q, k, v, **kw),
           torch_attention, *_ATTENTION_SAMPLES, note="one fused op; a boolean mask is True where attention is allowed")
ATTENTION_WEIGHTS.usage("F.scaled_dot_product_attention",
                        lambda q, k, v, **kw: scaled_dot_product_attention(q, k, v, return_weights=True, **kw)[0],
                        torch_attention, *_ATTENTION_SAMPLES, variant="return_weights",
                        note="two ops, attention_weights then matmul, so the weights are on the loss path")
ATTENTION_WEIGHTS.usage("F.attention_weights", lambda q, k, **kw: attention_weights(q, k, **kw),
                        _torch_attention_weights, S((2, 4, 3), (2, 5, 3)), S((2, 4, 3), (2, 4, 3), is_causal=True),
                        S((2, 4, 3), (2, 4, 3), attn_mask=KEY_PADDING))
BIASED_ATTENTION_WEIGHTS.usage(
    "F.scaled_dot_product_attention",
    lambda q, k, v, bias, **kw: scaled_dot_product_attention(q, k, v, attn_mask=bias, **kw),
    lambda torch, q, k, v, bias, **kw: torch_attention(torch, q, k, v, attn_mask=bias, **kw),
    S((2, 4, 3), (2, 5, 3), (2, 5, 2), (4, 5), note="one bias for every batch, broadcast: its gradient is summed"),
    S((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3), (2, 1, 1, 4), note="a bias per key (e.g. soft padding)"),
    S((4, 3), (6, 3), (6, 5), (4, 6), scale=0.5),
    S((2, 4, 3), (2, 4, 3), (2, 4, 2), (2, 4, 4)),
    variant="float_mask", note="a float attn_mask is added to the scores (and gets its gradient)")
