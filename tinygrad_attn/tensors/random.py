"""Random tensors, with PyTorch's signatures: `randn`, `rand`, `randint`, `randn_like`,
`rand_like` and `multinomial`. Each draws from `generator=` (a `ta.Generator`) or else from
the default generator that `ta.manual_seed` seeds (generator.py). The numbers are not
PyTorch's for the same seed; their distributions, shapes and dtypes are.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import as_dtype
from .factory import like, made, shape_of
from .generator import numpy_rng
from .tensor import DEFAULT_FLOAT, Tensor, _as_array

__all__ = ["randn", "rand", "randint", "randn_like", "rand_like", "multinomial"]

_INTS = (int, np.integer)


def _float_dtype(dtype: Any, where: str) -> np.dtype:
    checked = as_dtype(dtype, where) or np.dtype(DEFAULT_FLOAT)
    if checked.kind != "f":
        raise TypeError(f"{where}: dtype must be a floating-point dtype, got {checked} (randint draws integers)")
    return checked


def _normal(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _uniform(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
    # [0, 1): a float64 draw just below 1 may round up to 1 in a narrower dtype, so cap it
    return np.minimum(rng.random(shape).astype(dtype), np.nextafter(dtype.type(1), dtype.type(0)))


def randn(*sizes: Any, size: Any = None, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False, rng: Any = None) -> Tensor:
    """Standard normal samples: `randn(2, 3)` or `randn((2, 3))`, float32 unless dtype= says.
    `rng=` (a NumPy or ta Generator) is the older spelling of `generator=`."""
    if rng is not None and generator is not None:
        raise TypeError("randn: give generator= or rng=, not both")
    shape = shape_of(sizes, size, "randn")
    array = _normal(numpy_rng(generator if rng is None else rng, "randn"), shape, _float_dtype(dtype, "randn"))
    return made(array, device, requires_grad, "randn")


def rand(*sizes: Any, size: Any = None, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1): `rand(2, 3)` or `rand((2, 3))`, float32 unless dtype= says."""
    shape = shape_of(sizes, size, "rand")
    array = _uniform(numpy_rng(generator, "rand"), shape, _float_dtype(dtype, "rand"))
    return made(array, device, requires_grad, "rand")


def randn_like(input: Any, *, generator: Any = None, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    shape, dtype = like(input, dtype, "randn_like")
    array = _normal(numpy_rng(generator, "randn_like"), shape, _float_dtype(dtype, "randn_like"))
    return made(array, device, requires_grad, "randn_like")


def rand_like(input: Any, *, generator: Any = None, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    shape, dtype = like(input, dtype, "rand_like")
    array = _uniform(numpy_rng(generator, "rand_like"), shape, _float_dtype(dtype, "rand_like"))
    return made(array, device, requires_grad, "rand_like")


def _int(value: Any, name: str, where: str) -> int:
    if isinstance(value, Tensor) and value.data.size == 1 and value.data.dtype.kind in "iu":
        value = value.data.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _INTS):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    return int(value)


def randint(*args: Any, low: Any = None, high: Any = None, size: Any = None, generator: Any = None,
            dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high): `randint(high, size)` or
    `randint(low, high, size)`, the size a tuple such as (3,) (as PyTorch); int64 unless dtype= says."""
    given = list(args)
    if size is None and given and isinstance(given[-1], (tuple, list)):
        size = given.pop()
    if size is None or isinstance(size, _INTS) or len(given) > 2 or len(given) + (low is not None) + (high is not None) > 2:
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size) with the size a "
                        f"tuple such as (3,), got randint{tuple(args)}")
    if len(given) == 2:
        low, high = given
    elif given and high is None:
        high = given[0]
    elif given:
        low = given[0]
    if high is None:
        raise TypeError("randint: missing high (the bound above every value): randint(high, size)")
    low, high = _int(0 if low is None else low, "low", "randint"), _int(high, "high", "randint")
    if low >= high:
        raise ValueError(f"randint: low must be below high (high is excluded), got low={low}, high={high}")
    shape = shape_of((size,), None, "randint")
    values = numpy_rng(generator, "randint").integers(low, high, shape, dtype=np.int64)
    return made(values.astype(as_dtype(dtype, "randint") or np.int64), device, requires_grad, "randint")


def multinomial(input: Any, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """Indices drawn from each row of `input` (1-D, or 2-D: one distribution per row), each with
    probability proportional to its entry; int64, shape (num_samples,) or (rows, num_samples).
    No gradient: sampling is not differentiable."""
    probs = input.data if isinstance(input, Tensor) else _as_array(input, None, "multinomial")
    if probs.dtype.kind != "f":
        raise TypeError(f"multinomial: probabilities must be floating point, got dtype {probs.dtype} "
                        "(call .float() first)")
    if probs.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D (one distribution per row), got shape {probs.shape}")
    num_samples = _int(num_samples, "num_samples", "multinomial")
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    rows = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
    categories = rows.shape[1]
    bad = ~np.isfinite(rows) | (rows < 0)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(f"multinomial: probabilities must be finite and >= 0, got {rows[row, column]} in row {row}")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError(f"multinomial: row {int(np.argmax(totals <= 0))} sums to 0; every row needs a positive total")
    if not replacement and num_samples > categories:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                         f"{categories} categories (pass replacement=True)")
    rng = numpy_rng(generator, "multinomial")
    if replacement:  # inverse CDF: the first category whose cumulative probability passes u
        cdf = np.cumsum(rows, axis=1)
        cdf /= cdf[:, -1:]
        draws = rng.random((rows.shape[0], num_samples))
        picks = np.stack([np.searchsorted(c, u, side="right") for c, u in zip(cdf, draws)]) if len(rows) else draws
    else:  # an exponential race: the first num_samples to finish, as PyTorch draws them
        with np.errstate(divide="ignore"):
            finish = rng.exponential(size=rows.shape) / rows  # probability 0 never finishes (inf)
        picks = np.argsort(finish, axis=1, kind="stable")[:, :num_samples]
    picks = picks.astype(np.int64).reshape(probs.shape[:-1] + (num_samples,))
    return Tensor(picks)
