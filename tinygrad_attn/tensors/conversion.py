"""Tensor methods about the tensor rather than its graph: sizes (`size()`, `dim()`, `numel()`),
dtype and device conversions (`float()`, `long()`, `to(...)`, `type_as`), and in-place
changes (`x[i] = v`, `copy_`, `fill_`, `zero_`, `normal_`, `uniform_`), with PyTorch's names.

In-place changes are for data that is not being differentiated: initialising weights or
editing a buffer under `no_grad()`, or a tensor that needs no grad. Changing a tensor that
requires grad while grad mode is on would silently corrupt the gradient, so it is refused.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import core
from ..ops import elementwise as ew
from .dtypes import as_dtype, device as _device, to_arguments
from .tensor import Tensor, _as_array as as_array, apply, lift_pair

_CPU = _device("cpu")


# ---- sizes, as methods (PyTorch) ----
def _size(self: Tensor, dim: int | None = None) -> tuple[int, ...] | int:
    """The shape (`size()`), or the length of one dim (`size(d)`)."""
    if dim is None:
        return self.data.shape
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"size: dim must be an int, got {dim!r}")
    ndim = self.data.ndim
    if not -max(ndim, 1) <= dim < max(ndim, 1) or ndim == 0:
        raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {self.shape} ({ndim} dims)")
    return self.data.shape[dim]


Tensor.size = _size
Tensor.dim = lambda self: self.data.ndim
Tensor.dim.__doc__ = "The number of dims (as `ndim`)."
Tensor.numel = lambda self: int(self.data.size)
Tensor.numel.__doc__ = "The number of elements."


# ---- dtypes and devices ----
def _converted(self: Tensor, dtype: Any) -> Tensor:
    """A float dtype stays in the graph (astype); an integer or bool one gives a plain tensor,
    as PyTorch's `.long()` does (its result has no gradient)."""
    target = np.dtype(dtype)
    if target == self.data.dtype:
        return self
    if target.kind == "f":
        return apply(ew.ASTYPE, (self,), target)
    return Tensor(self.data.astype(target))


def _to(self: Tensor, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False,
        non_blocking: bool = False) -> Tensor:
    """`to(dtype)`, `to("cpu")`, `to(device, dtype)` or `to(other_tensor)`, as in PyTorch."""
    dtype = as_dtype(to_arguments(args, dtype, device, "to"), "to")
    out = self if dtype is None else _converted(self, dtype)
    return Tensor(out.data.copy()) if copy and out is self else out


Tensor.to = _to
Tensor.device = property(lambda self: _CPU, doc="Where the tensor lives: always the CPU here.")
Tensor.float = lambda self: _converted(self, np.float32)
Tensor.double = lambda self: _converted(self, np.float64)
Tensor.half = lambda self: _converted(self, np.float16)
Tensor.long = lambda self: _converted(self, np.int64)
Tensor.int = lambda self: _converted(self, np.int32)
Tensor.bool = lambda self: _converted(self, np.bool_)
def _type_as(self: Tensor, other: Any) -> Tensor:
    if not isinstance(other, Tensor):
        raise TypeError(f"type_as: expected a Tensor whose dtype to take, got {type(other).__name__}")
    return _converted(self, other.data.dtype)


Tensor.type_as = _type_as
Tensor.is_floating_point = lambda self: self.data.dtype.kind == "f"


# ---- integer division: no gradient (its derivative is 0 almost everywhere), as in PyTorch ----
def _floor_divided(a: Any, b: Any) -> Tensor:
    a, b = lift_pair(a, b, "floordiv")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"floordiv: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    if b.data.dtype.kind in "iub" and a.data.dtype.kind in "iub" and not np.all(b.data):
        raise RuntimeError(f"floordiv: integer division by zero (divisor of shape {b.shape}); "
                           "integers have no infinity (PyTorch raises ZeroDivisionError here too)")
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor(np.floor_divide(a.data, b.data))


Tensor.__floordiv__ = lambda self, other: _floor_divided(self, other)
Tensor.__rfloordiv__ = lambda self, other: _floor_divided(other, self)


# ---- in-place changes ----
# Each write is stamped (core.mark_written), so backward refuses a graph whose ops ran on the
# old numbers, as PyTorch's version counter does. A direct write into `t.data` (a NumPy array)
# cannot be seen; see core.mark_written.
def _writable(self: Tensor, where: str) -> np.ndarray:
    """The tensor's own array, ready to be changed, or an error if that would corrupt a gradient."""
    if self.requires_grad and core.is_grad_enabled():
        raise RuntimeError(
            f"{where}: cannot change a tensor that requires grad in place while grad mode is on "
            "(backward would use the changed numbers); do it inside `with ta.no_grad():`, as when "
            "initialising weights")
    if not self.data.flags.writeable:  # a view another tensor shares (expand): take a copy first
        self.data = self.data.copy()
    return self.data


_REAL = (int, float, np.integer, np.floating, np.bool_)


def _fill_number(self: Tensor, value: Any, where: str) -> Any:
    """A value to write: a real number, or the number of a one-element tensor."""
    if isinstance(value, Tensor):
        if value.data.size != 1:
            raise ValueError(f"{where}: the value must be a number or a one-element tensor, got a tensor of "
                             f"shape {value.shape} (tensor of shape {self.shape})")
        value = value.data.item()
    if not isinstance(value, _REAL):
        raise TypeError(f"{where}: the value must be a real number, got {type(value).__name__} ({value!r:.30}) "
                        f"(tensor of shape {self.shape}, dtype {self.dtype})")
    return _storable(self, value, where)


