"""cross_entropy (log_softmax and the negative log-likelihood as one op), nll_loss, and the
composed twin of cross_entropy; PyTorch's arguments and meanings.

Logits are (N, C) or (N, C, d1, ...), classes on dim 1 as in PyTorch (or (C,) for one
sample); targets are class indices of shape (N,) or (N, d1, ...). Both losses weigh each
counted position n (target != ignore_index) by w[y_n], the class weight of its target (1
without `weight`), and `reduction="mean"` divides by Σ w[y_n] over the counted positions.

One op for cross-entropy because its gradient is short where the chain through log_softmax
is long. Written with q, the target weights of a row (w[y] on its target class, spread over
every class with label smoothing ε, 0 on an ignored row):

    loss_n      = -Σ_c q_nc · log softmax(z_n)_c,    q_nc = (1-ε)·w[y_n]·[c = y_n] + ε/C · w_c
    dloss_n/dz  = softmax(z_n) · Σ_c q_nc - q_n

The tuned version is in `kernels/loss.py`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..kernels import loss as kernel
from ..ops.registry import define
from ..ops.samples import S
from ..ops.shapes import as_rows
from ..tensors.tensor import Tensor, apply
from .checks import constant_input, float_tensor

REDUCTIONS = ("mean", "sum", "none")


# ---- laying out the positions: the class dim last, one row per position ----
def class_rows(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N·d1·..., C): one row per position, classes along it ((C,) -> (1, C))."""
    if x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return as_rows(x)


def from_class_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `class_rows`: rows (M, C) back to the input's shape."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    class_last = shape[:1] + shape[2:] + shape[1:2]
    return np.moveaxis(rows.reshape(class_last), -1, 1)


def reduced(per_row: np.ndarray, reduction: str, divisor: float, out_shape: tuple[int, ...]) -> np.ndarray:
    """The per-position losses as the reduction asks: as they are (target's shape), summed, or
    summed and divided by the total weight (0 when nothing counts)."""
    if reduction == "none":
        return per_row.reshape(out_shape)
    total = per_row.sum()
    if reduction == "sum":
        return np.asarray(total, dtype=per_row.dtype)
    return np.asarray(total / per_row.dtype.type(divisor) if divisor else 0, dtype=per_row.dtype)


def row_upstream(upstream_grad: np.ndarray, reduction: str, divisor: float) -> np.ndarray:
    """The upstream gradient of each position's loss, as a column (M, 1) or a number."""
    if reduction == "none":
        return upstream_grad.reshape(-1, 1)
    if reduction == "sum":
        return upstream_grad
    return upstream_grad * upstream_grad.dtype.type(1 / divisor if divisor else 0)  # 0: nothing counted


# ---- cross-entropy: -Σ_c q_c · log softmax(z)_c per position, then reduced ----
def cross_entropy_forward(ctx, logits, given_targets, *, targets, weights, smoothing, counted, reduction,
                          divisor, out_shape):
    """`given_targets` is the targets input as the caller gave it (drawn in graphs); `targets`
    are those checked and flattened, with ignored positions set to class 0. `weights` is
    (1-ε)·w[y] per position (0 where ignored; None: 1 everywhere), `smoothing` ε/C·w_c per class
    (None without label smoothing), `counted` marks the positions not ignored."""
    z = class_rows(logits)
    shifted = z - z.max(axis=1, keepdims=True)  # the shift cancels; every exponent <= 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax(z)
    picked = np.where(counted, log_probs[np.arange(len(targets)), targets], 0)  # log p[target]; 0 if ignored
    per_row = -picked if weights is None else -weights * picked
    if smoothing is not None:
        per_row = per_row - np.where(counted, log_probs @ smoothing, 0)  # the share spread over every class
    ctx.save(probs=np.exp(log_probs), targets=targets, weights=weights, smoothing=smoothing, counted=counted,
             reduction=reduction, divisor=divisor)
    return reduced(per_row, reduction, divisor, out_shape)


