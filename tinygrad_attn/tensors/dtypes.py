"""PyTorch's dtype names (`ta.float32`, `ta.long`, `ta.bool`, ...) and `ta.device`.

The dtypes are NumPy dtypes (a tensor's `.dtype` is one), so `dtype=ta.long` works wherever a
dtype is accepted, and `x.dtype == ta.float32` reads as in PyTorch. The engine has one device,
the CPU: `ta.device("cpu")` exists so that PyTorch code naming it runs; any other device is a
clear error, since a GPU is PyTorch's job (hand the model over with `to_torch()`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["float16", "half", "float32", "float64", "double", "int32", "int64", "long",
           "device", "as_dtype", "check_device"]  # and `bool`, left out so `import *` keeps the builtin

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
int32 = np.dtype("int32")
int64 = long = np.dtype("int64")
_BOOL = np.dtype("bool")

_KINDS = "fiub"  # float, signed and unsigned int, bool: what a tensor can hold


def as_dtype(dtype: Any, where: str) -> np.dtype | None:
    """A `dtype=` argument as a NumPy dtype (None stays None), or an error naming the function.

    Accepts the engine's dtypes, NumPy's (`np.float32`, "float32"), Python's `float`/`int`/`bool`
    (float64, int64, bool, as in PyTorch) and a `torch.dtype` such as `torch.long`.
    """
    if dtype is None:
        return None
    if type(dtype).__module__ == "torch" and str(dtype).startswith("torch."):
        dtype = str(dtype)[len("torch."):]  # torch.int64 -> "int64"
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or checked.kind not in _KINDS:
        raise TypeError(f"{where}: dtype must be a float, int or bool dtype such as ta.float32 or ta.long, "
                        f"got {dtype!r}")
    return checked


# ---- the one device ----
_GPUS = ("cuda", "mps", "xpu", "hip", "rocm", "vulkan", "metal", "opencl", "xla", "tpu")


def _cpu_only(name: str, where: str) -> ValueError:
    kind = name.split(":")[0]
    if kind in _GPUS:
        return ValueError(f"{where}: this engine runs on the CPU only, got device {name!r}; build the "
                          "model here and hand it to PyTorch (to_torch()) to use a GPU")
    return ValueError(f"{where}: unknown device {name!r}; the only device is 'cpu'")


class device:  # noqa: N801  (PyTorch's name: ta.device("cpu"))
    """Where a tensor lives: always the CPU here (`ta.device("cpu")`, also "cpu:0")."""

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None):  # noqa: A002  (PyTorch's argument name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        kind, colon, number = type.partition(":")
        if kind != "cpu":
            raise _cpu_only(type, "device")
        if colon:
            if not number.isdigit() or index is not None:
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(number)
        if index is not None and (not isinstance(index, (int, np.integer)) or isinstance(index, (_BUILTIN_BOOL, np.bool_))
                                  or index < 0):
            raise ValueError(f"device: index must be a non-negative int, got {index!r}")
        self.type = "cpu"
        self.index = None if index is None else int(index)

    def __repr__(self) -> str:
        return "device(type='cpu')" if self.index is None else f"device(type='cpu', index={self.index})"

    def __str__(self) -> str:
        return "cpu" if self.index is None else f"cpu:{self.index}"

    def __eq__(self, other: Any) -> Any:
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def check_device(where_to: Any, where: str) -> None:
    """Accept `device=None`, "cpu", "cpu:0", `ta.device("cpu")` or a torch.device on the CPU."""
    if where_to is None or isinstance(where_to, device):
        return
    name = where_to if isinstance(where_to, str) else getattr(where_to, "type", None)
    if not isinstance(name, str):
        raise TypeError(f"{where}: device must be 'cpu' or ta.device('cpu'), got {where_to!r}")
    if name.split(":")[0] != "cpu":
        raise _cpu_only(str(where_to), where)


def to_arguments(args: tuple, dtype: Any, device: Any, where: str) -> Any:
    """The dtype in PyTorch's `to(...)` arguments (`to(dtype)`, `to("cpu")`, `to(device, dtype)`,
    `to(tensor)`: a tensor gives its dtype); the device is checked to be the CPU."""
    for arg in args:
        if hasattr(arg, "data") and hasattr(arg.data, "dtype"):  # a tensor: take its dtype
            dtype = arg.data.dtype
        elif isinstance(arg, str) or (hasattr(arg, "type") and not isinstance(arg, np.dtype)):
            device = arg  # "cpu" or a device object
        else:
            dtype = arg
    check_device(device, where)
    return dtype


_BUILTIN_BOOL = bool
bool = _BOOL  # noqa: A001  (PyTorch's name ta.bool; this module's code uses _BUILTIN_BOOL)
