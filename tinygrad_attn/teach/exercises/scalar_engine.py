"""A Value op's backward in the scalar engine: the student writes tanh's rule, and the check
runs it inside the engine (the op registry's `patched`) under the per-node gradcheck."""
from __future__ import annotations

import math

from ...gradcheck import gradcheck
from ...ops import patched
from ...scalar import Value
from .base import Case, Exercise, sentence

EPS = 1e-6


def tanh_backward(ctx, upstream_grad):
    """The backward of the scalar engine's tanh op: ctx.data is the op's output tanh(a),
    ctx.inputs[0].data its input a. Return one gradient per input, as a tuple."""
    return (upstream_grad * (1.0 - ctx.data * ctx.data),)   # d tanh(a)/da = 1 - tanh²(a)


class _Context:
    """What the engine hands a backward rule: the output and the input nodes."""

    def __init__(self, a: float):
        self.inputs = (Value(a, name="a"),)
        self.data = math.tanh(a)


def _cases() -> list[Case]:
    return [Case(f"a = {a:g}, upstream gradient {g:g}", (a, g)) for a, g in
            [(0.5, 1.0), (-2.0, 0.3), (0.0, 2.0), (20.0, 1.0), (-0.7, -1.5)]] + [
        Case("in the engine: h = tanh(a) feeds two ops, loss = h·h + 3h", (0.4, 1.0), {"engine": True})]


def _loss(a: Value) -> Value:
    h = a.tanh()
    h.name = "h"
    loss = h * h + h * 3.0
    loss.name = "loss"
    return loss


def _run(fn, case):
    a, g = case.args
    if not case.kwargs.get("engine"):
        return fn(_Context(a), g)
    with patched("tanh", backward=fn, engine="scalar"):
        try:
            gradcheck(_loss, [Value(a, name="a")], per_node=True, atol=1e-7, rtol=1e-6)
        except AssertionError as error:
            return f"the engine's per-node gradcheck names the node: {error}"
    return True


def _judge(case, got, expected):
    a, g = case.args
    if case.kwargs.get("engine"):
        return None if got is True else got
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        return ("a backward returns one gradient per input, as a tuple: tanh has one input, so "
                f"`return (grad,)`, not the bare number {got:.6g}.")
    if not isinstance(got, (tuple, list)) or len(got) != 1:
        return f"a backward returns one gradient per input: a tuple with 1 entry for tanh, yours gave {got!r:.60}."
    try:
        value = float(got[0])
    except (TypeError, ValueError):
        return f"the gradient should be a number, yours is a {type(got[0]).__name__}."
    numeric = g * (math.tanh(a + EPS) - math.tanh(a - EPS)) / (2 * EPS)  # finite differences
    if abs(value - numeric) <= 1e-6 + 1e-5 * abs(numeric):
        return None
    t = math.tanh(a)
    message = (f"at a = {a:g} with upstream gradient {g:g}, your tanh backward sends {value:.6g} to input a; "
               f"finite differences give {numeric:.6g}.")
    for wrong, text in [
        (g * (1 - a * a), "you used the input a: the derivative is 1 − tanh²(a), and ctx.data already holds tanh(a)."),
        (1 - t * t, "did you forget the chain rule? Multiply the local derivative by upstream_grad."),
        (g * (1 - t), "the derivative is 1 − tanh²(a): square tanh(a)."),
        (g * t * t - g, "the sign is flipped: 1 − tanh²(a), not tanh²(a) − 1."),
        (g * t, "tanh(a) is the output; its derivative is 1 − tanh²(a)."),
    ]:
        if abs(value - wrong) <= 1e-9 + 1e-9 * abs(wrong):
            return f"{message} {sentence(text)}"
    return message


TANH_BACKWARD = Exercise(
    "tanh_backward", "a Value op's backward in the scalar engine (tanh)",
    r"""
    In the scalar engine every op is a forward and a backward rule in the op registry
    (`tinygrad_attn/ops/scalar.py`). Write tanh's rule, `tanh_backward(ctx, upstream_grad)`:
    `ctx.data` is the op's output $t = \tanh a$, `ctx.inputs[0].data` its input $a$; return the
    gradient for each input as a tuple, $\big(g \cdot (1 - t^2),\big)$.

    The check calls your rule directly, then plants it in the engine
    (`tinygrad_attn.ops.patched("tanh", backward=..., engine="scalar")`) and runs the per-node
    gradcheck on a graph where $h = \tanh a$ feeds two ops.
    """,
    tanh_backward, _cases, _judge, run=_run)

