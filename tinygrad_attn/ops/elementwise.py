"""Elementwise tensor ops. Each op: its forward, its backward, one `define`, its usages.

Broadcasting is undone once, by the registry (`unbroadcast=True`): each backward below returns
gradients of the result's shape, and the registry sums them back to each input's shape.
"""
from __future__ import annotations

import numpy as np

from ..kernels.elementwise import pooled, rows_summed
from .registry import define
from .samples import S, constant_like

# Constants for the reflected forms: dyadic numbers, exact in float32 and float64.
_LEFT_ROWS = [[0.5], [-1.5]]  # (2, 1): broadcasts against a (2, 3) tensor


# ---- add: a + b ----
def add_forward(ctx, a, b):
    return a + b


def add_backward(ctx, upstream_grad):
    return upstream_grad, upstream_grad


ADD = define("add", methods=("__add__", "__radd__", "add"),
             forward=add_forward, backward=add_backward, unbroadcast=True,
             formulas=("d(a+b)/da = 1", "d(a+b)/db = 1"), kernel=(pooled(np.add), rows_summed(add_backward)))
ADD.usage("__add__", lambda a, b: a + b, lambda torch, a, b: a + b,
          S((2, 3), (2, 3)), S((2, 3), (3,)), S((4, 1), (1, 5)), S((2, 1, 3), (4, 1)), S((), (2,)),
          S((0, 3), (3,)))
ADD.usage("__radd__", lambda a, left: left + a, lambda torch, a, left: constant_like(torch, left, a) + a,
          S((2, 3), left=2.5), S((2, 3), left=_LEFT_ROWS))
ADD.usage("add", lambda a, b: a.add(b), lambda torch, a, b: a.add(b), S((2, 3), (3,)))


# ---- sub: a - b ----
def sub_forward(ctx, a, b):
    return a - b


def sub_backward(ctx, upstream_grad):
    b_needs_grad = ctx.inputs[1].requires_grad
    return upstream_grad, -upstream_grad if b_needs_grad else None


SUB = define("sub", methods=("__sub__", "__rsub__", "sub"),
             forward=sub_forward, backward=sub_backward, unbroadcast=True,
             formulas=("d(a-b)/da = 1", "d(a-b)/db = -1"), kernel=(pooled(np.subtract), rows_summed(sub_backward)))
SUB.usage("__sub__", lambda a, b: a - b, lambda torch, a, b: a - b,
          S((2, 3), (2, 3)), S((3,), (2, 3)), S((4, 1), (1, 5)), S((2, 0), (1, 1)))
SUB.usage("__rsub__", lambda a, left: left - a, lambda torch, a, left: constant_like(torch, left, a) - a,
          S((2, 3), left=1.5), S((2, 3), left=_LEFT_ROWS))
SUB.usage("sub", lambda a, b: a.sub(b), lambda torch, a, b: a.sub(b), S((2, 3), (2, 1)))


# ---- mul: a * b ----
def mul_forward(ctx, a, b):
    return a * b


def mul_backward(ctx, upstream_grad):
    a, b = ctx.inputs
    grad_a = upstream_grad * b.data if a.requires_grad else None
    grad_b = upstream_grad * a.data if b.requires_grad else None
    return grad_a, grad_b


MUL = define("mul", methods=("__mul__", "__rmul__", "mul"),
             forward=mul_forward, backward=mul_backward, unbroadcast=True,
             formulas=("d(a*b)/da = b", "d(a*b)/db = a"), kernel=(pooled(np.multiply), rows_summed(mul_backward)))
MUL.usage("__mul__", lambda a, b: a * b, lambda torch, a, b: a * b,
          S((2, 3), (2, 3)), S((2, 3), (3,)), S((4, 1), (1, 5)), S((2, 1, 3), (4, 1)), S((), (2, 3)),
          S((0, 3), (1, 3)))
