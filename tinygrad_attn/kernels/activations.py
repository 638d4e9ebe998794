"""Activation kernels: the tanh-form GELU built in place in reused buffers.

The reference (`functional/activations.py`) saves the gate s = ½(1 + tanh u) = σ(2u); this
kernel saves s and x², which its regrouped backward needs, and writes every large array into a
buffer from `pool.empty`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import pool

GELU_C = math.sqrt(2 / math.pi)  # the tanh form's constants, as in PyTorch and GPT-2
GELU_K = 0.044715


def gelu_tanh_forward(ctx: Any, x: np.ndarray) -> np.ndarray:
    """x·s with the gate s = σ(2u) = 1/(1 + e^(-2u)), u = c·(x + κx³), built in place in one buffer
    (σ(2u) rather than ½(1 + tanh u): the same number, without the cancellation for u ≪ 0)."""
    x_squared = np.multiply(x, x, out=pool.empty(x.shape, x.dtype))  # kept: backward needs it too
    gate = np.multiply(x_squared, -2 * GELU_C * GELU_K, out=pool.empty(x.shape, x.dtype))
    gate -= 2 * GELU_C
    gate *= x  # -2u
    with np.errstate(over="ignore"):  # e^(-2u) = inf for u ≪ 0: the gate's limit, 0
        np.exp(gate, out=gate)
    gate += 1
    np.reciprocal(gate, out=gate)
    ctx.save(gate=gate, x_squared=x_squared)
    return np.multiply(x, gate, out=pool.empty(x.shape, x.dtype))


def gelu_tanh_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    """With s = ½(1 + t) the formula's ½(1+t) is s and ½(1-t²) is 2s(1-s), so the local slope
    is s · (1 + 2c·x·(1-s)·(1+3κx²)): written in place into one buffer."""
    x = ctx.inputs[0].data
    gate, x_squared = ctx.saved.gate, ctx.saved.x_squared
    local = np.multiply(x_squared, 6 * GELU_C * GELU_K, out=pool.empty(x.shape, x.dtype))
    local += 2 * GELU_C
    local *= x
    local *= np.subtract(1, gate, out=pool.empty(x.shape, x.dtype))
    local += 1
    local *= gate
    local *= upstream_grad
    return (local,)