def _storable(self: Tensor, value: Any, where: str) -> Any:
    """Refuse NaN or infinity bound for an integer tensor (NumPy would raise in its own words)."""
    if self.data.dtype.kind in "iub" and not np.all(np.isfinite(value)):
        raise ValueError(f"{where}: cannot store {np.asarray(value).ravel()[:3].tolist()} in a tensor of dtype "
                         f"{self.dtype} (integers have no NaN or infinity)")
    return value


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    array = _writable(self, "setitem")
    if isinstance(value, _REAL) or (isinstance(value, Tensor) and value.data.ndim == 0):
        value = _fill_number(self, value, "setitem")
    else:
        value = value.data if isinstance(value, Tensor) else as_array(value, None, "setitem")
        if value.dtype.kind not in "fiub":
            raise TypeError(f"setitem: the value must hold real numbers, got dtype {value.dtype}")
        _storable(self, value, "setitem")
    if isinstance(index, Tensor):
        index = index.data
    try:
        array[index] = value
    except IndexError:
        raise IndexError(f"setitem: index {index!r} does not fit a tensor of shape {self.shape} (out of range, "
                         "or a boolean mask of another shape)") from None
    except ValueError:
        raise ValueError(f"setitem: a value of shape {np.shape(value)} does not broadcast to the selected part "
                         f"{np.shape(array[index])} (index {index!r} of a tensor of shape {self.shape})") from None
    core.mark_written(self, "setitem (t[...] = ...)")


def _copy_(self: Tensor, src: Any) -> Tensor:
    source = src.data if isinstance(src, Tensor) else as_array(src, None, "copy_")
    array = _writable(self, "copy_")
    try:
        source = np.broadcast_to(source, self.data.shape)
    except ValueError:
        raise ValueError(f"copy_: source of shape {np.shape(source)} does not broadcast to {self.shape}") from None
    with np.errstate(invalid="ignore"):  # NaN into an integer tensor: an arbitrary value, as in PyTorch
        np.copyto(array, source, casting="unsafe")
    core.mark_written(self, "copy_")
    return self


def _fill_(self: Tensor, value: Any) -> Tensor:
    value = _fill_number(self, value, "fill_")
    _writable(self, "fill_")[...] = value
    core.mark_written(self, "fill_")
    return self


def _zero_(self: Tensor) -> Tensor:
    _writable(self, "zero_")[...] = 0
    core.mark_written(self, "zero_")
    return self


def _random_(where: str, draw: Any) -> Any:
    def method(self: Tensor, *args: Any, generator: Any = None) -> Tensor:
        if self.data.dtype.kind != "f":
            raise TypeError(f"{where}: needs a float tensor, got dtype {self.dtype}")
        for name, value in zip(draw.__code__.co_varnames[2:], args):
            if isinstance(value, bool) or not isinstance(value, _REAL):
                raise TypeError(f"{where}: {name} must be a real number, got {value!r}")
            if not np.isfinite(value):
                raise ValueError(f"{where}: {name} must be finite, got {value!r}")
        from .creation import default_rng  # the generator manual_seed sets

        rng = getattr(generator, "rng", generator) or default_rng()
        values = draw(rng, self.data.shape, *args)  # drawn first: a refused argument changes nothing
        _writable(self, where)[...] = values
        core.mark_written(self, where)
        return self

    method.__name__ = where
    return method


def _normal(rng: np.random.Generator, shape: tuple, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return rng.normal(mean, std, shape)


def _uniform(rng: np.random.Generator, shape: tuple, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    if low > high:
        raise ValueError(f"uniform_: low {low} is above high {high}")
    return rng.uniform(low, high, shape)


Tensor.__setitem__, Tensor.copy_, Tensor.fill_, Tensor.zero_ = _setitem, _copy_, _fill_, _zero_
Tensor.normal_ = _random_("normal_", _normal)
Tensor.uniform_ = _random_("uniform_", _uniform)


# ---- augmented assignment: in place, as in PyTorch (`with no_grad(): w -= lr * w.grad`) ----
def _augmented(combine: Any, name: str) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        if self.requires_grad and self.op is None and core.is_grad_enabled():
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad cannot be changed in place while grad mode is on "
                "(PyTorch refuses it too); update weights inside `with ta.no_grad():`")
        result = combine(self, other)
        if result.requires_grad:  # grad mode and a graph to keep: recorded as a new node (same values and grads)
            return result
        if result.shape != self.shape:
            raise ValueError(f"{name}: the result has shape {result.shape} but the tensor has shape {self.shape}; "
                             "an in-place op cannot change the tensor's shape")
        if not np.can_cast(result.dtype, self.data.dtype, casting="same_kind"):
            raise TypeError(f"{name}: the result has dtype {result.dtype}, which cannot be stored in place in a "
                            f"tensor of dtype {self.dtype}; convert the tensor first (e.g. .float())")
        np.copyto(_writable(self, name), result.data, casting="same_kind")
        core.mark_written(self, name)
        return self

    method.__name__ = f"__i{name[:-1]}__"
    return method


Tensor.__iadd__ = _augmented(lambda a, b: a + b, "add_")
Tensor.__isub__ = _augmented(lambda a, b: a - b, "sub_")
Tensor.__imul__ = _augmented(lambda a, b: a * b, "mul_")
Tensor.__itruediv__ = _augmented(lambda a, b: a / b, "div_")