MUL.usage("__rmul__", lambda a, left: left * a, lambda torch, a, left: constant_like(torch, left, a) * a,
          S((2, 3), left=-2.0), S((2, 3), left=_LEFT_ROWS))
MUL.usage("mul", lambda a, b: a.mul(b), lambda torch, a, b: a.mul(b), S((2, 3), (2, 3)))


# ---- div: a / b ----
def div_forward(ctx, a, b):
    if not b.all():
        zero_over_zero = (b == 0) & (a == 0)
        if zero_over_zero.any():
            raise ValueError(f"div: 0/0 at {int(zero_over_zero.sum())} element(s) (shapes {a.shape} / {b.shape})")
    return a / b


def div_backward(ctx, upstream_grad):
    a, b = ctx.inputs
    grad_a = upstream_grad / b.data if a.requires_grad else None
    grad_b = -upstream_grad * ctx.data / b.data if b.requires_grad else None  # -a/b² = -(a/b)/b
    return grad_a, grad_b


DIV = define("div", methods=("__truediv__", "__rtruediv__", "div"),
             forward=div_forward, backward=div_backward, unbroadcast=True,
             formulas=("d(a/b)/da = 1/b", "d(a/b)/db = -a/b²"))
_NONZERO = ("real", "nonzero")
DIV.usage("__truediv__", lambda a, b: a / b, lambda torch, a, b: a / b,
          S((2, 3), (2, 3), domain=_NONZERO), S((2, 3), (3,), domain=_NONZERO),
          S((4, 1), (1, 5), domain=_NONZERO), S((), (2,), domain=_NONZERO), S((0, 2), (2,), domain=_NONZERO))
DIV.usage("__rtruediv__", lambda a, left: left / a, lambda torch, a, left: constant_like(torch, left, a) / a,
          S((2, 3), domain="nonzero", left=3.0), S((2, 3), domain="nonzero", left=_LEFT_ROWS))
DIV.usage("div", lambda a, b: a.div(b), lambda torch, a, b: a.div(b), S((2, 3), (3,), domain=("real", "nonzero")))


# ---- pow: a ** b ----
def pow_forward(ctx, base, exponent):
    if (base < 0).any() and not np.all(np.mod(exponent, 1) == 0):
        raise ValueError(f"pow: a negative base to a non-integer power is not a real number "
                         f"(shapes {base.shape} ** {exponent.shape})")
    exponent_learns = bool(ctx.inputs) and ctx.inputs[1].requires_grad  # inputs are () when no graph is kept
    if exponent_learns and (base < 0).any():
        raise ValueError("pow: the gradient with respect to the exponent needs a base >= 0 (it uses ln base)")
    with np.errstate(divide="ignore"):  # 0 to a negative power is inf, as in PyTorch
        return np.power(base, exponent)


def pow_backward(ctx, upstream_grad):
    a, b = ctx.inputs
    with np.errstate(divide="ignore", invalid="ignore"):
        grad_a = upstream_grad * _pow_base_slope(a.data, b.data) if a.requires_grad else None
        grad_b = upstream_grad * _pow_exponent_slope(a.data, b.data, ctx.data) if b.requires_grad else None
    return grad_a, grad_b


def _pow_base_slope(base, exponent):
    """b·aᵇ⁻¹, and 0 where b = 0: a⁰ is constant, also at a = 0 (where 0·0⁻¹ would be NaN)."""
    if not exponent.all():
        return exponent * np.power(base, np.where(exponent == 0, 1, exponent) - 1)
    return exponent * np.power(base, exponent - 1)


def _pow_exponent_slope(base, exponent, result):
    """aᵇ·ln a, and 0 at a = 0 with b >= 0 (0ᵇ is 0 or 1 on both sides there), as in PyTorch."""
    slope = result * np.log(base, dtype=result.dtype)
    if (base == 0).any():
        slope = np.where((base == 0) & (exponent >= 0), 0, slope)
    return slope


