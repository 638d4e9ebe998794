"""Optimizers: `SGD`, `Adam`, `AdamW`, with PyTorch's update rules, parameter groups and state.

An optimizer holds `param_groups`, a list of dicts as in PyTorch: each has "params" (leaf
Tensors) and the options of its rule ("lr", "weight_decay", ...), the constructor's arguments
being the defaults a group does not set:

    optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=3e-4)

Changing `group["lr"]` between steps takes effect at the next step (that is how schedules
work). `state[param]` holds what the rule keeps for that parameter (momentum buffer, first and
second moments). `step()` reads each parameter's `.grad` and changes `.data` in place;
parameters whose `.grad` is None are skipped. Each rule below is written as its formula, one
parameter at a time, so it can be read (and stepped through) as is.

Update rules (g = gradient, p = parameter, t = step count of that parameter):

    SGD       b = μ·b + (1-τ)·g (b = g at first);   p -= lr·b   (nesterov: p -= lr·(g + μ·b); μ = 0: p -= lr·g)
    Adam      m = β₁·m + (1-β₁)·g,  v = β₂·v + (1-β₂)·g²
              p -= lr · m̂ / (√v̂ + ε)   with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ)
    AdamW     p -= lr·λ·p   first (decoupled weight decay), then the Adam step

`weight_decay` in SGD and Adam is PyTorch's coupled (L2) form: g += λ·p before the rule.

While kernels are on (`ta.use_kernels()`, the default) Adam and AdamW run the same rule from
`kernels/adam.py`: every term written into preallocated arrays, and all parameters of a group
laid end to end as one long vector when every one has a gradient. `use_kernels(False)` runs
the rule written here; both give the same parameters (a test checks it to 1e-12 in float64).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np

from .core import enable_grad, mark_written
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


def _state_value(value: Any) -> Any:
    """A saved state value as ours: arrays (also torch tensors) copied, 0-d numbers as numbers."""
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.array(value) if isinstance(value, np.ndarray) else value


class Optimizer:
    """The part every optimizer shares: parameter groups, state, `zero_grad()`, `step()`,
    `add_param_group`, `state_dict()` / `load_state_dict()`.

    A subclass sets `defaults` (its options), `_check_group` (their ranges), `_state_keys`
    (what `state_dict` saves per parameter) and `_update` (its rule on one parameter).
    """

    _state_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]):
        where = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: params must be an iterable of tensors (e.g. model.parameters()) or of "
                            "parameter groups (dicts), got a single Tensor; wrap it in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{where}: params must be an ordered collection (a list), not a set: the order "
                            "decides which state belongs to which parameter in state_dict()")
        try:
            given = list(params)
        except TypeError:
            raise TypeError(f"{where}: params must be an iterable of tensors, got {type(params).__name__}") from None
        if not given:
            raise ValueError(f"{where}: got an empty parameter list")
        self.defaults: dict[str, Any] = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)  # keyed by the parameter
        groups = given if isinstance(given[0], Mapping) else [{"params": given}]
        for group in groups:
            self.add_param_group(group)

    # ---- parameter groups ----
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group: a dict with "params" and any options, the others taken from `defaults`."""
        where = type(self).__name__
        position = len(self.param_groups)
        label = "params" if position == 0 else f"param_groups[{position}]['params']"
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{where}: a parameter group must be a dict with a 'params' entry, got "
                            f"{type(param_group).__name__} (do not mix tensors and dicts in params)")
        if "params" not in param_group:
            raise ValueError(f"{where}: parameter group {position} has no 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{where}: the params of group {position} must be a list, not a set")
        else:
            params = list(params)
        names = None
        if params and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
            names, params = [name for name, _ in params], [p for _, p in params]  # model.named_parameters()
        seen_elsewhere = {id(p) for group in self.param_groups for p in group["params"]}
        seen: set[int] = set()
        for index, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"{where}: {label}[{index}] is a {type(param).__name__}, expected a Tensor")
            if not param.requires_grad or not param.is_leaf:
                raise ValueError(f"{where}: {label}[{index}] (shape {param.shape}) must be a leaf tensor with "
                                 "requires_grad=True; an optimizer can only update leaves")
            if id(param) in seen:
                raise ValueError(f"{where}: {label}[{index}] (shape {param.shape}) appears more than once")
            if id(param) in seen_elsewhere:
                raise ValueError(f"{where}: {label}[{index}] (shape {param.shape}) is already in another "
                                 "parameter group; a parameter may be in only one")
            seen.add(id(param))
        group = dict(param_group)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group, where if position == 0 else f"{where} param_groups[{position}]")
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        group["lr"] = _check_number(where, "lr", group["lr"], 0.0)

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group."""
        return [param for group in self.param_groups for param in group["params"]]

    @property
    def lr(self) -> float:
        """The learning rate when every group has the same one (PyTorch has only group["lr"])."""
        rates = {group["lr"] for group in self.param_groups}
        if len(rates) != 1:
            raise AttributeError(f"{type(self).__name__}: the groups have different learning rates {sorted(rates)}; "
                                 "read param_groups[i]['lr']")
        return rates.pop()

    @lr.setter
    def lr(self, value: float) -> None:
        value = _check_number(type(self).__name__, "lr", value, 0.0)
        for group in self.param_groups:
            group["lr"] = value

    # ---- gradients and steps ----
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient, ready for the next backward: `.grad` becomes None
        (the default, as in PyTorch), or is filled with zeros with `set_to_none=False`."""
        for param in self.params:
            param.zero_grad(set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place, group by group. `closure`, if
        given, is called first (with gradients on) and its loss returned, as in PyTorch."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            self._check_group(group, type(self).__name__ if index == 0 else f"{type(self).__name__} param_groups[{index}]")
        self._check_grads()  # every group first: a bad grad anywhere changes nothing
        for index, group in enumerate(self.param_groups):
            self._step_group(index, group)
            for param in group["params"]:
                if param.grad is not None:  # moved in place: a graph made before the step used the old weights
                    mark_written(param, f"{type(self).__name__}.step")
        return loss

    def _check_grads(self) -> None:
        """Every `.grad` is None or a NumPy array, as PyTorch accepts only tensors: a list (or
        anything else) assigned to `p.grad` is a clear error here, not a crash inside NumPy."""
        for index, group in enumerate(self.param_groups):
            for position, param in enumerate(group["params"]):
                grad = param.grad
                if grad is None:
                    continue
                label = f"param_groups[{index}]['params'][{position}]"
                if param.name:
                    label += f" ({param.name!r})"
                where = f"{type(self).__name__}.step: parameter {label} of shape {param.shape}"
                if not isinstance(grad, np.ndarray):
                    hint = " (use its .data)" if isinstance(grad, Tensor) else ""
                    raise TypeError(f"{where} has a .grad of type {type(grad).__name__}; expected None or a NumPy "
                                    f"array of shape {param.shape}{hint}")
                if grad.shape != param.data.shape:  # checked here, before any parameter moves
                    raise ValueError(f"{type(self).__name__}.step: parameter {param.name or label} has shape "
                                     f"{param.shape} but its grad has shape {grad.shape} ({label})")
                if grad.dtype.kind != "f":
                    raise TypeError(f"{where} has a .grad of dtype {grad.dtype}; expected floating point "
                                    f"(the parameter is {param.dtype})")

    def _step_group(self, index: int, group: dict[str, Any]) -> None:
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            data = param.data  # its grad's shape and dtype were checked by _check_grads, before any step
            state = self.state[param]
            if not _state_fits(state, data):
                state.clear()  # first step, or the parameter was replaced by one of another dtype/shape
                self._init_state(state, data)
            self._update(data, grad, state, group)

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        pass

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # ---- saving and loading ----
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {...}}, "param_groups": [{options, "params": [index, ...]}]}, as in
        PyTorch: parameters are numbered in group order; arrays are copies."""
        index = {id(param): i for i, param in enumerate(self.params)}
        state = {}
        for param in self.params:
            own = self.state.get(param)
            if own:
                state[index[id(param)]] = {key: _state_value(own[key]) for key in self._state_keys if key in own}
        groups = [{**{key: value for key, value in group.items() if key != "params"},
                   "params": [index[id(param)] for param in group["params"]]} for group in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Take the groups' options and every parameter's state from `state_dict` (ours, or a
        PyTorch optimizer's with tensors), matched by position. Checked first: on an error
        nothing changes."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError(f"{where}: expected a dict with 'state' and 'param_groups' (from state_dict()), got "
                            f"{type(state_dict).__name__}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{where}: the saved state has {len(saved_groups)} parameter groups, this optimizer "
                             f"has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for position, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{where}: saved group {position} has {len(saved['params'])} parameters, this "
                                 f"optimizer's has {len(group['params'])}")
            for flag in ("amsgrad", "maximize"):
                if saved.get(flag):
                    raise ValueError(f"{where}: saved group {position} uses {flag}=True, which this optimizer "
                                     "does not support")
            by_index.update(zip((int(i) for i in saved["params"]), group["params"]))
            new = {key: value for key, value in saved.items() if key != "params"}
            for key, value in self.defaults.items():
                new.setdefault(key, value)  # a state saved by an older version may lack an option
            new["params"] = group["params"]
            if "betas" in new:
                new["betas"] = tuple(float(b) for b in new["betas"])
            self._check_group(new, f"{where} (group {position})")
            new_groups.append(new)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved in dict(state_dict["state"]).items():
            if int(key) not in by_index:
                raise ValueError(f"{where}: saved state for parameter {key}, which no group holds")
            param = by_index[int(key)]
            own = {}
            for name, value in saved.items():
                value = _state_value(value)
                if isinstance(value, np.ndarray) and value.ndim:
                    if value.shape != param.data.shape:
                        raise ValueError(f"{where}: state {name!r} of parameter {key} has shape {value.shape}, "
                                         f"the parameter has shape {param.data.shape}")
                    value = value.astype(param.data.dtype)
                elif name == "step":
                    value = int(float(value))
                own[name] = value
            new_state[param] = own
        self.param_groups[:] = new_groups
        self.state.clear()
        for param, own in new_state.items():
            self.state[param] = self._loaded_state(own, param.data)
        self._loaded()

    def _loaded_state(self, saved: dict[str, Any], data: np.ndarray) -> dict[str, Any]:
        state: dict[str, Any] = {}
        self._init_state(state, data)
        state.update(saved)
        return state

    def _loaded(self) -> None:
        """Hook: forget anything cached from the state before a load."""

    # ---- printing ----
    def __repr__(self) -> str:
        def settings(group: dict[str, Any]) -> str:
            return ", ".join(f"{key}={group[key]}" for key in self.defaults)

        if len(self.param_groups) == 1:
            return f"{type(self).__name__}({len(self.params)} parameters, {settings(self.param_groups[0])})"
        groups = "; ".join(f"group {i}: {len(g['params'])} parameters, {settings(g)}"
                           for i, g in enumerate(self.param_groups))
        return f"{type(self).__name__}({groups})"


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

    With momentum μ: b = μ·b + (1-dampening)·g (b = g on the first step), p -= lr·b;
    nesterov: p -= lr·(g + μ·b).
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        super()._check_group(group, where)
        for name in ("momentum", "dampening", "weight_decay"):
            group[name] = _check_number(where, name, group[name], 0.0)
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise TypeError(f"{where}: nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: nesterov momentum needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']}, dampening={group['dampening']}")

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        state["momentum_buffer"] = None  # made from the first gradient

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * data  # L2: the gradient of λ/2·|p|² joins g
        direction = grad
        if momentum:
            buffer = state["momentum_buffer"]
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(grad, dtype=data.dtype)  # b = g on the first step
            else:
                buffer[...] = momentum * buffer + (1 - group["dampening"]) * grad  # b = μ·b + (1-τ)·g
            direction = grad + momentum * buffer if group["nesterov"] else buffer
        data -= group["lr"] * direction  # p -= lr·b


class _AdamSettings(NamedTuple):
    """One group's options, as the kernel reads them."""

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    decoupled_decay: bool


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as PyTorch computes it.

    m = β₁·m + (1-β₁)·g,  v = β₂·v + (1-β₂)·g²,  p -= lr · m̂ / (√v̂ + ε) with m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ).
    `weight_decay` adds λ·p to the gradient first (L2, coupled); with
    `decoupled_weight_decay=True` it shrinks p instead, which is AdamW.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    decoupled_default = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool | None = None):
        if amsgrad:
            raise NotImplementedError(f"{type(self).__name__}: amsgrad=True is not supported")
        decoupled = self.decoupled_default if decoupled_weight_decay is None else decoupled_weight_decay
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled))
        self._one_vectors: dict[int, adam_kernel.OneVector] = {}  # per group: the kernel's long-vector buffers

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        super()._check_group(group, where)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (_check_number(where, "betas[0]", betas[0], 0.0, 1.0, high_open=True),
                          _check_number(where, "betas[1]", betas[1], 0.0, 1.0, high_open=True))
        group["eps"] = _check_number(where, "eps", group["eps"], 0.0)
        group["weight_decay"] = _check_number(where, "weight_decay", group["weight_decay"], 0.0)
        if not isinstance(group["decoupled_weight_decay"], (bool, np.bool_)):
            raise TypeError(f"{where}: decoupled_weight_decay must be True or False, got "
                            f"{group['decoupled_weight_decay']!r}")

    def _init_state(self, state: dict[str, Any], data: np.ndarray) -> None:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(data)  # m
        state["exp_avg_sq"] = np.zeros_like(data)  # v

    @staticmethod
    def _settings(group: dict[str, Any]) -> _AdamSettings:
        return _AdamSettings(group["lr"], group["betas"], group["eps"], group["weight_decay"],
                             bool(group["decoupled_weight_decay"]))

    def _step_group(self, index: int, group: dict[str, Any]) -> None:
        """With kernels on, usually as one long vector (`kernels/adam.py`); when that is not
        possible (a parameter without a gradient this step, mixed dtypes), parameter by
        parameter, as with kernels off."""
        params = group["params"]
        if kernels_enabled() and params:
            one_vector = self._one_vectors.setdefault(index, adam_kernel.OneVector())
            if one_vector.step(params, [self.state[param] for param in params], self._settings(group)):
                return
        super()._step_group(index, group)

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One parameter's step, as the formulas say (the kernel computes the same in place)."""
        if kernels_enabled():
            adam_kernel.update(data, grad, state, self._settings(group))
            return
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        state["step"] += 1
        t = state["step"]
        if weight_decay and group["decoupled_weight_decay"]:
            data -= lr * weight_decay * data  # AdamW: shrink p, outside the moments
        elif weight_decay:
            grad = grad + weight_decay * data  # Adam: L2, the decay goes through the moments
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * grad  # running mean of g
        v[...] = beta2 * v + (1 - beta2) * grad * grad  # running mean of g²
        m_hat = m / (1 - beta1 ** t)  # both start at 0: undo that bias
        v_hat = v / (1 - beta2 ** t)
        data -= lr * m_hat / (np.sqrt(v_hat) + eps)

    def _loaded(self) -> None:
        self._one_vectors.clear()  # the loaded moments are not views into the old long vectors


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p -= lr·λ·p, then the Adam step.

    The decay shrinks the weights directly instead of passing through Adam's moments.
    """

    decoupled_default = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
