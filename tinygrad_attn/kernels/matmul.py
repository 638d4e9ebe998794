"""Matmul kernel: a stack of matrices times one matrix, `(..., n) @ (n, m)` (as `h @ W` on
(B, T, C) activations), as one GEMM over all rows written into a reused buffer, forward and
backward (dW = Aᵀ·G over every row at once). Every other case runs the reference op."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from . import pool


def _rows_times_matrix(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.ndim >= 2 and b.ndim == 2 and a.shape[-1] == b.shape[0] and a.dtype == b.dtype
            and a.dtype.kind == "f")


def pooled_matmul(reference_forward: Callable[..., np.ndarray],
                  reference_backward: Callable[[Any, np.ndarray], tuple]) -> tuple[Callable, Callable]:
    """(forward, backward) of matmul: pooled single GEMMs for rows @ matrix, else the reference."""

    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not _rows_times_matrix(a, b):
            return reference_forward(ctx, a, b)
        rows, (inner, width) = math.prod(a.shape[:-1]), b.shape
        out = np.matmul(a.reshape(rows, inner), b, out=pool.empty((rows, width), a.dtype))
        return out.reshape(a.shape[:-1] + (width,))

    def backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
        a, b = ctx.inputs
        if not _rows_times_matrix(a.data, b.data) or upstream_grad.dtype != a.data.dtype:
            return reference_backward(ctx, upstream_grad)
        (inner, width), dtype = b.data.shape, a.data.dtype
        rows = math.prod(a.data.shape[:-1])
        grad_rows = upstream_grad.reshape(rows, width)
        grad_a = grad_b = None
        if a.requires_grad:  # G·Bᵀ
            grad_a = np.matmul(grad_rows, b.data.T, out=pool.empty((rows, inner), dtype)).reshape(a.data.shape)
        if b.requires_grad:  # Aᵀ·G, summed over every row by the GEMM itself
            grad_b = np.matmul(a.data.reshape(rows, inner).T, grad_rows, out=pool.empty((inner, width), dtype))
        return grad_a, grad_b

    return forward, backward
