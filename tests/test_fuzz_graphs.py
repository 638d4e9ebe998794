"""Random expression graphs, built the same way in the engine and in PyTorch (float64), must give
the same value and the same gradient for every input: broadcasting shapes, several consumers of
one node, reductions over random dims, softmax and matmul, with kernels on and off.

Hypothesis draws the programs and shrinks a failure to a small one; CI runs a bounded number.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_attn as ta

hypothesis = pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")
st = hypothesis.strategies

SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3), (4, 2, 3), (4, 1, 1)]
BINARY = ["add", "sub", "mul", "div"]
UNARY = ["tanh", "sigmoid", "exp_of_tanh", "square", "softmax", "log_softmax", "neg"]
REDUCE = ["sum", "mean", "amax"]


def _apply(step, values):
    """One program step on either engine's tensors (the same code drives both)."""
    kind, op, i, j, dim = step
    a = values[i % len(values)]
    if kind == "binary":
        b = values[j % len(values)]
        try:
            np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
        except ValueError:
            return None  # these two cannot meet: skip the step in both engines
        if op == "div":
            return a / (b * b + 1.0)  # a denominator that is never near 0
        return {"add": a + b, "sub": a - b, "mul": a * b}[op]
    if kind == "unary":
        if op in ("softmax", "log_softmax"):
            if a.ndim == 0:
                return None
            return getattr(a, op)(dim % a.ndim)
        return {"tanh": lambda: a.tanh(), "sigmoid": lambda: a.sigmoid(), "exp_of_tanh": lambda: a.tanh().exp(),
                "square": lambda: a * a, "neg": lambda: -a}[op]()
    if a.ndim == 0:
        return None
    d = dim % a.ndim
    return getattr(a, op)(dim=d, keepdim=bool(j % 2))


programs = st.tuples(
    st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3),
    st.lists(st.tuples(st.sampled_from(["binary", "unary", "reduce"]),
                       st.integers(0, 6), st.integers(0, 9), st.integers(0, 9),
                       st.integers(0, 3)), min_size=1, max_size=8),
    st.integers(0, 2**31 - 1),
)


def _normalise(step):
    """(kind, op number, ...) -> (kind, op name, ...): the op number picks from the kind's ops."""
    kind, op, i, j, dim = step
    pool = {"binary": BINARY, "unary": UNARY, "reduce": REDUCE}[kind]
    return kind, pool[op % len(pool)], i, j, dim


def _run(shapes, steps, seed, kernels):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    ours = [ta.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    pool_ours, pool_theirs = list(ours), list(theirs)
    with ta.use_kernels(kernels):
        for step in map(_normalise, steps):
            got, want = _apply(step, pool_ours), _apply(step, pool_theirs)
            assert (got is None) == (want is None)
            if got is not None:
                np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-10, atol=1e-12,
                                           err_msg=f"value after {step}")
                pool_ours.append(got)
                pool_theirs.append(want)
        weights = rng.standard_normal(tuple(pool_theirs[-1].shape))
        (pool_ours[-1] * ta.tensor(weights, dtype=np.float64)).sum().backward()
    (pool_theirs[-1] * torch.tensor(weights)).sum().backward()
    for position, (x, tx) in enumerate(zip(ours, theirs)):
        want = np.zeros(x.shape) if tx.grad is None else tx.grad.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11, err_msg=f"gradient of input {position}")


@pytest.mark.parametrize("kernels", [True, False])
@hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
@hypothesis.given(program=programs)
def test_random_graphs_match_torch_values_and_gradients(program, kernels):
    shapes, steps, seed = program
    _run(shapes, steps, seed, kernels)
