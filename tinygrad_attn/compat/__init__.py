"""Aliases that let code written for PyTorch run on the engine unchanged.

    torch.py   a module that looks like `torch` (names re-exported from tinygrad_attn, no op
               defined here) and `install()`, which binds `torch`, `torch.nn`,
               `torch.nn.functional`, `torch.nn.init` and `torch.optim` in `sys.modules`
"""
from . import torch

__all__ = ["torch"]