def cross_entropy_backward(ctx, upstream_grad):
    saved = ctx.saved
    probs = saved.probs
    q = np.zeros_like(probs)  # the target weights of each row
    q[np.arange(len(saved.targets)), saved.targets] = 1 if saved.weights is None else saved.weights
    if saved.smoothing is not None:
        q += saved.counted[:, None] * saved.smoothing
    grad_rows = (probs * q.sum(axis=1, keepdims=True) - q) * row_upstream(upstream_grad, saved.reduction,
                                                                          saved.divisor)
    return (from_class_rows(grad_rows, ctx.inputs[0].data.shape), None)  # targets: no gradient


CROSS_ENTROPY = define("cross_entropy", forward=cross_entropy_forward, backward=cross_entropy_backward,
                       formulas=("d(CE)/dz = softmax(z)·Σq - q per position, / Σ w[y] for the mean "
                                 "(q: one-hot target · w[y], smoothed; 0 on ignored positions)",
                                 "targets: no gradient"),
                       kernel=(kernel.cross_entropy_forward, kernel.cross_entropy_backward))


# ---- nll_loss: -w[y] · x[y] per position, x being log-probabilities ----
def nll_loss_forward(ctx, log_probs, given_targets, *, targets, weights, counted, reduction, divisor, out_shape):
    rows = class_rows(log_probs)
    picked = np.where(counted, rows[np.arange(len(targets)), targets], 0)
    per_row = -picked if weights is None else -weights * picked
    ctx.save(targets=targets, weights=weights, counted=counted, reduction=reduction, divisor=divisor)
    return reduced(per_row, reduction, divisor, out_shape)


def nll_loss_backward(ctx, upstream_grad):
    saved = ctx.saved
    shape = ctx.inputs[0].data.shape
    grad_rows = np.zeros((len(saved.targets), shape[1] if len(shape) > 1 else shape[0]), dtype=upstream_grad.dtype)
    grad_rows[np.arange(len(saved.targets)), saved.targets] = -1 if saved.weights is None else -saved.weights
    grad_rows *= row_upstream(upstream_grad, saved.reduction, saved.divisor)
    return (from_class_rows(grad_rows, shape), None)


NLL_LOSS = define("nll_loss", forward=nll_loss_forward, backward=nll_loss_backward,
                  formulas=("d(NLL)/dx = -w[y] at each position's target class, 0 elsewhere (/ Σ w[y] for the mean)",
                            "targets: no gradient"))


# ---- checking the arguments (both losses and the composed twin) ----
class LossArguments(NamedTuple):
    input: Tensor
    targets: np.ndarray  # flat int64, ignored positions set to 0
    weights: np.ndarray | None  # (1-ε)·w[y] per position (0 where ignored); None: 1 everywhere
    smoothing: np.ndarray | None  # ε/C · w_c per class; None: no label smoothing
    counted: np.ndarray  # bool per position: not ignored
    divisor: float  # what the mean divides by: Σ w[y] over the counted positions
    out_shape: tuple[int, ...]  # the target's shape: the result of reduction="none"


