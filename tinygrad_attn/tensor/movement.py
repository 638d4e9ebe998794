"""Ops that move or select elements: reshape, transpose, indexing, masking, joining."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core import Op
from .elementwise import reduce_to
from .reduce import normalize_axis
from .tensor import Tensor, as_tensor, make


# ---- reshape / transpose ----
RESHAPE = Op("reshape", "d(reshape a)/da: reshape the gradient back to a's shape",
             lambda n, g: (g.reshape(n._inputs[0].data.shape),))
TRANSPOSE = Op("transpose", "d(transpose a)/da: transpose the gradient back (inverse permutation)",
               lambda n, g: (np.transpose(g, n._ctx),))


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"reshape: the new shape must be ints, got {shape} (tensor of shape {x.shape})")
    try:
        data = x.data.reshape(shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {x.shape} ({x.data.size} elements) into {tuple(shape)}"
        ) from None
    return make(data, (x,), RESHAPE)


def transpose(x: Tensor, axes: Sequence[int] | None) -> Tensor:
    ndim = x.data.ndim
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    else:
        given = tuple(axes)
        axes = tuple(normalize_axis(a, x.data.shape, "transpose") for a in given)
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {given} are not a permutation of the {ndim} axes of shape {x.shape}")
    inverse = tuple(np.argsort(axes)) if axes else ()
    return make(np.transpose(x.data, axes), (x,), TRANSPOSE, inverse)


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    first = normalize_axis(axis1, x.data.shape, "swapaxes")
    second = normalize_axis(axis2, x.data.shape, "swapaxes")
    axes = list(range(x.data.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return transpose(x, axes)


# ---- indexing ----
def _getitem_backward(node: Tensor, grad: np.ndarray) -> tuple:
    index, advanced = node._ctx
    full = np.zeros(node._inputs[0].data.shape, dtype=grad.dtype)
    if advanced:
        np.add.at(full, index, grad)  # repeated indices accumulate
    else:
        full[index] = grad  # basic indexing selects each element at most once
    return (full,)


GETITEM = Op("getitem", "d(a[i])/da: the gradient scattered back into zeros at i (repeats add up)",
             _getitem_backward)


def _plain_index(index: Any) -> tuple[Any, bool]:
    """Tensors in the index become arrays; also tell whether it uses integer/boolean arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    plain, advanced = [], False
    for part in parts:
        if isinstance(part, Tensor):
            part = part.data
        if isinstance(part, (list, np.ndarray)):
            part = np.asarray(part)
            if part.dtype.kind not in "iub":
                raise IndexError(f"getitem: index arrays must hold integers or booleans, got dtype {part.dtype}")
            advanced = True
        plain.append(part)
    return (tuple(plain) if isinstance(index, tuple) else plain[0]), advanced


def getitem(x: Tensor, index: Any) -> Tensor:
    index, advanced = _plain_index(index)
    try:
        data = x.data[index]
    except IndexError as error:
        raise IndexError(f"getitem: index {_describe(index)} does not fit a tensor of shape {x.shape} ({error})") from None
    if not advanced:
        data = data.copy() if isinstance(data, np.ndarray) else np.asarray(data)  # own the data: no view aliasing
    return make(data, (x,), GETITEM, (index, advanced))


