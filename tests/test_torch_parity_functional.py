"""`functional` against `torch.nn.functional`, name by name and argument by argument: gelu's
default, layer_norm over several trailing dims, cross_entropy / nll_loss with every option,
one_hot, embedding's padding_idx, and scaled_dot_product_attention's attn_mask (boolean and
float), its argument order, dropout_p and the `mask=` alias. Expected numbers come from torch
(or NumPy written out here); both the tuned kernels and the readable reference are checked."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
tf = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
KERNELS = pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])


def close(actual, expected, dtype, what=""):
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1.0)
    np.testing.assert_allclose(actual, expected, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def both(arrays, requires_grad=True):
    """The same arrays as our leaves and torch's."""
    ours = [Tensor(a.copy(), requires_grad=requires_grad) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=requires_grad) for a in arrays]
    return ours, theirs


def compare(ours_fn, torch_fn, arrays, dtype, kernels=True, seed=0, what=""):
    """Forward values, then gradients of every input for one random upstream, ours vs torch."""
    with ta.use_kernels(kernels):
        ours, theirs = both(arrays)
        out, expected = ours_fn(*ours), torch_fn(*theirs)
        assert out.shape == tuple(expected.shape), f"{what}: shape {out.shape} != {tuple(expected.shape)}"
        assert out.dtype == dtype, f"{what}: dtype {out.dtype}"
        close(out.data, expected, dtype, f"{what}: values")
        upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
        out.backward(upstream)
        expected.backward(torch.from_numpy(upstream.copy()))
        for position, (mine, ref) in enumerate(zip(ours, theirs)):
            grad = np.zeros_like(mine.data) if mine.grad is None else mine.grad
            want = np.zeros_like(mine.data) if ref.grad is None else ref.grad
            assert grad.dtype == dtype
            close(grad, want, dtype, f"{what}: gradient of input {position}")
    return out


def randn(seed, *shapes, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# ---- gelu: exact by default ----
@DTYPES
def test_gelu_defaults_to_the_exact_erf_form_as_torch(dtype):
    (x,) = randn(0, (3, 5), dtype=dtype)
    compare(F.gelu, tf.gelu, [x], dtype, what="F.gelu()")
    compare(lambda t: ta.nn.GELU()(t), lambda t: torch.nn.GELU()(t), [x], dtype, what="nn.GELU()")
    compare(lambda t: ta.nn.GELU(approximate="tanh")(t), lambda t: torch.nn.GELU(approximate="tanh")(t), [x], dtype)
    exact = F.gelu(Tensor(np.array([1.0]))).item()
    assert exact == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), rel=1e-15)  # Φ(1), not the tanh form
    assert abs(exact - F.gelu(Tensor(np.array([1.0])), approximate="tanh").item()) > 1e-5


def test_nn_gelu_repr_and_bad_approximation():
    assert repr(ta.nn.GELU()) == "GELU(approximate='none')"
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'erf'"):
        ta.nn.GELU("erf")


def test_gpt_keeps_the_tanh_gelu_explicitly():
    model = ta.nn.GPT(7, 4, 8, 2, 1, 16, rng=0)
    x = Tensor(np.random.default_rng(0).standard_normal((1, 3, 8)).astype(np.float32))
    mlp = model.blocks[0].mlp
    want = mlp.fc2(F.gelu(mlp.fc1(x), approximate="tanh")).data
    np.testing.assert_array_equal(mlp(x).data, want)


# ---- softmax's dim ----
def test_softmax_and_log_softmax_take_dim_as_torch():
    (x,) = randn(1, (2, 3, 4))
    compare(lambda t: F.softmax(t, dim=1), lambda t: tf.softmax(t, dim=1), [x], np.float64)
    compare(lambda t: F.log_softmax(t, 0), lambda t: tf.log_softmax(t, 0), [x], np.float64)
    np.testing.assert_array_equal(F.softmax(Tensor(x), axis=1).data, F.softmax(Tensor(x), dim=1).data)
    with pytest.raises(TypeError, match="softmax: got dim=0 and axis=1"):
        F.softmax(Tensor(x), dim=0, axis=1)