def _loss_arguments(input: Any, target: Any, weight: Any, size_average: Any, ignore_index: Any, reduce: Any,
                    reduction: Any, label_smoothing: Any, where: str) -> LossArguments:
    x = float_tensor(input, where, "input")
    if size_average is not None or reduce is not None:
        raise TypeError(f"{where}: size_average and reduce are deprecated in PyTorch and not supported here; "
                        "use reduction='mean', 'sum' or 'none'")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{where}: ignore_index must be an int (PyTorch's default is -100), got {ignore_index!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.integer, np.floating)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{where}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    shape = x.shape
    if x.data.ndim == 0:
        raise ValueError(f"{where}: input must be (N, C), (N, C, d1, ...) or (C,), got a 0-d tensor")
    classes = shape[1] if len(shape) > 1 else shape[0]
    if classes == 0:
        raise ValueError(f"{where}: input {shape} has no classes (dim {1 if len(shape) > 1 else 0} is empty)")
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_array.dtype.kind not in "iu":
        raise TypeError(f"{where}: target must hold integer class indices, got dtype {target_array.dtype} "
                        "(class probabilities as targets are not supported)")
    expected = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if target_array.shape != expected:
        hint = ""
        if len(shape) == 3 and target_array.shape == shape[:2]:
            hint = (f"; for (B, T, C) logits and (B, T) targets pass input.reshape(-1, {shape[-1]}) and "
                    "target.reshape(-1) (PyTorch reads dim 1 as the classes)")
        raise ValueError(f"{where}: target must have shape {expected} for input {shape} (classes on dim "
                         f"{1 if len(shape) > 1 else 0}), got shape {target_array.shape}{hint}")
    flat = target_array.reshape(-1)
    counted = flat != ignore_index
    bad = counted & ((flat < 0) | (flat >= classes))
    if bad.any():
        positions = [tuple(int(i) for i in p) if len(p) != 1 else int(p[0])
                     for p in np.argwhere(bad.reshape(target_array.shape))[:5]] if target_array.ndim else [()]
        raise ValueError(f"{where}: target values must be in [0, {classes}) for input {shape} (or equal "
                         f"ignore_index={int(ignore_index)}); got {flat[bad][:5].tolist()} at {positions}")
    targets = np.where(counted, flat, 0).astype(np.int64)  # a copy: the caller may change theirs
    dtype = x.data.dtype
    class_weight = _class_weight(weight, classes, dtype, where)
    target_weight = counted.astype(dtype) if class_weight is None else class_weight[targets] * counted
    smoothing = None
    if label_smoothing > 0:
        smoothing = (np.ones(classes, dtype) if class_weight is None else class_weight) * (label_smoothing / classes)
    weights = None
    if class_weight is not None or label_smoothing > 0 or not counted.all():
        weights = (target_weight * (1 - label_smoothing)).astype(dtype)
    divisor = float(target_weight.sum(dtype=np.float64)) if reduction == "mean" else 1.0
    return LossArguments(x, targets, weights, smoothing, counted, divisor, target_array.shape)


def _class_weight(weight: Any, classes: int, dtype: np.dtype, where: str) -> np.ndarray | None:
    if weight is None:
        return None
    if isinstance(weight, Tensor) and weight.requires_grad:
        raise ValueError(f"{where}: weight gets no gradient (as in PyTorch); pass weight.detach()")
    array = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{where}: weight must hold numbers, got dtype {array.dtype}")
    if array.shape != (classes,):
        raise ValueError(f"{where}: weight must have one entry per class, shape ({classes},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{where}: weight must be finite, got {array.tolist()}")
    return array.astype(dtype)


# ---- the public functions ----
def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: None = None, ignore_index: int = -100,
                  reduce: None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """-log softmax(input)[target] per position, as torch.nn.functional.cross_entropy.

    input (N, C) or (N, C, d1, ...) logits, classes on dim 1 (or (C,)); target class indices
    (N,) or (N, d1, ...). Positions whose target is `ignore_index` (-100) take no part.
    `weight` (C,) weighs each position by its target's class; `label_smoothing` ε mixes the
    one-hot target with the uniform distribution, (1-ε)·onehot + ε/C. `reduction`: "mean"
    (divided by the total weight of the counted positions), "sum", or "none" (the losses in
    the target's shape). If nothing counts (every target ignored, or N = 0) the mean is 0 with
    zero gradients (PyTorch gives NaN there).
    """
    args = _loss_arguments(input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing,
                           "cross_entropy")
    return apply(CROSS_ENTROPY, (args.input, constant_input(target)), targets=args.targets, weights=args.weights,
                 smoothing=args.smoothing, counted=args.counted, reduction=reduction, divisor=args.divisor,
                 out_shape=args.out_shape)


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: None = None, ignore_index: int = -100,
             reduce: None = None, reduction: str = "mean") -> Tensor:
    """-w[target] · input[target] per position, as torch.nn.functional.nll_loss: `input` holds
    log-probabilities (e.g. from log_softmax over dim 1), shaped like cross_entropy's logits.

    `cross_entropy(z, y)` is `nll_loss(log_softmax(z, dim=1), y)`.
    """
    args = _loss_arguments(input, target, weight, size_average, ignore_index, reduce, reduction, 0.0, "nll_loss")
    return apply(NLL_LOSS, (args.input, constant_input(target)), targets=args.targets, weights=args.weights,
                 counted=args.counted, reduction=reduction, divisor=args.divisor, out_shape=args.out_shape)


