"""Elementwise ops with NumPy broadcasting. Each op: forward function, then its `Op` row.

A broadcast operand's gradient is summed back to the operand's own shape (`reduce_to`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import perf
from ..core import Op
from .tensor import Tensor, lift_pair, make


def reduce_to(grad: np.ndarray, like: Tensor) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, so it has like's shape."""
    target = like.data
    if grad.shape == target.shape and grad.dtype == target.dtype:
        return grad  # nothing was broadcast or cast (the common case)
    shape = target.shape
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra:
            grad = grad.sum(axis=tuple(range(extra)))
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if stretched:
            grad = grad.sum(axis=stretched, keepdims=True)
    if grad.dtype != target.dtype:
        grad = grad.astype(target.dtype)
    return grad


def _broadcast_error(where: str, a: Tensor, b: Tensor) -> ValueError:
    return ValueError(f"{where}: shapes {a.shape} and {b.shape} cannot be broadcast together")


def _binary(a: Any, b: Any, ufunc: Callable, op: Op) -> Tensor:
    if type(a) is not Tensor or type(b) is not Tensor:  # checked here to save a call per op
        a, b = lift_pair(a, b, op.name)
    x, y = a.data, b.data
    if x.nbytes >= perf.MIN_POOLED_BYTES and x.dtype == y.dtype and x.dtype.kind == "f":
        try:  # a large result goes into a reused buffer: a fresh one would cost page faults
            return make(ufunc(x, y, out=perf.empty(x.shape, x.dtype)), (a, b), op)
        except ValueError:
            pass  # b stretches the result beyond a's shape: the plain path below
    try:
        data = ufunc(x, y)
    except ValueError:
        raise _broadcast_error(op.name, a, b) from None
    return make(data, (a, b), op)


def _add_backward(n: Tensor, g: np.ndarray) -> tuple:
    a, b = n._inputs
    return (reduce_to(g, a) if a.requires_grad else None,
            reduce_to(g, b) if b.requires_grad else None)


def _sub_backward(n: Tensor, g: np.ndarray) -> tuple:
    a, b = n._inputs
    return (reduce_to(g, a) if a.requires_grad else None,
            reduce_to(-g, b) if b.requires_grad else None)


def _mul_backward(n: Tensor, g: np.ndarray) -> tuple:
    a, b = n._inputs
    return (reduce_to(g * b.data, a) if a.requires_grad else None,
            reduce_to(g * a.data, b) if b.requires_grad else None)


def _div_backward(n: Tensor, g: np.ndarray) -> tuple:
    a, b = n._inputs
    return (reduce_to(g / b.data, a) if a.requires_grad else None,
            reduce_to(-g * n.data / b.data, b) if b.requires_grad else None)


