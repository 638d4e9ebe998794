"""dropout (inverted): zero each element with probability p and scale the rest by 1/(1 - p).
Written out it is `x * keep / (1 - p)`; as an op it saves one array, the scaled mask. Nothing
here is worth tuning, so it has no kernel."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.registry import define
from ..ops.samples import S
from ..tensors.creation import default_rng
from ..tensors.tensor import Tensor, apply
from .checks import float_tensor


# ---- dropout: y = x · keep / (1 - p) ----
def dropout_forward(ctx, x, p, rng):
    if p == 1:
        keep_scaled = np.zeros_like(x)  # everything dropped (and no draw: 1/(1 - p) is undefined)
    else:
        keep = rng.random(x.shape) >= p  # each element kept with probability 1 - p
        keep_scaled = keep * x.dtype.type(1 / (1 - p))
    ctx.save(keep_scaled=keep_scaled)
    return x * keep_scaled


def dropout_backward(ctx, upstream_grad):
    return (upstream_grad * ctx.saved.keep_scaled,)


DROPOUT = define("dropout", forward=dropout_forward, backward=dropout_backward,
                 formulas=("d(dropout)/dx = keep / (1 - p)  (0 where dropped)",))


def dropout(x: Any, p: float = 0.5, training: bool = True,
            rng: int | np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 - p) (inverted dropout),
    so the expected value is unchanged and evaluation needs no rescaling.

    Not training, or p = 0: x itself. p = 1: zeros. `rng` is a NumPy Generator (each call
    draws a new mask), an int seed (the same mask every call), or None for the generator that
    `ta.manual_seed` sets.
    """
    x = float_tensor(x, "dropout")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    if rng is None:
        rng = default_rng()
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout: rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")
    return apply(DROPOUT, (x,), p, rng)


def _torch_dropout(torch: Any, x: Any, p: float, rng: int) -> Any:
    """The engine's mask drawn again from the same seed (torch's own generator differs), then scaled."""
    keep = np.random.default_rng(rng).random(tuple(x.shape)) >= p
    return x * torch.as_tensor(keep, dtype=x.dtype) / (1 - p)


DROPOUT.usage("F.dropout", lambda x, **kw: dropout(x, **kw), _torch_dropout,
              S((3, 4), p=0.3, rng=0), S((2, 5), p=0.5, rng=7),
              note="an int rng seeds the mask; the reference draws the same mask from the seed")
