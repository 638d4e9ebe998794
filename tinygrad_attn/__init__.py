"""tinygrad_attn: a from-scratch autograd engine for learning how attention learns."""
from .core import detect_anomaly, enable_grad, is_grad_enabled, no_grad, scope
from .scalar import Value
from .tensor import Tensor, concatenate, manual_seed, ones, randn, stack, tensor, where, zeros
from . import attention, functional  # noqa: E402  (after Tensor: they build on it)
from . import nn, optim  # noqa: E402  (nn builds on functional and attention)

__version__ = "0.1.0"