POW = define("pow", methods=("__pow__", "__rpow__", "pow"),
             forward=pow_forward, backward=pow_backward, unbroadcast=True,
             formulas=("d(aᵇ)/da = b·aᵇ⁻¹", "d(aᵇ)/db = aᵇ·ln a"),
             note="a negative base needs an integer exponent; a⁰ has gradient 0, also at a = 0; "
                  "0 to a negative power is inf, as in PyTorch")
POW.usage("__pow__", lambda a, b=None, exponent=None: a ** (b if b is not None else exponent),
          lambda torch, a, b=None, exponent=None: a ** (b if b is not None else exponent),
          S((2, 3), (2, 3), domain=("positive", "real")), S((2, 3), (3,), domain=("positive", "real")),
          S((4, 1), (1, 3), domain=("positive", "real")),
          S((2, 3), exponent=2.0, note="negative bases with an integer exponent"),
          S((2, 3), exponent=3, note="an int exponent keeps the float dtype"),
          S((2, 3), domain="positive", exponent=0.5), S((2, 3), domain="positive", exponent=-1.5),
          S((2, 3), exponent=0.0, note="a⁰ = 1, so the gradient is 0 (also at a = 0)"),
          S((0, 3), domain="positive", exponent=2.0),
          S(values=[[0.0, 0.0, 2.0], [0.0, 2.0, 0.5]], smooth=False, note="zero base: 0⁰ = 1, 0² = 0, 0^½ = 0"),
          note=POW.note)
POW.usage("__rpow__", lambda a, base: base ** a, lambda torch, a, base: constant_like(torch, base, a) ** a,
          S((2, 3), base=2.0), S((2, 3), base=0.5), S((2, 3), base=[[1.5], [3.0]]))
POW.usage("pow", lambda a, exponent: a.pow(exponent), lambda torch, a, exponent: a.pow(exponent),
          S((2, 3), domain="positive", exponent=1.5))


# ---- unary ops: forward, backward and formula on three lines each ----
def neg_backward(ctx, upstream_grad):
    return (-upstream_grad,)


NEG = define("neg", methods=("__neg__", "neg"),
             forward=lambda ctx, a: -a, backward=neg_backward, formulas=("d(-a)/da = -1",))
NEG.usage("__neg__", lambda a: -a, lambda torch, a: -a, S((2, 3)), S(()), S((0, 2)))
NEG.usage("neg", lambda a: a.neg(), lambda torch, a: a.neg(), S((2, 3)))


def exp_backward(ctx, upstream_grad):
    return (upstream_grad * ctx.data,)  # the result is its own derivative


EXP = define("exp", methods=("exp",),
             forward=lambda ctx, a: np.exp(a), backward=exp_backward, formulas=("d(eᵃ)/da = eᵃ",))
EXP.usage("exp", lambda x: x.exp(), lambda torch, x: x.exp(), S((2, 3)), S(()), S((2, 0)))


def log_forward(ctx, a):
    if (a < 0).any():
        raise ValueError(f"log: input has {int((a < 0).sum())} negative element(s) (shape {a.shape}); "
                         "log is undefined there")
    with np.errstate(divide="ignore"):  # log(0) = -inf, as in PyTorch
        return np.log(a)


def log_backward(ctx, upstream_grad):
    (a,) = ctx.inputs
    return (upstream_grad / a.data,)


LOG = define("log", methods=("log",),
             forward=log_forward, backward=log_backward, formulas=("d(ln a)/da = 1/a",))
LOG.usage("log", lambda x: x.log(), lambda torch, x: x.log(),
          S((2, 3), domain="positive"), S((), domain="positive"), S((0, 3), domain="positive"))


def sqrt_forward(ctx, a):
    if (a < 0).any():
        raise ValueError(f"sqrt: input has {int((a < 0).sum())} negative element(s) (shape {a.shape})")
    return np.sqrt(a)


def sqrt_backward(ctx, upstream_grad):
    return (upstream_grad / (2.0 * ctx.data),)


