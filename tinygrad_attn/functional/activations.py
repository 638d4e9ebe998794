"""Activations: relu, erf, gelu (exact and tanh forms), softmax and log_softmax.

erf, gelu and gelu_tanh are ops of their own here: forward, backward, `define`, the public
function and its usages, together. relu, softmax and log_softmax are tensor primitives
(`ops/elementwise.py`, `ops/softmax.py`); F offers them under PyTorch's names. The tuned
gelu_tanh is in `kernels/activations.py`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..kernels import activations as kernel
from ..ops.elementwise import RELU
from ..ops.registry import define
from ..ops.samples import S
from ..ops.softmax import LOG_SOFTMAX, SOFTMAX
from ..tensors.tensor import Tensor, apply
from .checks import float_tensor


def _tf(torch: Any) -> Any:
    return torch.nn.functional


# ---- relu (the tensor primitive, as F.relu) ----
def relu(x: Any) -> Tensor:
    """max(x, 0) elementwise (the gradient at exactly 0 is 0, as in PyTorch)."""
    return float_tensor(x, "relu").relu()


RELU.usage("F.relu", relu, lambda torch, x: _tf(torch).relu(x), S((2, 3)))


# ---- erf: 2/√π ∫₀ˣ exp(-t²) dt ----
def _erf_values(values: np.ndarray) -> np.ndarray:
    """erf element by element: NumPy has no erf, and math.erf is exact to double precision."""
    flat = np.fromiter(map(math.erf, values.ravel().tolist()), dtype=np.float64, count=values.size)
    return flat.reshape(values.shape).astype(values.dtype, copy=False)


def erf_forward(ctx, x):
    return _erf_values(x)


def erf_backward(ctx, upstream_grad):
    x = ctx.inputs[0].data
    return (upstream_grad * (2 / math.sqrt(math.pi)) * np.exp(-x * x),)


ERF = define("erf", forward=erf_forward, backward=erf_backward, formulas=("d(erf x)/dx = 2/√π · exp(-x²)",))


def erf(x: Any) -> Tensor:
    """The error function erf(x) = 2/√π ∫₀ˣ exp(-t²) dt, elementwise (as torch.erf)."""
    return apply(ERF, (float_tensor(x, "erf"),))


ERF.usage("F.erf", erf, lambda torch, x: torch.erf(x),
          S((2, 3)), S(values=[[-6.0, -0.5, 0.0, 0.5, 6.0]]), S((0,)))


# ---- gelu, exact: x·Φ(x), Φ the standard normal cdf ----
def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½·erfc(-x/√2) in float64: ½(1 + erf(x/√2)) cancels to 0 below x ≈ -5 in
    float32 (-8 in float64), where x·Φ(x) is still a normal number."""
    flat = np.fromiter(map(math.erfc, (x.astype(np.float64).ravel() * -math.sqrt(0.5)).tolist()),
                       dtype=np.float64, count=x.size)
    return 0.5 * flat.reshape(x.shape)


def _normal_density(x: np.ndarray) -> np.ndarray:
    """φ(x) = exp(-x²/2)/√(2π) in float64: x² rounded in float32 would cost φ(-13) 5e-6 of its precision."""
    x = x.astype(np.float64)
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def gelu_forward(ctx, x):
    cdf = _normal_cdf(x)  # Φ(x)
    ctx.save(cdf=cdf.astype(x.dtype))
    return (x * cdf).astype(x.dtype)


def gelu_backward(ctx, upstream_grad):
    x = ctx.inputs[0].data
    slope = ctx.saved.cdf + x * _normal_density(x)  # Φ(x) + x·φ(x)
    return (upstream_grad * slope.astype(x.dtype),)


GELU = define("gelu", forward=gelu_forward, backward=gelu_backward,
              formulas=("d(x·Φ(x))/dx = Φ(x) + x·φ(x)  (Φ, φ: normal cdf, density)",),
              kernel=(kernel.gelu_forward, kernel.gelu_backward))


# ---- gelu, tanh form: ½x·(1 + t), t = tanh(c·(x + κx³)) ----
GELU_C = math.sqrt(2 / math.pi)  # the tanh form's constants, as in PyTorch and GPT-2
GELU_K = 0.044715


def gelu_tanh_forward(ctx, x):
    # the gate ½(1 + tanh u) is σ(2u) = 1/(1 + e^(-2u)): the same number, but 1 + tanh u cancels
    # to 0 for u ≪ 0 (x < -5 in float32) where σ(2u) keeps the tail's relative precision
    with np.errstate(over="ignore"):  # e^(-2u) = inf for u ≪ 0: the gate's limit, 0
        u = GELU_C * (x + GELU_K * x * x * x)  # x·x·x: NumPy's x ** 3 calls pow per element, 100× slower
        gate = 1 / (1 + np.exp(-2 * u))
    ctx.save(gate=gate)
    return x * gate


