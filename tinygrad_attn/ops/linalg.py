"""Matrix product `a @ b` for 1-D, 2-D and batched N-D operands (batch dims broadcast)."""
from __future__ import annotations

import numpy as np

from ..kernels.matmul import pooled_matmul
from .registry import define
from .samples import S, constant_like
from .shapes import as_rows, sum_to_shape

_LEFT_MATRIX = np.array([[0.5, -1.0, 2.0], [1.25, 0.0, -0.75]])  # (2, 3) @ (3, k), exact in float32


def _matmul(a, b):
    """a @ b; a stack of matrices times one matrix is one GEMM over all their rows (NumPy would
    run one small product per matrix: same numbers, more calls)."""
    if a.ndim > 2 and b.ndim == 2 and a.shape[-1] == b.shape[0]:
        return np.matmul(as_rows(a), b).reshape(a.shape[:-1] + b.shape[-1:])
    return np.matmul(a, b)


def matmul_forward(ctx, a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    inner_a, inner_b = a.shape[-1], b.shape[-2 if b.ndim > 1 else 0]
    if inner_a != inner_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({inner_a} != {inner_b})")
    try:
        return _matmul(a, b)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be "
                         "broadcast together") from None


def matmul_backward(ctx, upstream_grad):
    a, b = ctx.inputs
    a_data, b_data, grad = a.data, b.data, upstream_grad
    # 1-D operands act as a row (a) or a column (b), as matmul itself treats them
    if b_data.ndim == 1:
        b_data, grad = b_data[:, None], grad[..., None]
    if a_data.ndim == 1:
        a_data, grad = a_data[None, :], grad[..., None, :]
    grad_a = grad_b = None
    if a.requires_grad:
        grad_a = _matmul(grad, np.swapaxes(b_data, -1, -2))  # G @ Bᵀ
        grad_a = sum_to_shape(grad_a[..., 0, :] if a.data.ndim == 1 else grad_a, a.data)
    if b.requires_grad and b_data.ndim == 2 and a_data.ndim > 2:  # b shared by every batch: one GEMM
        grad_b = as_rows(a_data).T @ as_rows(grad)  # Aᵀ @ G, rows stacked
        grad_b = sum_to_shape(grad_b[:, 0] if b.data.ndim == 1 else grad_b, b.data)
    elif b.requires_grad:
        grad_b = np.swapaxes(a_data, -1, -2) @ grad  # Aᵀ @ G
        grad_b = sum_to_shape(grad_b[..., 0] if b.data.ndim == 1 else grad_b, b.data)
    return grad_a, grad_b


MATMUL = define("matmul", methods=("__matmul__", "__rmatmul__", "matmul"),
                forward=matmul_forward, backward=matmul_backward,
                kernel=pooled_matmul(matmul_forward, matmul_backward),
                formulas=("d(A@B)/dA = G @ Bᵀ", "d(A@B)/dB = Aᵀ @ G"),
                note="1-D operands act as a row (left) or a column (right), as in NumPy; batch dims broadcast")
MATMUL.usage("__matmul__", lambda a, b: a @ b, lambda torch, a, b: a @ b,
             S((3,), (3,), note="1-D · 1-D: a scalar"), S((3,), (3, 4)), S((2, 3), (3,)), S((2, 3), (3, 4)),
             S((1, 3), (3, 1)), S((2, 1, 3, 4), (5, 4, 2), note="batch dims (2, 1) and (5,) broadcast"),
             S((4,), (2, 4, 3)), S((2, 3, 4), (4,)), S((3, 2, 4), (4, 5)),
             S((0, 3), (3, 2)), S((2, 0), (0, 3), note="empty inner dim: zeros"), note=MATMUL.note)
MATMUL.usage("__rmatmul__", lambda b, left: np.asarray(left, dtype=b.dtype) @ b,
             lambda torch, b, left: constant_like(torch, left, b) @ b,
             S((3, 4), left=_LEFT_MATRIX, note="ndarray @ Tensor"), S((2, 3, 2), left=_LEFT_MATRIX))
MATMUL.usage("matmul", lambda a, b: a.matmul(b), lambda torch, a, b: a.matmul(b), S((2, 3), (3, 4)),
             S((2, 2, 3), (3,)))
