"""Bad input to a tensor op: a clear error naming the op and the shapes, never a silent NaN."""
import contextlib
import re
import warnings

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn.ops.samples import all_usages

TABLE = all_usages()


@contextlib.contextmanager
def raises(error_type, *fragments):
    """Expect `error_type` with every fragment (op name, shapes) in its message."""
    with pytest.raises(error_type) as caught:
        yield
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the message {message!r}"


def leaf(*shape, dtype=np.float64):
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=True)


# ---- shapes that do not fit ----
def test_matmul_names_both_shapes_and_the_inner_sizes():
    with pytest.raises(ValueError, match=re.escape("matmul: shapes (2, 3) and (4, 5) do not align (3 != 4)")):
        leaf(2, 3) @ leaf(4, 5)


@pytest.mark.parametrize("left, right", [((3,), (4,)), ((2, 3), (2,)), ((5,), (4, 2)), ((2, 2, 3), (2, 4))])
def test_matmul_mismatch_in_any_rank_is_named(left, right):
    with raises(ValueError, "matmul", str(left), str(right), "do not align"):
        leaf(*left) @ leaf(*right)


def test_matmul_batch_dims_that_do_not_broadcast_are_named():
    with raises(ValueError, "matmul", "(2, 3, 4)", "(5, 4, 2)", "batch"):
        leaf(2, 3, 4) @ leaf(5, 4, 2)


def test_matmul_of_a_0d_operand_is_refused():
    with raises(ValueError, "matmul", "()", "(3,)"):
        leaf() @ leaf(3)


@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"),
                                      (lambda a, b: a * b, "mul"), (lambda a, b: a / b, "div"),
                                      (lambda a, b: a ** b, "pow")])
def test_broadcast_mismatch_names_the_op_and_shapes(op, name):
    with raises(ValueError, name, "(2, 3)", "(4,)", "broadcast"):
        op(leaf(2, 3), leaf(4))


def test_where_broadcast_mismatch_names_all_three_shapes():
    with raises(ValueError, "where", "(5,)", "(2, 3)"):
        ta.where(np.ones(5, dtype=bool), leaf(2, 3), leaf(2, 3))


def test_reshape_to_a_different_size_names_both_shapes():
    with raises(ValueError, "reshape", "(2, 3)", "6 elements", "(4, 2)"):
        leaf(2, 3).reshape(4, 2)


def test_reshape_with_a_float_dim_is_refused_not_truncated():
    with raises(TypeError, "reshape", "(2.5, 3)"):
        leaf(2, 3).reshape(2.5, 3)


def test_concatenate_mismatch_outside_the_axis_names_the_shapes():
    with raises(ValueError, "concatenate", "(2, 3)", "(3, 4)"):
        ta.concatenate([leaf(2, 3), leaf(3, 4)])


def test_concatenate_of_different_ranks_names_the_shapes():
    with raises(ValueError, "concatenate", "(2, 3)", "(3,)"):
        ta.concatenate([leaf(2, 3), leaf(3)])


def test_concatenate_needs_a_list_of_at_least_one_tensor():
    with raises(ValueError, "concatenate", "at least one"):
        ta.concatenate([])
    with raises(TypeError, "concatenate", "list or tuple"):
        ta.concatenate(leaf(2, 3))


def test_stack_of_different_shapes_names_them():
    with raises(ValueError, "stack", "(2, 3)", "(3, 2)"):
        ta.stack([leaf(2, 3), leaf(3, 2)])


# ---- axes ----
AXIS_CALLS = {
    "sum": lambda x, axis: x.sum(axis=axis),
    "mean": lambda x, axis: x.mean(axis=axis),
    "max": lambda x, axis: x.max(axis=axis),
    "var": lambda x, axis: x.var(axis=axis),
    "softmax": lambda x, axis: x.softmax(axis=axis),
    "log_softmax": lambda x, axis: x.log_softmax(axis=axis),
    "swapaxes": lambda x, axis: x.swapaxes(0, axis),
    "transpose": lambda x, axis: x.transpose(axis, 0),
    "concatenate": lambda x, axis: ta.concatenate([x, x], axis=axis),
}


