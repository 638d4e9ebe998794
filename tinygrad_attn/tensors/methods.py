"""The Tensor's operators and methods, bound from the op registry.

Each method turns what the user passed (numbers, lists, axes, masks) into tensors and checked
parameters, then runs the op with `apply`. The op's forward, backward and formula are in its
module under `tinygrad_attn/ops/`; nothing about differentiation is here.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ops import all_ops
from ..ops import elementwise as ew
from ..ops import linalg, movement, reduce, softmax  # noqa: F401  (importing them registers their ops)
from ..ops.shapes import normalize_axes, normalize_axis
from .tensor import Tensor, apply, apply_binary, apply_unary, as_tensor, lift_pair

__all__ = ["where", "concatenate", "stack"]


# ---- arithmetic: a number or array beside a tensor becomes a constant tensor ----
def _binary(op: Any, name: str) -> Any:
    reflected = name.startswith("__r")  # __rmul__: the tensor is the right operand

    def method(self: Tensor, other: Any) -> Tensor:
        a, b = (other, self) if reflected else (self, other)
        if type(a) is not Tensor or type(b) is not Tensor:
            a, b = lift_pair(a, b, op.name)
        return apply_binary(op, a, b)

    method.__name__ = name
    method.__doc__ = f"{op.name}: {op.formula}"
    return method


def _unary(op: Any, name: str) -> Any:
    def method(self: Tensor) -> Tensor:
        return apply_unary(op, self)

    method.__name__ = name
    method.__doc__ = f"{op.name}: {op.formula}"
    return method


def bind_methods(ops: Sequence[Any]) -> None:
    """Bind each op's declared `methods` onto Tensor: one input a unary method, two a binary one."""
    for op in ops:
        for name in op.methods:
            setattr(Tensor, name, (_unary if len(op.formulas) == 1 else _binary)(op, name))


bind_methods([op for op in all_ops("tensor") if op.methods])


def _astype(self: Tensor, dtype: Any) -> Tensor:
    target = np.dtype(dtype)
    if self.requires_grad and target.kind != "f":
        raise TypeError(f"astype: cannot cast a tensor that requires grad to non-float dtype {target}")
    return apply(ew.ASTYPE, (self,), target)


Tensor.astype = _astype


