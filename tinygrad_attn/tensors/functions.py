"""PyTorch's module-level spellings of tensor methods: `ta.exp(x)` is `x.exp()`.

Each function turns its first argument into a tensor (a number or list becomes a constant) and
calls the method, so the graph and the gradient are the method's.
"""
from __future__ import annotations

from typing import Any

from .tensor import Tensor, as_tensor

__all__ = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "pow", "matmul", "softmax", "log_softmax"]


_tensor = as_tensor  # a Tensor stays itself; a number or list becomes a constant


def exp(input: Any) -> Tensor:  # noqa: A002  (PyTorch's argument name)
    return _tensor(input, "exp").exp()


def log(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "log").log()


def sqrt(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "sqrt").sqrt()


def tanh(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "tanh").tanh()


def sigmoid(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "sigmoid").sigmoid()


def relu(input: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "relu").relu()


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001, A002  (PyTorch's name)
    """`input ** exponent`; a number for `input` makes it a constant base."""
    if not isinstance(input, Tensor) and isinstance(exponent, Tensor):
        return input ** exponent
    return _tensor(input, "pow") ** exponent


def matmul(input: Any, other: Any) -> Tensor:  # noqa: A002
    return _tensor(input, "matmul") @ other


def softmax(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    return _tensor(input, "softmax").softmax(dim)


def log_softmax(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    return _tensor(input, "log_softmax").log_softmax(dim)