@pytest.mark.parametrize("axis", [2, -3, 7])
@pytest.mark.parametrize("name", sorted(AXIS_CALLS))
def test_out_of_range_axis_names_the_op_axis_and_shape(name, axis):
    with raises(ValueError, name, f"axis {axis}", "(2, 3)", "out of range"):
        AXIS_CALLS[name](leaf(2, 3), axis)


def test_out_of_range_axis_for_stack_counts_the_new_axis():
    ta.stack([leaf(2, 3), leaf(2, 3)], axis=2)  # the new axis may go last
    with raises(ValueError, "stack", "axis 3", "out of range"):
        ta.stack([leaf(2, 3), leaf(2, 3)], axis=3)


@pytest.mark.parametrize("axis", [1.5, "0", (0, 0)])
def test_reduction_axis_must_be_distinct_ints(axis):
    with raises((TypeError, ValueError), "sum", repr(axis)):
        leaf(2, 3).sum(axis=axis)


# ---- gradients ----
def test_integer_tensors_cannot_require_grad():
    with raises(TypeError, "only floating-point", "int64"):
        Tensor([1, 2, 3], requires_grad=True)
    with raises(TypeError, "requires_grad_", "int64"):
        Tensor([1, 2, 3]).requires_grad_()
    with raises(TypeError, "astype", "int32"):
        leaf(3).astype(np.int32)


def test_backward_without_grad_on_a_non_scalar_names_the_shape():
    with raises(RuntimeError, "backward", "(2, 3)", "grad"):
        (leaf(2, 3) * 2).backward()


def test_backward_grad_of_the_wrong_shape_names_both_shapes():
    with raises(ValueError, "backward", "(3,)", "(2, 3)"):
        (leaf(2, 3) * 2).backward(np.ones(3))


def test_backward_of_a_tensor_without_grad_says_so():
    with raises(RuntimeError, "does not require grad"):
        Tensor([1.0, 2.0]).sum().backward()


