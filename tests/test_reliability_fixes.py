"""Regression tests for silent reliability bugs: sigmoid precision, hook results, optimizer grads,
Adam after a skipped step, and the dtypes/values a Tensor accepts.

Expected numbers come from torch in float64 or from math written here, never from the engine.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value, optim

torch = pytest.importorskip("torch")


# ---- 1. sigmoid: accurate for both signs ----
def _torch_sigmoid64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ(x) and σ'(x) = σ(x)·σ(-x) in torch float64 (torch's own backward, s·(1 - s), loses the
    small factor for large positive x even in float64, so the product is formed here)."""
    t = torch.tensor(x.astype(np.float64))
    return torch.sigmoid(t).numpy(), (torch.sigmoid(t) * torch.sigmoid(-t)).numpy()


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-13)])
def test_sigmoid_forward_and_backward_match_torch_float64_for_both_signs(dtype, rtol):
    x = np.linspace(-100.0, 100.0, 4001).astype(dtype)
    want, want_grad = _torch_sigmoid64(x)
    t = Tensor(x, requires_grad=True, dtype=dtype)
    s = t.sigmoid()
    assert s.dtype == dtype
    s.backward(np.ones_like(x))
    tiny = np.finfo(dtype).tiny
    for got, ref in ((s.data.astype(np.float64), want), (t.grad.astype(np.float64), want_grad)):
        normal = ref >= tiny  # where the true value is a normal float of this dtype
        rel = np.abs(got[normal] - ref[normal]) / ref[normal]
        assert rel.max() <= rtol, (dtype, float(rel.max()), float(x[normal][rel.argmax()]))
        # below the normal range: within one subnormal step (or 0 where the value rounds to 0)
        assert np.all(np.abs(got[~normal] - ref[~normal]) <= tiny)


def test_sigmoid_log_of_very_negative_input_is_finite_like_torch():
    x = np.array([-10.0, -20.0, -50.0], dtype=np.float32)
    got = Tensor(x).sigmoid().log().data
    want = torch.tensor(x.astype(np.float64)).sigmoid().log().numpy()  # ≈ x for x << 0
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ---- 2. hook results ----
def _leaf_and_loss():
    x = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True, name="x")
    y = x * 2.0  # dy/dx = 2
    return x, y


def test_hook_returning_a_tensor_of_the_same_shape_replaces_the_gradient():
    x, y = _leaf_and_loss()
    y.register_hook(lambda g: Tensor(np.array([1.0, 10.0, 100.0], dtype=np.float32)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.array([2.0, 20.0, 200.0], dtype=np.float32))
    assert isinstance(x.grad, np.ndarray)


def test_hook_returning_an_array_replaces_the_gradient_and_none_keeps_it():
    x, y = _leaf_and_loss()
    y.register_hook(lambda g: None)
    y.register_hook(lambda g: g * 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 6.0, dtype=np.float32))


@pytest.mark.parametrize("result", [np.ones((1,), np.float32), np.ones((3, 1), np.float32),
                                    np.float32(1.0), np.ones((2, 3), np.float32)])
def test_hook_returning_the_wrong_shape_is_refused(result):
    x, y = _leaf_and_loss()

    def wrong_shape_hook(g):
        return result

    y.register_hook(wrong_shape_hook)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert "wrong_shape_hook" in message and "(3,)" in message and str(np.shape(result)) in message


def test_hook_returning_the_wrong_shape_on_a_leaf_is_refused():
    x, y = _leaf_and_loss()

    def leaf_hook(g):
        return np.ones((1,), np.float32)

    x.register_hook(leaf_hook)
    with pytest.raises(RuntimeError, match="leaf_hook"):
        y.sum().backward()
    assert x.grad is None


@pytest.mark.parametrize("result", [[1.0, 1.0, 1.0], "grad", {"a": 1}, np.array(["a", "b", "c"]),
                                    np.array([1, 2, 3])])
def test_hook_returning_a_non_array_is_refused_with_a_type_error(result):
    x, y = _leaf_and_loss()

    def odd_hook(g):
        return result

    y.register_hook(odd_hook)
    with pytest.raises(TypeError, match="odd_hook"):
        y.sum().backward()