# ---- layer_norm(input, normalized_shape, weight, bias, eps) ----
LAYER_NORM_CASES = {
    "last_dim": ((2, 3, 5), (5,), True, True),
    "int_shape": ((4, 6), 6, True, True),
    "two_dims": ((2, 3, 4), (3, 4), True, True),
    "every_dim": ((2, 3, 4), (2, 3, 4), True, True),
    "weight_only": ((3, 4, 2), (4, 2), True, False),
    "bias_only": ((3, 4, 2), (4, 2), False, True),
    "plain": ((5, 3, 2), (3, 2), False, False),
}


@KERNELS
@DTYPES
@pytest.mark.parametrize("name", sorted(LAYER_NORM_CASES))
def test_layer_norm_matches_torch(name, dtype, kernels):
    shape, normalized, has_weight, has_bias = LAYER_NORM_CASES[name]
    dims = (normalized,) if isinstance(normalized, int) else normalized
    arrays = randn(2, shape, dims, dims, dtype=dtype)
    arrays[1] = arrays[1] + 1.0

    def ours(x, w, b):
        return F.layer_norm(x, normalized, w if has_weight else None, b if has_bias else None, 1e-3)

    def theirs(x, w, b):
        return tf.layer_norm(x, dims, w if has_weight else None, b if has_bias else None, 1e-3)

    compare(ours, theirs, arrays, dtype, kernels, what=name)
    compare(lambda x, w, b: F.layer_norm_composed(x, normalized, w if has_weight else None,
                                                  b if has_bias else None, 1e-3), theirs, arrays, dtype, what=name)


@DTYPES
@pytest.mark.parametrize("normalized, affine, bias", [(6, True, True), ((3, 6), True, True), ((3, 6), False, True),
                                                      ((3, 6), True, False), ([6], True, True)])
def test_nn_layer_norm_matches_torch_layer_norm(normalized, affine, bias, dtype):
    ours = ta.nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias).to(dtype)
    theirs = torch.nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    assert ours.normalized_shape == theirs.normalized_shape
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(3)
    for (_, mine), (_, ref) in zip(ours.named_parameters(), theirs.named_parameters()):
        values = rng.standard_normal(mine.shape).astype(dtype)
        mine.data[...] = values
        with torch.no_grad():
            ref.copy_(torch.from_numpy(values))
    (x,) = randn(4, (2, 3, 6), dtype=dtype)
    (mine_x,), (their_x,) = both([x])
    out, expected = ours(mine_x), theirs(their_x)
    close(out.data, expected, dtype)
    upstream = rng.standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    close(mine_x.grad, their_x.grad, dtype, "input")
    for (name, mine), (_, ref) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(mine.grad, ref.grad, dtype, name)


def test_layer_norm_errors_name_the_shapes():
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4, 3\) must be the last dims of the input, "
                                         r"got input of shape \(2, 3, 4\)"):
        F.layer_norm(x, (4, 3))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(3, 4\) .* got \(12,\)"):
        F.layer_norm(x, (3, 4), Tensor(np.ones(12)))
    with pytest.raises(TypeError, match="normalized_shape must be an int or a non-empty tuple"):
        F.layer_norm(x, ())
    with pytest.raises(ValueError, match=r"normalized_shape \(2, -1\) must have every dim >= 0"):
        ta.nn.LayerNorm((2, -1))
    with pytest.raises(ValueError, match=r"normalized_shape \(5,\) must be the last dims .* \(2, 3, 4\)"):
        ta.nn.LayerNorm(5)(x.float())
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape must be an int or a tuple of ints"):
        ta.nn.LayerNorm(2.5)


@pytest.mark.parametrize("kernels", [True, False])
def test_layer_norm_over_rows_of_no_elements_is_empty_as_in_pytorch(kernels):
    torch = pytest.importorskip("torch")
    layer, theirs = ta.nn.LayerNorm((2, 0)), torch.nn.LayerNorm((2, 0))
    x = ta.randn(3, 2, 0, requires_grad=True)
    x_torch = torch.zeros(3, 2, 0, requires_grad=True)
    with ta.use_kernels(kernels):
        out = layer(x)
        out.sum().backward()
    out_torch = theirs(x_torch)
    out_torch.sum().backward()
    assert out.shape == tuple(out_torch.shape) and x.grad.shape == tuple(x_torch.grad.shape)
    assert layer.weight.grad.shape == tuple(theirs.weight.grad.shape) == (2, 0)


