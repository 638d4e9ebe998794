"""Argument checks shared by the functional ops: floats where floats belong, one dtype per call,
integer inputs (targets, indices) as graph inputs without gradient."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensors.tensor import Tensor, as_tensor


def float_tensor(x: Any, where: str, name: str = "input") -> Tensor:
    """`x` as a Tensor, refused unless it is floating point (gradients need floats)."""
    x = x if isinstance(x, Tensor) else as_tensor(x, where)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be floating point, got dtype {x.dtype}")
    return x


def constant_input(value: Any) -> Tensor:
    """Integer targets or indices as a graph input without gradient (checked by the caller)."""
    return value if isinstance(value, Tensor) else as_tensor(np.asarray(value), "input")


def same_dtype(where: str, x: Tensor, *others: tuple[str, Tensor | None]) -> None:
    """Refuse a parameter whose dtype differs from the input's (no silent casts)."""
    for name, other in others:
        if other is not None and other.data.dtype != x.data.dtype:
            raise TypeError(f"{where}: {name} has dtype {other.dtype} but the input has {x.dtype}; "
                            "convert one with .astype(...)")
