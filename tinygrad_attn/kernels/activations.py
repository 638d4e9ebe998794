"""Activation kernels: GELU, exact and tanh form, built in place in reused buffers.

Exact GELU: the reference (`functional/activations.py`) calls math.erfc once per element;
for float32 this kernel evaluates Φ(x) with NumPy array arithmetic instead, from a polynomial
fitted to math.erfc when this module is imported (float64 inputs keep math.erfc).

tanh form: the reference saves the gate s = ½(1 + tanh u) = σ(2u); this kernel saves s and x²,
which its regrouped backward needs, and writes every large array into a buffer from `pool.empty`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pool

GELU_C = math.sqrt(2 / math.pi)  # the tanh form's constants, as in PyTorch and GPT-2
GELU_K = 0.044715
GELU_SLOPE_LIMIT = 1e4  # past this |x| the tanh gate is exactly 0 or 1 in float32 and float64


# ---- exact GELU, x·Φ(x) ----
# With a = |x|/√2 and t = 1/(1 + a/2): ½erfc(a) = R(t)·exp(-a²), where R(t) = ½erfc(a)·exp(a²)
# is smooth on t in (0, 1]. R is a degree-9 polynomial in s = (t - mid)/half (s in [-1, 1], so
# its coefficients stay small), fitted by weighted least squares to math.erfc at import; its
# relative error is below 5e-8 (under one float32 rounding) for a <= 13 (beyond, exp(-a²) is 0 in
# float32 anyway). Φ(x) is ½erfc(a) for x < 0 and 1 - ½erfc(a) for x >= 0; in float32 it is within
# 8 roundings of math.erfc's value, which tests/test_perf_general_ops.py checks.
_ERFC_A_MAX = 13.0
_T_LOW = 1 / (1 + _ERFC_A_MAX / 2)
_T_MID, _T_HALF = (1 + _T_LOW) / 2, (1 - _T_LOW) / 2
_R_DEGREE = 9  # degree 9: 0.8 roundings of fit error; each degree fewer would save two passes but cost 10


def _fit_scaled_erfc(degree: int = _R_DEGREE, nodes: int = 400) -> np.ndarray:
    """Monomial coefficients in s of R(t(s)), fitted on Chebyshev nodes (lowest power first)."""
    s = np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    a = (1 / (_T_MID + _T_HALF * s) - 1) * 2
    r = np.array([0.5 * math.erfc(v) * math.exp(v * v) for v in a.tolist()])
    return np.polynomial.polynomial.polyfit(s, r, degree, w=1 / r)


_R_COEFFICIENTS = tuple(np.float32(c) for c in _fit_scaled_erfc()[::-1])  # highest power first, for Horner
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _gelu_float64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x·Φ(x) and its slope Φ(x) + x·φ(x) as the reference computes them (math.erfc per element)."""
    wide = x.astype(np.float64)
    cdf = 0.5 * np.fromiter(map(math.erfc, (wide.ravel() * -math.sqrt(0.5)).tolist()), dtype=np.float64,
                            count=x.size).reshape(x.shape)
    density = np.exp(-0.5 * wide * wide) * _INV_SQRT_2PI
    return (wide * cdf).astype(x.dtype), (cdf.astype(x.dtype) + wide * density).astype(x.dtype)


def gelu_forward(ctx: Any, x: np.ndarray) -> np.ndarray:
    """x·Φ(x); saves the local slope Φ(x) + x·φ(x), so backward is one product."""
    if x.dtype != np.float32:
        out, slope = _gelu_float64(x)
        ctx.save(slope=slope)
        return out
    shape, dtype = x.shape, x.dtype
    s = np.abs(x, out=pool.empty(shape, dtype))
    s *= 0.5 * math.sqrt(0.5)
    s += 1
    np.reciprocal(s, out=s)  # t = 1/(1 + a/2)
    s -= np.float32(_T_MID)
    s *= np.float32(1 / _T_HALF)  # s in [-1, 1]
    first, *rest = _R_COEFFICIENTS
    r = np.multiply(s, first, out=pool.empty(shape, dtype))
    for coefficient in rest[:-1]:
        r += coefficient
        r *= s
    r += rest[-1]  # R(t) by Horner
    with np.errstate(over="ignore"):  # x² = inf for |x| > 1.8e19: exp(-inf) = 0, the limit
        gauss = np.multiply(x, x, out=s)  # s is free again
    gauss *= -0.5
    np.exp(gauss, out=gauss)  # exp(-x²/2) = exp(-a²)
    r *= gauss  # ½erfc(a)
    # Φ = w - r·(2w - 1) with w = 1 where x >= 0, else 0: 1 - r or 0 + r, the reference's numbers
    # without a branch per element (copyto(..., where=x < 0) on random signs costs 25 passes)
    cdf = np.greater_equal(x, 0, out=pool.empty(shape, dtype), casting="unsafe")
    sign = np.multiply(cdf, 2, out=pool.empty(shape, dtype))
    sign -= 1
    r *= sign  # ±½erfc(a), exact
    cdf -= r  # Φ(x)
    slope = np.multiply(gauss, x, out=gauss)
    slope *= _INV_SQRT_2PI  # x·φ(x)
    slope += cdf
    ctx.save(slope=slope)
    return np.multiply(x, cdf, out=r)


def gelu_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    """upstream · (Φ(x) + x·φ(x)), the slope saved by the forward."""
    slope = ctx.saved.slope
    return (np.multiply(upstream_grad, slope, out=pool.empty(slope.shape, slope.dtype)),)


def gelu_tanh_forward(ctx: Any, x: np.ndarray) -> np.ndarray:
    """x·s with the gate s = σ(2u) = 1/(1 + e^(-2u)), u = c·(x + κx³), built in place in one buffer
    (σ(2u) rather than ½(1 + tanh u): the same number, without the cancellation for u ≪ 0)."""
    x_squared = np.multiply(x, x, out=pool.empty(x.shape, x.dtype))
    gate = np.multiply(x_squared, -2 * GELU_C * GELU_K, out=pool.empty(x.shape, x.dtype))
    gate -= 2 * GELU_C
    gate *= x  # -2u
    with np.errstate(over="ignore"):  # e^(-2u) = inf for u ≪ 0: the gate's limit, 0
        np.exp(gate, out=gate)
    gate += 1
    np.reciprocal(gate, out=gate)
    ctx.save(gate=gate)
    return np.multiply(x, gate, out=pool.empty(x.shape, x.dtype))


def gelu_tanh_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    """With s = ½(1 + t) the formula's ½(1+t) is s and ½(1-t²) is 2s(1-s), so the local slope
    is s · (1 + 2c·x·(1-s)·(1+3κx²)): written in place into one buffer."""
    x = ctx.inputs[0].data
    gate = ctx.saved.gate
    # Beyond |x| = GELU_SLOPE_LIMIT the gate is exactly 0 or 1, so (1 - s)·s is exactly 0 and x
    # may be clipped there: x³ would overflow to inf, and inf · 0 is NaN.
    x_small = np.clip(x, -GELU_SLOPE_LIMIT, GELU_SLOPE_LIMIT, out=pool.empty(x.shape, x.dtype))
    local = np.multiply(x_small, x_small, out=pool.empty(x.shape, x.dtype))
    local *= 6 * GELU_C * GELU_K
    local += 2 * GELU_C
    local *= x_small
    local *= np.subtract(1, gate, out=pool.empty(x.shape, x.dtype))
    local += 1
    local *= gate
    local *= upstream_grad
    return (local,)
