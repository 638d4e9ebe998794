"""`nn.init`: fill a weight in place with PyTorch's initialisation rules, as `torch.nn.init`.

Each function writes into the tensor's array and returns the tensor, as if under `no_grad()`
(no graph is built; a parameter that requires grad may be initialised). Random ones draw from
`generator`: None (the generator `ta.manual_seed` sets), an int seed, or a NumPy Generator.

Fans, as PyTorch computes them for a weight (out, in, *kernel): fan_in = in · Πkernel,
fan_out = out · Πkernel. Bounds and spreads:

    xavier_uniform_   U(-a, a),  a = gain · √(6 / (fan_in + fan_out))
    xavier_normal_    N(0, std), std = gain · √(2 / (fan_in + fan_out))
    kaiming_uniform_  U(-b, b),  b = gain · √(3 / fan)        gain = calculate_gain(nonlinearity, a)
    kaiming_normal_   N(0, std), std = gain / √fan
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensors import Tensor
from .module import as_generator

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain PyTorch recommends for a nonlinearity: 1 (linear, sigmoid), 5/3 (tanh), √2 (relu),
    √(2 / (1 + slope²)) (leaky_relu, slope `param`, default 0.01), 3/4 (selu)."""
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float, np.integer, np.floating)):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _target(tensor: Any, where: str, floating: bool = True) -> np.ndarray:
    """The tensor's own array, ready to be overwritten."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{where}: expected a Tensor (e.g. layer.weight), got {type(tensor).__name__}")
    if not tensor.is_leaf:
        raise RuntimeError(f"{where}: the tensor was computed by an op ({tensor.op.name}); only a leaf (a weight) "
                           "can be re-initialised in place")
    if floating and tensor.data.dtype.kind != "f":
        raise TypeError(f"{where}: needs a floating-point tensor, got dtype {tensor.data.dtype}")
    if not tensor.data.flags.writeable:  # a view shared with another tensor: write into a copy
        tensor.data = tensor.data.copy()
    return tensor.data


def _fill(tensor: Tensor, values: Any, where: str, floating: bool = True) -> Tensor:
    np.copyto(_target(tensor, where, floating), values, casting="unsafe")
    return tensor


def _generator(generator: Any, where: str) -> np.random.Generator:
    try:
        return as_generator(generator, where)
    except TypeError:
        raise TypeError(f"{where}: generator must be None (ta.manual_seed's), an int seed or a np.random.Generator, "
                        f"got {type(generator).__name__}") from None


def _number(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def _fans(tensor: Tensor, where: str) -> tuple[int, int]:
    """(fan_in, fan_out) as PyTorch computes them: in·Πkernel and out·Πkernel for (out, in, *kernel)."""
    shape = tensor.data.shape
    if len(shape) < 2:
        raise ValueError(f"{where}: fan in and fan out can not be computed for a tensor with fewer than 2 dims, "
                         f"got shape {shape}")
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(tensor: Tensor, mode: str, where: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{where}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, where)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with U(a, b)."""
    low, high = _number(a, "uniform_", "a"), _number(b, "uniform_", "b")
    if low > high:
        raise ValueError(f"uniform_: a={low} is above b={high}")
    _target(tensor, "uniform_")
    return _fill(tensor, _generator(generator, "uniform_").uniform(low, high, tensor.data.shape), "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with N(mean, std²)."""
    mean, std = _number(mean, "normal_", "mean"), _number(std, "normal_", "std")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    _target(tensor, "normal_")
    return _fill(tensor, _generator(generator, "normal_").normal(mean, std, tensor.data.shape), "normal_")


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`."""
    return _fill(tensor, _number(val, "constant_", "val"), "constant_", floating=False)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return _fill(tensor, 0, "zeros_", floating=False)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return _fill(tensor, 1, "ones_", floating=False)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: U(-a, a) with a = gain · √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    if tensor.data.size == 0:
        return tensor
    bound = _number(gain, "xavier_uniform_", "gain") * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    if tensor.data.size == 0:
        return tensor
    std = _number(gain, "xavier_normal_", "gain") * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Tensor:
    """He: U(-b, b) with b = gain · √(3 / fan), gain = calculate_gain(nonlinearity, a).

    (nn.Linear's default weight is kaiming_uniform_ with a = √5: U(±1/√fan_in).)
    """
    _target(tensor, "kaiming_uniform_")
    if tensor.data.size == 0:
        return tensor  # nothing to fill (PyTorch warns and does nothing)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode, "kaiming_uniform_"))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Tensor:
    """He: N(0, std²) with std = gain / √fan, gain = calculate_gain(nonlinearity, a)."""
    _target(tensor, "kaiming_normal_")
    if tensor.data.size == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode, "kaiming_normal_"))
    return normal_(tensor, 0.0, std, generator)
