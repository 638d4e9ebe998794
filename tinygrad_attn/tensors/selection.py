"""Functions that keep part of a tensor, with PyTorch's names: `tril` / `triu` (a triangle of
the last two dims, the rest zero) and `topk` (the k largest or smallest along a dim).

Both are made of ops the graph already has, so the gradient and the drawing come for free:
a triangle is `masked_fill` with a constant mask (the gradient passes where the triangle
keeps, zero elsewhere), and top-k's values are `x[index arrays]` (the gradient goes back to
the chosen entries).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.shapes import normalize_axis
from .reductions import ValuesIndices
from .tensor import Tensor, _as_array, constant

__all__ = ["tril", "triu", "topk"]

_INTS = (int, np.integer)


def _diagonal(diagonal: Any, where: str) -> int:
    if isinstance(diagonal, (bool, np.bool_)) or not isinstance(diagonal, _INTS):
        raise TypeError(f"{where}: diagonal must be an int, got {diagonal!r}")
    return int(diagonal)


def _triangle(input: Any, diagonal: Any, lower: bool, where: str) -> Tensor:
    array = input.data if isinstance(input, Tensor) else _as_array(input, None, where)
    if array.ndim < 2:
        raise ValueError(f"{where}: input must have at least 2 dims (a matrix or a batch of them), "
                         f"got shape {array.shape}")
    diagonal = _diagonal(diagonal, where)
    rows, cols = array.shape[-2:]
    # np.tri: True on and below diagonal k; the upper triangle is what lies above diagonal k - 1
    keep = np.tri(rows, cols, diagonal, dtype=bool) if lower else ~np.tri(rows, cols, diagonal - 1, dtype=bool)
    if not isinstance(input, Tensor):  # plain data: a constant tensor, nothing to differentiate
        return Tensor(np.where(keep, array, np.zeros((), array.dtype)), dtype=array.dtype)
    return input.masked_fill(constant(~keep, name=f"{where} mask"), 0)


def tril(input: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (on and below `diagonal`; 1 keeps one more,
    -1 one less), zeros elsewhere. Gradient: passed through where kept, zero elsewhere."""
    return _triangle(input, diagonal, True, "tril")


def triu(input: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (on and above `diagonal`), zeros elsewhere."""
    return _triangle(input, diagonal, False, "triu")


def _descending(array: np.ndarray, axis: int) -> np.ndarray:
    """Indices that sort `array` from largest to smallest along `axis`: NaN counts as the
    largest (as in PyTorch) and ties keep their order (the earlier index first)."""
    last = array.shape[axis] - 1
    ascending_of_flipped = np.argsort(np.flip(array, axis), axis=axis, kind="stable")
    return last - np.flip(ascending_of_flipped, axis)


def topk(input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:  # noqa: A002
    """The k largest (or, with largest=False, smallest) entries along `dim` and their indices,
    as `(values, indices)` with `.values` / `.indices` (like torch.return_types.topk).

    `values` carry the gradient back to the chosen entries; `indices` are int64. The values
    always come sorted (`sorted=False` allows any order, so sorted is one of them)."""
    x = input if isinstance(input, Tensor) else constant(_as_array(input, None, "topk"))
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, _INTS):
        raise TypeError(f"topk: k must be an int, got {k!r}")
    if x.data.ndim == 0:  # a 0-d tensor is its own top 1, as in PyTorch
        if k not in (0, 1):
            raise ValueError(f"topk: k={k} is out of range for a 0-d tensor (k must be 0 or 1)")
        normalize_axis(dim, (1,), "topk")
        return ValuesIndices(x.reshape(()), Tensor(np.zeros((), np.int64)))
    shape = x.data.shape
    axis = normalize_axis(dim, shape, "topk")
    if not 0 <= k <= shape[axis]:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {shape[axis]} (shape {shape})")
    keys = x.data.astype(np.int8) if x.data.dtype == np.bool_ else x.data
    order = _descending(keys, axis) if largest else np.argsort(keys, axis=axis, kind="stable")
    indices = np.take(order, np.arange(k), axis=axis)
    grids = list(np.ogrid[tuple(slice(n) for n in indices.shape)])  # every other dim, broadcast
    grids[axis] = indices
    return ValuesIndices(x[tuple(grids)], Tensor(indices.astype(np.int64)))


Tensor.tril, Tensor.triu, Tensor.topk = tril, triu, topk  # x.tril(), x.topk(k) as in PyTorch
