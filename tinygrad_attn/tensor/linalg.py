"""Matrix product `a @ b` for 1-D, 2-D and batched N-D operands (batch dims broadcast)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Op
from .elementwise import reduce_to
from .tensor import Tensor, lift_pair, make


def matmul(a: Any, b: Any) -> Tensor:
    a, b = lift_pair(a, b, "matmul")
    if a.data.ndim == 0 or b.data.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    inner_a, inner_b = a.data.shape[-1], b.data.shape[-2 if b.data.ndim > 1 else 0]
    if inner_a != inner_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({inner_a} != {inner_b})")
    try:
        data = np.matmul(a.data, b.data)
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast together"
        ) from None
    return make(data, (a, b), MATMUL)


def _matmul_backward(node: Tensor, grad: np.ndarray) -> tuple:
    a, b = node._inputs
    a_data, b_data = a.data, b.data
    # Treat 1-D operands as a row (a) or a column (b), as matmul itself does.
    if b_data.ndim == 1:
        b_data, grad = b_data[:, None], grad[..., None]
    if a_data.ndim == 1:
        a_data, grad = a_data[None, :], grad[..., None, :]
    grad_a = grad_b = None
    if a.requires_grad:
        grad_a = np.matmul(grad, np.swapaxes(b_data, -1, -2))
        grad_a = reduce_to(grad_a[..., 0, :] if a.data.ndim == 1 else grad_a, a)
    if b.requires_grad:
        grad_b = np.matmul(np.swapaxes(a_data, -1, -2), grad)
        grad_b = reduce_to(grad_b[..., 0] if b.data.ndim == 1 else grad_b, b)
    return grad_a, grad_b


MATMUL = Op("matmul", "d(A@B)/dA = G @ Bᵀ,  d(A@B)/dB = Aᵀ @ G", _matmul_backward)
OPS = (MATMUL,)
