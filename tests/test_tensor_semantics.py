"""What a Tensor promises beyond single ops: dtypes, gradient bookkeeping, hooks, no_grad,
stepping through backward, anomaly mode, and the small conveniences.

Dtypes. A tensor made from Python floats or lists of them is float32; a float64 NumPy array
(or `dtype=np.float64`) stays float64; Python ints give int64 and bools stay bool. When two
tensors meet, the result has NumPy's promotion of their dtypes: float32 with float64 gives
float64, and an int64 tensor with a float one gives float64. A number beside a float tensor
(a Python int or float, or a NumPy scalar such as `np.sqrt(d)`) takes the tensor's dtype, as
in PyTorch, so `x * 0.5` stays float32 when x is. A gradient always has the dtype and shape of
its tensor, whatever dtype the op computed in.
"""
import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- dtypes ----
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([[1, 2.5]], np.float32),
    (np.array([1.0, 2.0]), np.float64), (np.float64(2.0), np.float64),
    (np.array([1.0], dtype=np.float32), np.float32),
    (3, np.int64), ([1, 2], np.int64), (np.array([1, 2], dtype=np.int32), np.int64),
    ([True, False], np.bool_),
])
def test_default_dtypes(data, dtype):
    assert Tensor(data).dtype == dtype
    # ta.tensor keeps a NumPy array's own dtype, as torch.tensor does (test_torch_parity_creation.py)
    assert ta.tensor(data).dtype == (data.dtype if isinstance(data, np.ndarray) else dtype)


def test_float64_kept_when_asked_for():
    assert Tensor([1.0, 2.0], dtype=np.float64).dtype == np.float64
    assert Tensor(Tensor(np.zeros(2))).dtype == np.float64


def test_creation_functions_default_to_float32():
    for made in (ta.zeros((2, 3)), ta.ones(4), ta.randn((2, 2))):
        assert made.dtype == np.float32
    assert ta.zeros(2, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("combine", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a ** b, lambda a, b: a @ b, lambda a, b: ta.where(np.array([True, False]), a, b),
    lambda a, b: ta.concatenate([a, b]), lambda a, b: ta.stack([a, b]),
], ids=["add", "sub", "mul", "div", "pow", "matmul", "where", "concatenate", "stack"])
def test_mixed_float32_and_float64_give_float64_either_way(combine):
    single, double = leaf([1.0, 2.0], np.float32), leaf([3.0, 4.0], np.float64)
    assert combine(single, double).dtype == np.float64
    assert combine(double, single).dtype == np.float64


