"""The tuned Adam / AdamW step: the same numbers as the rule in `optim.py`, in fewer NumPy calls.

`optim.Adam` reads like its formulas, one parameter at a time, allocating a temporary per
term. While kernels are on (`ta.use_kernels()`, the default) it runs this instead:

- `update(data, grad, state, settings)`: one step on one array, every term written into
  preallocated buffers (`out=`), so a step allocates nothing;
- `OneVector.step(params, states, settings)`: when every parameter has a gradient, the same
  dtype and the same step count, all parameters are laid end to end and `update` runs once on
  the long vector (a dozen NumPy calls per step instead of a dozen per parameter). Each
  parameter's `exp_avg` / `exp_avg_sq` become views into the long moments, so the
  per-parameter path (tuned or readable) can take over at any step and continue from them.

`settings` is anything with `lr`, `betas`, `eps`, `weight_decay` and `decoupled_decay` (the
options of one parameter group, as `optim.Adam` passes them; each group is its own long vector). A state dict holds `step`, `exp_avg`, `exp_avg_sq`, and here also `scratch`
and, for Adam's coupled decay, `decayed_grad`. This module imports only NumPy.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["update", "OneVector"]


def _buffer(state: dict[str, Any], key: str, like: np.ndarray) -> np.ndarray:
    """state[key], made like `like` at first use (or when the readable path left none)."""
    buffer = state.get(key)
    if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
        buffer = state[key] = np.empty_like(like)
    return buffer


def update(data: np.ndarray, grad: np.ndarray, state: dict[str, Any], settings: Any) -> None:
    """One Adam(W) step on `data`, in place: the rule of `optim.Adam._update`, without temporaries."""
    beta1, beta2 = settings.betas
    lr, eps, weight_decay = settings.lr, settings.eps, settings.weight_decay
    state["step"] += 1
    step = state["step"]
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    scratch = _buffer(state, "scratch", data)
    if weight_decay:
        if settings.decoupled_decay:  # AdamW: p -= lr·λ·p
            np.multiply(data, 1.0 - lr * weight_decay, out=data)
        else:  # Adam's L2 form: g + λ·p
            decayed = _buffer(state, "decayed_grad", data)
            np.multiply(data, weight_decay, out=decayed)
            grad = np.add(decayed, grad, out=decayed)
    # m = β₁·m + (1-β₁)·g
    np.multiply(exp_avg, beta1, out=exp_avg)
    np.multiply(grad, 1.0 - beta1, out=scratch)
    np.add(exp_avg, scratch, out=exp_avg)
    # v = β₂·v + (1-β₂)·g²
    np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    np.multiply(grad, grad, out=scratch)
    np.multiply(scratch, 1.0 - beta2, out=scratch)
    np.add(exp_avg_sq, scratch, out=exp_avg_sq)
    # p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε), with √(1-β₂ᵗ) moved to the scalar: one pass fewer
    root_correction2 = math.sqrt(1.0 - beta2 ** step)
    np.sqrt(exp_avg_sq, out=scratch)
    np.add(scratch, eps * root_correction2, out=scratch)
    np.divide(exp_avg, scratch, out=scratch)
    np.multiply(scratch, -lr * root_correction2 / (1.0 - beta1 ** step), out=scratch)
    np.add(data, scratch, out=data)


class OneVector:
    """Long-vector buffers for one optimizer's parameters, built at the first step they allow it."""

    def __init__(self) -> None:
        self.flat: dict[str, Any] | None = None

    def step(self, params: Sequence[Any], states: Sequence[dict[str, Any]], settings: Any) -> bool:
        """Update every parameter as one long vector; False (nothing done) if they do not allow it:
        a missing or misshapen gradient, mixed dtypes, a replaced parameter, or differing step
        counts (a parameter that sat out a step has its own bias correction)."""
        dtype = params[0].data.dtype
        for param, state in zip(params, states):
            grad, data = param.grad, param.data
            if grad is None or grad.shape != data.shape or data.dtype != dtype:
                return False  # the per-parameter loop skips missing grads and reports bad shapes
            moment = state.get("exp_avg")
            if moment is not None and (moment.shape != data.shape or moment.dtype != dtype):
                return False  # a replaced parameter: the loop starts its state afresh
        steps = {state.get("step", 0) for state in states}
        if len(steps) != 1:
            return False
        flat = self._buffers(params, states, dtype, steps.pop())
        # gather, update as one vector, scatter back into each parameter's own array (in place)
        np.concatenate([param.grad.reshape(-1) for param in params], out=flat["grad"])
        np.concatenate([param.data.reshape(-1) for param in params], out=flat["data"])
        update(flat["data"], flat["grad"], flat, settings)
        for param, state, piece in zip(params, states, flat["pieces"]):
            np.copyto(param.data, piece.reshape(param.data.shape))
            state["step"] = flat["step"]
        return True

    def _buffers(self, params: Sequence[Any], states: Sequence[dict[str, Any]], dtype: np.dtype,
                 step: int) -> dict[str, Any]:
        """The flat buffers, rebuilt when a parameter's moments are no longer views into them."""
        flat = self.flat
        if flat is not None and flat["dtype"] == dtype and all(
                state.get("exp_avg") is view and view.shape == param.data.shape
                for param, state, view in zip(params, states, flat["exp_avg_views"])):
            flat["step"] = step  # the per-parameter path may have stepped every parameter meanwhile
            return flat
        sizes = [param.data.size for param in params]
        bounds = np.cumsum([0] + sizes).tolist()
        total = bounds[-1]
        flat = {"dtype": dtype, "step": step,
                "exp_avg": np.zeros(total, dtype), "exp_avg_sq": np.zeros(total, dtype),
                "scratch": np.empty(total, dtype),  # Adam's `decayed_grad` is made by `update` if needed
                "grad": np.empty(total, dtype), "data": np.empty(total, dtype)}
        flat["pieces"] = [flat["data"][start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
        flat["exp_avg_views"] = []
        for param, state, start, stop in zip(params, states, bounds[:-1], bounds[1:]):
            shape = param.data.shape
            views = {key: flat[key][start:stop].reshape(shape)
                     for key in ("exp_avg", "exp_avg_sq", "scratch")}
            for key in ("exp_avg", "exp_avg_sq"):  # moments so far carry over
                if isinstance(state.get(key), np.ndarray) and state[key].shape == shape:
                    views[key][...] = state[key]
            state.update(views, step=step)
            flat["exp_avg_views"].append(views["exp_avg"])
        self.flat = flat
        return flat
