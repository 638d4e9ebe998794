"""Elementwise kernels: large results written into reused buffers (no page faults)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import pool


def pooled(ufunc: Callable[..., np.ndarray]) -> Callable[[Any, np.ndarray, np.ndarray], np.ndarray]:
    """forward(ctx, a, b) = ufunc(a, b), a large float result going into a reused buffer."""

    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.nbytes >= pool.MIN_POOLED_BYTES and a.dtype == b.dtype and a.dtype.kind == "f":
            try:
                return ufunc(a, b, out=pool.empty(a.shape, a.dtype))
            except ValueError:
                pass  # b stretches the result beyond a's shape: the plain call below
        return ufunc(a, b)

    forward.__name__ = f"pooled_{ufunc.__name__}"
    return forward
