"""Loss kernels: cross-entropy with its row sums in BLAS and its exponentials in place.

The same saved names as the reference (`functional/losses.py`): probs, targets, counted, count.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import pool


def cross_entropy_forward(ctx: Any, logits: np.ndarray, given_targets: np.ndarray, *, targets: np.ndarray,
                          counted: np.ndarray, count: int) -> np.ndarray:
    """log Σ exp(z) - z[target] per row, averaged over the counted rows; probs kept for backward."""
    row_max = np.max(logits, axis=1, keepdims=True)  # subtracted: stable for logits of any size
    shifted = np.subtract(logits, row_max, out=pool.empty(logits.shape, logits.dtype))
    picked = shifted[np.arange(len(targets)), targets]
    probs = np.exp(shifted, out=shifted)  # in place: shifted is ours and not needed after the pick
    totals = np.matmul(probs, pool.ones(logits.shape[1], logits.dtype))  # row sums in BLAS
    per_row = np.log(totals) - picked
    loss = np.sum(per_row[counted] if count < len(targets) else per_row) / logits.dtype.type(max(count, 1))
    probs *= np.reciprocal(totals, out=totals)[:, None]
    ctx.save(probs=probs, targets=targets, counted=counted, count=count)
    return np.asarray(loss, dtype=logits.dtype)


def cross_entropy_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    saved = ctx.saved
    probs, targets = saved.probs, saved.targets
    if saved.count == 0:
        return (np.zeros_like(probs), None)
    grad_logits = pool.empty(probs.shape, probs.dtype)
    np.copyto(grad_logits, probs)  # a copy: with retain_graph, backward may run again on probs
    grad_logits[np.arange(len(targets)), targets] -= 1
    if saved.count < len(targets):
        grad_logits[~saved.counted] = 0
    grad_logits *= upstream_grad / probs.dtype.type(saved.count)
    return (grad_logits, None)  # targets are an input only so that drawn graphs show them
