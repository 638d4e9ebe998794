"""layer_norm over the trailing dims, as one op (over one flattened axis), and its composed twin.

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
def _row_scale(x):
    """Per row, the power of two s with max|x|/s in [1, 2) (s = 1 for rows within ±2, or not finite)."""
    largest = np.max(np.abs(x), axis=-1, keepdims=True)
    _, exponent = np.frexp(largest)
    return np.ldexp(np.ones_like(largest), np.maximum(exponent - 1, 0))


def _normalise_rows(x, eps):
    """x̂ = (x − mean) / √(var + eps) along the last axis, and 1/√(var + eps), row by row.

    The same numbers, computed with care where floats need it: x̂ does not change when x is
    shifted, nor when it is divided by s with eps by s². Dividing by a power of two s is exact
    and keeps x² of huge rows (1e20..3e38 in float32) finite, and subtracting the first entry
    makes a constant row exactly 0 (its mean would round).
    """
    scale = _row_scale(x)
    x_scaled = x / scale
    x_scaled = x_scaled - x_scaled[..., :1]
    mean = x_scaled.mean(axis=-1, keepdims=True)
    centered = x_scaled - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)  # biased, as in PyTorch
    scaled_eps = np.maximum(eps / scale / scale, np.finfo(x.dtype).tiny)  # eps/s² underflows for huge rows
    inv_std = 1 / np.sqrt(variance + scaled_eps)
    x_hat = centered * inv_std
    # 1/σ of x is (1/σ of x/s)/s, but for a constant row σ is √eps, which eps/s² may have lost
    inv_std = np.where(variance > 0, inv_std / scale, 1 / np.sqrt(x.dtype.type(eps)))
    return x_hat, inv_std


def layer_norm_forward(ctx, x, *weight_and_bias, eps, has_weight, has_bias):
    """`weight_and_bias` holds the parameters given: (w, b), (w,), (b,) or ()."""
    x_hat, inv_std = _normalise_rows(x, eps)
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


def check_normalized_shape(normalized_shape: Any, where: str) -> tuple[int, ...]:
    """`normalized_shape` (an int, or a tuple or list of ints: the trailing dims) as a tuple."""
    dims = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    if isinstance(dims, Tensor) or not isinstance(dims, (tuple, list)):
        raise TypeError(f"{where}: normalized_shape must be an int or a tuple of ints (the trailing dims), "
                        f"got {normalized_shape!r}")
    if not dims or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in dims):
        raise TypeError(f"{where}: normalized_shape must be an int or a non-empty tuple of ints, got {normalized_shape!r}")
    if any(n < 0 for n in dims):  # a 0 is allowed, as in PyTorch: rows of no elements, an empty result
        raise ValueError(f"{where}: normalized_shape {tuple(dims)} must have every dim >= 0")
    return tuple(int(n) for n in dims)


def _check_layer_norm(x: Any, normalized_shape: Any, weight: Any, bias: Any, eps: float, where: str
                      ) -> tuple[Tensor, tuple[int, ...], Tensor | None, Tensor | None]:
    x = float_tensor(x, where)
    shape = check_normalized_shape(normalized_shape, where)
    if x.data.ndim < len(shape) or x.shape[x.data.ndim - len(shape):] != shape:
        raise ValueError(f"{where}: normalized_shape {shape} must be the last dims of the input, got input of "
                         f"shape {x.shape} (expected (*, {', '.join(map(str, shape))}))")
    weight = None if weight is None else float_tensor(weight, where, "weight")
    bias = None if bias is None else float_tensor(bias, where, "bias")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != shape:
            raise ValueError(f"{where}: {name} must have shape {shape} (normalized_shape, the last dims of the "
                             f"input {x.shape}), got {param.shape}")
    same_dtype(where, x, ("weight", weight), ("bias", bias))
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < math.inf:
        raise ValueError(f"{where}: eps must be a positive number (it keeps 1/√(var + eps) finite), got {eps!r}")
    return x, shape, weight, bias


def layer_norm(input: Any, normalized_shape: int | tuple[int, ...], weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """(x - mean) / √(var + eps) over the trailing dims `normalized_shape` (biased variance),
    then · weight + bias (each of shape normalized_shape), as torch.nn.functional.layer_norm.

    Over one trailing dim it is one op; over several, those dims are flattened into one around
    the op (a reshape either side), so the same op and kernel run.
    """
    x, shape, weight, bias = _check_layer_norm(input, normalized_shape, weight, bias, eps, "layer_norm")
    if 0 in shape:  # rows of no elements, as PyTorch allows: an empty result, still on the graph
        out = x * 0.0
        out = out if weight is None else out * weight
        return out if bias is None else out + bias
    if len(shape) > 1:  # normalise over the flattened trailing dims
        width = int(np.prod(shape))
        rows = x.reshape(x.shape[:x.data.ndim - len(shape)] + (width,))
        params = tuple(p.reshape((width,)) for p in (weight, bias) if p is not None)
        out = _layer_norm_op(rows, params, eps, weight is not None, bias is not None)
        return out.reshape(x.shape)
    params = tuple(p for p in (weight, bias) if p is not None)
    return _layer_norm_op(x, params, eps, weight is not None, bias is not None)


def _layer_norm_op(x: Tensor, params: tuple, eps: float, has_weight: bool, has_bias: bool) -> Tensor:
    # eps as a Python float: it then takes the input's dtype (a NumPy float64 would widen float32)
    return apply(LAYER_NORM, (x,) + params, eps=float(eps), has_weight=has_weight, has_bias=has_bias)


def layer_norm_composed(input: Tensor, normalized_shape: int | tuple[int, ...], weight: Tensor | None = None,
                        bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """`layer_norm` from primitive ops: mean, var (biased), sqrt, divide, scale and shift."""
    x, shape, weight, bias = _check_layer_norm(input, normalized_shape, weight, bias, eps, "layer_norm")
    dims = tuple(range(-len(shape), 0))
    centered = x - x.mean(axis=dims, keepdims=True)
    out = centered / (x.var(axis=dims, keepdims=True, correction=0) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _torch_layer_norm(torch: Any, x: Any, *params: Any, normalized_shape: Any, eps: float = 1e-5) -> Any:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)  # torch's F wants a tuple
    return torch.nn.functional.layer_norm(x, shape, *params, eps=eps)


LAYER_NORM.usage("F.layer_norm",
                 lambda x, *params, normalized_shape, eps=1e-5: layer_norm(x, normalized_shape, *params, eps=eps),
                 _torch_layer_norm,
                 S((2, 3, 5), (5,), (5,), normalized_shape=(5,)), S((3, 4), normalized_shape=4),
                 S((3, 4), (4,), normalized_shape=[4]), S((2, 4), (4,), (4,), normalized_shape=(4,), eps=1e-2),
                 S((0, 3), (3,), (3,), normalized_shape=(3,)),
                 S((2, 0), (0,), (0,), normalized_shape=(0,), note="rows of no elements: an empty result"),
                 S((2, 3, 4), (3, 4), (3, 4), normalized_shape=(3, 4), note="over the last two dims"),
                 S((2, 3, 4), normalized_shape=(2, 3, 4), note="over every dim"),
                 note="over the trailing dims normalized_shape; weight and bias optional")