# ---- cross_entropy and nll_loss ----
# name: (input shape, target, options)
T2 = np.array([1, 0, 4, 4, 2, 3])
T2_IGNORED = np.array([1, -100, 4, -100, 2, 3])
T3 = np.array([[1, 0, 4], [2, -100, 3]])
T4 = np.array([[[1, 0], [4, 4], [3, 2]], [[0, 1], [2, 2], [-100, 3]]])
WEIGHT = np.array([0.5, 2.0, 1.0, 0.25, 1.5])
LOSS_CASES = {
    "plain": ((6, 5), T2, {}),
    "ignored": ((6, 5), T2_IGNORED, {}),
    "ignore_a_class": ((6, 5), T2, dict(ignore_index=4)),
    "weight": ((6, 5), T2_IGNORED, dict(weight=WEIGHT)),
    "sum": ((6, 5), T2_IGNORED, dict(reduction="sum", weight=WEIGHT)),
    "none": ((6, 5), T2_IGNORED, dict(reduction="none", weight=WEIGHT)),
    "smoothing": ((6, 5), T2, dict(label_smoothing=0.2)),
    "smoothing_ignored_weighted": ((6, 5), T2_IGNORED, dict(label_smoothing=0.15, weight=WEIGHT)),
    "smoothing_sum": ((6, 5), T2_IGNORED, dict(label_smoothing=0.3, reduction="sum")),
    "smoothing_none": ((6, 5), T2_IGNORED, dict(label_smoothing=0.3, reduction="none", weight=WEIGHT)),
    "smoothing_one": ((6, 5), T2, dict(label_smoothing=1.0)),
    "spatial": ((2, 5, 3), T3, {}),
    "spatial_none": ((2, 5, 3), T3, dict(reduction="none")),
    "spatial_2d_everything": ((2, 5, 3, 2), T4, dict(weight=WEIGHT, label_smoothing=0.1)),
    "spatial_2d_none": ((2, 5, 3, 2), T4, dict(reduction="none", label_smoothing=0.1)),
    "unbatched": ((5,), np.array(3), {}),
    "unbatched_none": ((5,), np.array(2), dict(reduction="none", label_smoothing=0.2, weight=WEIGHT)),
    "one_row": ((1, 5), np.array([4]), dict(weight=WEIGHT)),
}


def _torch_kwargs(options, dtype):
    options = dict(options)
    if "weight" in options:
        options["weight"] = torch.tensor(options["weight"].astype(dtype))
    return options


@KERNELS
@DTYPES
@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_cross_entropy_matches_torch(name, dtype, kernels):
    shape, target, options = LOSS_CASES[name]
    (logits,) = randn(5, shape, dtype=dtype)
    compare(lambda z: F.cross_entropy(z, target, **options),
            lambda z: tf.cross_entropy(z, torch.as_tensor(target), **_torch_kwargs(options, dtype)),
            [logits * 2], dtype, kernels, what=name)


@DTYPES
@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_cross_entropy_composed_matches_torch(name, dtype):
    shape, target, options = LOSS_CASES[name]
    (logits,) = randn(6, shape, dtype=dtype)
    compare(lambda z: F.cross_entropy_composed(z, target, **options),
            lambda z: tf.cross_entropy(z, torch.as_tensor(target), **_torch_kwargs(options, dtype)),
            [logits], dtype, what=name)


@DTYPES
@pytest.mark.parametrize("name", sorted(n for n, (_, _, o) in LOSS_CASES.items() if "label_smoothing" not in o))
def test_nll_loss_matches_torch(name, dtype):
    shape, target, options = LOSS_CASES[name]
    (x,) = randn(7, shape, dtype=dtype)
    compare(lambda t: F.nll_loss(t, target, **options),
            lambda t: tf.nll_loss(t, torch.as_tensor(target), **_torch_kwargs(options, dtype)), [x], dtype, what=name)


@DTYPES
def test_cross_entropy_is_nll_loss_of_log_softmax_over_dim_1(dtype):
    (z,) = randn(8, (2, 5, 3), dtype=dtype)
    direct = F.cross_entropy(Tensor(z), T3, weight=WEIGHT, reduction="sum")
    composed = F.nll_loss(F.log_softmax(Tensor(z), dim=1), T3, weight=WEIGHT, reduction="sum")
    close(direct.data, composed.data, dtype)


