"""sum: the reference's numbers with less Python around them. Forward calls the ufunc's
reduce directly (np.sum's dispatch costs twice the reduction of a small array); backward
spreads the upstream gradient without `np.broadcast_to` for small inputs (its Python-level
checks cost several times a fill)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pool


def spread(upstream_grad: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """`upstream_grad` (reduced over `axes`) broadcast back to `shape`, read-only as the
    reference's view: a large one stays a zero-stride view (no memory), a small one is filled
    into a new array (cheaper than building the view)."""
    if len(shape) != upstream_grad.ndim:  # keepdims=False: put the reduced axes back as size 1
        upstream_grad = upstream_grad.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    if upstream_grad.itemsize * math.prod(shape) >= pool.MIN_POOLED_BYTES:
        return np.broadcast_to(upstream_grad, shape)
    out = np.empty(shape, upstream_grad.dtype)
    out[...] = upstream_grad
    out.flags.writeable = False  # as the view is: a hook must not change a gradient in place
    return out


def sum_forward(ctx: Any, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    ctx.save(axes=axes)
    return np.add.reduce(x, axis=axes, keepdims=keepdims)  # what np.sum calls, same dtype and result


def sum_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple[np.ndarray]:
    return (spread(upstream_grad, ctx.inputs[0].data.shape, ctx.saved.axes),)
