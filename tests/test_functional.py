"""`functional` (F): each fused op against its composed twin, finite differences and PyTorch;
cross-entropy's ignore_index and empty cases, dropout's seed and scaling, embedding's scatter,
dtypes kept, and errors that name the op and the shapes."""
import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn import functional as F
from tinygrad_attn.gradcheck import gradcheck
from numeric_helpers import _arrays, _assert_close, _leaves

RTOL = {np.float64: 1e-9, np.float32: 1e-5}
TARGETS = np.array([2, 0, 4, 4, 1, 3])
IGNORED = np.array([2, -100, 4, -100, 1, 3])


def _run(fn, arrays, seed=1):
    """fn on fresh leaves, backward of a fixed random upstream: (output, [grad per input])."""
    leaves = _leaves(arrays)
    out = fn(*leaves)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(upstream)
    return out, [np.zeros_like(t.data) if t.grad is None else t.grad for t in leaves]


def _dropout_composed(x, p, seed):
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return x * Tensor(keep.astype(x.dtype)) / (1 - p)


# name: (fused, composed, input shapes) -- every fused op and the primitive-op computation it replaces
PAIRS = {
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: F.gelu_composed(x, "tanh"), [(3, 4)]),
    "gelu_exact": (lambda x: F.gelu(x), lambda x: F.gelu_composed(x), [(3, 4)]),
    "softmax": (lambda x: F.softmax(x, axis=0), lambda x: F.softmax_composed(x, axis=0), [(3, 4)]),
    "log_softmax": (F.log_softmax, F.log_softmax_composed, [(2, 3, 4)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, TARGETS), lambda z: F.cross_entropy_composed(z, TARGETS), [(6, 5)]),
    "cross_entropy_ignore": (lambda z: F.cross_entropy(z, IGNORED, ignore_index=-100),
                             lambda z: F.cross_entropy_composed(z, IGNORED, ignore_index=-100), [(6, 5)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (5,), w, b), lambda x, w, b: F.layer_norm_composed(x, (5,), w, b),
                   [(2, 3, 5), (5,), (5,)]),
    "layer_norm_plain": (lambda x: F.layer_norm(x, 5), lambda x: F.layer_norm_composed(x, 5), [(4, 5)]),
    "layer_norm_weight_only": (lambda x, w: F.layer_norm(x, (5,), w), lambda x, w: F.layer_norm_composed(x, (5,), w),
                               [(4, 5), (5,)]),
    "layer_norm_two_dims": (lambda x, w, b: F.layer_norm(x, (3, 5), w, b),
                            lambda x, w, b: F.layer_norm_composed(x, (3, 5), w, b), [(2, 3, 5), (3, 5), (3, 5)]),
    "linear": (F.linear, F.linear_composed, [(2, 3, 4), (5, 4), (5,)]),
    "linear_no_bias": (F.linear, F.linear_composed, [(4,), (3, 4)]),
    "embedding": (lambda w: F.embedding(np.array([[1, 3, 1], [0, 1, 1]]), w),
                  lambda w: w[np.array([[1, 3, 1], [0, 1, 1]])], [(4, 3)]),
    "dropout": (lambda x: F.dropout(x, 0.3, rng=5), lambda x: _dropout_composed(x, 0.3, 5), [(4, 6)]),
}  # erf is a primitive itself: checked against math.erf, finite differences and PyTorch below


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_fused_op_gives_the_composed_values_and_gradients(name):
    fused, composed, shapes = PAIRS[name]
    arrays = _arrays(0, *shapes)
    fused_out, fused_grads = _run(fused, arrays)
    composed_out, composed_grads = _run(composed, arrays)
    assert fused_out.shape == composed_out.shape
    np.testing.assert_allclose(fused_out.data, composed_out.data, rtol=0, atol=1e-10)
    for position, (mine, theirs) in enumerate(zip(fused_grads, composed_grads)):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-10, err_msg=f"gradient of input {position}")


@pytest.mark.parametrize("name", sorted(set(PAIRS) - {"softmax", "log_softmax"}))  # those two: tensor tests
def test_fused_op_gradients_match_finite_differences(name):
    fused, _, shapes = PAIRS[name]
    assert gradcheck(fused, _leaves(_arrays(2, *shapes)), atol=1e-7, rtol=1e-6)


def test_erf_gradient_matches_finite_differences():
    assert gradcheck(F.erf, _leaves([np.array([-3.0, -0.7, 0.0, 0.4, 2.5])]), atol=1e-8, rtol=1e-7)


def test_erf_values_are_those_of_math_erf():
    points = np.array([-6.0, -1.5, -1e-8, 0.0, 0.3, 2.0, 30.0])
    np.testing.assert_array_equal(F.erf(Tensor(points)).data, [math.erf(p) for p in points])


