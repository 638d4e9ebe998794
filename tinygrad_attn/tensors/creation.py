"""Making tensors: `tensor`, `zeros`, `ones`, `randn`, `manual_seed`."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .tensor import DEFAULT_FLOAT, Tensor

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the generator behind `randn` (and the default of nn's initialisers)."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng() -> np.random.Generator:
    return _rng


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def _shape(shape: int | Sequence[int], where: str) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in dims):
        raise ValueError(f"{where}: shape must be non-negative ints, got {shape!r}")
    return tuple(int(n) for n in dims)


def zeros(shape: int | Sequence[int], requires_grad: bool = False, dtype: Any = DEFAULT_FLOAT) -> Tensor:
    return Tensor(np.zeros(_shape(shape, "zeros"), dtype=dtype), requires_grad=requires_grad)


def ones(shape: int | Sequence[int], requires_grad: bool = False, dtype: Any = DEFAULT_FLOAT) -> Tensor:
    return Tensor(np.ones(_shape(shape, "ones"), dtype=dtype), requires_grad=requires_grad)


def randn(shape: int | Sequence[int], requires_grad: bool = False, dtype: Any = DEFAULT_FLOAT,
          rng: np.random.Generator | None = None) -> Tensor:
    """Standard normal samples from `rng` (default: the generator `manual_seed` sets)."""
    samples = (rng or _rng).standard_normal(_shape(shape, "randn"))
    return Tensor(samples.astype(dtype), requires_grad=requires_grad)
