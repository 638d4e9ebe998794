"""Optimizers: `SGD`, `Adam`, `AdamW`, with PyTorch's update rules.

An optimizer holds a list of parameters (leaf Tensors) and, per parameter, the state its rule
needs (momentum buffer, first and second moments). `step()` reads each parameter's `.grad` and
changes `.data` in place; parameters whose `.grad` is None are skipped. State arrays are made
at a parameter's first step and then reused: every update is a handful of NumPy calls writing
into preallocated arrays (`out=`), so a step costs little beyond the arithmetic itself. Adam and
AdamW go further when every parameter has a gradient: they lay all parameters end to end and
run those calls once on the long vector (each parameter's moments are views into it).

Update rules (g = gradient, p = parameter, t = step count of that parameter):

    SGD       b = μ·b + g (b = g at t = 1);        p -= lr·b          (μ = 0: p -= lr·g)
    Adam      m = β₁·m + (1-β₁)·g,  v = β₂·v + (1-β₂)·g²
              p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
    AdamW     p -= lr·λ·p   first (decoupled weight decay), then the Adam step

`weight_decay` in SGD and Adam is PyTorch's coupled (L2) form: g += λ·p before the rule.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _check_number(where: str, name: str, value: Any, low: float, high: float | None = None,
                  high_open: bool = False) -> float:
    """`value` as a float in [low, high] (or [low, high) with `high_open`), else a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or value < low or too_high:
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"{where}: {name} must be >= {low}{bound}, got {value}")
    return value


