"""Small helpers shared by the op tests: seeded arrays, fresh leaves, a scale-aware closeness check."""
import numpy as np

from tinygrad_attn import Tensor


def _arrays(seed, *shapes, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def _leaves(arrays):
    return [Tensor(array.copy(), requires_grad=True) for array in arrays]


def _assert_close(actual, expected, rtol, what=""):
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0), err_msg=what)