# ---- PyTorch ----
def _torch_calls(torch):
    tf = torch.nn.functional
    return {
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: tf.gelu(x, approximate="tanh"), [(3, 4)]),
        "gelu_exact": (F.gelu, tf.gelu, [(3, 4)]),
        "erf": (F.erf, torch.erf, [(7,)]),
        "relu": (F.relu, tf.relu, [(3, 4)]),
        "softmax": (lambda x: F.softmax(x, axis=1), lambda x: tf.softmax(x, dim=1), [(2, 3, 4)]),
        "log_softmax": (F.log_softmax, lambda x: tf.log_softmax(x, dim=-1), [(2, 5)]),
        "cross_entropy": (lambda z: F.cross_entropy(z, TARGETS),
                          lambda z: tf.cross_entropy(z, torch.as_tensor(TARGETS)), [(6, 5)]),
        "cross_entropy_ignore": (lambda z: F.cross_entropy(z, IGNORED, ignore_index=-100),
                                 lambda z: tf.cross_entropy(z, torch.as_tensor(IGNORED), ignore_index=-100), [(6, 5)]),
        "cross_entropy_ignore_a_class": (lambda z: F.cross_entropy(z, TARGETS, ignore_index=4),
                                         lambda z: tf.cross_entropy(z, torch.as_tensor(TARGETS), ignore_index=4),
                                         [(6, 5)]),
        "layer_norm": (lambda x, w, b: F.layer_norm(x, (5,), w, b, eps=1e-3),
                       lambda x, w, b: tf.layer_norm(x, (5,), w, b, eps=1e-3), [(2, 3, 5), (5,), (5,)]),
        "layer_norm_plain": (lambda x: F.layer_norm(x, (4,)), lambda x: tf.layer_norm(x, (4,)), [(3, 4)]),
        "linear": (F.linear, tf.linear, [(2, 3, 4), (5, 4), (5,)]),
        "linear_no_bias": (F.linear, tf.linear, [(4,), (3, 4)]),
        "embedding": (lambda w: F.embedding(np.array([[1, 3, 1], [0, 1, 1]]), w),
                      lambda w: tf.embedding(torch.tensor([[1, 3, 1], [0, 1, 1]]), w), [(4, 3)]),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_functional_ops_match_pytorch_values_and_gradients(dtype):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
    for name, (mine, theirs, shapes) in _torch_calls(torch).items():
        arrays = _arrays(4, *shapes, dtype=dtype)
        out, grads = _run(mine, arrays, seed=6)
        torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        expected = theirs(*torch_inputs)
        assert out.dtype == dtype and all(g.dtype == dtype for g in grads), f"{name}: dtype changed"
        _assert_close(out.data, expected.detach().numpy(), RTOL[dtype], f"{name}: values")
        expected.backward(torch.from_numpy(np.random.default_rng(6).standard_normal(out.shape).astype(dtype)))
        for position, (grad, leaf) in enumerate(zip(grads, torch_inputs)):
            _assert_close(grad, leaf.grad.numpy(), RTOL[dtype], f"{name}: gradient of input {position}")


# ---- cross_entropy ----
def test_cross_entropy_of_huge_logits_is_finite_and_exact():
    logits = Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]]), requires_grad=True)
    loss = F.cross_entropy(logits, [1, 2])
    # row 0: logsumexp = 1e4, picks 0 -> 1e4;  row 1: logsumexp = 1e4 + ln 2, picks 1e4 -> ln 2
    assert loss.item() == pytest.approx((1e4 + math.log(2)) / 2, rel=1e-15)
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[0.5, -0.5, 0.0], [0.0, 0.25, -0.25]], atol=1e-15)


