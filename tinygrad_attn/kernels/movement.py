"""Indexing kernel: `x[index]` and the pieces of `split`/`chunk`, in reused buffers.

The reference copies the selected elements into a fresh array and scatters the gradient back
into `np.zeros` of the input's shape: fresh memory the operating system must fault in, each
step, for every piece. Here the copy and the scattered gradient come from `pool.empty`; when
the index is a slice along one axis (every piece of a split), only the elements outside the
slice are zeroed before the gradient is written into it, so each element is written once.
Integer-array and boolean indexing run the reference.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import pool


def _one_axis_slice(index: Any, shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(axis, start, stop) when `index` is slices only, all but one of them `:`, that one of step 1."""
    parts = index if isinstance(index, tuple) else (index,)
    if len(parts) > len(shape) or not all(isinstance(part, slice) for part in parts):
        return None
    narrowed = [axis for axis, part in enumerate(parts) if part != slice(None)]
    if len(narrowed) > 1:
        return None
    if not narrowed:
        return 0, 0, shape[0] if shape else 0
    axis = narrowed[0]
    start, stop, step = parts[axis].indices(shape[axis])
    return (axis, start, max(start, stop)) if step == 1 else None


def pooled_getitem(reference_forward: Callable[..., Any],
                   reference_backward: Callable[[Any, np.ndarray], tuple]) -> tuple[Callable, Callable]:
    """(forward, backward) of getitem: basic indexing in reused buffers, else the reference."""

    def forward(ctx: Any, x: np.ndarray, index: Any, advanced: bool) -> np.ndarray:
        if advanced:
            return reference_forward(ctx, x, index, advanced)
        try:
            data = x[index]
        except IndexError:
            return reference_forward(ctx, x, index, advanced)  # raises the reference's message
        ctx.save(index=index, advanced=advanced)
        return pool.copy(data) if isinstance(data, np.ndarray) else np.asarray(data)  # own the data

    def backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
        saved = ctx.saved
        if saved.advanced:
            return reference_backward(ctx, upstream_grad)
        shape = ctx.inputs[0].data.shape
        full = pool.empty(shape, upstream_grad.dtype)
        region = _one_axis_slice(saved.index, shape)
        if region is None or not shape:
            full.fill(0)
        else:  # zero what lies outside the slice; the slice itself is written just below
            axis, start, stop = region
            lead = (slice(None),) * axis
            full[lead + (slice(0, start),)] = 0
            full[lead + (slice(stop, None),)] = 0
        full[saved.index] = upstream_grad
        return (full,)

    return forward, backward
