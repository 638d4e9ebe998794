"""Reductions over `axis` (None, an int or a tuple; negative counts from the end), `keepdims`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core import Op
from .tensor import Tensor, make


def normalize_axes(axis: int | Sequence[int] | None, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The axes as a sorted tuple of non-negative ints (all axes for None), checked against shape."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:  # a float or a string would otherwise fail deep inside NumPy
        raise TypeError(f"{where}: axis must be an int or a tuple of ints, got {axis!r}")
    normalized = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)):
            raise TypeError(f"{where}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"{where}: axis {ax} is out of range for a tensor of shape {shape} ({ndim} dims)")
        normalized.append(int(ax) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{where}: axis {axis!r} repeats an axis")
    return tuple(sorted(normalized))


def normalize_axis(axis: int, shape: tuple[int, ...], where: str) -> int:
    """One axis as a non-negative int, checked against shape."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: axis must be an int, got {axis!r}")
    return normalize_axes(axis, shape, where)[0]


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    count = 1
    for ax in axes:
        count *= shape[ax]
    return count


def _spread(node: Tensor, grad: np.ndarray) -> np.ndarray:
    """The upstream gradient reshaped with the reduced axes kept, ready to broadcast back."""
    x = node._inputs[0]
    return grad.reshape(_kept_shape(x.data.shape, node._ctx[0]))


# sum: every input element gets the upstream gradient of its output element
SUM = Op("sum", "d(Σᵢ aᵢ)/daᵢ = 1",
         lambda n, g: (np.broadcast_to(_spread(n, g), n._inputs[0].data.shape),))
# mean: the same, divided by how many were averaged
MEAN = Op("mean", "d(mean a)/daᵢ = 1/N",
          lambda n, g: (np.broadcast_to(_spread(n, g) / n._ctx[1], n._inputs[0].data.shape),))
# max: the gradient goes to the maximum; tied maxima share it equally
MAX = Op("max", "d(max a)/daᵢ = 1/k if aᵢ is one of the k maxima else 0",
         lambda n, g: (_spread(n, g) * n._ctx[1],))
# var: d/da of Σ(aᵢ - mean)² / (N - correction)
VAR = Op("var", "d(var a)/daᵢ = 2(aᵢ - mean)/(N - correction)",
         lambda n, g: (_spread(n, g) * n._ctx[1],))


def sum(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes(axis, x.data.shape, "sum")
    return make(np.sum(x.data, axis=axes, keepdims=keepdims), (x,), SUM, (axes,))


def mean(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes(axis, x.data.shape, "mean")
    count = _count(x.data.shape, axes)
    if count == 0:
        raise ValueError(f"mean: cannot average over an empty axis (shape {x.shape}, axis {axis!r})")
    data = np.mean(x.data, axis=axes, keepdims=keepdims, dtype=_float(x))
    return make(data, (x,), MEAN, (axes, count))


def max(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes(axis, x.data.shape, "max")
    if _count(x.data.shape, axes) == 0:
        raise ValueError(f"max: cannot take the maximum of an empty axis (shape {x.shape}, axis {axis!r})")
    kept = np.max(x.data, axis=axes, keepdims=True)
    share = None
    if x.requires_grad:
        is_max = x.data == kept
        share = is_max / np.sum(is_max, axis=axes, keepdims=True, dtype=x.data.dtype)
    data = kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(x.data.shape) if i not in axes))
    return make(data, (x,), MAX, (axes, share))


def var(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    axes = normalize_axes(axis, x.data.shape, "var")
    count = _count(x.data.shape, axes)
    if count - correction <= 0:
        raise ValueError(
            f"var: {count} element(s) along axis {axis!r} of shape {x.shape} with correction={correction} "
            "leaves no degrees of freedom"
        )
    centered = x.data - np.mean(x.data, axis=axes, keepdims=True, dtype=_float(x))
    data = np.sum(centered * centered, axis=axes, keepdims=keepdims) / (count - correction)
    return make(data, (x,), VAR, (axes, centered * (2.0 / (count - correction))))


def argmax(x: Tensor, axis: int | None = None) -> Tensor:
    """Index of the largest element (outside the graph: it has no gradient)."""
    if axis is not None:
        axis = normalize_axes(axis, x.data.shape, "argmax")[0]
    return Tensor(np.argmax(x.data, axis=axis))


def _float(x: Tensor) -> np.dtype:
    return x.data.dtype if x.data.dtype.kind == "f" else np.dtype(np.float64)


OPS = (SUM, MEAN, MAX, VAR)