def test_cross_entropy_of_float32_huge_logits_stays_float32_and_finite():
    logits = Tensor(np.array([[1e4, -1e4, 0.0]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, [0])
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32
    assert loss.item() == 0.0 and np.isfinite(logits.grad).all()


def test_cross_entropy_written_out_by_hand():
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    expected = np.mean([np.log(np.exp(row).sum()) - row[t] for row, t in zip(logits, [1, 2])])
    assert F.cross_entropy(Tensor(logits), np.array([1, 2])).item() == pytest.approx(expected, rel=1e-14)


def test_cross_entropy_ignored_rows_take_no_part_and_get_zero_gradient():
    z = Tensor(_arrays(0, (6, 5))[0], requires_grad=True)
    loss = F.cross_entropy(z, IGNORED, ignore_index=-100)
    kept = F.cross_entropy(Tensor(z.data[[0, 2, 4, 5]]), IGNORED[[0, 2, 4, 5]])
    assert loss.item() == pytest.approx(kept.item(), rel=1e-14)
    loss.backward()
    assert (z.grad[[1, 3]] == 0).all() and (z.grad[[0, 2, 4, 5]] != 0).all()


def test_cross_entropy_with_every_target_ignored_is_zero_with_zero_gradients():
    for fn in (F.cross_entropy, F.cross_entropy_composed):
        z = Tensor(np.ones((3, 4)), requires_grad=True)
        loss = fn(z, [-1, -1, -1], ignore_index=-1)
        loss.backward()
        assert loss.item() == 0.0 and (z.grad == 0).all()
    empty = F.cross_entropy(Tensor(np.zeros((0, 4)), requires_grad=True), np.zeros(0, dtype=np.int64))
    assert empty.item() == 0.0


@pytest.mark.parametrize("logits_shape, targets, error, message", [
    ((4, 6, 5), np.zeros((4, 6), dtype=int), ValueError,
     r"target must have shape \(4, 5\) for input \(4, 6, 5\) \(classes on dim 1\), got shape \(4, 6\); "
     r".*input.reshape\(-1, 5\) and target.reshape\(-1\)"),
    ((3, 5), np.array([0, 5, 1]), ValueError, r"target values must be in \[0, 5\) .* got \[5\] at \[1\]"),
    ((3, 5), np.array([0, -1, 1]), ValueError, r"target values must be in \[0, 5\)"),
    ((3, 5), np.array([0, 1]), ValueError, r"target must have shape \(3,\) for input \(3, 5\) .* got shape \(2,\)"),
    ((3, 5), np.array([0.0, 1.0, 2.0]), TypeError, r"target must hold integer class indices, got dtype float64"),
])
def test_cross_entropy_refuses_bad_shapes_and_targets(logits_shape, targets, error, message):
    with pytest.raises(error, match=message):
        F.cross_entropy(Tensor(np.zeros(logits_shape)), targets)


def test_cross_entropy_ignore_index_lets_out_of_range_markers_through():
    loss = F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([-100, 2]), ignore_index=-100)
    assert loss.item() == pytest.approx(math.log(3))


# ---- layer_norm ----
def test_layer_norm_output_has_zero_mean_unit_variance_per_row():
    x = Tensor(_arrays(1, (4, 8))[0] * 5 + 3)
    out = F.layer_norm(x, (8,), eps=1e-12).data
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=-1), 1, atol=1e-10)


def test_layer_norm_of_a_constant_row_is_finite():
    x = Tensor(np.full((2, 4), 7.0, dtype=np.float32), requires_grad=True)
    out = F.layer_norm(x, (4,))
    out.backward(np.ones((2, 4), dtype=np.float32))
    assert (out.data == 0).all() and np.isfinite(x.grad).all()