def test_value_hook_results_are_checked():
    a = Value(2.0)
    b = a * 3.0
    b.register_hook(lambda g: Value(5.0))
    b.backward()
    assert a.grad == 15.0

    c = Value(2.0)
    d = c * 3.0

    def list_hook(g):
        return [1.0]

    d.register_hook(list_hook)
    with pytest.raises(TypeError, match="list_hook"):
        d.backward()


# ---- 3. optimizer with a non-array grad ----
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
@pytest.mark.parametrize("kernels", [True, False])
def test_optimizer_refuses_a_list_grad_with_a_clear_type_error(name, kernels):
    with ta.use_kernels(kernels):
        p = Tensor(np.zeros(3, np.float32), requires_grad=True, name="w")
        q = Tensor(np.zeros(2, np.float32), requires_grad=True)
        q.grad = np.ones(2, np.float32)
        opt = getattr(optim, name)([q, p], lr=0.1)
        p.grad = [0.1, 0.2, 0.3]
        with pytest.raises(TypeError) as info:
            opt.step()
        message = str(info.value)
        assert "'w'" in message and "list" in message and f"{name}.step" in message
        np.testing.assert_array_equal(q.data, np.zeros(2, np.float32))  # nothing changed


# ---- 4. Adam / AdamW after a skipped step, against torch ----
SHAPES = [(3, 4), (5,), (2, 3)]


def _grads_sequence():
    rng = np.random.default_rng(7)
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(6)]
    grads[1][1] = None  # parameter 2 sits out step 2
    grads[3][0] = None  # step 4: only parameter 2 steps -> all step counts equal again afterwards
    grads[3][2] = None
    return grads


@pytest.mark.parametrize("name, settings", [("Adam", dict(lr=0.1)), ("Adam", dict(lr=0.1, weight_decay=0.1)),
                                            ("AdamW", dict(lr=0.1, weight_decay=0.1))])
@pytest.mark.parametrize("kernels", [True, False])
def test_adam_after_a_skipped_step_matches_torch(name, settings, kernels):
    rng = np.random.default_rng(3)
    initial = [rng.standard_normal(s) for s in SHAPES]
    grads = _grads_sequence()
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in initial]
    torch_opt = getattr(torch.optim, name)(theirs, **settings)
    ours = [Tensor(v.copy(), requires_grad=True) for v in initial]
    with ta.use_kernels(kernels):
        our_opt = getattr(optim, name)(ours, **settings)
        for step_grads in grads:
            for t, o, g in zip(theirs, ours, step_grads):
                t.grad = None if g is None else torch.tensor(g)
                o.grad = None if g is None else g.copy()
            torch_opt.step()
            our_opt.step()
            for t, o in zip(theirs, ours):
                np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)


# ---- 5. dtypes and values a Tensor refuses ----
@pytest.mark.parametrize("dtype", [np.complex64, object, str])
@pytest.mark.parametrize("make", [Tensor, ta.tensor])
def test_tensor_refuses_non_numeric_dtype(make, dtype):
    with pytest.raises(TypeError) as info:
        make([1, 2], dtype=dtype)
    assert "ensor" in str(info.value) and "dtype" in str(info.value)


@pytest.mark.parametrize("data", [np.array([2 ** 63 + 5], dtype=np.uint64), [2 ** 63 + 5],
                                  np.uint64(2 ** 64 - 1)])
@pytest.mark.parametrize("make", [Tensor, ta.tensor])
def test_tensor_refuses_uint64_values_beyond_int64(make, data):
    with pytest.raises(ValueError) as info:
        make(data)
    assert "ensor" in str(info.value) and "int64" in str(info.value)


def test_tensor_refuses_uint64_beyond_int64_with_an_int_dtype():
    with pytest.raises(ValueError, match="int64"):
        Tensor(np.array([2 ** 63], dtype=np.uint64), dtype=np.int64)