def cross_entropy_composed(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """`cross_entropy` from primitive ops: log_softmax, pick each position's target, weighted sum."""
    args = _loss_arguments(input, target, weight, None, ignore_index, None, reduction, label_smoothing,
                           "cross_entropy")
    x = args.input
    log_probs = x.log_softmax(1 if x.data.ndim > 1 else 0)
    for axis in range(1, x.data.ndim - 1):  # classes to the last dim, the other dims in order
        log_probs = log_probs.swapaxes(axis, axis + 1)
    rows = log_probs.reshape((len(args.targets), x.shape[1] if x.data.ndim > 1 else x.shape[0]))
    positions = np.arange(len(args.targets))
    weights = args.counted.astype(x.data.dtype) if args.weights is None else args.weights
    per_row = -(rows[positions, args.targets] * weights)
    if args.smoothing is not None:
        per_row = per_row - (rows * args.smoothing).sum(axis=1) * args.counted.astype(x.data.dtype)
    if reduction == "none":
        return per_row.reshape(args.out_shape)
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() * (1 / args.divisor if args.divisor else 0.0)


# ---- usages: sample inputs and PyTorch's version ----
def _torch_loss(name: str) -> Any:
    def reference(torch: Any, x: Any, target: np.ndarray, weight: np.ndarray | None = None, **kwargs: Any) -> Any:
        weight = None if weight is None else torch.as_tensor(weight, dtype=x.dtype)
        return getattr(torch.nn.functional, name)(x, torch.as_tensor(target), weight=weight, **kwargs)

    return reference


_CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 0.25, 1.5])
CROSS_ENTROPY.usage(
    "F.cross_entropy", lambda z, **kw: cross_entropy(z, **kw), _torch_loss("cross_entropy"),
    S((4, 5), target=np.array([1, 0, 4, 4])), S((1, 3), target=np.array([2])),
    S((4, 5), target=np.array([1, -100, 4, -100]), note="ignored rows take no part"),
    S((4, 5), target=np.array([1, 0, 4, 4]), ignore_index=4, note="a class index can be the one ignored"),
    S(values=[[[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]]], target=np.array([1, 2]), note="huge logits stay finite"),
    S((4, 5), target=np.array([1, 0, 4, 2]), weight=_CLASS_WEIGHT, note="class weights: mean divides by Σ w[y]"),
    S((4, 5), target=np.array([1, -100, 4, 2]), label_smoothing=0.1),
    S((4, 5), target=np.array([1, 0, -100, 2]), weight=_CLASS_WEIGHT, label_smoothing=0.2),
    S((4, 5), target=np.array([1, 0, -100, 2]), reduction="sum"),
    S((4, 5), target=np.array([1, 0, -100, 2]), reduction="none", label_smoothing=0.3),
    S((2, 5, 3), target=np.array([[1, 0, 4], [2, -100, 3]]), note="classes on dim 1, one more dim"),
    S((2, 5, 3, 2), target=np.array([[[1, 0], [4, 4], [3, 2]], [[0, 1], [2, 2], [-100, 3]]]),
      weight=_CLASS_WEIGHT, label_smoothing=0.1, reduction="none"),
    S((5,), target=np.array(3), note="one sample: logits (C,), a 0-d target"),
    note="logits (N, C) or (N, C, d...), class-index targets; PyTorch's weight, ignore_index, reduction, "
         "label_smoothing")
NLL_LOSS.usage(
    "F.nll_loss", lambda x, **kw: nll_loss(x, **kw), _torch_loss("nll_loss"),
    S((4, 5), target=np.array([1, 0, 4, 4])), S((4, 5), target=np.array([1, -100, 4, 2])),
    S((4, 5), target=np.array([1, 0, 4, 2]), weight=_CLASS_WEIGHT),
    S((4, 5), target=np.array([1, 0, -100, 2]), weight=_CLASS_WEIGHT, reduction="sum"),
    S((2, 5, 3), target=np.array([[1, 0, 4], [2, -100, 3]]), reduction="none"),
    S((5,), target=np.array(3)),
    note="input holds log-probabilities; the loss is -w[y]·input[y] per position")