def test_cross_entropy_positional_arguments_follow_torch():
    (z,) = randn(9, (6, 5))
    # (input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing)
    ours = F.cross_entropy(Tensor(z), T2, Tensor(WEIGHT), None, 4, None, "sum", 0.1)
    theirs = tf.cross_entropy(torch.tensor(z), torch.as_tensor(T2), torch.tensor(WEIGHT), None, 4, None, "sum", 0.1)
    close(ours.data, theirs, np.float64)
    ours = F.nll_loss(Tensor(z), T2, Tensor(WEIGHT), None, 4, None, "none")
    theirs = tf.nll_loss(torch.tensor(z), torch.as_tensor(T2), torch.tensor(WEIGHT), None, 4, None, "none")
    close(ours.data, theirs, np.float64)


def test_the_default_ignore_index_is_minus_100_as_in_torch():
    z = np.zeros((2, 3))
    targets = np.array([-100, 2])
    assert F.cross_entropy(Tensor(z), targets).item() == pytest.approx(math.log(3))
    assert tf.cross_entropy(torch.tensor(z), torch.as_tensor(targets)).item() == pytest.approx(math.log(3))


def test_when_nothing_counts_the_mean_is_zero_where_torch_gives_nan():
    z = np.ones((3, 4))
    targets = np.array([-100, -100, -100])
    assert math.isnan(tf.cross_entropy(torch.tensor(z), torch.as_tensor(targets)).item())  # PyTorch's 0/0
    for fn in (F.cross_entropy, F.nll_loss, F.cross_entropy_composed):
        for kernels in (True, False):
            with ta.use_kernels(kernels):
                logits = Tensor(z, requires_grad=True)
                loss = fn(logits, targets)
                loss.backward()
            assert loss.item() == 0.0 and (logits.grad == 0).all()


@pytest.mark.parametrize("call, error, message", [
    (lambda z: F.cross_entropy(z, T2, reduction="avg"), ValueError,
     r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda z: F.cross_entropy(z, T2, label_smoothing=1.5), ValueError,
     r"cross_entropy: label_smoothing must be a number in \[0, 1\], got 1.5"),
    (lambda z: F.cross_entropy(z, T2, weight=np.ones(4)), ValueError,
     r"cross_entropy: weight must have one entry per class, shape \(5,\), got \(4,\)"),
    (lambda z: F.cross_entropy(z, T2, weight=Tensor(np.ones(5), requires_grad=True)), ValueError,
     r"weight gets no gradient"),
    (lambda z: F.cross_entropy(z, T2, size_average=True), TypeError, r"size_average and reduce are deprecated"),
    (lambda z: F.cross_entropy(z, T2, ignore_index=None), TypeError, r"ignore_index must be an int"),
    (lambda z: F.nll_loss(z, np.array([0, 1, 2, 3, 4, 5])), ValueError,
     r"nll_loss: target values must be in \[0, 5\) .* got \[5\] at \[5\]"),
    (lambda z: F.cross_entropy(z.reshape((2, 3, 5)), np.zeros((2, 3), dtype=np.int64)), ValueError,
     r"target must have shape \(2, 5\) for input \(2, 3, 5\) .* got shape \(2, 3\); for \(B, T, C\) logits"),
    (lambda z: F.cross_entropy(z, T2.astype(np.float64)), TypeError, r"class probabilities as targets are not supported"),
    (lambda z: F.cross_entropy(z.reshape((2, 3, 5)), np.array([[0, 9, 1, 2, 0], [0, 0, 0, 0, -3]])), ValueError,
     r"got \[9, -3\] at \[\(0, 1\), \(1, 4\)\]"),
])
def test_loss_errors_name_the_argument_and_the_values(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(np.zeros((6, 5))))


# ---- one_hot ----
@pytest.mark.parametrize("ids, num_classes", [(np.array([0, 3, 1, 3]), -1), (np.array([[0, 2], [1, 1]]), 5),
                                              (np.array(2), 3), (np.zeros((0, 2), dtype=np.int64), 4)])
def test_one_hot_matches_torch(ids, num_classes):
    ours = F.one_hot(Tensor(ids), num_classes)
    theirs = tf.one_hot(torch.as_tensor(ids), num_classes)
    assert ours.dtype == np.int64 and not ours.requires_grad
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    np.testing.assert_array_equal(F.one_hot(ids, num_classes=num_classes).data, theirs.numpy())