def test_gradients_keep_each_inputs_dtype_after_mixed_ops():
    single, double = leaf([1.0, 2.0], np.float32), leaf([3.0, 4.0], np.float64)
    (single * double + single @ double).sum().backward()  # the scalar a·b is added to both elements
    assert single.grad.dtype == np.float32 and double.grad.dtype == np.float64
    np.testing.assert_array_equal(single.grad, [3.0 + 2 * 3.0, 4.0 + 2 * 4.0])
    np.testing.assert_array_equal(double.grad, [1.0 + 2 * 1.0, 2.0 + 2 * 2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("number", [2, 2.5, np.float64(2.5), np.int64(2), np.float32(2.5)],
                         ids=["int", "float", "np.float64", "np.int64", "np.float32"])
def test_numbers_take_the_tensors_dtype(number, dtype):
    x = leaf([1.0, 2.0], dtype)
    for result in (x + number, number + x, x - number, number - x, x * number, number * x,
                   x / number, number / x, x ** number, number ** x):
        assert result.dtype == dtype


def test_integer_tensors_follow_pytorch_promotion():
    ints = Tensor([1, 2])
    assert (ints + 2).dtype == np.int64
    assert (ints * 2.5).dtype == np.float32  # PyTorch: the default float dtype (NumPy would give float64)
    assert (ints + Tensor([1.0, 2.0])).dtype == np.float32  # the float tensor's dtype
    assert (ints + Tensor([1.0, 2.0], dtype=np.float64)).dtype == np.float64
    assert (ints / ints).dtype == np.float32  # true division of integers gives floats


# ---- gradients: shapes, broadcasting, aliasing ----
def test_broadcast_operand_gradient_is_summed_back_to_its_shape():
    matrix = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    row = leaf([10.0, 20.0, 30.0])
    column = leaf([[2.0], [3.0]])
    upstream = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ((matrix + row) * column).backward(upstream)
    np.testing.assert_array_equal(matrix.grad, upstream * [[2.0], [3.0]])
    np.testing.assert_array_equal(row.grad, [1 * 2 + 4 * 3, 2 * 2 + 5 * 3, 3 * 2 + 6 * 3])
    np.testing.assert_array_equal(column.grad, [[11 * 1 + 22 * 2 + 33 * 3], [14 * 4 + 25 * 5 + 36 * 6]])
    assert row.grad.shape == (3,) and column.grad.shape == (2, 1)


def test_scalar_tensor_broadcast_against_a_matrix_gets_a_scalar_gradient():
    scale = leaf(2.0)
    matrix = leaf(np.arange(6.0).reshape(2, 3))
    (scale * matrix).sum().backward()
    assert scale.grad.shape == ()
    assert scale.grad == 15.0


def test_a_leaf_grad_does_not_alias_another_tensors_grad():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 100.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_a_leaf_grad_does_not_alias_the_upstream_gradient_given():
    x = leaf([1.0, 2.0])
    upstream = np.array([5.0, 6.0])
    (x * 1.0).backward(upstream)
    x.grad[0] = 0.0
    np.testing.assert_array_equal(upstream, [5.0, 6.0])


def test_leaf_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    loss = (x * 10.0).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [25.0, 27.0])


def test_zero_grad_forgets_the_gradient():
    x = leaf([1.0, 2.0])
    (x * 2.0).sum().backward()
    x.zero_grad()
    assert x.grad is None
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


# ---- detach, retain_grad, hooks, no_grad ----
def test_detach_shares_data_but_cuts_the_graph():
    x = leaf([1.0, 2.0])
    cut = (x * 2.0).detach()
    assert not cut.requires_grad and cut.is_leaf
    y = x * cut  # gradient flows only through x, with cut a constant
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert np.shares_memory(x.detach().data, x.data)


def test_non_leaf_grad_is_none_without_retain_grad():
    x = leaf([1.0, 2.0])
    hidden = x * 3.0
    (hidden * hidden).sum().backward()
    assert hidden.grad is None


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    hidden = (x * 3.0).retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_array_equal(hidden.grad, [6.0, 12.0])  # d(h²)/dh = 2h
    np.testing.assert_array_equal(x.grad, [18.0, 36.0])


def test_hook_sees_the_gradient_and_can_replace_it():
    x = leaf([1.0, 2.0])
    hidden = x * 3.0
    seen = []
    hidden.register_hook(lambda grad: seen.append(grad.copy()))
    hidden.register_hook(lambda grad: grad * 10.0)
    (hidden * hidden).sum().backward()
    np.testing.assert_array_equal(seen[0], [6.0, 12.0])
    np.testing.assert_array_equal(x.grad, [180.0, 360.0])


def test_hook_on_a_leaf_changes_what_accumulates():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda grad: grad * 0.5)
    (x * 4.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_removed_hook_no_longer_runs():
    x = leaf([1.0, 2.0])
    calls = []
    remove = x.register_hook(lambda grad: calls.append(1) or grad * 0.0)
    remove()
    (x * 4.0).sum().backward()
    assert calls == []
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])


def test_no_grad_builds_no_graph():
    x = leaf([1.0, 2.0])
    with ta.no_grad():
        y = (x * 2.0).exp().sum()
    assert not y.requires_grad and y.is_leaf and y.inputs == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    assert (x * 2.0).requires_grad  # grad mode comes back after the block


