"""Reductions over `axes` (a sorted tuple, checked by the caller), with `keepdims`.

Each backward spreads the upstream gradient back over the axes that were reduced: the gradient
is reshaped with those axes kept as size 1, then broadcast to the input's shape.
"""
from __future__ import annotations

import numpy as np

from ..kernels import reduce as kernels
from .registry import define
from .samples import S, dims
from .shapes import count, kept_shape


def _spread(ctx, upstream_grad):
    """The upstream gradient with the reduced axes kept (size 1), ready to broadcast back."""
    (x,) = ctx.inputs
    return upstream_grad.reshape(kept_shape(x.data.shape, ctx.saved.axes))


def _float_dtype(x):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


# ---- sum: every input element gets the upstream gradient of its output element ----
def sum_forward(ctx, x, axes, keepdims):
    ctx.save(axes=axes)
    return np.sum(x, axis=axes, keepdims=keepdims)


def sum_backward(ctx, upstream_grad):
    (x,) = ctx.inputs
    return (np.broadcast_to(_spread(ctx, upstream_grad), x.data.shape),)


SUM = define("sum", forward=sum_forward, backward=sum_backward, formulas=("d(Σᵢ aᵢ)/daᵢ = 1",),
             kernel=(kernels.sum_forward, kernels.sum_backward))
SUM.usage("sum", lambda x, **kw: x.sum(**kw),
          lambda torch, x, axis=None, keepdims=False: torch.sum(x, dim=dims(axis, x.ndim), keepdim=keepdims),
          S((2, 3)), S((2, 3), axis=1), S((2, 3), axis=-1, keepdims=True), S((2, 3, 4), axis=(0, 2)),
          S((2, 3, 4), axis=(-1, 0), keepdims=True), S((1, 3), axis=0), S((2, 3), keepdims=True),
          S((2, 0), axis=1, note="empty axis: sums are 0"), S((2, 0), axis=0), S(()))
SUM.usage("sum", lambda x, **kw: x.sum(**kw),
          lambda torch, x, dim=None, keepdim=False: torch.sum(x, dim=dims(dim, x.ndim), keepdim=keepdim),
          S((2, 3), dim=1), S((2, 3, 4), dim=(0, 2), keepdim=True), S((), dim=0, note="a 0-d tensor over dim 0"),
          variant="dim=, keepdim=")


# ---- mean: the same, divided by how many were averaged ----
def mean_forward(ctx, x, axes, keepdims):
    n = count(x.shape, axes)
    if n == 0:
        raise ValueError(f"mean: cannot average over an empty axis (shape {x.shape}, axes {axes})")
    ctx.save(axes=axes, count=n)
    return np.mean(x, axis=axes, keepdims=keepdims, dtype=_float_dtype(x))


def mean_backward(ctx, upstream_grad):
    (x,) = ctx.inputs
    return (np.broadcast_to(_spread(ctx, upstream_grad) / ctx.saved.count, x.data.shape),)


MEAN = define("mean", forward=mean_forward, backward=mean_backward, formulas=("d(mean a)/daᵢ = 1/N",))
MEAN.usage("mean", lambda x, **kw: x.mean(**kw),
           lambda torch, x, axis=None, keepdims=False: torch.mean(x, dim=dims(axis, x.ndim), keepdim=keepdims),
           S((2, 3)), S((2, 3), axis=0), S((2, 3), axis=-1, keepdims=True), S((2, 3, 4), axis=(0, 2)),
           S((1, 4), axis=0), S((3, 0), axis=0))
MEAN.usage("mean", lambda x, **kw: x.mean(**kw),
           lambda torch, x, dim=None, keepdim=False: torch.mean(x, dim=dims(dim, x.ndim), keepdim=keepdim),
           S((2, 3), dim=-1, keepdim=True), S((), dim=-1), variant="dim=, keepdim=")


# ---- max / min: the gradient goes to the extreme; tied extremes share it equally ----
def _extreme(name, pick):
    def forward(ctx, x, axes, keepdims):
        if count(x.shape, axes) == 0:
            raise ValueError(f"{name}: cannot take the {name}imum of an empty axis (shape {x.shape}, axes {axes})")
        kept = pick(x, axis=axes, keepdims=True)
        is_extreme = x == kept
        ctx.save(axes=axes, share=is_extreme / np.sum(is_extreme, axis=axes, keepdims=True, dtype=x.dtype))
        return kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    return forward


max_forward = _extreme("max", np.max)
min_forward = _extreme("min", np.min)


def max_backward(ctx, upstream_grad):
    return (_spread(ctx, upstream_grad) * ctx.saved.share,)


min_backward = max_backward  # the same rule: the share of each tied extreme


MAX = define("max", forward=max_forward, backward=max_backward,
             formulas=("d(max a)/daᵢ = 1/k if aᵢ is one of the k maxima else 0",),
             note="tied maxima share the gradient evenly (1/k each), as torch.amax; finite differences "
                  "cannot check a tie (max is not differentiable there), so tie samples are compared with "
                  "PyTorch only")
