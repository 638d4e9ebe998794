"""The ops of `Value`: one Python float in, one out. Each op: forward, backward, formulas.

The same rules as the tensor ops, written for single numbers (`math`, not NumPy), so every
multiply and add of the worked example is its own node. Nothing is broadcast here.
"""
from __future__ import annotations

import math

from .registry import define

EXP_LIMIT = math.log(1.7976931348623157e308)  # largest x with finite exp(x), about 709.78


def _named(ctx, position):
    name = ctx.inputs[position].name if ctx.inputs else None
    return f" (Value {name!r})" if name else ""


# ---- arithmetic ----
def add_backward(ctx, upstream_grad):
    return upstream_grad, upstream_grad


ADD = define("add", methods=("__add__", "__radd__"),
             engine="scalar", forward=lambda ctx, a, b: a + b, backward=add_backward,
             formulas=("d(a+b)/da = 1", "d(a+b)/db = 1"))


def sub_backward(ctx, upstream_grad):
    return upstream_grad, -upstream_grad


SUB = define("sub", methods=("__sub__", "__rsub__"),
             engine="scalar", forward=lambda ctx, a, b: a - b, backward=sub_backward,
             formulas=("d(a-b)/da = 1", "d(a-b)/db = -1"))


def mul_backward(ctx, upstream_grad):
    a, b = ctx.inputs
    return upstream_grad * b.data, upstream_grad * a.data


MUL = define("mul", methods=("__mul__", "__rmul__"),
             engine="scalar", forward=lambda ctx, a, b: a * b, backward=mul_backward,
             formulas=("d(a*b)/da = b", "d(a*b)/db = a"))


def div_forward(ctx, a, b):
    if b == 0.0:
        raise ZeroDivisionError(f"div: {a} / 0.0: the denominator{_named(ctx, 1)} is zero")
    return a / b


def div_backward(ctx, upstream_grad):
    b = ctx.inputs[1].data
    return upstream_grad / b, -upstream_grad * ctx.data / b  # -a/b² = -(a/b)/b


DIV = define("div", methods=("__truediv__", "__rtruediv__"),
             engine="scalar", forward=div_forward, backward=div_backward,
             formulas=("d(a/b)/da = 1/b", "d(a/b)/db = -a/b²"))


def neg_backward(ctx, upstream_grad):
    return (-upstream_grad,)


NEG = define("neg", methods=("__neg__",),
             engine="scalar", forward=lambda ctx, a: -a, backward=neg_backward, formulas=("d(-a)/da = -1",))


def pow_forward(ctx, base, exponent):
    exponent_learns = bool(ctx.inputs) and ctx.inputs[1].requires_grad  # inputs are () when no graph is kept
    if exponent_learns and not base > 0.0:
        raise ValueError(f"pow: Value ** Value needs a positive base (its gradient uses ln a), got base {base}")
    if base == 0.0 and exponent < 0:
        raise ValueError(f"pow: 0.0 ** {exponent} is undefined (division by zero)")
    if base < 0.0 and not float(exponent).is_integer():
        raise ValueError(f"pow: negative base {base} ** non-integer {exponent} is not a real number")
    return base ** exponent


def pow_backward(ctx, upstream_grad):
    a, b = ctx.inputs
    grad_a = upstream_grad * b.data * a.data ** (b.data - 1) if b.data != 0.0 else 0.0  # a⁰ is constant
    grad_b = upstream_grad * ctx.data * math.log(a.data) if b.requires_grad else None
    return grad_a, grad_b


POW = define("pow", methods=("__pow__", "__rpow__"),
             engine="scalar", forward=pow_forward, backward=pow_backward,
             formulas=("d(aᵇ)/da = b·aᵇ⁻¹", "d(aᵇ)/db = aᵇ·ln a"))


# ---- functions ----
def exp_forward(ctx, a):
    if a > EXP_LIMIT:
        raise OverflowError(f"exp: exp({a}) overflows a float (largest input is {EXP_LIMIT:.2f})")
    return math.exp(a)


def exp_backward(ctx, upstream_grad):
    return (upstream_grad * ctx.data,)  # the result is its own derivative


EXP = define("exp", methods=("exp",),
             engine="scalar", forward=exp_forward, backward=exp_backward, formulas=("d(eᵃ)/da = eᵃ",))


def log_forward(ctx, a):
    if not a > 0.0:
        raise ValueError(f"log: input must be > 0, got {a}{_named(ctx, 0)}")
    return math.log(a)


def log_backward(ctx, upstream_grad):
    return (upstream_grad / ctx.inputs[0].data,)


LOG = define("log", methods=("log",),
             engine="scalar", forward=log_forward, backward=log_backward, formulas=("d(ln a)/da = 1/a",))


def tanh_backward(ctx, upstream_grad):
    return (upstream_grad * (1.0 - ctx.data * ctx.data),)


TANH = define("tanh", methods=("tanh",),
              engine="scalar", forward=lambda ctx, a: math.tanh(a), backward=tanh_backward,
              formulas=("d(tanh a)/da = 1 - tanh²a",))


def relu_backward(ctx, upstream_grad):
    return (upstream_grad if ctx.data > 0.0 else 0.0,)


RELU = define("relu", methods=("relu",),
              engine="scalar", forward=lambda ctx, a: a if a > 0.0 else 0.0, backward=relu_backward,
              formulas=("d(relu a)/da = 1 if a > 0 else 0",))


def sigmoid_forward(ctx, a):
    if a >= 0.0:  # two branches so exp never overflows
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def sigmoid_backward(ctx, upstream_grad):
    return (upstream_grad * ctx.data * (1.0 - ctx.data),)


SIGMOID = define("sigmoid", methods=("sigmoid",),
                 engine="scalar", forward=sigmoid_forward, backward=sigmoid_backward,
                 formulas=("d(σ(a))/da = σ(a)·(1 - σ(a))",))

OPS = {op.name: op for op in (ADD, SUB, MUL, DIV, NEG, POW, EXP, LOG, TANH, RELU, SIGMOID)}
