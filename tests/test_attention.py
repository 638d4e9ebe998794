"""Scaled dot-product attention: the fused op, its two-op form with the weights on the loss path,
and the step-by-step composed version; masks, causality, empty rows and bad input; the readable
reference ops against the tuned kernels."""
import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn import functional as F
from tinygrad_attn.attention import (ATTENTION_WEIGHTS, PACKED_ATTENTION, SDPA, attention_steps, attention_weights,
                                     causal_mask, packed_attention, scaled_dot_product_attention)
from tinygrad_attn.gradcheck import gradcheck
from numeric_helpers import _arrays, _assert_close, _leaves

RTOL = {np.float64: 1e-9, np.float32: 1e-5}


def _reference_attention(q, k, v, allowed=None, scale=None):
    """softmax(q kᵀ·scale, disallowed left out) v in float64 NumPy, written out by hand."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.einsum("...qd,...kd->...qk", q, k) * scale
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exps = np.exp(scores - top)
    totals = exps.sum(axis=-1, keepdims=True)
    weights = exps / np.where(totals == 0, 1.0, totals)
    return np.einsum("...qk,...kd->...qd", weights, v), weights


# (q shape, k shape, v shape, mask or None, is_causal): the configurations every check runs over
KEY_PADDING = np.array([[True, True, True, False, False], [True, True, True, True, True]])[:, None, None, :]
CONFIGS = {
    "plain": ((2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2), None, False),
    "causal": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 4), None, False),
    "causal_flag": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 4), None, True),
    "key_padding_mask": ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 3), KEY_PADDING, False),
    "padding_and_causal": ((2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 3), KEY_PADDING, True),
    "causal_fewer_queries": ((2, 3, 3), (2, 5, 3), (2, 5, 2), None, True),
    "broadcast_batch": ((2, 3, 4, 3), (3, 4, 3), (1, 3, 4, 2), None, True),
    "no_batch_dims": ((4, 3), (6, 3), (6, 5), np.tri(4, 6, 1, dtype=bool), False),
}
CONFIGS["causal"] = CONFIGS["causal"][:3] + (causal_mask(5), False)


def _config(name, dtype=np.float64, seed=0):
    q_shape, k_shape, v_shape, mask, is_causal = CONFIGS[name]
    arrays = _arrays(seed, q_shape, k_shape, v_shape, dtype=dtype)
    return arrays, mask, is_causal


def _allowed_for(q_shape, k_shape, mask, is_causal):
    tq, tk = q_shape[-2], k_shape[-2]
    allowed = np.ones((tq, tk), dtype=bool) if mask is None else mask
    if is_causal:
        allowed = allowed & (np.arange(tk)[None, :] <= np.arange(tq)[:, None])
    return allowed


def _run(fn, arrays, upstream_seed=1):
    """Call fn on fresh leaves, backpropagate a fixed random upstream; (output, grads)."""
    q, k, v = _leaves(arrays)
    out = fn(q, k, v)
    upstream = np.random.default_rng(upstream_seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(upstream)
    return out.data, [t.grad for t in (q, k, v)]


def _fused(mask, is_causal, return_weights=False):
    def fn(q, k, v):
        result = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, return_weights=return_weights)
        return result[0] if return_weights else result
    return fn


def _composed(mask, is_causal):
    return lambda q, k, v: attention_steps(q, k, v, mask=mask, is_causal=is_causal).output


# ---- values ----
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_output_matches_attention_written_out_in_numpy(name):
    (q, k, v), mask, is_causal = _config(name)
    expected, _ = _reference_attention(q, k, v, _allowed_for(q.shape, k.shape, mask, is_causal))
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=mask, is_causal=is_causal)
    assert out.shape == expected.shape
    _assert_close(out.data, expected, 1e-12)


# ---- fused == composed, and both == finite differences ----
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fused_op_gives_the_composed_version_values_and_gradients(name):
    arrays, mask, is_causal = _config(name)
    fused_out, fused_grads = _run(_fused(mask, is_causal), arrays)
    two_op_out, two_op_grads = _run(_fused(mask, is_causal, return_weights=True), arrays)
    composed_out, composed_grads = _run(_composed(mask, is_causal), arrays)
    np.testing.assert_allclose(fused_out, composed_out, rtol=0, atol=1e-10)
    np.testing.assert_allclose(two_op_out, composed_out, rtol=0, atol=1e-10)
    for position in range(3):
        np.testing.assert_allclose(fused_grads[position], composed_grads[position], rtol=0, atol=1e-10)
        np.testing.assert_allclose(two_op_grads[position], composed_grads[position], rtol=0, atol=1e-10)


@pytest.mark.parametrize("return_weights", [False, True], ids=["one_op", "two_ops"])
@pytest.mark.parametrize("name", ["plain", "padding_and_causal", "causal_fewer_queries", "broadcast_batch"])
def test_fused_gradients_match_finite_differences(name, return_weights):
    arrays, mask, is_causal = _config(name)
    fn = _fused(mask, is_causal, return_weights)
    assert gradcheck(fn, _leaves(arrays), atol=1e-7, rtol=1e-6)


# ---- PyTorch ----
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_matches_pytorch_scaled_dot_product_attention(name, dtype):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
    arrays, mask, is_causal = _config(name, dtype)
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    # torch's bool attn_mask is also True where attention is allowed; it refuses mask + is_causal together
    allowed = _allowed_for(arrays[0].shape, arrays[1].shape, mask, is_causal) if mask is not None else None
    expected = torch.nn.functional.scaled_dot_product_attention(
        *torch_inputs, attn_mask=None if allowed is None else torch.as_tensor(allowed),
        is_causal=is_causal and mask is None)
    out, grads = _run(_fused(mask, is_causal), arrays, upstream_seed=3)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    _assert_close(out, expected.detach().numpy(), RTOL[dtype], "output")
    upstream = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
    expected.backward(torch.from_numpy(upstream))
    for position, (mine, theirs) in enumerate(zip(grads, torch_inputs)):
        _assert_close(mine, theirs.grad.numpy(), RTOL[dtype], f"gradient of input {position}")


# ---- masking ----
def test_a_query_with_no_allowed_key_gets_zeros_and_zero_gradients_not_nan():
    (q, k, v), _, _ = _config("plain")
    mask = np.ones((4, 5), dtype=bool)
    mask[2] = False  # query 2 may look at nothing
    for fn in (_fused(mask, False), _fused(mask, False, return_weights=True), _composed(mask, False)):
        out, (grad_q, grad_k, grad_v) = _run(fn, [q, k, v])
        assert np.isfinite(out).all() and all(np.isfinite(g).all() for g in (grad_q, grad_k, grad_v))
        assert (out[..., 2, :] == 0).all()
        assert (grad_q[..., 2, :] == 0).all()
        assert (grad_q[..., [0, 1, 3], :] != 0).all()


def test_an_empty_row_passes_anomaly_mode_in_the_fused_op():
    (q, k, v), _, _ = _config("plain")
    mask = np.ones((4, 5), dtype=bool)
    mask[0] = False
    with ta.detect_anomaly():
        for return_weights in (False, True):
            leaves = _leaves([q, k, v])
            result = scaled_dot_product_attention(*leaves, mask=mask, return_weights=return_weights)
            (result[0] if return_weights else result).sum().backward()


def test_masked_keys_get_exactly_zero_gradient():
    (q, k, v), _, _ = _config("key_padding_mask")  # keys 3 and 4 of batch 0 are padding
    for fn in (_fused(KEY_PADDING, False), _fused(KEY_PADDING, False, return_weights=True)):
        _, (_, grad_k, grad_v) = _run(fn, [q, k, v])
        assert (grad_k[0, :, 3:] == 0).all() and (grad_v[0, :, 3:] == 0).all()
        assert (grad_k[0, :, :3] != 0).all() and (grad_v[1] != 0).all()


def test_masked_keys_get_exactly_zero_weight():
    (q, k, _), _, _ = _config("key_padding_mask")
    weights = attention_weights(Tensor(q), Tensor(k), mask=KEY_PADDING)
    assert (weights.data[0, :, :, 3:] == 0).all()
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-12)


def test_is_causal_lets_query_i_see_keys_0_to_i_aligned_top_left():
    (q, k, _), _, _ = _config("causal_fewer_queries")  # Tq = 3, Tk = 5
    weights = attention_weights(Tensor(q), Tensor(k), is_causal=True).data
    upper = np.triu(np.ones((3, 5), dtype=bool), k=1)
    assert (weights[:, upper] == 0).all() and (weights[:, ~upper] > 0).all()


def test_mask_and_is_causal_together_allow_only_where_both_allow():
    (q, k, v), _, _ = _config("padding_and_causal")
    both = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=KEY_PADDING, is_causal=True)
    combined = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=KEY_PADDING & causal_mask(5))
    np.testing.assert_array_equal(both.data, combined.data)


def test_huge_scores_stay_finite_and_match_a_hard_argmax():
    q = np.array([[1e3, 0.0], [-1e3, 0.0]])
    k = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    leaves = _leaves([q, k, v])
    out = scaled_dot_product_attention(*leaves)
    np.testing.assert_array_equal(out.data, [[1.0], [3.0]])  # weights are exactly one-hot
    out.sum().backward()
    assert all(np.isfinite(t.grad).all() for t in leaves)


# ---- the weights on the loss path ----
def test_returned_weights_receive_dl_dweights_equal_to_g_times_v_transposed():
    (q, k, v), _, _ = _config("padding_and_causal")
    leaves = _leaves([q, k, v])
    out, weights = scaled_dot_product_attention(*leaves, mask=KEY_PADDING, is_causal=True, return_weights=True)
    weights.retain_grad()
    upstream = np.random.default_rng(7).standard_normal(out.shape)
    (out * Tensor(upstream)).sum().backward()
    expected = upstream @ np.swapaxes(v, -1, -2)  # dL/dW = G vᵀ, worked out by hand
    np.testing.assert_allclose(weights.grad, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(weights.grad).max() > 0.1


def test_returned_weights_are_the_softmax_the_output_is_computed_from():
    (q, k, v), _, _ = _config("causal_flag")
    out, weights = scaled_dot_product_attention(*_leaves([q, k, v]), is_causal=True, return_weights=True)
    assert any(x is weights for x in out.inputs) and weights.name == "weights"
    assert weights.op.name == ATTENTION_WEIGHTS.name and weights.saved.attn_weights.shape == weights.shape
    _, expected = _reference_attention(q, k, v, causal_mask(5))
    np.testing.assert_allclose(weights.data, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out.data, weights.data @ v, rtol=1e-12, atol=1e-15)


def test_without_return_weights_attention_is_one_op():
    q, k, v = _leaves(_config("plain")[0])
    out = scaled_dot_product_attention(q, k, v)
    assert out.op.name == SDPA.name and len(out.inputs) == 3
    assert all(given is x for given, x in zip(out.inputs, (q, k, v)))


# ---- the composed version ----
def test_attention_steps_names_every_stage_and_keeps_it_in_the_graph():
    (q, k, v), _, _ = _config("causal_flag")
    leaves = _leaves([q, k, v])
    steps = attention_steps(*leaves, is_causal=True)
    chain = [steps.scores, steps.scaled_scores, steps.masked_scores, steps.weights, steps.output]
    assert [t.name for t in chain] == ["scores", "scaled_scores", "masked_scores", "weights", "output"]
    for earlier, later in zip(chain, chain[1:]):
        assert any(x is earlier for x in later.inputs)
    np.testing.assert_allclose(steps.scores.data, q @ np.swapaxes(k, -1, -2), rtol=1e-12)
    np.testing.assert_allclose(steps.scaled_scores.data, steps.scores.data / math.sqrt(3), rtol=1e-12)
    assert np.isneginf(steps.masked_scores.data[..., 0, 1:]).all()
    steps.output.sum().backward()
    assert all(t.grad is not None for t in leaves)


def test_attention_steps_without_a_mask_has_nothing_to_mask():
    steps = attention_steps(*_leaves(_config("plain")[0]))
    assert steps.masked_scores is steps.scaled_scores


def test_custom_scale_replaces_one_over_sqrt_d():
    (q, k, v), _, _ = _config("plain")
    expected, _ = _reference_attention(q, k, v, scale=0.25)
    fused = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), scale=0.25)
    composed = attention_steps(Tensor(q), Tensor(k), Tensor(v), scale=0.25).output
    _assert_close(fused.data, expected, 1e-12)
    _assert_close(composed.data, expected, 1e-12)


# ---- float32 stays float32 ----
def test_float32_inputs_give_float32_outputs_and_gradients():
    arrays, mask, _ = _config("padding_and_causal", np.float32)
    for return_weights in (False, True):
        leaves = _leaves(arrays)
        result = scaled_dot_product_attention(*leaves, mask=mask, is_causal=True, return_weights=return_weights)
        out = result[0] if return_weights else result
        out.sum().backward()
        assert out.dtype == np.float32
        assert all(t.grad.dtype == np.float32 for t in leaves)
        if return_weights:
            assert result[1].dtype == np.float32


# ---- causal_mask ----
def test_causal_mask_is_true_on_and_below_the_diagonal():
    np.testing.assert_array_equal(causal_mask(3), [[True, False, False], [True, True, False], [True, True, True]])
    np.testing.assert_array_equal(causal_mask(2, 3), [[True, False, False], [True, True, False]])
    assert causal_mask(4).dtype == np.bool_ and F.causal_mask is causal_mask
    assert causal_mask(0).shape == (0, 0)


def test_causal_mask_combines_with_a_numpy_mask():
    padding = np.array([True, True, False])
    np.testing.assert_array_equal(padding & causal_mask(3), [[True, False, False], [True, True, False],
                                                              [True, True, False]])


# ---- bad input ----
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(mask=np.ones((4, 5), dtype=np.int64)), TypeError,
     r"attn_mask must be boolean \(True where attention is allowed\) or floating point .* got dtype int64"),
    (dict(attn_mask=np.zeros((3, 1, 4, 5))), ValueError,
     r"attn_mask of shape \(3, 1, 4, 5\) does not broadcast to the scores' shape \(2, 3, 4, 5\)"),
    (dict(mask=np.ones((3, 2, 3, 4, 5), dtype=bool)), ValueError,
     r"mask of shape \(3, 2, 3, 4, 5\) does not broadcast to the scores' shape \(2, 3, 4, 5\)"),
    (dict(mask=np.ones((4, 4), dtype=bool)), ValueError, r"mask of shape \(4, 4\) does not broadcast"),
    (dict(scale=float("nan")), ValueError, r"scale must be a finite number"),
])
def test_bad_masks_and_scales_are_refused_with_the_shapes(kwargs, error, message):
    q, k, v = _leaves(_config("plain")[0])
    with pytest.raises(error, match=message):
        scaled_dot_product_attention(q, k, v, **kwargs)


@pytest.mark.parametrize("shapes, dtypes, error, message", [
    (((2, 4, 3), (2, 5, 4), (2, 5, 2)), None, ValueError, r"q \(2, 4, 3\) and k \(2, 5, 4\) need the same feature size d"),
    (((2, 4, 3), (2, 5, 3), (2, 6, 2)), None, ValueError, r"k \(2, 5, 3\) and v \(2, 6, 2\) need the same number of keys"),
    (((3,), (5, 3), (5, 2)), None, ValueError, r"q must be \(\.\.\., Tq, d\) with at least 2 dims, got shape \(3,\)"),
    (((2, 4, 3), (3, 5, 3), (3, 5, 2)), None, ValueError, r"batch dims of q \(2, 4, 3\), k \(3, 5, 3\)"),
    (((4, 3), (0, 3), (0, 2)), None, ValueError, r"at least one key"),
    (((4, 3), (5, 3), (5, 2)), (np.float32, np.float64, np.float64), TypeError, r"need one dtype, got float32, float64"),
])
def test_bad_shapes_and_dtypes_are_refused_with_the_shapes(shapes, dtypes, error, message):
    dtypes = dtypes or (np.float64,) * 3
    arrays = [np.ones(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes)]
    with pytest.raises(error, match=message):
        scaled_dot_product_attention(*[Tensor(a) for a in arrays])


def test_integer_inputs_are_refused():
    with pytest.raises(TypeError, match="q must be floating point, got dtype int64"):
        scaled_dot_product_attention(Tensor([[1, 2]]), Tensor([[1.0, 2.0]]), Tensor([[1.0]]))


def test_causal_mask_refuses_a_negative_size():
    with pytest.raises(ValueError, match="causal_mask: T must be a non-negative int"):
        causal_mask(-1)


def test_no_grad_builds_no_graph():
    q, k, v = _leaves(_config("plain")[0])
    with ta.no_grad():
        out = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert not out.requires_grad and out.op is None and out.inputs == () and not vars(out.saved)


# ---- the readable reference and the tuned kernel ----
ATTENTION_CASES = [(entry, index, sample) for op in (SDPA, ATTENTION_WEIGHTS, PACKED_ATTENTION)
                   for entry in op.usages for index, sample in enumerate(entry.samples)]


def _run_usage(entry, index, sample, dtype, kernels):
    """Forward and backward of one op-table sample with kernels on or off: (output, grads, saved)."""
    with ta.use_kernels(kernels):
        inputs = [Tensor(a, requires_grad=True) for a in sample.arrays(dtype, entry.seed(index))]
        out = entry.call(*inputs, **sample.kwargs)
        node = out if out.op.name in (SDPA.name, PACKED_ATTENTION.name, ATTENTION_WEIGHTS.name) else out.inputs[0]
        assert node.op.is_kernel == kernels
        saved = dict(vars(node.saved))
        upstream = np.random.default_rng(entry.seed(index) + 1).standard_normal(out.shape).astype(dtype)
        out.backward(upstream)
        assert node.is_freed
    return out.data, [x.grad for x in inputs], saved


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("entry, index, sample", ATTENTION_CASES,
                         ids=[f"{entry.id}#{index}" for entry, index, _ in ATTENTION_CASES])
def test_kernel_and_reference_give_the_same_values_gradients_and_saved_weights(entry, index, sample, dtype):
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    kernel_out, kernel_grads, kernel_saved = _run_usage(entry, index, sample, dtype, True)
    reference_out, reference_grads, reference_saved = _run_usage(entry, index, sample, dtype, False)
    _assert_close(kernel_out, reference_out, tolerance, "output")
    for position, (mine, theirs) in enumerate(zip(kernel_grads, reference_grads)):
        assert mine.dtype == theirs.dtype == dtype
        _assert_close(mine, theirs, tolerance, f"gradient of input {position}")
    # what a viewer reads is the same on both paths: the weights (..., Tq, Tk) and the scale
    assert set(reference_saved) <= set(kernel_saved)
    assert kernel_saved["attn_weights"].shape == reference_saved["attn_weights"].shape
    _assert_close(kernel_saved["attn_weights"], reference_saved["attn_weights"], tolerance, "attn_weights")
    assert kernel_saved["scale"] == reference_saved["scale"]


def test_the_reference_saves_the_weights_by_name():
    (q, k, v), _, _ = _config("padding_and_causal")
    with ta.use_kernels(False):
        out = scaled_dot_product_attention(*_leaves([q, k, v]), mask=KEY_PADDING, is_causal=True)
    assert not out.op.is_kernel and out.op is SDPA
    _, expected = _reference_attention(q, k, v, _allowed_for(q.shape, k.shape, KEY_PADDING, True))
    np.testing.assert_allclose(out.saved.attn_weights, expected, rtol=1e-12, atol=1e-15)
    assert out.saved.scale == np.float64(1 / math.sqrt(3)) and out.saved.is_causal
    out.sum().backward()
    with pytest.raises(RuntimeError, match="released what it saved"):
        out.saved


def test_packed_attention_reference_and_kernel_match_per_head_sdpa():
    qkv = np.random.default_rng(5).standard_normal((2, 5, 12))
    q, k, v = qkv.reshape(2, 5, 3, 2, 2).transpose(2, 0, 3, 1, 4)  # (B, H, T, d) each
    heads = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data
    want = heads.transpose(0, 2, 1, 3).reshape(2, 5, 4)
    for kernels in (True, False):
        with ta.use_kernels(kernels):
            got = packed_attention(Tensor(qkv, requires_grad=True), 2, is_causal=True)
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)
        assert got.saved.attn_weights.shape == (2, 2, 5, 5) and got.saved.n_heads == 2


# ---- recording attention (observers only: the graph is unchanged) ----
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
def test_the_recorder_sees_sdpa_and_the_weights_op_and_their_gradients(kernels):
    from tinygrad_attn.trace import record_attention

    (q, k, v), _, _ = _config("broadcast_batch")  # q (2, 3, 4, 3), k (3, 4, 3), v (1, 3, 4, 2)
    upstream = np.random.default_rng(4).standard_normal((2, 3, 4, 2))
    with ta.use_kernels(kernels), record_attention() as rec:
        out = scaled_dot_product_attention(*_leaves([q, k, v]), is_causal=True)
        (out * Tensor(upstream)).sum().backward()
        two_op_out, weights = scaled_dot_product_attention(*_leaves([q, k, v]), is_causal=True, return_weights=True)
        weights.retain_grad()
        (two_op_out * Tensor(upstream)).sum().backward()
    assert [r.op for r in rec] == ["scaled_dot_product_attention", "attention_weights"]
    fused, two_op = rec
    _, expected = _reference_attention(q, k, v, causal_mask(4))
    for record in rec:
        np.testing.assert_allclose(record.weights, expected, rtol=1e-12, atol=1e-15)
        assert np.isneginf(record.scores[..., 0, 1:]).all() and record.allowed.shape == (4, 4)
    np.testing.assert_allclose(fused.output, out.data, rtol=1e-12, atol=1e-15)
    assert two_op.v is None and two_op.output is None
    # dL/dW two ways: the retained gradient of the weights node, and G·Vᵀ worked out by hand
    np.testing.assert_allclose(two_op.weights_grad, weights.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.weights_grad, upstream @ np.swapaxes(v, -1, -2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.scores_grad, two_op.scores_grad, rtol=1e-10, atol=1e-12)