@pytest.mark.parametrize("ids, num_classes, error, message", [
    (np.array([0.0, 1.0]), -1, TypeError, "one_hot: works on integer class indices only, got dtype float64"),
    (np.array([0, -1]), -1, ValueError, r"class values must be non-negative, got \[-1\]"),
    (np.array([0, 3]), 3, ValueError, r"class values must be smaller than num_classes=3, got \[3\]"),
    (np.zeros(0, dtype=np.int64), -1, ValueError, "cannot infer the number of classes from an empty tensor"),
])
def test_one_hot_refuses_what_torch_refuses(ids, num_classes, error, message):
    with pytest.raises(error, match=message):
        F.one_hot(ids, num_classes)


# ---- embedding's padding_idx ----
@KERNELS
@DTYPES
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_padding_idx_matches_torch(padding_idx, dtype, kernels):
    ids = np.array([[0, 3, 3], [4, 0, 1]])
    (weight,) = randn(10, (5, 3), dtype=dtype)
    out = compare(lambda w: F.embedding(ids, w, padding_idx), lambda w: tf.embedding(torch.as_tensor(ids), w,
                                                                                       padding_idx), [weight],
                  dtype, kernels)
    if padding_idx is not None:
        for row in out.data[ids == padding_idx % 5]:  # the forward still reads the padding row
            np.testing.assert_array_equal(row, weight[padding_idx])


def test_nn_embedding_padding_row_starts_at_zero_and_stays_there():
    ours = ta.nn.Embedding(6, 4, padding_idx=-2, rng=0)
    theirs = torch.nn.Embedding(6, 4, padding_idx=-2)
    assert ours.padding_idx == theirs.padding_idx == 4
    assert repr(ours) == "Embedding(6, 4, padding_idx=4)" == repr(theirs)
    np.testing.assert_array_equal(ours.weight.data[4], 0)
    assert (ours.weight.data[[0, 1, 2, 3, 5]] != 0).all()
    optimizer = ta.optim.SGD(ours.parameters(), lr=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        (ours(np.array([[4, 1, 4], [0, 4, 2]])) ** 2).sum().backward()
        np.testing.assert_array_equal(ours.weight.grad[4], 0)
        optimizer.step()
    np.testing.assert_array_equal(ours.weight.data[4], 0)


def test_padding_idx_out_of_range_is_refused_as_torch_does():
    with pytest.raises(AssertionError):
        torch.nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be within num_embeddings: in \[-4, 4\), got 4"):
        ta.nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match=r"embedding: padding_idx must be within num_embeddings"):
        F.embedding(np.array([0]), Tensor(np.ones((4, 2))), padding_idx=-5)
    with pytest.raises(TypeError, match="padding_idx must be an int or None"):
        ta.nn.Embedding(4, 2, padding_idx=1.0)


# ---- scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale) ----
def _bool_mask(shape, seed):
    mask = np.random.default_rng(seed).random(shape) < 0.7
    mask[..., 0] = True
    return mask


SDPA_CASES = {
    # name: (q, k, v shapes, mask shape or None, kind, is_causal, scale)
    "bool_full": ((2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2), (2, 3, 4, 5), "bool", False, None),
    "bool_broadcast_keys": ((2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2), (2, 1, 1, 5), "bool", False, None),
    "bool_2d": ((2, 4, 3), (2, 5, 3), (2, 5, 2), (4, 5), "bool", False, 0.7),
    "float_full": ((2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2), (2, 3, 4, 5), "float", False, None),
    "float_broadcast": ((2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2), (3, 1, 5), "float", False, None),
    "float_2d_scale": ((4, 3), (6, 3), (6, 5), (4, 6), "float", False, 0.25),
    "float_with_minus_inf": ((2, 4, 3), (2, 5, 3), (2, 5, 2), (2, 4, 5), "float_inf", False, None),
    "float_batch_broadcast": ((2, 1, 4, 3), (3, 4, 3), (3, 4, 2), (1, 4, 4), "float", False, None),
    "causal_no_mask": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 4), None, None, True, None),
    "causal_fewer_queries": ((2, 3, 3), (2, 5, 3), (2, 5, 2), None, None, True, 0.5),
}


def _mask_for(kind, shape, dtype, seed):
    if kind is None:
        return None
    if kind == "bool":
        return _bool_mask(shape, seed)
    bias = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if kind == "float_inf":
        bias[np.random.default_rng(seed + 1).random(shape) < 0.3] = -np.inf
        bias[..., 0] = 0.0
    return bias