def test_second_backward_through_a_freed_graph_raises_and_names_the_op():
    x = leaf(3)
    loss = (x * x).sum()
    loss.backward()
    with raises(RuntimeError, "freed", "'sum'", "retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_pass_that_accumulates():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    loss.backward()
    np.testing.assert_array_equal(x.grad, [4.0, -8.0, 12.0])
    with raises(RuntimeError, "freed"):
        loss.backward()


# ---- masks and indices ----
def test_masked_fill_refuses_a_mask_that_would_grow_the_tensor():
    with raises(ValueError, "masked_fill", "(3, 2, 3)", "(2, 3)"):
        leaf(2, 3).masked_fill(np.ones((3, 2, 3), dtype=bool), 0.0)
    with raises(ValueError, "masked_fill", "(2, 1)", "(1, 3)"):
        leaf(1, 3).masked_fill(np.ones((2, 1), dtype=bool), 0.0)


@pytest.mark.parametrize("mask", [np.ones((2, 3)), np.ones((2, 3), dtype=np.int64), [[1, 0, 1], [0, 1, 0]]])
def test_masked_fill_needs_a_boolean_mask(mask):
    with raises(TypeError, "masked_fill", "boolean"):
        leaf(2, 3).masked_fill(mask, 0.0)


@pytest.mark.parametrize("value", [None, "x", [0.0]])
def test_masked_fill_value_must_be_a_number(value):
    with raises(TypeError, "masked_fill", "value"):
        leaf(2, 3).masked_fill(np.ones((2, 3), dtype=bool), value)


def test_where_needs_a_boolean_condition():
    with raises(TypeError, "where", "boolean"):
        ta.where(np.array([1, 0, 1]), leaf(3), leaf(3))


@pytest.mark.parametrize("index", [5, (0, 0, 0), np.array([0, 7]), (slice(None), 3)])
def test_bad_index_names_getitem_the_index_and_the_shape(index):
    with raises(IndexError, "getitem", "(2, 3)"):
        leaf(2, 3)[index]


@pytest.mark.parametrize("index", [1.5, np.array([0.5]), "x"])
def test_non_integer_index_is_refused(index):
    with raises(IndexError, "getitem"):
        leaf(2, 3)[index]


# ---- values outside an op's domain ----
def test_log_of_negatives_is_refused():
    with raises(ValueError, "log", "negative", "(3,)"):
        Tensor([1.0, -2.0, 3.0]).log()


def test_sqrt_of_negatives_is_refused():
    with raises(ValueError, "sqrt", "negative", "(3,)"):
        Tensor([1.0, -2.0, 3.0]).sqrt()


def test_zero_over_zero_is_refused():
    with raises(ValueError, "div", "0/0", "(2,)"):
        Tensor([0.0, 1.0]) / Tensor([0.0, 1.0])
    with raises(ValueError, "div", "0/0"):
        0.0 / Tensor([0.0, 1.0])


def test_pow_refuses_what_has_no_real_value():
    with raises(ValueError, "pow", "negative base"):
        Tensor([-8.0]) ** (1 / 3)
    with raises(ValueError, "pow", "base >= 0"):
        Tensor([-2.0], requires_grad=True) ** Tensor([2.0], requires_grad=True)


def test_log_of_zero_is_minus_infinity_not_an_error():
    assert Tensor([0.0]).log().data[0] == -np.inf


# ---- no NaN from finite inputs ----
# Magnitudes up to 1e4 (float32) and 1e100 (float64) overflow exp (inf is allowed) while products
# and short sums stay finite; past that, inf - inf = NaN inside a matmul in any engine.
SWEEP_SCALES = {np.float32: (1e-3, 1.0, 1e2, 1e4), np.float64: (1e-3, 1.0, 1e4, 1e30, 1e100)}
SWEEP_TRIALS = 12


def _finite_inputs(rng, sample, dtype):
    arrays = []
    for shape, domain in zip(sample.shapes, sample.domain):
        scales = rng.choice(SWEEP_SCALES[dtype], size=shape)
        values = np.asarray(rng.standard_normal(shape) * scales)
        values[rng.random(shape) < 0.2] = 0.0  # exact zeros: where most special cases live
        if domain != "real" and rng.random() < 0.7:
            values = np.abs(values)  # mostly inside the op's domain, sometimes outside
        arrays.append(values.astype(dtype))
    return arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("entry", TABLE, ids=[entry.id for entry in TABLE])
def test_no_op_makes_nan_from_finite_inputs(entry, dtype):
    """Each op either refuses the input (ValueError) or gives no NaN, forward or backward."""
    rng = np.random.default_rng(entry.seed(0))
    checked = 0
    for sample in entry.samples:
        for _ in range(SWEEP_TRIALS):
            inputs = [Tensor(array, requires_grad=True) for array in _finite_inputs(rng, sample, dtype)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf is allowed
                try:
                    out = entry.call(*inputs, **sample.kwargs)
                except ValueError:
                    continue  # outside the op's domain, and said so
                assert not np.isnan(out.data).any(), f"{entry.id} made NaN from {[t.data for t in inputs]}"
                if not np.isfinite(out.data).all():
                    continue  # an overflowed output times a zero upstream is NaN in any engine
                out.backward(rng.standard_normal(out.shape) + 0.5)
            for position, x in enumerate(inputs):
                assert x.grad is None or not np.isnan(x.grad).any(), (
                    f"{entry.id}: NaN gradient for input {position} from {[t.data for t in inputs]}")
            checked += 1
    assert checked, f"{entry.id}: every random input was refused, so nothing was checked"


def test_pow_gradient_at_zero_base_and_zero_exponent_is_zero_not_nan():
    base = Tensor(np.array([0.0, 2.0]), requires_grad=True)
    (base ** 0).sum().backward()
    np.testing.assert_array_equal(base.grad, [0.0, 0.0])


def test_softmax_and_log_softmax_of_an_all_minus_infinity_row_make_no_nan():
    logits = Tensor(np.array([[0.0, 1.0], [-np.inf, -np.inf]]), requires_grad=True)
    np.testing.assert_array_equal(logits.softmax().data[1], [0.0, 0.0])
    log_probs = logits.log_softmax()
    np.testing.assert_array_equal(log_probs.data[1], [-np.inf, -np.inf])
    log_probs.backward(np.ones((2, 2)))
    assert not np.isnan(logits.grad).any()
