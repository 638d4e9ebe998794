"""tinygrad_attn adapters for the overhead workloads: W0 (Tensor engine) and W3 (Value engine).

W0 times what a learner's smallest tensor program pays per op: two ops forward, then
`backward` with an all-ones upstream gradient. W3 builds micrograd's demo MLP loss out of
`Value` nodes and backpropagates through it (the generic MLP in `w3_micrograd`).
"""

from __future__ import annotations

from typing import Any, Callable

from benchmarks.w3_micrograd import w3_generic
from benchmarks.workloads import Prepared, w0_inputs


def w0_tinygrad_attn(seed: int) -> Callable[[], tuple[Any, Any, Any]]:
    """W0: `c = a * b + a`, `c.backward(ones)`; returns (c, da, db) as arrays."""
    import numpy as np

    from tinygrad_attn import Tensor

    a_np, b_np = w0_inputs(seed)
    a = Tensor(a_np, requires_grad=True)
    b = Tensor(b_np, requires_grad=True)
    upstream = np.ones_like(a_np)

    def step() -> tuple[Any, Any, Any]:
        a.grad = None  # fresh gradients every step, as the PyTorch baseline does
        b.grad = None
        c = a * b + a
        c.backward(upstream)
        return c.data, a.grad, b.grad

    return step


def w3_tinygrad_attn(seed: int) -> Prepared:
    """W3 over `tinygrad_attn.Value` (inputs kept in `_inputs`, so nodes are counted as-is)."""
    from tinygrad_attn import Value

    return w3_generic(Value, seed)


W4_OPS = 4  # mul, add, relu, sum: the step's time divided by this is the per-op cost


def w4_tinygrad_attn(seed: int) -> Callable[[], tuple[Any, Any, Any]]:
    """W4: `((a * w + w).relu()).sum()` with w (4,) broadcast over a (4, 4), and its backward."""
    from tinygrad_attn import Tensor

    a_np, b_np = w0_inputs(seed)
    a = Tensor(a_np, requires_grad=True)
    w = Tensor(b_np[0].copy(), requires_grad=True)

    def step() -> tuple[Any, Any, Any]:
        a.grad = None
        w.grad = None
        c = (a * w + w).relu().sum()
        c.backward()
        return c.data, a.grad, w.grad

    return step
