"""Every op of both engines, one unit each: forward, backward, a formula per input, what it
saves (by name), its usages with samples and PyTorch's version. See `registry.py`.

    registry.py     Op, define, patched, use_kernels
    shapes.py       un-broadcasting and axis checks, shared by the families
    samples.py      sample inputs and usages (what the tests and the op reference read)
    scalar.py       the ops of `Value` (Python floats)
    elementwise.py  reduce.py  movement.py  linalg.py  softmax.py   the tensor primitives
"""
from .registry import Op, all_ops, define, get, kernels_enabled, patched, use_kernels

__all__ = ["Op", "define", "get", "all_ops", "patched", "use_kernels", "kernels_enabled"]