@KERNELS
@DTYPES
@pytest.mark.parametrize("return_weights", [False, True], ids=["output", "return_weights"])
@pytest.mark.parametrize("name", sorted(SDPA_CASES))
def test_sdpa_matches_torch(name, return_weights, dtype, kernels):
    q_shape, k_shape, v_shape, mask_shape, kind, is_causal, scale = SDPA_CASES[name]
    arrays = randn(11, q_shape, k_shape, v_shape, dtype=dtype)
    mask = _mask_for(kind, mask_shape, dtype, 12)

    def ours(q, k, v):
        result = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale,
                                                return_weights=return_weights)
        return result[0] if return_weights else result

    def theirs(q, k, v):
        return tf.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else torch.as_tensor(mask),
                                               is_causal=is_causal, scale=scale)

    compare(ours, theirs, arrays, dtype, kernels, what=name)


@DTYPES
@pytest.mark.parametrize("mask_shape", [(2, 3, 4, 5), (3, 1, 5), (4, 5), (1, 1, 1, 5)])
def test_a_float_mask_that_requires_grad_gets_torchs_gradient(mask_shape, dtype):
    q_shape, k_shape, v_shape = (2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2)
    arrays = randn(13, q_shape, k_shape, v_shape, mask_shape, dtype=dtype)
    compare(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
            lambda q, k, v, m: tf.scaled_dot_product_attention(q, k, v, m), arrays, dtype, what=str(mask_shape))


def test_positional_arguments_follow_torchs_order():
    q, k, v = randn(14, (2, 4, 3), (2, 5, 3), (2, 5, 2))
    bias = randn(15, (4, 5))[0]
    # (query, key, value, attn_mask, dropout_p, is_causal, scale)
    ours = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), Tensor(bias), 0.0, False, scale=0.3)
    theirs = tf.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v), torch.tensor(bias),
                                             0.0, False, scale=0.3)
    close(ours.data, theirs, np.float64)
    causal = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), None, 0.0, True)
    close(causal.data, tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), None, 0.0, True), np.float64)
    for call in (F.scaled_dot_product_attention, tf.scaled_dot_product_attention):  # scale is keyword-only in both
        with pytest.raises(TypeError):
            call(*map(torch.tensor if call is tf.scaled_dot_product_attention else Tensor, (q, k, v)),
                 None, 0.0, False, 0.3)


def test_mask_is_an_alias_of_attn_mask():
    q, k, v = randn(16, (2, 4, 3), (2, 5, 3), (2, 5, 2))
    for mask in (_bool_mask((4, 5), 1), randn(17, (4, 5))[0]):
        by_alias = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=mask)
        by_name = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask)
        np.testing.assert_array_equal(by_alias.data, by_name.data)
        np.testing.assert_array_equal(F.attention_weights(Tensor(q), Tensor(k), mask=mask).data,
                                      F.attention_weights(Tensor(q), Tensor(k), mask).data)
    with pytest.raises(TypeError, match="got both attn_mask and mask; mask is an alias of attn_mask"):
        F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask, mask=mask)


def test_a_fully_masked_row_gives_zeros_for_bool_and_float_masks_as_torch():
    q, k, v = randn(18, (4, 3), (5, 3), (5, 2))
    allowed = np.ones((4, 5), dtype=bool)
    allowed[1] = False
    bias = np.where(allowed, 0.0, -np.inf)
    for mask in (allowed, bias):
        leaves = [Tensor(a, requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*leaves, attn_mask=mask)
        expected = tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=torch.as_tensor(mask))
        close(out.data, expected, np.float64)
        assert (out.data[1] == 0).all()
        out.sum().backward()
        assert all(np.isfinite(t.grad).all() for t in leaves) and (leaves[0].grad[1] == 0).all()


def test_a_float_mask_combines_with_is_causal_where_torch_refuses():
    q, k, v = randn(19, (4, 3), (4, 3), (4, 2))
    bias = randn(20, (4, 4))[0]
    with pytest.raises(RuntimeError):
        tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=torch.tensor(bias), is_causal=True)
    causal_bias = np.where(np.tri(4, dtype=bool), bias, -np.inf)  # the same thing written as one float mask
    ours = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=bias, is_causal=True)
    expected = tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=torch.tensor(causal_bias))
    close(ours.data, expected, np.float64)


