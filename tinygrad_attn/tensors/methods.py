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
from .dtypes import as_dtype
from .tensor import DEFAULT_FLOAT, Tensor, apply, apply_binary, apply_unary, as_tensor, constant, lift_pair

__all__ = ["where"]


# ---- arithmetic: a number or array beside a tensor becomes a constant tensor ----
def _binary(op: Any, name: str) -> Any:
    reflected = name.startswith("__r")  # __rmul__: the tensor is the right operand

    divides = op.name == "div"

    def method(self: Tensor, other: Any) -> Tensor:
        a, b = (other, self) if reflected else (self, other)
        if type(a) is not Tensor or type(b) is not Tensor:
            a, b = lift_pair(a, b, op.name)
        if a.data.dtype is not b.data.dtype or (divides and a.data.dtype.kind != "f"):
            a, b = _promoted(a, b, divides)
        return apply_binary(op, a, b)

    method.__name__ = name
    method.__doc__ = f"{op.name}: {op.formula}"
    return method


def _promoted(a: Tensor, b: Tensor, divides: bool) -> tuple[Tensor, Tensor]:
    """PyTorch's type promotion where NumPy's differs: an integer (or bool) tensor beside a float
    one takes the float's dtype (NumPy would widen int64 + float32 to float64), and an integer
    division gives float32. Integer tensors never require grad, so they become constants."""
    kind_a, kind_b = a.data.dtype.kind, b.data.dtype.kind
    if kind_a == "f" and kind_b != "f":
        return a, constant(b.data.astype(a.data.dtype))
    if kind_b == "f" and kind_a != "f":
        return constant(a.data.astype(b.data.dtype)), b
    if divides and kind_a != "f":
        return constant(a.data.astype(DEFAULT_FLOAT)), constant(b.data.astype(DEFAULT_FLOAT))
    return a, b


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
    target = as_dtype(dtype, "astype")  # a float, int or bool dtype: never complex, object or str
    if self.requires_grad and target.kind != "f":
        raise TypeError(f"astype: cannot cast a tensor that requires grad to non-float dtype {target}")
    return apply(ew.ASTYPE, (self,), target)


Tensor.astype = _astype


# ---- comparisons: plain boolean tensors, outside the graph ----
_COMPARABLE = (Tensor, int, float, bool, np.ndarray, np.generic, list, tuple)


def _comparison(ufunc: Any, symbol: str) -> Any:
    equality = symbol in ("==", "!=")

    def method(self: Tensor, other: Any) -> Tensor:
        if equality and not isinstance(other, _COMPARABLE):
            return NotImplemented  # `t == None` is False, as in PyTorch (Python compares identities)
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