SQRT = define("sqrt", methods=("sqrt",),
              forward=sqrt_forward, backward=sqrt_backward, formulas=("d(√a)/da = 1/(2√a)",))
SQRT.usage("sqrt", lambda x: x.sqrt(), lambda torch, x: x.sqrt(),
           S((2, 3), domain="positive"), S((4,), domain="positive"), S((2, 0), domain="positive"))


def tanh_backward(ctx, upstream_grad):
    return (upstream_grad * (1.0 - ctx.data * ctx.data),)


TANH = define("tanh", methods=("tanh",), forward=lambda ctx, a: np.tanh(a), backward=tanh_backward,
              formulas=("d(tanh a)/da = 1 - tanh²a",))
TANH.usage("tanh", lambda x: x.tanh(), lambda torch, x: x.tanh(),
           S((2, 3)), S(values=[[-20.0, -3.0, 0.0, 3.0, 20.0]]), S((0,)))


def relu_backward(ctx, upstream_grad):
    return (upstream_grad * (ctx.data > 0),)


RELU = define("relu", methods=("relu",), forward=lambda ctx, a: np.maximum(a, 0), backward=relu_backward,
              formulas=("d(relu a)/da = 1 if a > 0 else 0",))
RELU.usage("relu", lambda x: x.relu(), lambda torch, x: x.relu(),
           S((2, 3)), S((4,)), S(values=[[-1.0, 0.0, 0.0, 2.0]], smooth=False,
                                 note="the gradient at exactly 0 is 0, as in PyTorch"))


def _exp_minus_abs(a):
    """e^(-|a|) in a's float dtype (float64 for ints): in (0, 1], so nothing overflows."""
    return np.exp(-np.abs(a))


def sigmoid_forward(ctx, a):
    # σ(a) = 1/(1 + e^-a) for a ≥ 0 and e^a/(1 + e^a) for a < 0: both from e = e^(-|a|) ≤ 1, so
    # no overflow, and the small side keeps its relative precision (σ(-20) ≈ 2e-9, not 0)
    e = _exp_minus_abs(a)
    one_plus = 1 + e
    ctx.save(e=e)
    return np.where(a >= 0, 1 / one_plus, e / one_plus)


def sigmoid_backward(ctx, upstream_grad):
    # σ'(a) = σ(a)·σ(-a) = e/(1 + e)² with e = e^(-|a|): accurate on both sides (σ·(1 - σ)
    # loses the small factor 1 - σ once σ rounds near 1)
    e = ctx.saved.e
    one_plus = 1 + e
    return (upstream_grad * (e / (one_plus * one_plus)),)


SIGMOID = define("sigmoid", methods=("sigmoid",), forward=sigmoid_forward, backward=sigmoid_backward,
                 formulas=("d(σ(a))/da = σ(a)·(1 - σ(a))",))
SIGMOID.usage("sigmoid", lambda x: x.sigmoid(), lambda torch, x: x.sigmoid(),
              S((2, 3)), S(values=[[-40.0, -5.0, 0.0, 5.0, 40.0]], note="large |x| saturates without overflow"),
              S((0, 2)))


def astype_forward(ctx, a, dtype):
    return a.astype(dtype)


def astype_backward(ctx, upstream_grad):
    (a,) = ctx.inputs
    return (upstream_grad.astype(a.data.dtype),)  # the gradient is cast back


ASTYPE = define("astype", forward=astype_forward, backward=astype_backward,
                formulas=("d(cast a)/da = 1 (cast back)",))
ASTYPE.usage("astype", lambda x, dtype: x.astype(dtype),
             # copy=True: astype always makes a new tensor, as NumPy's does; torch's .to(dtype) returns
             # the tensor itself when the dtype already matches (ours: Tensor.to, which does the same)
             lambda torch, x, dtype: x.to(getattr(torch, np.dtype(dtype).name), copy=True),
             S((2, 3), dtype=np.float64), S((), dtype=np.float64))
