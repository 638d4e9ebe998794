"""Making tensors, with PyTorch's signatures: `tensor`, `zeros`, `ones`, `empty`, `full`, their
`*_like` forms and `arange`. The random ones are in random.py, the generators in generator.py.

A size is given as PyTorch takes it, as ints or one sequence (`ones(2, 3)`, `ones((2, 3))`);
`dtype=`, `device=` and `requires_grad=` are keyword-only, so `ones(16, 16)` is a 16×16 matrix.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dtypes import as_dtype
from .factory import like, made, shape_of
from .generator import default_rng, manual_seed  # noqa: F401  (their old home: kept importable here)
from .tensor import DEFAULT_FLOAT, Tensor, _as_array

__all__ = ["tensor", "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
           "arange"]

_INTS = (int, np.integer)
_NUMBERS = (int, float, np.integer, np.floating, np.bool_)


# ---- from data ----
def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           name: str | None = None) -> Tensor:
    """A new leaf holding a copy of `data`: Python floats give float32, ints int64, bools bool;
    a NumPy array (or a tensor) keeps its dtype, as `torch.tensor` does."""
    dtype = as_dtype(dtype, "tensor")
    if dtype is None:
        given = data.data if isinstance(data, Tensor) else data
        if isinstance(given, (np.ndarray, np.generic)) and given.dtype.kind in "fiub":
            dtype = given.dtype
    return made(_as_array(data, dtype, "tensor"), device, requires_grad, "tensor", name)


# ---- filled with one value ----
def zeros(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Zeros of the given size: `zeros(2, 3)` or `zeros((2, 3))`; float32 unless dtype= says."""
    array = np.zeros(shape_of(sizes, size, "zeros"), as_dtype(dtype, "zeros") or DEFAULT_FLOAT)
    return made(array, device, requires_grad, "zeros")


def ones(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Ones of the given size: `ones(2, 3)` or `ones((2, 3))`; float32 unless dtype= says."""
    array = np.ones(shape_of(sizes, size, "ones"), as_dtype(dtype, "ones") or DEFAULT_FLOAT)
    return made(array, device, requires_grad, "ones")


def empty(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of the given size to be written before it is read. It holds zeros here (PyTorch
    leaves whatever was in memory)."""
    array = np.zeros(shape_of(sizes, size, "empty"), as_dtype(dtype, "empty") or DEFAULT_FLOAT)
    return made(array, device, requires_grad, "empty")


def _fill_dtype(fill_value: Any, where: str) -> np.dtype:
    """PyTorch's dtype for a fill value: bool, int64 for ints, float32 for floats."""
    if isinstance(fill_value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(fill_value, _INTS):
        return np.dtype(np.int64)
    if isinstance(fill_value, (float, np.floating)):
        return np.dtype(DEFAULT_FLOAT)
    raise TypeError(f"{where}: fill_value must be a number, got {fill_value!r}")


def _filled(shape: tuple, fill_value: Any, dtype: np.dtype, where: str) -> np.ndarray:
    if dtype.kind in "iub" and isinstance(fill_value, (float, np.floating)) and not math.isfinite(fill_value):
        raise ValueError(f"{where}: cannot fill a {dtype} tensor with {fill_value}")
    return np.full(shape, fill_value, dtype=dtype)


def _fill_value(fill_value: Any) -> Any:
    if isinstance(fill_value, Tensor) and fill_value.data.size == 1:
        return fill_value.data.item()  # a one-element tensor is a number here, as in PyTorch
    return fill_value


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """`full((2, 3), 7.0)`: every element `fill_value`; the dtype follows it (float32, int64 or
    bool) unless dtype= says."""
    if isinstance(size, _INTS) and not isinstance(size, (bool, np.bool_)):
        size = (size,)  # PyTorch wants a sequence; one int is unambiguous here
    shape = shape_of((size,), None, "full")
    fill_value = _fill_value(fill_value)
    dtype = as_dtype(dtype, "full") or _fill_dtype(fill_value, "full")
    return made(_filled(shape, fill_value, dtype, "full"), device, requires_grad, "full")


# ---- shaped like another tensor (its dtype too, unless dtype= says) ----
def zeros_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype = like(input, dtype, "zeros_like")
    return made(np.zeros(shape, dtype), device, requires_grad, "zeros_like")


def ones_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype = like(input, dtype, "ones_like")
    return made(np.ones(shape, dtype), device, requires_grad, "ones_like")


def empty_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """As `empty`: zeros here, to be written before read."""
    shape, dtype = like(input, dtype, "empty_like")
    return made(np.zeros(shape, dtype), device, requires_grad, "empty_like")


def full_like(input: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """`fill_value` in the shape and dtype of `input` (an int tensor truncates 2.7 to 2, as PyTorch)."""
    shape, dtype = like(input, dtype, "full_like")
    fill_value = _fill_value(fill_value)
    _fill_dtype(fill_value, "full_like")  # checks it is a number
    return made(_filled(shape, fill_value, dtype, "full_like"), device, requires_grad, "full_like")


# ---- a range ----
def _bound(value: Any, name: str) -> Any:
    if isinstance(value, Tensor) and value.data.size == 1:
        value = value.data.item()
    if not isinstance(value, _NUMBERS):
        raise TypeError(f"arange: {name} must be a number, got {value!r}")
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise ValueError(f"arange: {name} must be finite, got {value}")
    return value.item() if isinstance(value, np.generic) else value


def arange(start: Any = None, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """`arange(end)` or `arange(start, end, step)`: start, start + step, ... up to but not
    including end. int64 when all three are ints, else float32 (PyTorch's rule)."""
    if end is None:
        if start is None:
            raise TypeError("arange: missing end: arange(end) or arange(start, end, step)")
        start, end = 0, start
    elif start is None:  # arange(end=5)
        start = 0
    start, end, step = _bound(start, "start"), _bound(end, "end"), _bound(step, "step")
    integral = all(isinstance(v, int) for v in (start, end, step))
    dtype = as_dtype(dtype, "arange") or np.dtype(np.int64 if integral else DEFAULT_FLOAT)
    if dtype.kind in "iu":  # an integer dtype truncates the bounds first, as PyTorch does
        start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: end={end} cannot be reached from start={start} with step={step} "
                         "(the step has the wrong sign)")
    if dtype.kind in "iu":
        values = np.arange(start, end, step, dtype=np.int64)
    else:  # PyTorch's length and values: ceil((end - start) / step) points, start + i·step in float64
        values = start + np.arange(math.ceil((end - start) / step), dtype=np.float64) * step
    return made(values.astype(dtype), device, requires_grad, "arange")