def test_a_float_mask_of_another_float_dtype_takes_the_inputs_dtype():
    q, k, v = randn(21, (4, 3), (5, 3), (5, 2))  # float64 inputs, a float32 mask: torch accepts it too
    bias = randn(22, (4, 5), dtype=np.float32)[0]
    out = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=bias)
    expected = tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=torch.tensor(bias))
    assert out.dtype == np.float64
    close(out.data, expected, np.float64)
    # the other way round torch refuses; the engine casts the mask to the inputs' float32
    low = F.scaled_dot_product_attention(*(Tensor(a.astype(np.float32)) for a in (q, k, v)), attn_mask=bias.astype(np.float64))
    assert low.dtype == np.float32
    close(low.data, expected.float(), np.float32)


def test_a_float_mask_runs_as_a_bias_op_and_is_a_graph_input():
    q, k, v = (Tensor(a, requires_grad=True) for a in randn(23, (4, 3), (5, 3), (5, 2)))
    bias = Tensor(randn(24, (4, 5))[0], requires_grad=True)
    out, weights = F.scaled_dot_product_attention(q, k, v, bias, return_weights=True)
    assert weights.op.name == "biased_attention_weights" and weights.name == "weights"
    assert any(x is bias for x in weights.inputs) and any(x is weights for x in out.inputs)
    assert F.scaled_dot_product_attention(q, k, v, _bool_mask((4, 5), 0)).op.name == "scaled_dot_product_attention"


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(attn_mask=np.ones((4, 5), dtype=np.int64)), TypeError,
     r"attn_mask must be boolean \(True where attention is allowed\) or floating point \(added to the scores\), "
     r"got dtype int64"),
    (dict(attn_mask=np.zeros((2, 4, 5))), ValueError,
     r"attn_mask of shape \(2, 4, 5\) does not broadcast to the scores' shape \(4, 5\)"),
    (dict(dropout_p=1.5), ValueError, r"dropout_p must be a probability in \[0, 1\], got 1.5"),
    (dict(enable_gqa=True), NotImplementedError, "enable_gqa=True is not supported"),
])
def test_sdpa_argument_errors_are_clear(kwargs, error, message):
    q, k, v = randn(25, (4, 3), (5, 3), (5, 2))
    with pytest.raises(error, match=message):
        F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), **kwargs)


def test_torch_also_refuses_a_mask_that_would_enlarge_the_output():
    q, k, v = randn(26, (4, 3), (5, 3), (5, 2))
    with pytest.raises(RuntimeError):
        tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=torch.zeros(2, 4, 5,
                                                                                              dtype=torch.float64))


# ---- dropout_p ----
def test_dropout_p_drops_attention_weights_from_the_seeded_generator():
    q, k, v = (Tensor(a, requires_grad=True) for a in randn(27, (2, 6, 4), (2, 7, 4), (2, 7, 3)))
    ta.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, is_causal=True)
    ta.manual_seed(5)
    weights = F.attention_weights(q, k, is_causal=True)
    want = F.dropout(weights, 0.4) @ v  # the same draw: dropout of the weights, then the matmul
    np.testing.assert_allclose(out.data, want.data, rtol=1e-12, atol=1e-14)
    out.sum().backward()
    assert all(np.isfinite(t.grad).all() for t in (q, k, v))


def test_dropout_p_keeps_the_expected_output_of_torchs_attention():
    q, k, v = randn(28, (3, 4), (5, 4), (5, 2))
    expected = tf.scaled_dot_product_attention(*map(torch.tensor, (q, k, v))).numpy()
    ta.manual_seed(0)
    draws = [F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.3).data for _ in range(4000)]
    mean = np.mean(draws, axis=0)
    assert not np.allclose(draws[0], expected)  # a single draw differs...
    np.testing.assert_allclose(mean, expected, atol=0.05)  # ...the mean is torch's (inverted dropout)


def test_dropout_p_zero_is_the_fused_op_and_one_drops_everything():
    q, k, v = randn(29, (3, 4), (5, 4), (5, 2))
    leaves = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    assert F.scaled_dot_product_attention(*leaves, dropout_p=0.0).op.name == "scaled_dot_product_attention"
    np.testing.assert_array_equal(F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), dropout_p=1.0).data, 0)
