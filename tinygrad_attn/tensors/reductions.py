"""Tensor reductions with PyTorch's names and meanings: `dim=` / `keepdim=` (NumPy's `axis=` /
`keepdims=` work too), `max(dim)` / `min(dim)` returning `(values, indices)`, `amax` / `amin`
for the values alone, and softmax over a dim. A 0-d tensor reduces over dim 0 or -1, as in
PyTorch. The ops' forward and backward are in `ops/reduce.py` and `ops/softmax.py`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from ..ops import movement, reduce, softmax
from ..ops.shapes import normalize_axes, normalize_axis
from .tensor import Tensor, apply

Dims = int | Sequence[int] | None


class ValuesIndices(NamedTuple):
    """What `max(dim)`, `min(dim)` and `topk` return, as torch.return_types: `.values`, `.indices`."""

    values: Tensor
    indices: Tensor


def _spelled(where: str, dim: Any, axis: Any, keepdim: Any, keepdims: Any) -> tuple[Any, bool]:
    """One of dim= / axis= and one of keepdim= / keepdims=."""
    if dim is not None and axis is not None:
        raise TypeError(f"{where}: give dim= or axis=, not both")
    if keepdim is not None and keepdims is not None:
        raise TypeError(f"{where}: give keepdim= or keepdims=, not both")
    keep = keepdim if keepdim is not None else keepdims
    if keep is not None and not isinstance(keep, (bool, np.bool_)):
        raise TypeError(f"{where}: keepdim must be True or False, got {keep!r}")
    return (dim if dim is not None else axis), bool(keep)


def _not_empty(x: Tensor, axis: int | None, where: str) -> None:
    """argmax / max(dim) over nothing has no answer (NumPy would say 'empty sequence')."""
    if x.data.size == 0 and (axis is None or x.data.shape[axis] == 0):
        over = "the whole tensor" if axis is None else f"dim {axis}"
        raise ValueError(f"{where}: cannot take {where} over {over} of a tensor of shape {x.shape}: it is empty")


def _axes(x: Tensor, dims: Dims, where: str) -> tuple[int, ...]:
    if x.data.ndim == 0 and dims is not None:  # PyTorch lets a 0-d tensor reduce over dim 0 / -1
        normalize_axes(dims, (1,), where)
        return ()
    return normalize_axes(dims, x.data.shape, where)


def _reduction(op: Any, where: str) -> Any:
    def method(self: Tensor, dim: Dims = None, keepdim: bool | None = None, *,
               axis: Dims = None, keepdims: bool | None = None) -> Tensor:
        if dim is None and axis is None and keepdim is None and keepdims is None:  # t.sum(): no argument to check
            return apply(op, (self,), tuple(range(self.data.ndim)), False)
        dims, keep = _spelled(where, dim, axis, keepdim, keepdims)
        return apply(op, (self,), _axes(self, dims, where), keep)

    method.__name__ = where
    method.__doc__ = f"{op.name} over `dim` (every dim when None): {op.formula}"
    return method


def _var(self: Tensor, dim: Dims = None, keepdim: bool | None = None, *, correction: int = 1,
         unbiased: bool | None = None, axis: Dims = None, keepdims: bool | None = None) -> Tensor:
    """The variance, dividing by N - correction (PyTorch's default correction=1)."""
    dims, keep = _spelled("var", dim, axis, keepdim, keepdims)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return apply(reduce.VAR, (self,), _axes(self, dims, "var"), keep, correction)


def _std(self: Tensor, dim: Dims = None, keepdim: bool | None = None, *, correction: int = 1,
         unbiased: bool | None = None, axis: Dims = None, keepdims: bool | None = None) -> Tensor:
    """The square root of `var` with the same arguments (one op: see ops/reduce.py for its kink at 0)."""
    dims, keep = _spelled("std", dim, axis, keepdim, keepdims)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return apply(reduce.STD, (self,), _axes(self, dims, "std"), keep, correction)


def _arg(pick: Any, where: str) -> Any:
    def method(self: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
        """Index of the extreme element (outside the graph: it has no gradient)."""
        dim, keep = _spelled(where, dim, axis, keepdim, None)
        if dim is None:
            _not_empty(self, None, where)
            return Tensor(np.asarray(pick(self.data)))
        if self.data.ndim == 0:
            normalize_axis(dim, (1,), where)
            return Tensor(np.asarray(0))
        axis_ = normalize_axis(dim, self.data.shape, where)
        _not_empty(self, axis_, where)
        return Tensor(pick(self.data, axis=axis_, keepdims=keep))

    method.__name__ = where
    return method


def _extreme(op: Any, pick: Any, where: str) -> Any:
    def method(self: Tensor, dim: int | None = None, keepdim: bool = False, *,
               axis: Dims = None, keepdims: bool | None = None) -> Tensor | ValuesIndices:
        """The largest (smallest) element, or with `dim` the `(values, indices)` along it.

        With `dim` each value's gradient goes to the one element its index names, as in
        PyTorch; `amax` / `amin` share a tie's gradient evenly instead. NumPy's spelling
        (`axis=`, `keepdims=`) keeps NumPy's meaning: the values alone, as `amax` / `amin`."""
        if axis is not None or keepdims is not None:
            if dim is not None:
                raise TypeError(f"{where}: give dim= (PyTorch: values and indices) or axis= (NumPy: values), not both")
            return apply(op, (self,), _axes(self, axis, where), bool(keepdims))
        if dim is None:
            return apply(op, (self,), _axes(self, None, where), False)
        if self.data.ndim == 0:
            normalize_axis(dim, (1,), where)
            return ValuesIndices(apply(movement.RESHAPE, (self,), ()), Tensor(np.asarray(0)))
        axis_ = normalize_axis(dim, self.data.shape, where)
        _not_empty(self, axis_, where)
        indices = pick(self.data, axis=axis_)
        where_ = list(np.indices(indices.shape, sparse=True))  # every other dim's position
        where_.insert(axis_, indices)
        values = apply(movement.GETITEM, (self,), tuple(where_), True)
        if keepdim:
            values = apply(movement.RESHAPE, (values,), np.expand_dims(indices, axis_).shape)
            indices = np.expand_dims(indices, axis_)
        return ValuesIndices(values, Tensor(indices))

    method.__name__ = where
    return method


def _softmax_of(op: Any, where: str) -> Any:
    def method(self: Tensor, dim: int | None = None, *, axis: int | None = None, dtype: Any = None) -> Tensor:
        dim, _ = _spelled(where, dim, axis, None, None)
        x = self if dtype is None else self.astype(dtype)
        if x.data.dtype.kind != "f":  # as F.softmax: probabilities need floats
            raise TypeError(f"{where}: input must be floating point, got dtype {x.dtype}; convert with .float()")
        dim = -1 if dim is None else dim
        if x.data.ndim == 0:  # PyTorch: softmax of a single number over dim 0 / -1
            normalize_axis(dim, (1,), where)
            flat = apply(movement.RESHAPE, (x,), (1,))
            return apply(movement.RESHAPE, (apply(op, (flat,), 0),), ())
        return apply(op, (x,), normalize_axis(dim, x.data.shape, where))

    method.__name__ = where
    return method


Tensor.sum = _reduction(reduce.SUM, "sum")
Tensor.mean = _reduction(reduce.MEAN, "mean")
Tensor.amax = _reduction(reduce.MAX, "amax")
Tensor.amin = _reduction(reduce.MIN, "amin")
Tensor.max = _extreme(reduce.MAX, np.argmax, "max")
Tensor.min = _extreme(reduce.MIN, np.argmin, "min")
Tensor.var, Tensor.std = _var, _std
Tensor.argmax, Tensor.argmin = _arg(np.argmax, "argmax"), _arg(np.argmin, "argmin")
Tensor.softmax = _softmax_of(softmax.SOFTMAX, "softmax")
Tensor.log_softmax = _softmax_of(softmax.LOG_SOFTMAX, "log_softmax")