def test_layer_norm_refuses_wrong_weight_shape_dtype_and_eps():
    x = Tensor(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(4,\) .* got \(3,\)"):
        F.layer_norm(x, (4,), Tensor(np.ones(3)))
    with pytest.raises(TypeError, match=r"layer_norm: bias has dtype float32 but the input has float64"):
        F.layer_norm(x, (4,), None, Tensor(np.ones(4, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"layer_norm: eps must be a positive number"):
        F.layer_norm(x, (4,), eps=0)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(3,\) must be the last dims of the input, "
                                         r"got input of shape \(2, 4\)"):
        F.layer_norm(x, (3,))
    with pytest.raises(TypeError, match=r"layer_norm: normalized_shape must be an int or a tuple"):
        F.layer_norm(x, Tensor(np.ones(4)))


# ---- float32 stays float32 ----
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_fused_ops_keep_float32_in_float32(name):
    fused, _, shapes = PAIRS[name]
    out, grads = _run(fused, _arrays(0, *shapes, dtype=np.float32))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


# ---- embedding ----
def test_embedding_gradient_adds_up_for_repeated_indices():
    weight = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    ids = np.array([[1, 3], [1, 1]])
    out = F.embedding(Tensor(ids), weight)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data[1, 1], [3.0, 4.0, 5.0])
    upstream = np.arange(12.0).reshape(2, 2, 3)
    out.backward(upstream)
    expected = np.zeros((4, 3))
    for position, row in np.ndenumerate(ids):  # scatter by hand, one row at a time
        expected[row] += upstream[position]
    np.testing.assert_array_equal(weight.grad, expected)


@pytest.mark.parametrize("ids, error, message", [
    (np.array([0, 4]), ValueError, r"embedding: indices must be in \[0, 4\) for weight \(4, 3\), got \[4\]"),
    (np.array([-1, 2]), ValueError, r"indices must be in \[0, 4\) .* got \[-1\]"),
    (np.array([0.0, 1.0]), TypeError, r"embedding: indices must be integers, got dtype float64"),
])
def test_embedding_refuses_bad_indices(ids, error, message):
    with pytest.raises(error, match=message):
        F.embedding(ids, Tensor(np.zeros((4, 3))))


def test_embedding_keeps_its_own_copy_of_the_indices():
    weight = Tensor(np.zeros((4, 2)), requires_grad=True)
    ids = np.array([0, 1])
    out = F.embedding(ids, weight)
    ids[:] = 3  # changing the caller's array afterwards must not move the gradient
    out.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(weight.grad, [[1, 1], [1, 1], [0, 0], [0, 0]])


# ---- dropout ----
def test_dropout_with_the_same_seed_drops_the_same_elements():
    x = Tensor(np.ones((50, 40), dtype=np.float32))
    first = F.dropout(x, 0.25, rng=np.random.default_rng(3)).data
    again = F.dropout(x, 0.25, rng=np.random.default_rng(3)).data
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(F.dropout(x, 0.25, rng=3).data, first)
    other = F.dropout(x, 0.25, rng=np.random.default_rng(4)).data
    assert (first != other).any()


def test_dropout_scales_kept_elements_by_one_over_one_minus_p():
    x = Tensor(_arrays(0, (200, 100))[0], requires_grad=True)
    out = F.dropout(x, 0.2, rng=0)
    kept = out.data != 0
    np.testing.assert_allclose(out.data[kept], x.data[kept] / 0.8, rtol=1e-15)
    assert abs((~kept).mean() - 0.2) < 0.01  # 20 000 draws: the dropped share is within 5 sigma of p
    out.backward(np.ones(x.shape))
    np.testing.assert_allclose(x.grad, kept / 0.8, rtol=1e-15)


def test_dropout_keeps_the_mean_on_average():
    out = F.dropout(Tensor(np.ones(100_000)), 0.5, rng=1)
    assert abs(out.data.mean() - 1.0) < 0.02


def test_dropout_outside_training_or_with_p_zero_is_the_identity():
    x = Tensor(np.ones(3))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_with_p_one_drops_everything():
    x = Tensor(np.ones(5), requires_grad=True)
    out = F.dropout(x, 1.0, rng=0)
    out.backward(np.ones(5))
    assert (out.data == 0).all() and (x.grad == 0).all()


def test_dropout_without_rng_follows_manual_seed():
    x = Tensor(np.ones(64))
    ta.manual_seed(11)
    first = F.dropout(x, 0.5).data
    ta.manual_seed(11)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, first)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", True])
def test_dropout_refuses_p_outside_zero_one(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\]"):
        F.dropout(Tensor(np.ones(3)), p)


def test_dropout_refuses_an_rng_of_the_wrong_kind():
    with pytest.raises(TypeError, match="dropout: rng must be a numpy Generator, an int seed or None"):
        F.dropout(Tensor(np.ones(3)), 0.5, rng=np.random.RandomState(0))


# ---- linear, gelu, relu ----
def test_linear_uses_weight_shaped_out_by_in():
    x = np.array([[1.0, 2.0]])
    weight = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(F.linear(Tensor(x), Tensor(weight), Tensor(np.array([0.5, 0.5, 0.5]))).data,
                                  [[1.5, 2.5, 3.5]])


@pytest.mark.parametrize("x_shape, w_shape, b_shape, message", [
    ((2, 3), (4, 2), None, r"linear: input \(2, 3\) must end in in_features = 2 \(weight \(4, 2\) is \(out, in\)\)"),
    ((2, 3), (3,), None, r"linear: weight must be \(out_features, in_features\), got shape \(3,\)"),
    ((2, 3), (4, 3), (3,), r"linear: bias must have shape \(4,\) for weight \(4, 3\), got \(3,\)"),
])
def test_linear_refuses_shapes_that_do_not_fit(x_shape, w_shape, b_shape, message):
    bias = None if b_shape is None else Tensor(np.zeros(b_shape))
    with pytest.raises(ValueError, match=message):
        F.linear(Tensor(np.zeros(x_shape)), Tensor(np.zeros(w_shape)), bias)


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(Tensor(np.ones(2)), approximate="fast")


def test_gelu_forms_agree_closely_and_match_known_values():
    x = Tensor(np.array([-3.0, -1.0, 0.0, 1.0, 3.0]))
    exact = F.gelu(x).data
    # ½·erfc(-x/√2): ½(1 + erf) cancels at x = -3; rtol 1e-14 because Φ(-3) magnifies the rounding of x/√2 by x² = 9
    np.testing.assert_allclose(exact, x.data * 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in x.data]),
                               rtol=1e-14)
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").data, exact, atol=1e-3)


def test_relu_gradient_at_zero_is_zero():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_functional_is_reachable_as_F_from_the_package():
    from tinygrad_attn import functional

    assert functional is F and ta.functional is F
    assert F.scaled_dot_product_attention is ta.attention.scaled_dot_product_attention
