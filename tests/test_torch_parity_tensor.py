"""Tensor methods that share a name with PyTorch share its meaning: each checked against torch."""
import numpy as np
import pytest

import tinygrad_attn as ta

torch = pytest.importorskip("torch")


def pair(array, requires_grad=True):
    array = np.asarray(array, dtype=np.float64)
    return ta.tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad)


def same(ours, theirs, atol=1e-12):
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), atol=atol, rtol=0)


def test_transpose_swaps_two_dims_on_a_matrix_and_on_heads():
    x, tx = pair(np.arange(6.0).reshape(2, 3))
    same(x.transpose(0, 1), tx.transpose(0, 1))  # NumPy's transpose(0, 1) would leave a matrix unchanged
    k, tk = pair(np.random.default_rng(0).standard_normal((2, 3, 4, 5)))
    same(k.transpose(-2, -1), tk.transpose(-2, -1))
    same(k.transpose(1, 2), tk.transpose(1, 2))


def test_transpose_with_more_than_two_dims_points_to_permute():
    x = ta.randn((2, 3, 4))
    with pytest.raises(TypeError, match="permute"):
        x.transpose(0, 2, 1)


def test_max_and_min_along_a_dim_return_values_and_indices_with_the_gradient_at_the_index():
    values = [[1.0, 5.0, 5.0], [7.0, -2.0, 0.5]]
    for name in ("max", "min"):
        for keepdim in (False, True):
            x, tx = pair(values)
            got, want = getattr(x, name)(1, keepdim=keepdim), getattr(tx, name)(1, keepdim=keepdim)
            same(got.values, want.values)
            np.testing.assert_array_equal(got.indices.data, want.indices.numpy())
            values_only, indices = got  # unpacks like torch.return_types
            (values_only * ta.tensor([[2.0], [3.0]] if keepdim else [2.0, 3.0])).sum().backward()
            (want.values * torch.tensor([[2.0], [3.0]] if keepdim else [2.0, 3.0], dtype=torch.float64)).sum().backward()
            same(x.grad, tx.grad)


def test_max_row_zero_is_the_row_maxima_not_row_zero():
    x, tx = pair([[1.0, 9.0], [4.0, 2.0], [0.0, 3.0]])
    same(x.max(1)[0], tx.max(1)[0])


def test_amax_amin_and_full_max_share_tied_gradients_like_torch():
    for name in ("amax", "amin"):
        x, tx = pair([[3.0, 3.0, 1.0], [0.0, 2.0, 2.0]])
        getattr(x, name)(dim=1).sum().backward()
        getattr(tx, name)(dim=1).sum().backward()
        same(x.grad, tx.grad)
    x, tx = pair([[3.0, 3.0], [1.0, 3.0]])
    x.max().backward()
    tx.max().backward()
    same(x.grad, tx.grad)


def test_sizes_as_methods():
    x, tx = pair(np.zeros((2, 3, 4)))
    assert x.size() == tuple(tx.size()) and x.size(1) == tx.size(1) and x.size(-1) == tx.size(-1)
    assert x.dim() == tx.dim() and x.numel() == tx.numel()
    with pytest.raises(IndexError, match="size: dim 3"):
        x.size(3)


@pytest.mark.parametrize("method", ["sum", "mean", "amax", "var", "std", "softmax", "log_softmax"])
def test_dim_and_keepdim_spellings_match_torch(method):
    x, tx = pair(np.random.default_rng(1).standard_normal((2, 3, 4)))
    kwargs = {"dim": 1} if method in ("softmax", "log_softmax") else {"dim": 1, "keepdim": True}
    got, want = getattr(x, method)(**kwargs), getattr(tx, method)(**kwargs)
    same(got, want)
    if method not in ("softmax", "log_softmax"):  # NumPy's spelling gives the same numbers
        same(getattr(x, method)(axis=1, keepdims=True), want)


@pytest.mark.parametrize("method", ["sum", "mean", "softmax", "log_softmax", "amax"])
def test_a_zero_dim_tensor_reduces_over_dim_0_and_minus_1(method):
    x, tx = pair(2.5)
    for dim in (0, -1):
        same(getattr(x, method)(dim), getattr(tx, method)(dim))
    with pytest.raises(ValueError, match=method):
        getattr(x, method)(1)


def test_max_along_dim_0_of_a_zero_dim_tensor():
    x, tx = pair(2.5)
    got, want = x.max(0), tx.max(0)
    same(got.values, want.values)
    assert got.indices.item() == want.indices.item()


def test_int_tensors_with_floats_promote_like_torch():
    ints, tints = ta.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    floats, tfloats = ta.tensor([0.5, 1.5, 2.5]), torch.tensor([0.5, 1.5, 2.5])
    cases = [(ints * 2.5, tints * 2.5), (ints + floats, tints + tfloats), (floats - ints, tfloats - tints),
             (ints / ints, tints / tints), (ints / 2, tints / 2), (ints + 2, tints + 2), (2.5 * ints, 2.5 * tints)]
    for got, want in cases:
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_allclose(got.data, want.numpy())


def test_pow_at_a_zero_base_gives_torch_values_and_gradients():
    bases = [0.0, 0.0, 0.0, 0.0, 2.0]
    exponents = [0.0, 2.0, -1.0, 0.5, -1.0]
    a, ta_ = pair(bases)
    b, tb = pair(exponents)
    out, tout = a ** b, ta_ ** tb
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(a.grad, ta_.grad.numpy())
    np.testing.assert_array_equal(b.grad, tb.grad.numpy())


