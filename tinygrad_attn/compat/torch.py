"""`torch` for model code, bound to the engine: names only, no op re-implemented here.

    from tinygrad_attn.compat import torch as compat
    compat.install()          # now `import torch` / `torch.nn` / `torch.nn.functional` /
    import model              # `torch.nn.init` / `torch.optim` give the engine's modules

`install()` returns a handle; `uninstall()` (or leaving it as a context manager,
`with compat.install(): ...`) puts back whatever `sys.modules` held before, so real PyTorch and
the alias can be used in one process. A module imported while the alias was installed keeps
the engine: its `import torch` bound names at import time.

Every attribute of this module is a name of `tinygrad_attn` (or of its `nn`, `functional`,
`optim`); `nn` here is `tinygrad_attn.nn`'s names plus `functional` and `init`, as in torch.
"""
from __future__ import annotations

import sys
import types
from typing import Any

from .. import functional as _functional
from .. import nn as _engine_nn
from .. import optim
from ..core import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from ..functional import log_softmax, relu, softmax  # torch.softmax, torch.log_softmax, torch.relu
from ..tensors import (Generator, Tensor, arange, cat, concatenate, default_generator, device, double, empty,
                       empty_like, float16, float32, float64, full, full_like, half, initial_seed, int32, int64,
                       long, manual_seed, multinomial, ones, ones_like, rand, rand_like, randint, randn,
                       randn_like, seed, stack, topk, tril, triu, where, zeros, zeros_like)
from ..tensors.creation import tensor
from ..tensors.dtypes import bool  # noqa: A004  (torch.bool)

init = _engine_nn.init
functional = _functional


def _namespace(name: str, source: types.ModuleType, doc: str, **extra: Any) -> types.ModuleType:
    """A module named `name` holding every public name of `source` (and `extra`): aliases only."""
    module = types.ModuleType(name, doc)
    for key in getattr(source, "__all__", None) or [k for k in vars(source) if not k.startswith("_")]:
        setattr(module, key, getattr(source, key))
    for key, value in extra.items():
        setattr(module, key, value)
    return module


# tinygrad_attn.nn has no `functional` attribute (F lives one layer down, in tinygrad_attn.functional),
# so `torch.nn` is a namespace: nn's names, plus functional and init.
nn = _namespace("torch.nn", _engine_nn, "torch.nn bound to tinygrad_attn.nn (plus functional, init).",
                functional=_functional, init=_engine_nn.init)

_NAMES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.optim")
_MISSING = object()


class Installed:
    """What `install()` returns: `uninstall()` restores the `sys.modules` entries it replaced;
    also a context manager (uninstalls on exit)."""

    def __init__(self, previous: dict[str, Any]):
        self._previous = previous
        self.active = True

    def uninstall(self) -> None:
        if not self.active:
            return
        for name, module in self._previous.items():
            if module is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        self.active = False

    def __enter__(self) -> "Installed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def install() -> Installed:
    """Bind `torch`, `torch.nn`, `torch.nn.functional`, `torch.nn.init` and `torch.optim` in
    `sys.modules` to the engine's modules; returns a handle that restores the previous entries."""
    modules = {"torch": sys.modules[__name__], "torch.nn": nn, "torch.nn.functional": _functional,
               "torch.nn.init": _engine_nn.init, "torch.optim": optim}
    previous = {name: sys.modules.get(name, _MISSING) for name in _NAMES}
    sys.modules.update(modules)
    return Installed(previous)
