"""softmax and log_softmax along one axis: stable for logits of any size, backward without
forming the Jacobian."""
from __future__ import annotations

import numpy as np

from ..core import Op
from .reduce import normalize_axis
from .tensor import Tensor, make


def _stable_exp(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max): the shift cancels in the ratio and keeps every exponent <= 0."""
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis is no error
    shift[~np.isfinite(shift)] = 0  # a row that is all -inf stays all zeros instead of NaN
    return np.exp(x - shift), shift


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    axis = normalize_axis(axis, x.data.shape, "softmax")
    exps, _ = _stable_exp(x.data, axis)
    total = np.sum(exps, axis=axis, keepdims=True)
    total[total == 0] = 1  # only for all -inf rows: their output is 0, not 0/0
    return make(exps / total, (x,), SOFTMAX, axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    axis = normalize_axis(axis, x.data.shape, "log_softmax")
    exps, shift = _stable_exp(x.data, axis)
    total = np.sum(exps, axis=axis, keepdims=True)
    total[total == 0] = 1  # only for all -inf rows: they give -inf (not -inf - -inf = NaN)
    log_total = np.log(total)
    return make(x.data - shift - log_total, (x,), LOG_SOFTMAX, axis)


# y = softmax(x):  dx = y ⊙ (g - Σⱼ gⱼyⱼ)
SOFTMAX = Op("softmax", "d(softmax)/dx: y ⊙ (g - Σⱼ gⱼ·yⱼ)",
             lambda n, g: (n.data * (g - np.sum(g * n.data, axis=n._ctx, keepdims=True)),))
# y = log_softmax(x):  dx = g - softmax(x) · Σⱼ gⱼ
LOG_SOFTMAX = Op("log_softmax", "d(log_softmax)/dx: g - softmax(x)·Σⱼ gⱼ",
                 lambda n, g: (g - np.exp(n.data) * np.sum(g, axis=n._ctx, keepdims=True),))

OPS = (SOFTMAX, LOG_SOFTMAX)
