"""What every function that makes a tensor checks, in one place: the size (PyTorch's `*size`
or one sequence), the device (the CPU) and requires_grad (floating point only)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import as_dtype, check_device
from .tensor import Tensor, _as_array

__all__ = ["shape_of", "made", "like"]

_INTS = (int, np.integer)


def shape_of(args: tuple, size: Any, where: str) -> tuple[int, ...]:
    """PyTorch's `*size` (ints, or one sequence) or `size=`, as a checked shape."""
    if size is not None:
        if args:
            raise TypeError(f"{where}: give the size once, as ints or as size=, not both")
        args = (size,)
    if not args:
        raise TypeError(f"{where}: missing the size, e.g. {where}(2, 3) or {where}((2, 3))")
    if len(args) == 1 and isinstance(args[0], (tuple, list, np.ndarray)):
        args = tuple(args[0].tolist() if isinstance(args[0], np.ndarray) else args[0])
    elif any(isinstance(n, (tuple, list)) for n in args):
        raise TypeError(f"{where}: give the size as ints or as one sequence, got {args}")
    if any(isinstance(n, (bool, np.bool_)) for n in args):
        raise TypeError(f"{where}: size must be ints, got {args}; requires_grad is keyword-only: "
                        f"{where}(..., requires_grad=True)")
    if not all(isinstance(n, _INTS) for n in args):
        raise TypeError(f"{where}: size must be ints, got {args}")
    if any(n < 0 for n in args):
        raise ValueError(f"{where}: size must be non-negative, got {args}")
    return tuple(int(n) for n in args)


def made(array: np.ndarray, device: Any, requires_grad: Any, where: str, name: str | None = None) -> Tensor:
    """The finished leaf: on the CPU, requiring grad only if it is floating point."""
    check_device(device, where)
    if requires_grad and array.dtype.kind != "f":
        raise TypeError(f"{where}: only floating-point tensors can require grad, got dtype {array.dtype}")
    return Tensor(array, requires_grad=bool(requires_grad), dtype=array.dtype, name=name)  # dtype=: keeps float16


def like(input: Any, dtype: Any, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a `*_like` function copies (its dtype= wins)."""
    array = input.data if isinstance(input, Tensor) else _as_array(input, None, where)
    return array.shape, as_dtype(dtype, where) or array.dtype
