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
from .dtypes import device as _device, to_arguments
from .tensor import Tensor, apply, lift_pair

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
    dtype = to_arguments(args, dtype, device, "to")
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
Tensor.type_as = lambda self, other: _converted(self, other.data.dtype)
Tensor.is_floating_point = lambda self: self.data.dtype.kind == "f"


# ---- integer division: no gradient (its derivative is 0 almost everywhere), as in PyTorch ----
def _floor_divided(a: Any, b: Any) -> Tensor:
    a, b = lift_pair(a, b, "floordiv")
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor(np.floor_divide(a.data, b.data))


Tensor.__floordiv__ = lambda self, other: _floor_divided(self, other)
Tensor.__rfloordiv__ = lambda self, other: _floor_divided(other, self)


# ---- in-place changes ----
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


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    array = _writable(self, "setitem")
    value = value.data if isinstance(value, Tensor) else value
    if isinstance(index, Tensor):
        index = index.data
    try:
        array[index] = value
    except (IndexError, ValueError) as error:
        raise type(error)(f"setitem: cannot assign {np.shape(value)} into index {index!r} of a tensor "
                          f"of shape {self.shape} ({error})") from None


def _copy_(self: Tensor, src: Any) -> Tensor:
    source = src.data if isinstance(src, Tensor) else np.asarray(src)
    try:
        np.copyto(_writable(self, "copy_"), np.broadcast_to(source, self.data.shape), casting="unsafe")
    except ValueError:
        raise ValueError(f"copy_: source of shape {np.shape(source)} does not broadcast to {self.shape}") from None
    return self


def _fill_(self: Tensor, value: Any) -> Tensor:
    _writable(self, "fill_")[...] = value.data if isinstance(value, Tensor) else value
    return self


def _random_(where: str, draw: Any) -> Any:
    def method(self: Tensor, *args: Any, generator: Any = None) -> Tensor:
        if self.data.dtype.kind != "f":
            raise TypeError(f"{where}: needs a float tensor, got dtype {self.dtype}")
        from .creation import default_rng  # the generator manual_seed sets

        rng = getattr(generator, "rng", generator) or default_rng()
        _writable(self, where)[...] = draw(rng, self.data.shape, *args)
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


Tensor.__setitem__, Tensor.copy_, Tensor.fill_ = _setitem, _copy_, _fill_
Tensor.zero_ = lambda self: _fill_(self, 0)
Tensor.normal_ = _random_("normal_", _normal)
Tensor.uniform_ = _random_("uniform_", _uniform)
