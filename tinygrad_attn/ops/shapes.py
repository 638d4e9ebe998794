"""Shape helpers every op family shares: undoing broadcasting, and checking axes."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["sum_to_shape", "normalize_axes", "normalize_axis", "kept_shape", "count", "as_rows"]


def sum_to_shape(grad: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, so it has like's shape
    (and dtype): the gradient of a broadcast operand."""
    if grad.shape == like.shape and grad.dtype == like.dtype:
        return grad  # nothing was broadcast or cast (the common case)
    shape = like.shape
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra:
            grad = grad.sum(axis=tuple(range(extra)))
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if stretched:
            grad = grad.sum(axis=stretched, keepdims=True)
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


def as_rows(x: np.ndarray) -> np.ndarray:
    """x as a matrix, one row per position of its leading axes (`reshape(-1, n)`, which NumPy
    refuses for an empty x whose last axis n is 0)."""
    return x.reshape(int(np.prod(x.shape[:-1], dtype=np.int64)), x.shape[-1])


def normalize_axes(axis: int | Sequence[int] | None, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The axes as a sorted tuple of non-negative ints (all axes for None), checked against shape."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
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


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with the reduced `axes` kept as size 1 (what keepdims=True gives)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    """How many elements one reduction over `axes` combines."""
    total = 1
    for ax in axes:
        total *= shape[ax]
    return total
