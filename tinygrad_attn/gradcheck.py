"""Check the engine's gradients against central finite differences.

    d f / d xᵢ  ≈  (f(x + ε·eᵢ) - f(x - ε·eᵢ)) / 2ε

For a non-scalar output f, the check uses the scalar Σ f ⊙ R with a fixed random R, so every
output element takes part.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .scalar import Value
from .tensors import Tensor


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Value | Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """True if every input's gradient matches finite differences, else AssertionError naming
    the input, the element index and both numbers. `inputs` are Values or float64 Tensors."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("gradcheck: needs at least one input")
    for position, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.dtype != np.float64:
                raise TypeError(
                    f"gradcheck: input {position} is {x.dtype}; finite differences need float64 tensors "
                    "(make it with dtype=np.float64)"
                )
        elif not isinstance(x, Value):
            raise TypeError(f"gradcheck: input {position} is a {type(x).__name__}, expected a Value or Tensor")
        if not x.requires_grad:  # a constant: no gradient reaches it, so there is nothing to check
            raise ValueError(f"gradcheck: input {position} does not require grad")

    saved_grads = [x.grad for x in inputs]
    try:
        projection, engine_grads = _engine_gradients(fn, inputs)
        for position, x in enumerate(inputs):
            _compare(fn, inputs, position, x, projection, engine_grads[position], eps, atol, rtol)
    finally:
        for x, grad in zip(inputs, saved_grads):
            x.grad = grad
    return True


def _scalar_output(fn: Callable[..., Any], inputs: list, projection: np.ndarray | None) -> float:
    out = fn(*inputs)
    if isinstance(out, Value):
        return out.data
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Value or Tensor, got {type(out).__name__}")
    return float(np.sum(out.data * projection)) if projection is not None else float(out.data.sum())


def _engine_gradients(fn: Callable[..., Any], inputs: list) -> tuple[np.ndarray | None, list]:
    for x in inputs:
        x.grad = x.initial_grad  # 0.0 for a Value, None for a Tensor
    out = fn(*inputs)
    if isinstance(out, Value):
        out.backward()
        return None, [x.grad for x in inputs]
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Value or Tensor, got {type(out).__name__}")
    projection = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(projection)
    grads = [np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=np.float64) for x in inputs]
    return projection, grads


def _compare(fn: Callable[..., Any], inputs: list, position: int, x: Value | Tensor,
             projection: np.ndarray | None, engine_grad: Any, eps: float, atol: float, rtol: float) -> None:
    name = _name(x, position)
    if isinstance(x, Value):
        original = x.data
        x.data = original + eps
        plus = _scalar_output(fn, inputs, projection)
        x.data = original - eps
        minus = _scalar_output(fn, inputs, projection)
        x.data = original
        _assert_close(name, None, engine_grad, (plus - minus) / (2 * eps), atol, rtol)
        return
    engine_grad = np.asarray(engine_grad)
    for index in np.ndindex(x.shape):  # perturb x.data in place, one element at a time
        original = x.data[index]
        x.data[index] = original + eps
        plus = _scalar_output(fn, inputs, projection)
        x.data[index] = original - eps
        minus = _scalar_output(fn, inputs, projection)
        x.data[index] = original
        _assert_close(name, index, engine_grad[index], (plus - minus) / (2 * eps), atol, rtol)


def _assert_close(name: str, index: tuple | None, engine: float, numeric: float, atol: float, rtol: float) -> None:
    tolerance = atol + rtol * abs(numeric)
    if not abs(engine - numeric) <= tolerance:  # also catches NaN
        where = f"{name}" + (f" at index {index}" if index is not None else "")
        raise AssertionError(
            f"gradcheck: gradient of {where} differs: engine {engine:.10g}, finite difference "
            f"{numeric:.10g} (|difference| {abs(engine - numeric):.3g} > tolerance {tolerance:.3g})"
        )


def _name(x: Value | Tensor, position: int) -> str:
    return f"input {position} ({x.name!r})" if x.name else f"input {position}"
