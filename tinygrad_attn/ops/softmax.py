"""softmax and log_softmax along one axis: stable for logits of any size, backward without
forming the Jacobian."""
from __future__ import annotations

import numpy as np

from .registry import define
from .samples import S

_HUGE_LOGITS = [[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, -3.0]]


def _shifted_exp(x, axis):
    """exp(x - max) and the max: the shift cancels in the ratio and keeps every exponent <= 0."""
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis is no error
    shift[shift == -np.inf] = 0  # a row that is all -inf stays all zeros instead of NaN (a +inf or NaN
    # in a row makes the row NaN, as in PyTorch)
    with np.errstate(over="ignore"):  # x - max = -inf (-3e38 - 3e38): exp gives its limit, 0
        return np.exp(x - shift), shift


# ---- softmax: y = exp(x) / Σ exp(x) ----
def softmax_forward(ctx, x, axis):
    exps, _ = _shifted_exp(x, axis)
    total = np.sum(exps, axis=axis, keepdims=True)
    total[total == 0] = 1  # only for all -inf rows: their output is 0, not 0/0
    ctx.save(axis=axis)
    return exps / total


def softmax_backward(ctx, upstream_grad):
    y, axis = ctx.data, ctx.saved.axis
    return (y * (upstream_grad - np.sum(upstream_grad * y, axis=axis, keepdims=True)),)


SOFTMAX = define("softmax", forward=softmax_forward, backward=softmax_backward,
                 formulas=("d(softmax)/dx: y ◦ (g - Σⱼ gⱼ·yⱼ)",),
                 note="stable for logits of any size; a row that is all -inf gives zeros, not NaN")
SOFTMAX.usage("softmax", lambda x, **kw: x.softmax(**kw), lambda torch, x, axis=-1: torch.softmax(x, dim=axis),
              S((2, 3)), S((2, 3), axis=0), S((4,)), S((2, 3, 4), axis=1), S((3, 1)),
              S(values=[_HUGE_LOGITS], note="huge logits stay finite"), S((2, 0)), S((0, 3), axis=0),
              note=SOFTMAX.note)
SOFTMAX.usage("softmax", lambda x, **kw: x.softmax(**kw), lambda torch, x, dim=-1: torch.softmax(x, dim=dim),
              S((2, 3), dim=0), S((2, 3, 4), dim=-2), S((), note="a 0-d tensor: softmax over dim -1 is 1"),
              S((), dim=0), variant="dim=")


# ---- log_softmax: y = x - log Σ exp(x) ----
def log_softmax_forward(ctx, x, axis):
    exps, shift = _shifted_exp(x, axis)
    total = np.sum(exps, axis=axis, keepdims=True)
    total[total == 0] = 1  # only for all -inf rows: they give -inf (not -inf - -inf = NaN)
    ctx.save(axis=axis)
    with np.errstate(over="ignore"):  # x - max below -3.4e38 is -inf in float32, as in PyTorch
        return x - shift - np.log(total)


def log_softmax_backward(ctx, upstream_grad):
    softmax_of_x = np.exp(ctx.data)
    return (upstream_grad - softmax_of_x * np.sum(upstream_grad, axis=ctx.saved.axis, keepdims=True),)


LOG_SOFTMAX = define("log_softmax", forward=log_softmax_forward, backward=log_softmax_backward,
                     formulas=("d(log_softmax)/dx: g - softmax(x)·Σⱼ gⱼ",),
                     note="stable for logits of any size; a row that is all -inf gives -inf, not NaN")
LOG_SOFTMAX.usage("log_softmax", lambda x, **kw: x.log_softmax(**kw),
                  lambda torch, x, axis=-1: torch.log_softmax(x, dim=axis),
                  S((2, 3)), S((2, 3), axis=0), S((4,)), S((2, 3, 4), axis=-2), S((3, 1)),
                  S(values=[_HUGE_LOGITS], note="huge logits stay finite"), S((2, 0)), note=LOG_SOFTMAX.note)
LOG_SOFTMAX.usage("log_softmax", lambda x, **kw: x.log_softmax(**kw),
                  lambda torch, x, dim=-1: torch.log_softmax(x, dim=dim), S((2, 3), dim=0), S(()),
                  variant="dim=")
