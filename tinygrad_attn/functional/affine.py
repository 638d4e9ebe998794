"""linear: x·Wᵀ + b as one op (weight (out_features, in_features), as in PyTorch), and its
composed twin. The tuned version is in `kernels/linear.py`."""
from __future__ import annotations

from typing import Any

from ..kernels import linear as kernel
from ..ops.registry import define
from ..ops.samples import S
from ..ops.shapes import as_rows
from ..tensors.tensor import Tensor, apply
from .checks import float_tensor, same_dtype


# ---- linear: y = x·Wᵀ + b ----
def linear_forward(ctx, x, weight, bias=None):
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_backward(ctx, upstream_grad):
    x, weight = ctx.inputs[0].data, ctx.inputs[1].data
    out_features, in_features = weight.shape
    g_rows = as_rows(upstream_grad)  # every leading axis is a row: (N, out_features)
    grad_x = upstream_grad @ weight
    grad_weight = g_rows.T @ as_rows(x)
    if len(ctx.inputs) == 2:
        return grad_x, grad_weight
    return grad_x, grad_weight, g_rows.sum(axis=0)


LINEAR = define("linear", forward=linear_forward, backward=linear_backward,
                formulas=("d(x·Wᵀ+b)/dx = G·W", "dW = Gᵀ·x", "db = Σ G"),
                kernel=(kernel.linear_forward, kernel.linear_backward))


def _check_linear(x: Any, weight: Any, bias: Any, where: str) -> tuple[Tensor, Tensor, Tensor | None]:
    x = float_tensor(x, where)
    weight = float_tensor(weight, where, "weight")
    bias = None if bias is None else float_tensor(bias, where, "bias")
    if weight.data.ndim != 2:
        raise ValueError(f"{where}: weight must be (out_features, in_features), got shape {weight.shape}")
    if x.data.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{where}: input {x.shape} must end in in_features = {weight.shape[1]} "
                         f"(weight {weight.shape} is (out, in))")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{where}: bias must have shape ({weight.shape[0]},) for weight {weight.shape}, "
                         f"got {bias.shape}")
    same_dtype(where, x, ("weight", weight), ("bias", bias))
    return x, weight, bias


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weightᵀ + bias with weight (out_features, in_features), as in PyTorch.

    x is (..., in_features); every leading axis is a row of one matrix product.
    """
    x, weight, bias = _check_linear(x, weight, bias, "linear")
    return apply(LINEAR, (x, weight) if bias is None else (x, weight, bias))


def linear_composed(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`linear` from primitive ops: a transpose, a matmul and a broadcast add."""
    x, weight, bias = _check_linear(x, weight, bias, "linear")
    out = x @ weight.T
    return out if bias is None else out + bias


LINEAR.usage("F.linear", lambda x, w, *b: linear(x, w, *b),
             lambda torch, x, w, *b: torch.nn.functional.linear(x, w, *b),
             S((3, 4), (5, 4), (5,)), S((2, 3, 4), (5, 4)), S((4,), (2, 4), (2,)), S((0, 4), (3, 4), (3,)),
             note="weight (out_features, in_features), as in PyTorch")
