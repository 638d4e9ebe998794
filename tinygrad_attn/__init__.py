"""tinygrad_attn: a from-scratch autograd engine for learning how attention learns."""
from .core import detect_anomaly, enable_grad, is_grad_enabled, no_grad, scope
from .scalar import Value
from .tensor import Tensor, concatenate, manual_seed, ones, randn, stack, tensor, where, zeros

__version__ = "0.1.0"