# ---- comparisons: plain boolean tensors, outside the graph ----
def _comparison(ufunc: Any, symbol: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        a, b = lift_pair(self, other, symbol)
        try:
            return Tensor(ufunc(a.data, b.data))
        except ValueError:
            raise ValueError(f"'{symbol}': shapes {a.shape} and {b.shape} cannot be broadcast together") from None

    return method


for _dunder, _ufunc, _symbol in (("__eq__", np.equal, "=="), ("__ne__", np.not_equal, "!="),
                                 ("__lt__", np.less, "<"), ("__le__", np.less_equal, "<="),
                                 ("__gt__", np.greater, ">"), ("__ge__", np.greater_equal, ">=")):
    setattr(Tensor, _dunder, _comparison(_ufunc, _symbol))


# ---- reductions ----
def _sum(self: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return apply(reduce.SUM, (self,), normalize_axes(axis, self.data.shape, "sum"), keepdims)


def _mean(self: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return apply(reduce.MEAN, (self,), normalize_axes(axis, self.data.shape, "mean"), keepdims)


def _max(self: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return apply(reduce.MAX, (self,), normalize_axes(axis, self.data.shape, "max"), keepdims)


def _var(self: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False,
         correction: int = 1) -> Tensor:
    return apply(reduce.VAR, (self,), normalize_axes(axis, self.data.shape, "var"), keepdims, correction)


def _argmax(self: Tensor, axis: int | None = None) -> Tensor:
    """Index of the largest element (outside the graph: it has no gradient)."""
    if axis is not None:
        axis = normalize_axis(axis, self.data.shape, "argmax")
    return Tensor(np.argmax(self.data, axis=axis))


Tensor.sum, Tensor.mean, Tensor.max, Tensor.var, Tensor.argmax = _sum, _mean, _max, _var, _argmax


# ---- shape ----
def _reshape(self: Tensor, *shape: int | Sequence[int]) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"reshape: the new shape must be ints, got {shape} (tensor of shape {self.shape})")
    return apply(movement.RESHAPE, (self,), shape)


def _permutation(self: Tensor, axes: Sequence[int] | None) -> tuple[int, ...]:
    ndim = self.data.ndim
    if axes is None:
        return tuple(reversed(range(ndim)))
    given = tuple(axes)
    checked = tuple(normalize_axis(a, self.data.shape, "transpose") for a in given)
    if sorted(checked) != list(range(ndim)):
        raise ValueError(f"transpose: axes {given} are not a permutation of the {ndim} axes of shape {self.shape}")
    return checked


def _transpose(self: Tensor, *axes: int | Sequence[int]) -> Tensor:
    axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)) else (axes or None)
    return apply(movement.TRANSPOSE, (self,), _permutation(self, axes))


def _swapaxes(self: Tensor, axis1: int, axis2: int) -> Tensor:
    first = normalize_axis(axis1, self.data.shape, "swapaxes")
    second = normalize_axis(axis2, self.data.shape, "swapaxes")
    axes = list(range(self.data.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return apply(movement.TRANSPOSE, (self,), tuple(axes))


Tensor.reshape, Tensor.transpose, Tensor.swapaxes = _reshape, _transpose, _swapaxes
Tensor.T = property(lambda self: apply(movement.TRANSPOSE, (self,), _permutation(self, None)),
                    doc="The tensor with its axes reversed.")


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


def _getitem(self: Tensor, index: Any) -> Tensor:
    index, advanced = _plain_index(index)
    return apply(movement.GETITEM, (self,), index, advanced)


Tensor.__getitem__ = _getitem


# ---- masking and selecting ----
def _mask_node(mask: Any, where: str) -> Tensor:
    """The mask as a constant boolean tensor, an input of the op, so a drawn graph shows it."""
    node = mask if isinstance(mask, Tensor) else as_tensor(np.asarray(mask), "mask")
    if node.data.dtype != np.bool_:
        raise TypeError(f"{where}: mask must be boolean, got dtype {node.data.dtype}")
    return node


def _masked_fill(self: Tensor, mask: Any, value: float) -> Tensor:
    mask = _mask_node(mask, "masked_fill")
    try:
        fits = np.broadcast_shapes(mask.shape, self.data.shape) == self.data.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the tensor's shape {self.shape}")
    if isinstance(value, Tensor) and value.data.ndim == 0:
        value = value.data.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"masked_fill: value must be a number, got {type(value).__name__} (tensor of shape {self.shape})")
    return apply(movement.MASKED_FILL, (self, mask), value)


Tensor.masked_fill = _masked_fill


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """a where condition is True, else b (broadcasting all three); gradients flow to a and b."""
    condition = _mask_node(condition, "where")
    a = a if isinstance(a, Tensor) else as_tensor(a, "where")
    b = b if isinstance(b, Tensor) else as_tensor(b, "where")
    return apply(movement.WHERE, (condition, a, b))


# ---- joining ----
def _tensors(tensors: Sequence[Any], where: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{where}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{where}: needs at least one tensor")
    return [t if isinstance(t, Tensor) else as_tensor(t, where) for t in tensors]


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = _tensors(tensors, "concatenate")
    first = tensors[0].data.shape
    if any(t.data.ndim != len(first) for t in tensors) or not first:
        raise ValueError(f"concatenate: tensors need the same number (>= 1) of dims, got shapes {[t.shape for t in tensors]}")
    axis = normalize_axis(axis, first, "concatenate")
    for t in tensors:
        if t.data.shape[:axis] + t.data.shape[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ValueError(f"concatenate: shapes {[t.shape for t in tensors]} differ outside axis {axis}")
    return apply(movement.CONCATENATE, tuple(tensors), axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = _tensors(tensors, "stack")
    shapes = {t.data.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    axis = normalize_axis(axis, (1,) + tensors[0].data.shape, "stack")
    return apply(movement.STACK, tuple(tensors), axis=axis)


# ---- softmax family ----
def _softmax(self: Tensor, axis: int = -1) -> Tensor:
    return apply(softmax.SOFTMAX, (self,), normalize_axis(axis, self.data.shape, "softmax"))


def _log_softmax(self: Tensor, axis: int = -1) -> Tensor:
    return apply(softmax.LOG_SOFTMAX, (self,), normalize_axis(axis, self.data.shape, "log_softmax"))


Tensor.softmax, Tensor.log_softmax = _softmax, _log_softmax