class Optimizer:
    """The part every optimizer shares: the parameter list, `zero_grad()` and `step()`."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        where = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: params must be an iterable of tensors (e.g. model.parameters()), "
                            "got a single Tensor; wrap it in a list")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{where}: params must be an iterable of tensors, got {type(params).__name__}") from None
        if not params:
            raise ValueError(f"{where}: got an empty parameter list")
        seen: set[int] = set()
        for position, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"{where}: params[{position}] is a {type(param).__name__}, expected a Tensor")
            if not param.requires_grad or not param.is_leaf:
                raise ValueError(
                    f"{where}: params[{position}] (shape {param.shape}) must be a leaf tensor with "
                    "requires_grad=True; an optimizer can only update leaves"
                )
            if id(param) in seen:
                raise ValueError(f"{where}: params[{position}] (shape {param.shape}) appears more than once")
            seen.add(id(param))
        self.params: list[Tensor] = params
        self.lr = _check_number(where, "lr", lr, 0.0)
        self.state: list[dict[str, Any]] = [{} for _ in params]  # one dict per parameter, filled at its first step

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (`.grad` becomes None), ready for the next backward."""
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        where = type(self).__name__
        for param, state in zip(self.params, self.state):
            grad = param.grad
            if grad is None:
                continue
            data = param.data
            if grad.shape != data.shape:
                raise ValueError(
                    f"{where}.step: parameter {param.name or ''} has shape {data.shape} but its grad has shape {grad.shape}"
                )
            scratch = state.get("scratch")
            if scratch is None or scratch.dtype != data.dtype or scratch.shape != data.shape:
                state.clear()  # first step, or the parameter was replaced by one of another dtype/shape
                self._init_state(state, data)
            self._update(data, grad, state)

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        state["step"] = 0
        state["scratch"] = np.empty_like(data)  # reused for temporaries so a step allocates nothing

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value}" for key, value in self._settings().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr}


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's form) and L2 weight decay.

    With momentum μ: b = μ·b + g (b = g on the first step), p -= lr·b.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = _check_number("SGD", "momentum", momentum, 0.0)
        self.weight_decay = _check_number("SGD", "weight_decay", weight_decay, 0.0)

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        super()._init_state(state, data)
        state["momentum_buffer"] = np.zeros_like(data) if self.momentum else None

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        state["step"] += 1
        scratch = state["scratch"]
        if self.weight_decay:
            grad = np.add(grad, np.multiply(data, self.weight_decay, out=scratch), out=scratch)
        direction = grad
        if self.momentum:
            buffer = state["momentum_buffer"]
            if state["step"] == 1:
                np.copyto(buffer, grad)
            else:
                np.multiply(buffer, self.momentum, out=buffer)
                np.add(buffer, grad, out=buffer)
            direction = buffer
        np.multiply(direction, -self.lr, out=scratch)
        np.add(data, scratch, out=data)

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as PyTorch computes it.

    m = β₁·m + (1-β₁)·g,  v = β₂·v + (1-β₂)·g²,  p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε).
    `weight_decay` adds λ·p to the gradient first (L2, coupled; see AdamW for the decoupled form).
    """

    decoupled_decay = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        where = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_number(where, "betas[0]", betas[0], 0.0, 1.0, high_open=True),
                      _check_number(where, "betas[1]", betas[1], 0.0, 1.0, high_open=True))
        self.eps = _check_number(where, "eps", eps, 0.0)
        self.weight_decay = _check_number(where, "weight_decay", weight_decay, 0.0)

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        super()._init_state(state, data)
        state["exp_avg"] = np.zeros_like(data)
        state["exp_avg_sq"] = np.zeros_like(data)
        coupled = self.weight_decay and not self.decoupled_decay
        state["decayed_grad"] = np.empty_like(data) if coupled else None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place.

        Usually every parameter has one, has the same dtype and has taken as many steps: then
        the rule runs once on all of them laid end to end as one long vector (a dozen NumPy
        calls instead of a dozen per parameter). Otherwise, parameter by parameter.
        """
        if not self._step_as_one_vector():
            super().step()

    def _step_as_one_vector(self) -> bool:
        """The same update on all parameters at once; False (nothing done) if they do not allow it."""
        params, states = self.params, self.state
        dtype = params[0].data.dtype
        for param, state in zip(params, states):
            grad, data = param.grad, param.data
            if grad is None or grad.shape != data.shape or data.dtype != dtype:
                return False  # the per-parameter loop skips missing grads and reports bad shapes
            scratch = state.get("scratch")
            if scratch is not None and (scratch.shape != data.shape or scratch.dtype != dtype):
                return False  # a replaced parameter: the loop starts its state afresh
        if len({state.get("step", 0) for state in states}) != 1:
            return False  # bias corrections differ: a parameter joined late
        flat = self._one_vector_state(dtype)
        # gather, update as one vector, scatter back into each parameter's own array (in place)
        np.concatenate([param.grad.reshape(-1) for param in params], out=flat["grad"])
        np.concatenate([param.data.reshape(-1) for param in params], out=flat["data"])
        self._update(flat["data"], flat["grad"], flat)
        for param, state, piece in zip(params, states, flat["pieces"]):
            np.copyto(param.data, piece.reshape(param.data.shape))
            state["step"] = flat["step"]
        return True

    def _one_vector_state(self, dtype: np.dtype) -> dict[str, Any]:
        """Flat moment buffers for all parameters; each parameter's state holds views into them."""
        flat = getattr(self, "_flat", None)
        if flat is not None and flat["dtype"] == dtype and all(
                state.get("exp_avg") is view and view.shape == param.data.shape
                for param, state, view in zip(self.params, self.state, flat["exp_avg_views"])):
            return flat
        sizes = [param.data.size for param in self.params]
        bounds = np.cumsum([0] + sizes).tolist()
        total = bounds[-1]
        coupled = self.weight_decay and not self.decoupled_decay
        flat = {"dtype": dtype, "step": self.state[0].get("step", 0),
                "exp_avg": np.zeros(total, dtype), "exp_avg_sq": np.zeros(total, dtype),
                "scratch": np.empty(total, dtype), "decayed_grad": np.empty(total, dtype) if coupled else None,
                "grad": np.empty(total, dtype), "data": np.empty(total, dtype)}
        flat["pieces"] = [flat["data"][start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
        flat["exp_avg_views"] = []
        for param, state, start, stop in zip(self.params, self.state, bounds[:-1], bounds[1:]):
            shape = param.data.shape
            views = {key: None if flat[key] is None else flat[key][start:stop].reshape(shape)
                     for key in ("exp_avg", "exp_avg_sq", "scratch", "decayed_grad")}
            for key in ("exp_avg", "exp_avg_sq"):  # moments so far carry over
                if isinstance(state.get(key), np.ndarray) and state[key].shape == shape:
                    views[key][...] = state[key]
            state.update(views, step=flat["step"])
            flat["exp_avg_views"].append(views["exp_avg"])
        self._flat = flat
        return flat

    def _decay(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        """Weight decay before the moments: AdamW shrinks p; Adam's L2 form returns g + λ·p."""
        if not self.weight_decay:
            return grad
        if self.decoupled_decay:
            np.multiply(data, 1.0 - self.lr * self.weight_decay, out=data)
            return grad
        decayed = state["decayed_grad"]
        np.multiply(data, self.weight_decay, out=decayed)
        return np.add(decayed, grad, out=decayed)

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq, scratch = state["exp_avg"], state["exp_avg_sq"], state["scratch"]
        grad = self._decay(data, grad, state)
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
        np.add(scratch, self.eps * root_correction2, out=scratch)
        np.divide(exp_avg, scratch, out=scratch)
        np.multiply(scratch, -self.lr * root_correction2 / (1.0 - beta1 ** step), out=scratch)
        np.add(data, scratch, out=data)

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p -= lr·λ·p, then the Adam step.

    The decay shrinks the weights directly instead of passing through Adam's moments.
    """

    decoupled_decay = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)