def _describe(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    shown = [f"array{part.shape}" if isinstance(part, np.ndarray) else repr(part) for part in parts]
    return "[" + ", ".join(shown) + "]"


# ---- masking and selecting ----
# The mask is an input too (so a drawn graph shows it), but it gets no gradient.
MASKED_FILL = Op("masked_fill", "d(masked_fill a)/da = 0 where mask else 1",
                 lambda n, g: (np.where(n._ctx, 0, g), None))
WHERE = Op("where", "d(where(c, a, b))/da = 1 where c else 0,  d/db = 1 where not c else 0",
           lambda n, g: _where_backward(n, g))


def _mask_node(mask: Any) -> Tensor:
    """The mask as a constant tensor, so it appears as an input of the op in a drawn graph."""
    return mask if isinstance(mask, Tensor) else as_tensor(np.asarray(mask), "mask")


def _bool_mask(mask: Any, where: str) -> np.ndarray:
    array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{where}: mask must be boolean, got dtype {array.dtype}")
    return array


def masked_fill(x: Tensor, mask: Any, value: float) -> Tensor:
    mask_node = _mask_node(mask)
    mask = _bool_mask(mask, "masked_fill")
    try:
        fits = np.broadcast_shapes(mask.shape, x.data.shape) == x.data.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the tensor's shape {x.shape}")
    if isinstance(value, Tensor) and value.data.ndim == 0:
        value = value.data.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"masked_fill: value must be a number, got {type(value).__name__} (tensor of shape {x.shape})")
    data = np.where(mask, np.asarray(value, dtype=x.data.dtype), x.data)
    return make(data, (x, mask_node), MASKED_FILL, mask)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    condition_node = _mask_node(condition)
    condition = _bool_mask(condition, "where")
    a = a if isinstance(a, Tensor) else as_tensor(a, "where")
    b = b if isinstance(b, Tensor) else as_tensor(b, "where")
    try:
        data = np.where(condition, a.data, b.data)
    except ValueError:
        raise ValueError(
            f"where: condition {condition.shape}, a {a.shape} and b {b.shape} cannot be broadcast together"
        ) from None
    return make(data, (condition_node, a, b), WHERE, condition)


def _where_backward(node: Tensor, grad: np.ndarray) -> tuple:
    _, a, b = node._inputs
    condition = node._ctx
    return (None,
            reduce_to(np.where(condition, grad, 0), a) if a.requires_grad else None,
            reduce_to(np.where(condition, 0, grad), b) if b.requires_grad else None)


# ---- joining ----
def _split_backward(node: Tensor, grad: np.ndarray) -> tuple:
    axis, bounds, stacked = node._ctx
    pieces = np.split(grad, bounds, axis=axis)
    if stacked:
        pieces = [np.squeeze(piece, axis=axis) for piece in pieces]
    return tuple(piece if inp.requires_grad else None for piece, inp in zip(pieces, node._inputs))


CONCATENATE = Op("concatenate", "d(concat(a, b))/da: the slice of the gradient where a was placed",
                 _split_backward)
STACK = Op("stack", "d(stack(a, b))/da: the gradient's slice at a's position", _split_backward)


def _tensors(tensors: Sequence[Any], where: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{where}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{where}: needs at least one tensor")
    return [t if isinstance(t, Tensor) else as_tensor(t, where) for t in tensors]


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    tensors = _tensors(tensors, "concatenate")
    first = tensors[0].data.shape
    if any(t.data.ndim != len(first) for t in tensors) or not first:
        raise ValueError(f"concatenate: tensors need the same number (>= 1) of dims, got shapes {[t.shape for t in tensors]}")
    axis = normalize_axis(axis, first, "concatenate")
    for t in tensors:
        if t.data.shape[:axis] + t.data.shape[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ValueError(
                f"concatenate: shapes {[t.shape for t in tensors]} differ outside axis {axis}"
            )
    bounds = np.cumsum([t.data.shape[axis] for t in tensors])[:-1].tolist()
    data = np.concatenate([t.data for t in tensors], axis=axis)
    return make(data, tuple(tensors), CONCATENATE, (axis, bounds, False))


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    tensors = _tensors(tensors, "stack")
    shapes = {t.data.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    axis = normalize_axis(axis, (1,) + tensors[0].data.shape, "stack")
    data = np.stack([t.data for t in tensors], axis=axis)
    bounds = list(range(1, len(tensors)))
    return make(data, tuple(tensors), STACK, (axis, bounds, True))


OPS = (RESHAPE, TRANSPOSE, GETITEM, MASKED_FILL, WHERE, CONCATENATE, STACK)
