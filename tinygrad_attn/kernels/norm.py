"""Layer-norm kernel: every leading axis flattened into rows, so BLAS does the row sums; the
arithmetic in place in buffers from `pool.empty`.

The same saved names and shapes as the reference (`functional/norm.py`): x_hat (x's shape),
inv_std (x's shape with a last axis of 1), has_weight, has_bias; both are views of 2-D rows.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pool


def _normalised_rows(rows: np.ndarray, eps: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """x̂ (in a pooled buffer), 1/√(var + eps) as a column, and whether every √(var + eps) was
    finite, for 2-D rows; eps a number or one per row."""
    width = rows.shape[1]
    # less the first entry first (x̂ does not change by a shift): a constant row is then exactly 0.
    # Its mean would round instead (24 entries of 6.5e6 sum to 1.6e8, where float32's step is 16),
    # leaving x - mean = ±ulp, a variance far above eps, and x̂ = ±1 where it is 0
    x_hat = np.subtract(rows, rows[:, :1], out=pool.empty(rows.shape, rows.dtype))  # scaled in place below
    mean = np.matmul(x_hat, pool.ones(width, rows.dtype))
    mean *= 1 / width
    x_hat -= mean[:, None]
    variance = pool.row_dot(x_hat, x_hat)  # Σ (x - mean)² without storing the squares
    variance *= 1 / width  # biased, as in PyTorch
    variance += eps
    std = np.sqrt(variance, out=variance)
    finite = bool(np.isfinite(std).all())
    inv_std = np.reciprocal(std, out=std)[:, None]
    x_hat *= inv_std
    return x_hat, inv_std, finite


def _row_scale(rows: np.ndarray) -> np.ndarray:
    """Per row, the power of two s with max|x|/s in [1, 2) (1 for rows within ±2), as a column."""
    _, exponent = np.frexp(np.max(np.abs(rows), axis=1, keepdims=True))
    return np.ldexp(np.ones((rows.shape[0], 1), rows.dtype), np.maximum(exponent - 1, 0))


def layer_norm_forward(ctx: Any, x: np.ndarray, *weight_and_bias: np.ndarray, eps: float,
                       has_weight: bool, has_bias: bool) -> np.ndarray:
    width = x.shape[-1]
    weight = weight_and_bias[0] if has_weight else None
    bias = weight_and_bias[-1] if has_bias else None
    rows = x.reshape(math.prod(x.shape[:-1]), width)  # every leading axis is a row: 2-D, so BLAS does the row sums
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught just below
        x_hat, inv_std, finite = _normalised_rows(rows, eps)
    if not finite:
        # x² overflowed (rows of 1e20..3e38 in float32), or x holds inf/NaN: as the reference does,
        # normalise x/s minus its first entry with eps/s² (s a power of two, so exact), then
        # 1/σ = (1/σ of x/s) / s
        scale = _row_scale(rows)
        scaled = rows / scale
        scaled -= scaled[:, :1].copy()  # as _normalised_rows does, before x² can overflow
        scaled_eps = np.maximum(eps / scale / scale, np.finfo(rows.dtype).tiny)  # eps/s² underflows for huge rows
        x_hat, inv_std, _ = _normalised_rows(scaled, scaled_eps[:, 0])
        variance = pool.row_dot(x_hat, x_hat)  # 0 only for a constant row, whose σ is √eps
        inv_std = np.where(variance[:, None] > 0, inv_std / scale, 1 / np.sqrt(rows.dtype.type(eps)))
    out = pool.empty(x_hat.shape, x_hat.dtype)  # never x_hat itself: backward needs it unchanged
    if weight is not None:
        np.multiply(x_hat, weight, out=out)
        if bias is not None:
            out += bias
    elif bias is not None:
        np.add(x_hat, bias, out=out)
    else:
        np.copyto(out, x_hat)
    ctx.save(x_hat=x_hat.reshape(x.shape), inv_std=inv_std.reshape(x.shape[:-1] + (1,)),
             has_weight=has_weight, has_bias=has_bias)
    return out.reshape(x.shape)


def layer_norm_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    saved = ctx.saved
    inputs = ctx.inputs
    width = saved.x_hat.shape[-1]
    x_hat = saved.x_hat.reshape(math.prod(saved.x_hat.shape[:-1]), width)  # views: the rows forward computed
    inv_std = saved.inv_std.reshape(-1, 1)
    weight = inputs[1] if saved.has_weight else None
    rows = x_hat.shape[0]
    grad_rows = upstream_grad.reshape(rows, width)
    sent = [None]
    if saved.has_weight:
        # Σ over rows of g·x̂ in one einsum: no (rows, C) product is stored
        sent.append(np.einsum("ij,ij->j", grad_rows, x_hat) if weight.requires_grad else None)
    if saved.has_bias:
        sent.append(np.matmul(pool.ones(rows, upstream_grad.dtype), grad_rows) if inputs[-1].requires_grad else None)
    if inputs[0].requires_grad:
        grad_x = pool.empty(grad_rows.shape, upstream_grad.dtype)  # never in place on the upstream: others may hold it
        if saved.has_weight:
            np.multiply(grad_rows, weight.data, out=grad_x)
        else:
            np.copyto(grad_x, grad_rows)
        mean_grad = np.matmul(grad_x, pool.ones(width, upstream_grad.dtype))  # row sums in BLAS
        mean_grad *= 1 / width
        mean_grad_x_hat = pool.row_dot(grad_x, x_hat)
        mean_grad_x_hat *= 1 / width
        correction = np.multiply(x_hat, mean_grad_x_hat[:, None], out=pool.empty(x_hat.shape, upstream_grad.dtype))
        correction += mean_grad[:, None]
        grad_x -= correction
        grad_x *= inv_std
        sent[0] = grad_x.reshape(upstream_grad.shape)
    return tuple(sent)