def _pow_base_slope(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """b·aᵇ⁻¹, and 0 where b = 0: a⁰ is constant, also at a = 0 (where 0·0⁻¹ would be NaN)."""
    if not exponent.all():  # where b = 0 use 0·a⁰ = 0, never 0·0⁻¹
        return exponent * np.power(base, np.where(exponent == 0, 1, exponent) - 1)
    return exponent * np.power(base, exponent - 1)


def _pow_backward(n: Tensor, g: np.ndarray) -> tuple:
    a, b = n._inputs
    return (reduce_to(g * _pow_base_slope(a.data, b.data), a) if a.requires_grad else None,
            reduce_to(g * n.data * np.log(a.data, dtype=n.data.dtype), b) if b.requires_grad else None)


# ---- binary ops ----
ADD = Op("add", "d(a+b)/da = 1,  d(a+b)/db = 1", _add_backward)
SUB = Op("sub", "d(a-b)/da = 1,  d(a-b)/db = -1", _sub_backward)
MUL = Op("mul", "d(a*b)/da = b,  d(a*b)/db = a", _mul_backward)
DIV = Op("div", "d(a/b)/da = 1/b,  d(a/b)/db = -a/b²", _div_backward)
POW = Op("pow", "d(aᵇ)/da = b·aᵇ⁻¹,  d(aᵇ)/db = aᵇ·ln a", _pow_backward)


def add(a: Any, b: Any) -> Tensor:
    return _binary(a, b, np.add, ADD)


def sub(a: Any, b: Any) -> Tensor:
    return _binary(a, b, np.subtract, SUB)


def mul(a: Any, b: Any) -> Tensor:
    return _binary(a, b, np.multiply, MUL)


def div(a: Any, b: Any) -> Tensor:
    a, b = lift_pair(a, b, "div")
    if not b.data.all():
        zero_over_zero = (b.data == 0) & (a.data == 0)
        if zero_over_zero.any():
            raise ValueError(f"div: 0/0 at {int(zero_over_zero.sum())} element(s) (shapes {a.shape} / {b.shape})")
    return _binary(a, b, np.divide, DIV)


def pow(base: Any, exponent: Any) -> Tensor:
    base, exponent = lift_pair(base, exponent, "pow")
    b, e = base.data, exponent.data
    if (b < 0).any() and not np.all(np.mod(e, 1) == 0):
        raise ValueError(
            f"pow: a negative base to a non-integer power is not a real number (shapes {base.shape} ** {exponent.shape})"
        )
    if exponent.requires_grad and (b <= 0).any():
        raise ValueError("pow: the gradient with respect to the exponent needs a positive base (it uses ln base)")
    if (b == 0).any() and (e < 0).any():
        raise ValueError("pow: 0 to a negative power is undefined")
    return _binary(base, exponent, np.power, POW)


# ---- unary ops ----
NEG = Op("neg", "d(-a)/da = -1", lambda n, g: (-g,))
EXP = Op("exp", "d(eᵃ)/da = eᵃ", lambda n, g: (g * n.data,))
LOG = Op("log", "d(ln a)/da = 1/a", lambda n, g: (g / n._inputs[0].data,))
SQRT = Op("sqrt", "d(√a)/da = 1/(2√a)", lambda n, g: (g / (2.0 * n.data),))
TANH = Op("tanh", "d(tanh a)/da = 1 - tanh²a", lambda n, g: (g * (1.0 - n.data * n.data),))
RELU = Op("relu", "d(relu a)/da = 1 if a > 0 else 0", lambda n, g: (g * (n.data > 0),))
SIGMOID = Op("sigmoid", "d(σ(a))/da = σ(a)·(1 - σ(a))", lambda n, g: (g * n.data * (1.0 - n.data),))
ASTYPE = Op("astype", "d(cast a)/da = 1 (cast back)", lambda n, g: (g.astype(n._inputs[0].data.dtype),))


def neg(x: Tensor) -> Tensor:
    return make(-x.data, (x,), NEG)


def exp(x: Tensor) -> Tensor:
    return make(np.exp(x.data), (x,), EXP)


def log(x: Tensor) -> Tensor:
    if (x.data < 0).any():
        raise ValueError(f"log: input has {int((x.data < 0).sum())} negative element(s) (shape {x.shape}); log is undefined there")
    with np.errstate(divide="ignore"):  # log(0) = -inf, as in PyTorch
        return make(np.log(x.data), (x,), LOG)


def sqrt(x: Tensor) -> Tensor:
    if (x.data < 0).any():
        raise ValueError(f"sqrt: input has {int((x.data < 0).sum())} negative element(s) (shape {x.shape})")
    return make(np.sqrt(x.data), (x,), SQRT)


def tanh(x: Tensor) -> Tensor:
    return make(np.tanh(x.data), (x,), TANH)


def relu(x: Tensor) -> Tensor:
    return make(np.maximum(x.data, 0), (x,), RELU)


def sigmoid(x: Tensor) -> Tensor:
    # σ(a) = (1 + tanh(a/2)) / 2: one stable call, no overflow for large |a|
    half = x.data.dtype.type(0.5) if x.data.dtype.kind == "f" else 0.5
    return make(half * (1 + np.tanh(half * x.data)), (x,), SIGMOID)


def astype(x: Tensor, dtype: Any) -> Tensor:
    target = np.dtype(dtype)
    if x.requires_grad and target.kind != "f":
        raise TypeError(f"astype: cannot cast a tensor that requires grad to non-float dtype {target}")
    return make(x.data.astype(target), (x,), ASTYPE)


def compare(a: Any, b: Any, ufunc: Callable, symbol: str) -> Tensor:
    a, b = lift_pair(a, b, symbol)
    try:
        data = ufunc(a.data, b.data)
    except ValueError:
        raise _broadcast_error(f"'{symbol}'", a, b) from None
    return Tensor(data)


OPS = (ADD, SUB, MUL, DIV, POW, NEG, EXP, LOG, SQRT, TANH, RELU, SIGMOID, ASTYPE)
