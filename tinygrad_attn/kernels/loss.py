"""Loss kernels: cross-entropy with its row sums in BLAS and its exponentials in place.

The same parameters and saved names as the reference (`functional/losses.py`): probs, targets,
weights, smoothing, counted, reduction, divisor. The usual case (no class weight, no label
smoothing, nothing ignored: `weights` and `smoothing` None) takes the shortest path.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pool


def _rows(x: np.ndarray) -> np.ndarray:
    """(N, C, d...) -> (positions, C), classes last (a copy only when there are extra dims)."""
    if x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def cross_entropy_forward(ctx: Any, logits: np.ndarray, given_targets: np.ndarray, *, targets: np.ndarray,
                          weights: np.ndarray | None, smoothing: np.ndarray | None, counted: np.ndarray,
                          reduction: str, divisor: float, out_shape: tuple[int, ...]) -> np.ndarray:
    """-Σ_c q_c log softmax(z)_c per position, reduced; probs kept for backward."""
    z = _rows(logits)
    dtype = z.dtype
    row_max = np.max(z, axis=1, keepdims=True)  # subtracted: stable for logits of any size
    shifted = np.subtract(z, row_max, out=pool.empty(z.shape, dtype))
    rows = np.arange(len(targets))
    picked = shifted[rows, targets]
    smoothed = None if smoothing is None else np.matmul(shifted, smoothing)  # Σ_c s_c (z_c - max), before exp
    probs = np.exp(shifted, out=shifted)  # in place: shifted is ours and not needed after the picks
    totals = np.matmul(probs, pool.ones(z.shape[1], dtype))  # row sums in BLAS
    log_totals = np.log(totals)
    per_row = log_totals - picked  # -log p[target]
    if weights is not None:
        per_row = np.where(counted, per_row, 0) * weights
    if smoothing is not None:  # -Σ_c s_c log p_c = Σ_c s_c · log_total - Σ_c s_c (z_c - max)
        per_row += np.where(counted, log_totals * smoothing.sum(dtype=dtype) - smoothed, 0)
    if reduction == "none":
        loss = per_row.reshape(out_shape)
    else:
        loss = np.sum(per_row)
        if reduction == "mean":
            loss = loss / dtype.type(divisor) if divisor else 0
    probs *= np.reciprocal(totals, out=totals)[:, None]
    ctx.save(probs=probs, targets=targets, weights=weights, smoothing=smoothing, counted=counted,
             reduction=reduction, divisor=divisor)
    return np.asarray(loss, dtype=dtype)


def cross_entropy_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    saved = ctx.saved
    probs, targets, weights = saved.probs, saved.targets, saved.weights
    dtype = probs.dtype
    shape = ctx.inputs[0].data.shape
    grad_rows = pool.empty(probs.shape, dtype)
    np.copyto(grad_rows, probs)  # a copy: with retain_graph, backward may run again on probs
    rows = np.arange(len(targets))
    if weights is None and saved.smoothing is None:  # q is the one-hot target: softmax - onehot
        grad_rows[rows, targets] -= 1
    else:  # softmax · Σ_c q_c - q
        total_q = np.ones(len(targets), dtype) if weights is None else weights.copy()
        if saved.smoothing is not None:
            total_q += saved.counted * saved.smoothing.sum(dtype=dtype)
        grad_rows *= total_q[:, None]
        grad_rows[rows, targets] -= 1 if weights is None else weights
        if saved.smoothing is not None:
            grad_rows -= saved.counted[:, None] * saved.smoothing
    if saved.reduction == "none":
        grad_rows *= upstream_grad.reshape(-1, 1)
    elif saved.reduction == "sum":
        grad_rows *= upstream_grad
    else:
        grad_rows *= upstream_grad * dtype.type(1 / saved.divisor if saved.divisor else 0)
    if len(shape) > 2:  # back to (N, C, d...)
        grad = np.moveaxis(grad_rows.reshape(shape[:1] + shape[2:] + shape[1:2]), -1, 1)
    else:
        grad = grad_rows.reshape(shape)
    return (grad, None)  # targets are an input only so that drawn graphs show them
