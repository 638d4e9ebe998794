"""Linear kernel: one 2-D matrix product per step written into a reused buffer, the bias
gradient as a product with a ones-vector (BLAS). It saves nothing, like the reference."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pool


def linear_forward(ctx: Any, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    out_features, in_features = weight.shape
    row_count = math.prod(x.shape[:-1])
    rows = np.matmul(x.reshape(row_count, in_features), weight.T,
                     out=pool.empty((row_count, out_features), x.dtype))
    if bias is not None:
        rows += bias
    return rows.reshape(x.shape[:-1] + (out_features,))


def linear_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    inputs = ctx.inputs
    x, weight = inputs[0], inputs[1]
    out_features, in_features = weight.data.shape
    row_count = math.prod(x.data.shape[:-1])
    grad_rows = upstream_grad.reshape(row_count, out_features)
    dtype = upstream_grad.dtype
    grad_x = None
    if x.requires_grad:
        grad_x = np.matmul(grad_rows, weight.data, out=pool.empty((row_count, in_features), dtype))
        grad_x = grad_x.reshape(x.data.shape)
    grad_weight = None
    if weight.requires_grad:
        grad_weight = np.matmul(grad_rows.T, x.data.reshape(row_count, in_features),
                                out=pool.empty((out_features, in_features), dtype))
    sent = (grad_x, grad_weight)
    if len(inputs) == 3:
        sent += (np.matmul(pool.ones(row_count, dtype), grad_rows) if inputs[2].requires_grad else None,)
    return sent
