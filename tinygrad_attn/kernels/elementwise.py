"""Elementwise kernels: large results written into reused buffers (no page faults)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import pool


def pooled(ufunc: Callable[..., np.ndarray]) -> Callable[[Any, np.ndarray, np.ndarray], np.ndarray]:
    """forward(ctx, a, b) = ufunc(a, b), a large float result going into a reused buffer."""

    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.nbytes >= pool.MIN_POOLED_BYTES and a.dtype == b.dtype and a.dtype.kind == "f":
            try:
                return ufunc(a, b, out=pool.empty(a.shape, a.dtype))
            except ValueError:
                pass  # b stretches the result beyond a's shape: the plain call below
        return ufunc(a, b)

    forward.__name__ = f"pooled_{ufunc.__name__}"
    return forward


def rows_summed(rule: Callable[[Any, np.ndarray], tuple]) -> Callable[[Any, np.ndarray], tuple]:
    """backward(ctx, g) = rule(ctx, g), with the gradient of an operand broadcast along leading
    axes only (a bias (n,) added to (B, T, n) activations) summed over those rows as one
    product with a ones-vector (BLAS) rather than NumPy's reduction; the registry's
    un-broadcasting then finds the shape already right and leaves it alone."""

    def backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
        grad_a, grad_b = rule(ctx, upstream_grad)  # a binary op: written out, a generator costs more
        a, b = ctx.inputs
        return _leading_rows_summed(grad_a, a), _leading_rows_summed(grad_b, b)

    backward.__name__ = f"rows_summed_{rule.__name__}"
    return backward


def _leading_rows_summed(grad: Any, x: Any) -> Any:
    if grad is None:
        return grad
    data = x.data
    if grad.ndim <= data.ndim:  # nothing broadcast along leading axes (the usual case): the cheapest test first
        return grad
    if (not x.requires_grad or grad.dtype != data.dtype or grad.dtype.kind != "f"
            or grad.shape[grad.ndim - data.ndim:] != data.shape or data.size == 0):
        return grad  # the registry's sum_to_shape handles every other case
    rows = grad.size // data.size
    return np.matmul(pool.ones(rows, grad.dtype), grad.reshape(rows, data.size)).reshape(data.shape)