# ---- stepping through backward ----
def _graph(x):
    hidden = (x * x).tanh()
    return (hidden @ hidden + hidden.sum()).exp()


def test_backward_steps_to_the_end_leave_the_same_gradients_as_backward():
    values = np.array([0.3, -0.7, 0.2])
    stepped, direct = leaf(values), leaf(values)
    steps = list(_graph(stepped).backward_steps())
    _graph(direct).backward()
    np.testing.assert_array_equal(stepped.grad, direct.grad)
    assert steps[-1].node is stepped and steps[-1].op == "leaf"


def test_a_step_carries_node_op_grad_contributions_and_formula():
    x = leaf([1.0, 2.0])
    y = leaf([3.0, 4.0])
    product = x * y
    first = next(iter(product.backward_steps(np.array([1.0, 1.0]))))
    assert first.node is product and first.op == "mul"
    np.testing.assert_array_equal(first.grad, [1.0, 1.0])
    assert first.formula == "d(a*b)/da = b,  d(a*b)/db = a"
    (to_x, grad_x), (to_y, grad_y) = first.contributions
    assert to_x is x and to_y is y
    np.testing.assert_array_equal(grad_x, [3.0, 4.0])
    np.testing.assert_array_equal(grad_y, [1.0, 2.0])


def test_same_graph_gives_the_same_steps_twice():
    x = leaf([0.3, -0.7, 0.2])
    root = _graph(x)
    first = [(s.index, s.node, s.op, s.grad.copy()) for s in root.backward_steps(retain_graph=True)]
    second = [(s.index, s.node, s.op, s.grad.copy()) for s in root.backward_steps(retain_graph=True)]
    assert [(i, n, o) for i, n, o, _ in first] == [(i, n, o) for i, n, o, _ in second]
    for (*_, grad_first), (*_, grad_second) in zip(first, second):
        np.testing.assert_array_equal(grad_first, grad_second)


# ---- anomaly mode ----
def test_anomaly_mode_names_the_op_whose_output_first_became_non_finite():
    x = leaf([1.0, 800.0])
    with ta.detect_anomaly(), np.errstate(over="ignore"):
        scaled = x * 1.0
        with pytest.raises(RuntimeError, match="'exp'"):
            scaled.exp()  # exp(800) overflows; mul before it was fine


def test_anomaly_mode_names_the_op_whose_backward_sent_a_non_finite_gradient():
    x = leaf([0.0, 4.0])
    root = x.sqrt().sum()  # forward is finite; d√a/da at 0 is infinite
    with ta.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(RuntimeError, match="'sqrt'"):
        root.backward()


def test_without_anomaly_mode_non_finite_values_pass_silently():
    with np.errstate(over="ignore"):
        assert Tensor([800.0]).exp().data[0] == np.inf


# ---- conveniences ----
def test_len_item_numpy_and_repr():
    matrix = Tensor(np.zeros((4, 2)))
    assert len(matrix) == 4
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    assert Tensor([[2.5]]).item() == 2.5 and isinstance(Tensor([[2.5]]).item(), float)
    with pytest.raises(ValueError, match="item"):
        matrix.item()
    assert matrix.numpy() is matrix.data
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    assert repr(Tensor([1, 2])) == "Tensor([1, 2], dtype=int64)"
    assert repr(Tensor(np.zeros(2), requires_grad=True, name="w")) == (
        "Tensor([0., 0.], dtype=float64, requires_grad=True, name='w')")
    assert repr(leaf([1.0]) * 2.0).endswith("op=mul)")


def test_backward_frees_saved_values_unless_retained():
    x = leaf([1.0, 2.0])
    total = x.sum()
    total.backward(retain_graph=True)
    assert not total.is_freed
    total.backward()
    assert total.is_freed