def test_tensor_keeps_uint64_values_in_range_and_converts_to_float_on_request():
    assert Tensor(np.array([2 ** 63 - 1], dtype=np.uint64)).data.tolist() == [2 ** 63 - 1]
    assert Tensor(np.array([2 ** 63 + 5], dtype=np.uint64), dtype=np.float64).data[0] == float(2 ** 63 + 5)


# ---- products over an axis of length 0: empty gradients, as PyTorch's, not NumPy's reshape error ----
@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("call, shapes", [
    ("matmul", ((2, 3, 0), (0, 4))), ("matmul", ((2, 3, 4), (4, 0))), ("matmul", ((0, 3, 4), (4, 2))),
    ("linear", ((2, 5, 0), (3, 0), (3,))), ("linear", ((2, 5, 3), (0, 3))), ("embedding", ((5, 0),)),
])
def test_gradients_through_an_empty_axis_match_pytorch(kernels, call, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [ta.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    ids = [[1, 2], [4, 0]]
    run = {"matmul": lambda m, xs: m.matmul(*xs),
           "linear": lambda m, xs: (ta.functional if m is ta else torch.nn.functional).linear(*xs),
           "embedding": lambda m, xs: (ta.functional if m is ta else torch.nn.functional).embedding(
               m.tensor(ids), xs[0])}[call]
    with ta.use_kernels(kernels):
        out = run(ta, ours)
        out.sum().backward()
    want = run(torch, theirs)
    want.sum().backward()
    assert out.shape == tuple(want.shape)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_array_equal(mine.grad, ref.grad.numpy())


# ---- layer_norm of a constant row of large float32 values: x̂ = 0, dx = (g - mean g)/√eps ----
@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("value, shape", [(6496857.0, (1, 24)), (6496857.0, (5, 64)), (-123456.7, (1, 24)),
                                          (3.3e7, (3, 7)), (1.0e30, (2, 24))])
def test_layer_norm_of_a_constant_float32_row_is_zero_with_the_eps_slope(kernels, value, shape):
    # (the rows' mean rounds: 24 entries of 6.5e6 sum where float32's step is 16)
    x = np.full(shape, value, np.float32)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with ta.use_kernels(kernels):
        t = ta.tensor(x, requires_grad=True)
        y = ta.functional.layer_norm(t, shape[-1:], eps=1e-5)
        y.backward(ta.tensor(g))
    g64 = g.astype(np.float64)
    want = (g64 - g64.mean(axis=-1, keepdims=True)) / np.sqrt(1e-5)  # x̂ = 0, σ = √eps: written out by hand
    np.testing.assert_array_equal(y.data, 0.0)
    np.testing.assert_allclose(t.grad, want, rtol=1e-5, atol=1e-4)


# ---- std / var of float32 deviations whose squares overflow float32 ----
@pytest.mark.parametrize("op", ["std", "var"])
@pytest.mark.parametrize("values, dim", [([3e19, -3e19, 1e19], None), ([[2e37, -1e37, 3e37], [1.0, 2.0, 4.0]], 1),
                                         ([[3e38, 3e38], [-1e38, 1e38]], 0)])
def test_std_and_var_of_huge_float32_values_are_the_float64_result_rounded(op, values, dim):
    x = np.array(values, np.float32)
    ref = torch.tensor(x.astype(np.float64), requires_grad=True)
    want = getattr(ref, op)() if dim is None else getattr(ref, op)(dim=dim)
    g = np.random.default_rng(2).standard_normal(tuple(want.shape)).astype(np.float32)
    want.backward(torch.tensor(g.astype(np.float64)))
    t = ta.tensor(x, requires_grad=True)
    out = getattr(t, op)() if dim is None else getattr(t, op)(dim=dim)
    out.backward(ta.tensor(g))
    assert out.dtype == np.float32 and t.grad.dtype == np.float32
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(out.data, want.detach().numpy().astype(np.float32), rtol=1e-6)  # inf where > 3.4e38
        np.testing.assert_allclose(t.grad, ref.grad.numpy().astype(np.float32), rtol=1e-5)