MAX.usage("amax", lambda x, **kw: x.amax(**kw),
          lambda torch, x, axis=None, keepdims=False: torch.amax(x, dim=dims(axis, x.ndim), keepdim=keepdims),
          S((2, 3)), S((2, 3), axis=1), S((2, 3), axis=-2, keepdims=True), S((2, 3, 4), axis=(0, 2)),
          S((3, 0), axis=0), S((4, 1), axis=1),
          S(values=[[[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, -1.0, 0.0]]], axis=1, smooth=False,
            note="ties: three-way and two-way"),
          S(values=[[[1.0, 3.0], [3.0, 0.0]]], smooth=False, note="tie across rows, all axes"),
          S((3, 4), domain="ties", axis=0, smooth=False, note="random ties"), note=MAX.note)


MAX.usage("amax", lambda x, dim, keepdim=False: x.amax(dim=dim, keepdim=keepdim),
          lambda torch, x, dim, keepdim=False: torch.amax(x, dim=dim, keepdim=keepdim),
          S((2, 3), dim=1), S((2, 3, 4), dim=(0, 2), keepdim=True), variant="dim=, keepdim=")
MAX.usage("max", lambda x: x.max(), lambda torch, x: x.max(), S((2, 3)), S(()), variant="no dim")

MIN = define("min", forward=min_forward, backward=min_backward,
             formulas=("d(min a)/daᵢ = 1/k if aᵢ is one of the k minima else 0",),
             note="tied minima share the gradient evenly (1/k each), as torch.amin")
MIN.usage("amin", lambda x, **kw: x.amin(**kw),
          lambda torch, x, dim=None, keepdim=False: torch.amin(x, dim=dims(dim, x.ndim), keepdim=keepdim),
          S((2, 3)), S((2, 3), dim=1), S((2, 3), dim=-2, keepdim=True), S((2, 3, 4), dim=(0, 2)),
          S(values=[[[1.0, -3.0, -3.0], [2.0, 2.0, 5.0]]], dim=1, smooth=False, note="ties"))
MIN.usage("min", lambda x: x.min(), lambda torch, x: x.min(), S((2, 3)), variant="no dim")


# ---- var: Σ(aᵢ - mean)² / (N - correction) ----
# The sums are taken in float64 whatever the input (as PyTorch's CPU kernel accumulates): in float32
# the squares of deviations beyond 1.8e19 overflow, though their std is an ordinary float32 number.
def _variance_float64(ctx, x, axes, keepdims, correction, where):
    n = count(x.shape, axes)
    if n - correction <= 0:
        raise ValueError(f"{where}: {n} element(s) along axes {axes} of shape {x.shape} with "
                         f"correction={correction} leaves no degrees of freedom")
    wide = x.astype(np.float64, copy=False)
    centered = wide - np.mean(wide, axis=axes, keepdims=True)
    ctx.save(axes=axes, centered=centered, dof=n - correction)
    return np.sum(centered * centered, axis=axes, keepdims=keepdims) / (n - correction)


def var_forward(ctx, x, axes, keepdims, correction):
    return _variance_float64(ctx, x, axes, keepdims, correction, "var").astype(_float_dtype(x))


def var_backward(ctx, upstream_grad):
    saved = ctx.saved
    (x,) = ctx.inputs  # the sums were float64: the gradient is cast back to x's dtype
    return ((_spread(ctx, upstream_grad) * saved.centered * (2.0 / saved.dof)).astype(x.data.dtype),)


VAR = define("var", forward=var_forward, backward=var_backward,
             formulas=("d(var a)/daᵢ = 2(aᵢ - mean)/(N - correction)",))
VAR.usage("var", lambda x, **kw: x.var(**kw),
          lambda torch, x, axis=None, keepdims=False, correction=1:
              torch.var(x, dim=dims(axis, x.ndim), correction=correction, keepdim=keepdims),
          S((2, 3)), S((2, 3), axis=1), S((2, 3), axis=0, keepdims=True), S((2, 3, 4), axis=(0, 2)),
          S((4, 3), axis=-2, correction=0), S((1, 5), axis=1), S((3, 1), axis=0))


# ---- std: √var, an op of its own for its kink at 0 ----
def std_forward(ctx, x, axes, keepdims, correction):
    variance = _variance_float64(ctx, x, axes, keepdims, correction, "std")  # it saves what backward needs
    return np.sqrt(variance).astype(_float_dtype(x))


def std_backward(ctx, upstream_grad):
    saved = ctx.saved
    std = ctx.data
    # where every aᵢ is the same (std = 0) the formula is 0/0: the gradient is 0 there, as in PyTorch
    # (√ of var alone would send inf · 0 = NaN)
    per_std = np.divide(upstream_grad, std, out=np.zeros_like(upstream_grad), where=std != 0)  # NaN stays NaN
    (x,) = ctx.inputs  # the sums were float64: the gradient is cast back to x's dtype
    return ((_spread(ctx, per_std) * saved.centered / saved.dof).astype(x.data.dtype),)


STD = define("std", forward=std_forward, backward=std_backward,
             formulas=("d(std a)/daᵢ = (aᵢ - mean)/((N - correction)·std), 0 where std = 0",))
STD.usage("std", lambda x, **kw: x.std(**kw),
          lambda torch, x, dim=None, keepdim=False, correction=1:
              torch.std(x, dim=dims(dim, x.ndim), correction=correction, keepdim=keepdim),
          S((2, 3)), S((2, 3), dim=1), S((4, 3), dim=0, keepdim=True, correction=0),
          S(values=[[[5.0, 3.0], [5.0, 4.0]]], dim=0, smooth=False,
            note="a constant column: std 0, gradient 0 (PyTorch's choice at the kink)"))
