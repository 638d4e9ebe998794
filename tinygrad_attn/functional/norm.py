"""layer_norm over the last axis, as one op, and its composed twin.

One op because its backward, derived by hand, is three lines where the chain through mean,
var, sqrt and divide is a long graph. The tuned version is in `kernels/norm.py`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..kernels import norm as kernel
from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply
from .checks import float_tensor, same_dtype


# ---- layer norm: x̂ = (x - mean) / √(var + eps), then x̂·w + b ----
def layer_norm_forward(ctx, x, *weight_and_bias, eps, has_weight, has_bias):
    """`weight_and_bias` holds the parameters given: (w, b), (w,), (b,) or ()."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)  # biased, as in PyTorch
    inv_std = 1 / np.sqrt(variance + eps)
    x_hat = centered * inv_std
    ctx.save(x_hat=x_hat, inv_std=inv_std, has_weight=has_weight, has_bias=has_bias)
    out = x_hat
    if has_weight:
        out = out * weight_and_bias[0]
    if has_bias:
        out = out + weight_and_bias[-1]
    return out


def layer_norm_backward(ctx, upstream_grad):
    saved = ctx.saved
    x_hat = saved.x_hat
    g_hat = upstream_grad * ctx.inputs[1].data if saved.has_weight else upstream_grad  # the gradient at x̂
    grad_x = (g_hat - g_hat.mean(axis=-1, keepdims=True)
              - x_hat * (g_hat * x_hat).mean(axis=-1, keepdims=True)) * saved.inv_std
    rows = tuple(range(upstream_grad.ndim - 1))  # every axis but the last
    grads = [grad_x]
    if saved.has_weight:
        grads.append(np.sum(upstream_grad * x_hat, axis=rows))
    if saved.has_bias:
        grads.append(np.sum(upstream_grad, axis=rows))
    return tuple(grads)


LAYER_NORM = define("layer_norm", forward=layer_norm_forward, backward=layer_norm_backward,
                    formulas=("d(layer_norm)/dx = (g·w - mean(g·w) - x̂·mean(g·w·x̂)) / σ", "dw = Σ g·x̂",
                              "db = Σ g"),
                    kernel=(kernel.layer_norm_forward, kernel.layer_norm_backward),
                    note="the formulas are for (x, weight, bias); weight and bias are optional")


def _check_layer_norm(x: Any, weight: Any, bias: Any, eps: float, where: str
                      ) -> tuple[Tensor, Tensor | None, Tensor | None]:
    x = float_tensor(x, where)
    if x.data.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{where}: needs a last axis with at least one element, got shape {x.shape}")
    weight = None if weight is None else float_tensor(weight, where, "weight")
    bias = None if bias is None else float_tensor(bias, where, "bias")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != x.shape[-1:]:
            raise ValueError(f"{where}: {name} must have shape {x.shape[-1:]} (the last axis of the input "
                             f"{x.shape}), got {param.shape}")
    same_dtype(where, x, ("weight", weight), ("bias", bias))
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < math.inf:
        raise ValueError(f"{where}: eps must be a positive number (it keeps 1/√(var + eps) finite), got {eps!r}")
    return x, weight, bias


def layer_norm(x: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / √(var + eps) over the last axis (biased variance), then · weight + bias.

    weight and bias, when given, have the shape of the last axis.
    """
    x, weight, bias = _check_layer_norm(x, weight, bias, eps, "layer_norm")
    params = tuple(p for p in (weight, bias) if p is not None)
    # eps as a Python float: it then takes the input's dtype (a NumPy float64 would widen float32)
    return apply(LAYER_NORM, (x,) + params, eps=float(eps), has_weight=weight is not None, has_bias=bias is not None)


def layer_norm_composed(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
                        eps: float = 1e-5) -> Tensor:
    """`layer_norm` from primitive ops: mean, var (biased), sqrt, divide, scale and shift."""
    x, weight, bias = _check_layer_norm(x, weight, bias, eps, "layer_norm")
    centered = x - x.mean(axis=-1, keepdims=True)
    out = centered / (x.var(axis=-1, keepdims=True, correction=0) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


LAYER_NORM.usage("F.layer_norm", lambda x, *params, eps=1e-5: layer_norm(x, *params, eps=eps),
                 lambda torch, x, *params, eps=1e-5: torch.nn.functional.layer_norm(x, x.shape[-1:], *params, eps=eps),
                 S((2, 3, 5), (5,), (5,)), S((3, 4)), S((3, 4), (4,)), S((2, 4), (4,), (4,), eps=1e-2),
                 S((0, 3), (3,), (3,)), note="over the last axis; weight and bias optional")
