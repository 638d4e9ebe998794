"""cross_entropy: log_softmax and the negative log-likelihood as one op, and its composed twin.

One op because its gradient is short where the chain through log_softmax is long:
d(mean CE)/dz = (softmax(z) - onehot(y)) / N. The tuned version is in `kernels/loss.py`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import loss as kernel
from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply
from .checks import constant_input, float_tensor


# ---- cross-entropy: mean over counted rows of log Σ exp(z) - z[target] ----
def cross_entropy_forward(ctx, logits, given_targets, *, targets, counted, count):
    """`given_targets` is the targets input as the caller gave it (drawn in graphs); `targets`
    are those checked, with ignored rows set to class 0, and `counted` marks the rows averaged."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # the shift cancels; every exponent <= 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax(z)
    per_row = -log_probs[np.arange(len(targets)), targets]  # -log softmax(z)[target]
    loss = per_row[counted].sum() / max(count, 1)
    ctx.save(probs=np.exp(log_probs), targets=targets, counted=counted, count=count)
    return np.asarray(loss, dtype=logits.dtype)


def cross_entropy_backward(ctx, upstream_grad):
    saved = ctx.saved
    one_hot = np.zeros_like(saved.probs)
    one_hot[np.arange(len(saved.targets)), saved.targets] = 1
    row_weights = saved.counted.astype(saved.probs.dtype) / max(saved.count, 1)  # 1/N per counted row, else 0
    grad_logits = (saved.probs - one_hot) * row_weights[:, None] * upstream_grad
    return (grad_logits, None)  # targets are an input only so that drawn graphs show them


CROSS_ENTROPY = define("cross_entropy", forward=cross_entropy_forward, backward=cross_entropy_backward,
                       formulas=("d(mean CE)/dz = (softmax(z) - onehot(y)) / N  (0 on ignored rows)",
                                 "targets: no gradient"),
                       kernel=(kernel.cross_entropy_forward, kernel.cross_entropy_backward))


def _class_targets(logits: Any, targets: Any, ignore_index: int | None, where: str
                   ) -> tuple[Tensor, np.ndarray, np.ndarray, int]:
    """Checked logits, targets as int64 (ignored rows set to 0), which rows count, how many."""
    logits = float_tensor(logits, where, "logits")
    target_array = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if logits.data.ndim != 2:
        hint = (f"; for (N, T, C) logits and (N, T) targets pass logits.reshape(-1, {logits.shape[-1]}) "
                "and targets.reshape(-1)" if logits.data.ndim == 3 else "")
        raise ValueError(f"{where}: logits must be (N, C), got shape {logits.shape}{hint}")
    if target_array.dtype.kind not in "iu":
        raise TypeError(f"{where}: targets must be integer class indices, got dtype {target_array.dtype} "
                        "(class probabilities are not supported)")
    count_rows, classes = logits.shape
    if target_array.shape != (count_rows,):
        raise ValueError(f"{where}: targets must be (N,) = ({count_rows},) for logits {logits.shape}, "
                         f"got shape {target_array.shape}")
    if classes == 0:
        raise ValueError(f"{where}: logits {logits.shape} have no classes")
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))):
        raise TypeError(f"{where}: ignore_index must be an int or None, got {ignore_index!r}")
    if ignore_index is None:
        counted = np.ones(count_rows, dtype=bool)
        in_range = count_rows == 0 or (target_array.min() >= 0 and target_array.max() < classes)
        if in_range:  # the usual case, checked with two reductions instead of four passes
            return logits, target_array.astype(np.int64), counted, count_rows  # a copy: the caller may reuse theirs
    else:
        counted = target_array != ignore_index
    bad = counted & ((target_array < 0) | (target_array >= classes))
    if bad.any():
        shown = target_array[bad][:5].tolist()
        raise ValueError(f"{where}: targets must be in [0, {classes}) for logits {logits.shape}"
                         f"{' (or equal ignore_index)' if ignore_index is not None else ''}; "
                         f"got {shown} at rows {np.flatnonzero(bad)[:5].tolist()}")
    safe_targets = np.where(counted, target_array, 0).astype(np.int64, copy=False)
    return logits, safe_targets, counted, int(counted.sum())


def cross_entropy(logits: Any, targets: Any, ignore_index: int | None = None) -> Tensor:
    """Mean over rows of -log softmax(logits)[target]: logits (N, C), integer targets (N,).

    Rows whose target equals `ignore_index` are left out of the mean. If no row counts (every
    target ignored, or N = 0) the loss is 0 with zero gradients (PyTorch gives NaN there).
    (N, T, C) logits are refused: reshape them to (N·T, C) and the targets to (N·T,).
    """
    targets_given = targets
    logits, targets, counted, count = _class_targets(logits, targets, ignore_index, "cross_entropy")
    return apply(CROSS_ENTROPY, (logits, constant_input(targets_given)),
                 targets=targets, counted=counted, count=count)


def cross_entropy_composed(logits: Tensor, targets: Any, ignore_index: int | None = None) -> Tensor:
    """`cross_entropy` from primitive ops: log_softmax, pick each row's target, weighted sum."""
    logits, targets, counted, count = _class_targets(logits, targets, ignore_index, "cross_entropy")
    picked = logits.log_softmax(axis=-1)[np.arange(len(targets)), targets]
    row_weights = counted.astype(logits.data.dtype) / max(count, 1)  # 1/count per counted row, else 0
    return -(picked * row_weights).sum()


def _torch_cross_entropy(torch: Any, logits: Any, targets: np.ndarray, ignore_index: int | None = None) -> Any:
    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(targets),
                                             ignore_index=-100 if ignore_index is None else ignore_index)


CROSS_ENTROPY.usage(
    "F.cross_entropy", lambda z, **kw: cross_entropy(z, **kw), _torch_cross_entropy,
    S((4, 5), targets=np.array([1, 0, 4, 4])), S((1, 3), targets=np.array([2])),
    S((4, 5), targets=np.array([1, -100, 4, -100]), ignore_index=-100, note="ignored rows take no part"),
    S((4, 5), targets=np.array([1, 0, 4, 4]), ignore_index=4, note="a class index can be the one ignored"),
    S(values=[[[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]]], targets=np.array([1, 2]), note="huge logits stay finite"),
    note="logits (N, C), integer targets (N,); mean over the rows not ignored")