def gelu_tanh_backward(ctx, upstream_grad):
    # the formula with s = ½(1+t): ½(1+t) = s and ½(1-t²) = 2s(1-s)
    x, s = ctx.inputs[0].data, ctx.saved.gate
    slope = s + 2 * x * s * (1 - s) * GELU_C * (1 + 3 * GELU_K * x * x)
    return (upstream_grad * slope,)


GELU_TANH = define("gelu_tanh", forward=gelu_tanh_forward, backward=gelu_tanh_backward,
                   formulas=("d(gelu)/dx = ½(1+t) + ½x·(1-t²)·c·(1+3κx²),  t = tanh(c·(x+κx³))",),
                   kernel=(kernel.gelu_tanh_forward, kernel.gelu_tanh_backward))


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """GELU: x·Φ(x) with Φ the standard normal cdf ("none", PyTorch's default), or
    ½x·(1 + tanh(√(2/π)·(x + 0.044715x³))) ("tanh", as in GPT-2). The exact form calls
    math.erf per element (NumPy has no erf), so it is the slower of the two."""
    x = float_tensor(x, "gelu")
    if approximate == "tanh":
        return apply(GELU_TANH, (x,))
    if approximate == "none":
        return apply(GELU, (x,))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu_composed(x: Tensor, approximate: str = "none") -> Tensor:
    """`gelu` from primitive ops (erf counts as one for the exact form)."""
    if approximate == "tanh":
        return 0.5 * x * (1 + (GELU_C * (x + GELU_K * x * x * x)).tanh())
    if approximate == "none":
        return x * (0.5 * (1 + erf(x * (1 / math.sqrt(2)))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


_GELU_EXTREMES = [[-8.0, -1.0, 0.0, 1.0, 8.0]]
GELU.usage("F.gelu", lambda x, **kw: gelu(x, **kw), lambda torch, x, **kw: _tf(torch).gelu(x, **kw),
           S((2, 3)), S((4,), approximate="none"), S(values=_GELU_EXTREMES), S((0, 2)),
           note="exact form x·Φ(x) (PyTorch's default)")
GELU_TANH.usage("F.gelu", lambda x, **kw: gelu(x, **kw), lambda torch, x, **kw: _tf(torch).gelu(x, **kw),
                S((2, 3), approximate="tanh"), S(values=_GELU_EXTREMES, approximate="tanh"), variant="tanh")


# ---- softmax and log_softmax (the tensor primitives, as F.softmax and F.log_softmax) ----
def _dim(dim: int, axis: int | None, where: str) -> int:
    """PyTorch's `dim`, with NumPy's `axis` accepted as an alias."""
    if axis is None:
        return dim
    if dim != -1 and dim != axis:
        raise TypeError(f"{where}: got dim={dim!r} and axis={axis!r}; pass one (axis is an alias of dim)")
    return axis


def softmax(input: Any, dim: int = -1, *, axis: int | None = None) -> Tensor:
    """exp(x) / Σ exp(x) along `dim` (`axis=` is an alias), stable for logits of any size."""
    return float_tensor(input, "softmax").softmax(_dim(dim, axis, "softmax"))


def log_softmax(input: Any, dim: int = -1, *, axis: int | None = None) -> Tensor:
    """x - log Σ exp(x) along `dim` (`axis=` is an alias), stable for logits of any size."""
    return float_tensor(input, "log_softmax").log_softmax(_dim(dim, axis, "log_softmax"))


def softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """`softmax` from primitive ops; the max is a constant shift (it cancels in the ratio)."""
    exps = (x - x.max(axis=axis, keepdims=True).detach()).exp()
    return exps / exps.sum(axis=axis, keepdims=True)


def log_softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """`log_softmax` from primitive ops."""
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


SOFTMAX.usage("F.softmax", lambda x, **kw: softmax(x, **kw),
              lambda torch, x, axis=-1: torch.softmax(x, dim=axis), S((2, 3)), S((2, 3), axis=0))
LOG_SOFTMAX.usage("F.log_softmax", lambda x, **kw: log_softmax(x, **kw),
                  lambda torch, x, axis=-1: torch.log_softmax(x, dim=axis), S((2, 3)), S((2, 3), axis=0))
