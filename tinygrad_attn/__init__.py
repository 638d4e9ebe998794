"""tinygrad_attn: a from-scratch autograd engine for learning how attention learns."""
import warnings as _warnings

# Inside the engine, inf and NaN follow IEEE (1/0 = inf, inf * 0 = NaN) silently, as in PyTorch:
# NumPy's "RuntimeWarning: divide by zero" from an op's arithmetic is not for a learner to read.
# `ta.detect_anomaly()` is the tool that stops at the first non-finite value. Only warnings
# raised from this package's own modules are silenced; the user's own NumPy code still warns.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tinygrad_attn(\.|$)")
from .core import detect_anomaly, enable_grad, is_grad_enabled, no_grad, observe, scope
from .kernels import release_memory
from .ops.registry import use_kernels
from .scalar import Value
from .tensors import (Tensor, Generator, arange, cat, concatenate, default_generator, device, double, empty,
                      empty_like, float16, float32, float64, full, full_like, half, initial_seed, int32, int64,
                      long, manual_seed, multinomial, ones, ones_like, rand, rand_like, randint, randn,
                      randn_like, seed, stack, topk, tril, triu, where, zeros, zeros_like)
from .tensors import exp, log, log_softmax, matmul, pow, relu, sigmoid, softmax, sqrt, tanh  # noqa: A004
from .tensors.dtypes import bool  # noqa: A004  (PyTorch's ta.bool; nothing below uses the builtin)
from .tensors.creation import tensor
from . import attention, functional  # noqa: E402  (after Tensor: they build on it)
from . import nn, optim  # noqa: E402  (nn builds on functional and attention)
from . import trace  # noqa: E402  (recorders on the core's observers)

__version__ = "0.1.0"


def __getattr__(name: str):
    """`ta.lens` (the attention lens, `tinygrad_attn.viz.lens`), imported on first use: the
    drawing layer is not loaded by `import tinygrad_attn`."""
    if name == "lens":
        from .viz import lens
        return lens
    raise AttributeError(f"module 'tinygrad_attn' has no attribute {name!r}")
