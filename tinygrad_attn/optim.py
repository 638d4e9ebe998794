"""Optimizers: `SGD`, `Adam`, `AdamW`, with PyTorch's update rules.

An optimizer holds a list of parameters (leaf Tensors) and, per parameter, the state its rule
needs (momentum buffer, first and second moments). `step()` reads each parameter's `.grad` and
changes `.data` in place; parameters whose `.grad` is None are skipped. Each rule below is
written as its formula, one parameter at a time, so it can be read (and stepped through) as is.

Update rules (g = gradient, p = parameter, t = step count of that parameter):

    SGD       b = μ·b + g (b = g at t = 1);        p -= lr·b          (μ = 0: p -= lr·g)
    Adam      m = β₁·m + (1-β₁)·g,  v = β₂·v + (1-β₂)·g²
              p -= lr · m̂ / (√v̂ + ε)   with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ)
    AdamW     p -= lr·λ·p   first (decoupled weight decay), then the Adam step

`weight_decay` in SGD and Adam is PyTorch's coupled (L2) form: g += λ·p before the rule.

While kernels are on (`ta.use_kernels()`, the default) Adam and AdamW run the same rule from
`kernels/adam.py`: every term written into preallocated arrays, and all parameters laid end
to end as one long vector when every one has a gradient. `use_kernels(False)` runs the rule
written here; both give the same parameters (a test checks it to 1e-12 in float64).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .kernels import adam as adam_kernel
from .ops.registry import kernels_enabled
from .tensors import Tensor

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
            if not _state_fits(state, data):
                state.clear()  # first step, or the parameter was replaced by one of another dtype/shape
                self._init_state(state, data)
            self._update(data, grad, state)

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        state["step"] = 0

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value}" for key, value in self._settings().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr}


def _state_fits(state: dict[str, Any], data: np.ndarray) -> bool:
    """False at a parameter's first step, or when its array was replaced by one of another
    shape or dtype (its old moments mean nothing for the new one)."""
    if not state:
        return False
    for value in state.values():
        if isinstance(value, np.ndarray) and (value.shape != data.shape or value.dtype != data.dtype):
            return False
    return True


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
        if self.weight_decay:
            grad = grad + self.weight_decay * data  # L2: the gradient of λ/2·|p|² joins g
        direction = grad
        if self.momentum:
            buffer = state["momentum_buffer"]
            if state["step"] == 1:
                buffer[...] = grad  # b = g on the first step
            else:
                buffer[...] = self.momentum * buffer + grad  # b = μ·b + g
            direction = buffer
        data -= self.lr * direction  # p -= lr·b

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as PyTorch computes it.

    m = β₁·m + (1-β₁)·g,  v = β₂·v + (1-β₂)·g²,  p -= lr · m̂ / (√v̂ + ε) with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ).
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
        self._one_vector: adam_kernel.OneVector | None = None  # the kernel's long-vector buffers

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        super()._init_state(state, data)
        state["exp_avg"] = np.zeros_like(data)  # m
        state["exp_avg_sq"] = np.zeros_like(data)  # v

    def step(self) -> None:
        """Update every parameter that has a gradient, in place.

        With kernels on, usually as one long vector (`kernels/adam.py`); when that is not
        possible (a parameter without a gradient this step, mixed dtypes), parameter by
        parameter, as with kernels off.
        """
        if kernels_enabled():
            if self._one_vector is None:
                self._one_vector = adam_kernel.OneVector()
            if self._one_vector.step(self.params, self.state, self):
                return
        super().step()

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        """One parameter's step, as the formulas say (the kernel computes the same in place)."""
        if kernels_enabled():
            adam_kernel.update(data, grad, state, self)
            return
        beta1, beta2 = self.betas
        state["step"] += 1
        t = state["step"]
        if self.weight_decay and self.decoupled_decay:
            data -= self.lr * self.weight_decay * data  # AdamW: shrink p, outside the moments
        elif self.weight_decay:
            grad = grad + self.weight_decay * data  # Adam: L2, the decay goes through the moments
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * grad  # running mean of g
        v[...] = beta2 * v + (1 - beta2) * grad * grad  # running mean of g²
        m_hat = m / (1 - beta1 ** t)  # both start at 0: undo that bias
        v_hat = v / (1 - beta2 ** t)
        data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

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