def test_int_and_array_indexing_gives_torch_shapes_and_gradients():
    data = np.random.default_rng(2).standard_normal((2, 3, 4))
    for index in [(0, slice(None), [0, 1]), ([1, 0], 1, slice(None)), (1, [2, 0], [3, 3]),
                  (slice(None), 0, [1, 1, 2]), (Ellipsis, 1, [0, 2])]:
        x, tx = pair(data)
        got, want = x[index], tx[tuple(torch.tensor(p) if isinstance(p, list) else p for p in index)]
        same(got, want)
        weights = np.arange(1.0, want.numel() + 1).reshape(tuple(want.shape))
        (got * ta.tensor(weights)).sum().backward()
        (want * torch.tensor(weights)).sum().backward()
        same(x.grad, tx.grad)


def test_shape_methods_match_torch():
    data = np.random.default_rng(3).standard_normal((2, 1, 3, 4))
    calls = [lambda t: t.view(2, 12), lambda t: t.view(-1), lambda t: t.reshape(2, 3, 4),
             lambda t: t.unsqueeze(0), lambda t: t.unsqueeze(-1), lambda t: t.squeeze(), lambda t: t.squeeze(1),
             lambda t: t.flatten(), lambda t: t.flatten(1), lambda t: t.flatten(2, 3), lambda t: t.permute(3, 0, 2, 1),
             lambda t: t.permute((1, 0, 3, 2)), lambda t: t.mT, lambda t: t.expand(2, 5, 3, 4),
             lambda t: t.expand(3, -1, -1, -1, -1), lambda t: t.contiguous().view(8, 3),
             lambda t: t.split(2, dim=-1)[1], lambda t: t.split([1, 2], dim=2)[1], lambda t: t.chunk(3, dim=2)[2],
             lambda t: t.swapaxes(0, 3), lambda t: t[0, 0].t(), lambda t: t.add(t).mul(t).sub(t).div(t + 5.0),
             lambda t: t.pow(2).neg(), lambda t: t[0, 0].matmul(t[1, 0].T)]
    rng = np.random.default_rng(4)
    for call in calls:
        x, tx = pair(data)
        got, want = call(x), call(tx)
        same(got, want)
        weights = rng.standard_normal(tuple(want.shape))
        (got * ta.tensor(weights)).sum().backward()
        (want * torch.tensor(weights)).sum().backward()
        same(x.grad, tx.grad)


def test_expand_refuses_to_grow_a_dim_that_is_not_one():
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\)"):
        ta.randn((2, 3)).expand(4, 3)


def test_cat_and_stack_take_dim():
    a, ta_ = pair(np.ones((2, 3)))
    b, tb = pair(np.zeros((2, 3)))
    same(ta.cat([a, b], dim=1), torch.cat([ta_, tb], dim=1))
    same(ta.stack([a, b], dim=-1), torch.stack([ta_, tb], dim=-1))


def test_conversions_and_floor_division_match_torch():
    x, tx = pair([[1.7, -2.2], [3.0, 0.5]])
    assert str(x.long().dtype) == "int64" and np.array_equal(x.long().data, tx.long().numpy())
    assert str(x.float().dtype) == "float32" and str(x.double().dtype) == "float64"
    assert x.bool().data.tolist() == tx.bool().tolist()
    assert x.to(ta.tensor([1.0]).dtype).dtype == np.float32 and x.to("cpu") is x
    assert not x.long().requires_grad
    np.testing.assert_array_equal((x // 1.0).data, (tx // 1.0).detach().numpy())
    with pytest.raises(ValueError, match="CPU"):
        x.to("cuda")


def test_in_place_changes_under_no_grad_and_refused_outside():
    x, tx = pair([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0, 0] = 5.0
    with pytest.raises(RuntimeError, match="fill_"):
        x.fill_(1.0)
    with ta.no_grad():
        x[0, 0] = 5.0
        x[:, 1] = ta.tensor([7.0, 8.0])
        x.copy_(x * 2)
    with torch.no_grad():
        tx[0, 0] = 5.0
        tx[:, 1] = torch.tensor([7.0, 8.0])
        tx.copy_(tx * 2)
    same(x, tx)
    y = ta.zeros((3,))
    y[ta.tensor([True, False, True])] = 1.0  # a tensor that needs no grad changes at any time
    assert y.data.tolist() == [1.0, 0.0, 1.0]
    assert y.zero_().data.tolist() == [0.0, 0.0, 0.0]
    with ta.no_grad():
        w = ta.zeros((1000,), requires_grad=True).normal_(0.0, 0.02)
    assert abs(float(w.data.std()) - 0.02) < 0.003 and w.requires_grad


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softmax", "log_softmax"])
def test_module_functions_are_the_methods_as_in_torch(name):
    x, tx = pair([[0.5, 1.5, 2.0], [0.25, 3.0, 1.0]])
    got, want = getattr(ta, name)(x), getattr(torch, name)(tx, -1) if "softmax" in name else getattr(torch, name)(tx)
    same(got, want)
    got.sum().backward()
    want.sum().backward()
    same(x.grad, tx.grad)


def test_pow_and_matmul_functions_match_torch():
    a, ta_ = pair([[1.5, 2.0], [0.5, 3.0]])
    b, tb = pair([[2.0, -1.0], [0.5, 1.0]])
    same(ta.pow(a, 2.0), torch.pow(ta_, 2.0))
    same(ta.pow(2.0, b), torch.pow(2.0, tb))
    same(ta.pow(a, b), torch.pow(ta_, tb))
    same(ta.matmul(a, b), torch.matmul(ta_, tb))
