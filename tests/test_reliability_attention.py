"""Reliability of attention: saturated-softmax gradients, broadcast batch dims, bounded caches."""
import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn.attention.packed import packed_attention
from tinygrad_attn.attention.sdpa import scaled_dot_product_attention
from tinygrad_attn.kernels import attention as attention_kernels
from tinygrad_attn.kernels import pool

torch = pytest.importorskip("torch")


def _torch64_sdpa_grads(q, k, v, grad, is_causal=False):
    tq, tk, tv = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q, k, v))
    out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=is_causal)
    out.backward(torch.tensor(grad, dtype=torch.float64))
    return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def _saturated_inputs(seed=0, shape=(2, 2, 6, 8)):
    """q = k with entries ~30: each query's own key wins by a score gap of ~100, so the softmax
    is one-hot in float32 and the true dq, dk are ~1e-40 (nothing but rounding is left)."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal(shape)
    k = (30 * rows).astype(np.float32)
    q = k.copy()
    v = rng.standard_normal(shape).astype(np.float32)
    grad = rng.standard_normal(shape).astype(np.float32)
    return q, k, v, grad


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_backward_saturated_softmax_float32(kernels_on, is_causal):
    q, k, v, grad = _saturated_inputs()
    _, eq, ek, ev = _torch64_sdpa_grads(q, k, v, grad, is_causal)
    assert np.abs(eq).max() < 1e-9 and np.abs(ek).max() < 1e-9  # the softmax is saturated: dq, dk are nearly zero
    with ta.use_kernels(kernels_on):
        tq, tk, tv = (ta.tensor(x, requires_grad=True) for x in (q, k, v))
        out = scaled_dot_product_attention(tq, tk, tv, is_causal=is_causal)
        out.backward(ta.tensor(grad))
    np.testing.assert_allclose(np.asarray(tq.grad), eq, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(tk.grad), ek, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(tv.grad), ev, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize("is_causal", [False, True])
def test_packed_backward_saturated_softmax_float32(kernels_on, is_causal):
    batch, time, n_heads, d_head = 2, 6, 2, 8
    q, k, v, _ = _saturated_inputs(1, (batch, n_heads, time, d_head))
    grad = np.random.default_rng(2).standard_normal((batch, time, n_heads * d_head)).astype(np.float32)
    merge = lambda x: x.transpose(0, 2, 1, 3).reshape(batch, time, n_heads * d_head)  # noqa: E731
    qkv = np.concatenate([merge(q), merge(k), merge(v)], axis=-1)
    heads = lambda x: x.reshape(batch, time, n_heads, d_head).transpose(0, 2, 1, 3)  # noqa: E731
    _, eq, ek, ev = _torch64_sdpa_grads(q, k, v, np.ascontiguousarray(heads(grad)), is_causal)
    expected = np.concatenate([merge(eq), merge(ek), merge(ev)], axis=-1)
    with ta.use_kernels(kernels_on):
        x = ta.tensor(qkv, requires_grad=True)
        packed_attention(x, n_heads, is_causal=is_causal).backward(ta.tensor(grad))
    width = n_heads * d_head
    np.testing.assert_allclose(np.asarray(x.grad)[..., :2 * width], expected[..., :2 * width], rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(x.grad)[..., 2 * width:], expected[..., 2 * width:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize("shapes", [((1, 2, 4, 8), (1, 2, 4, 8), (3, 2, 4, 8)),
                                    ((1, 2, 4, 8), (3, 2, 5, 8), (1, 2, 5, 6)),
                                    ((3, 1, 4, 8), (1, 2, 5, 8), (2, 5, 6)),
                                    ((4, 8), (5, 8), (3, 2, 5, 6))])
def test_sdpa_broadcasts_batch_dims_of_v(kernels_on, shapes):
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal(s) for s in shapes)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    expected = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    grad = rng.standard_normal(tuple(expected.shape))
    expected.backward(torch.tensor(grad))
    with ta.use_kernels(kernels_on):
        aq, ak, av = (ta.tensor(x, requires_grad=True) for x in (q, k, v))
        out = scaled_dot_product_attention(aq, ak, av, is_causal=True)
        out.backward(ta.tensor(grad))
    np.testing.assert_allclose(np.asarray(out.data), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((aq, tq), (ak, tk), (av, tv)):
        assert ours.grad.shape == tuple(theirs.shape)
        np.testing.assert_allclose(np.asarray(ours.grad), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def _bias_cache_bytes():
    return attention_kernels.causal_bias_cache_bytes()


def test_release_memory_empties_every_cache():
    from tinygrad_attn.kernels import release_memory

    rng = np.random.default_rng(4)
    x = ta.tensor(rng.standard_normal((1, 1, 2048, 16)).astype(np.float32), requires_grad=True)
    with ta.use_kernels(True):
        out = scaled_dot_product_attention(x, x, x, is_causal=True)
        out.sum().backward()
    del out, x
    assert _bias_cache_bytes() + pool.pooled_bytes() > 0
    freed = release_memory()
    assert freed > 0
    assert _bias_cache_bytes() == 0
    assert pool.pooled_bytes() == 0
    assert release_memory() == 0


def test_causal_bias_cache_stays_under_its_cap():
    cap = attention_kernels.CAUSAL_BIAS_CACHE_MAX_BYTES
    assert cap <= 64 * 1024 * 1024
    for dtype in (np.float32, np.float64):
        for time in (512, 700, 1024, 1023, 1000, 900, 2048, 4096):
            for keys_first in (True, False):
                bias = attention_kernels._causal_bias(time, time, keys_first, np.dtype(dtype))
                assert bias.shape == (time, time) and not bias.flags.writeable
                assert _bias_cache_bytes() <= cap
    rng = np.random.default_rng(5)
    for time in (600, 800, 1000):
        x = ta.tensor(rng.standard_normal((1, 1, time, 4)))
        scaled_dot_product_attention(x, x, x, is_causal=True)
        assert _bias_cache_bytes() <= cap


def _equal_values_inputs(seed=4, shape=(2, 3, 5, 4)):
    """Every row of v the same (≈ 287, in float32): the output is that row whatever the weights,
    so the true dq and dk are exactly 0; float32 keys and queries of a few units."""
    rng = np.random.default_rng(seed)
    q, k = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    v = np.broadcast_to(rng.uniform(250, 300, shape[-1]).astype(np.float32), shape).copy()
    grad = rng.standard_normal(shape).astype(np.float32)
    return q, k, v, grad


@pytest.mark.parametrize("kernels_on", [True, False])
@pytest.mark.parametrize("route", ["sdpa", "return_weights", "float_mask", "packed"])
def test_attention_backward_equal_values_float32_gives_zero_dq_dk(kernels_on, route):
    q, k, v, grad = _equal_values_inputs()
    batch, n_heads, time, d_head = q.shape
    with ta.use_kernels(kernels_on):
        if route == "packed":
            merge = lambda x: x.transpose(0, 2, 1, 3).reshape(batch, time, n_heads * d_head)  # noqa: E731
            x = ta.tensor(np.concatenate([merge(q), merge(k), merge(v)], axis=-1), requires_grad=True)
            packed_attention(x, n_heads).backward(ta.tensor(merge(grad)))
            dq, dk = np.asarray(x.grad)[..., :n_heads * d_head], np.asarray(x.grad)[..., n_heads * d_head:-n_heads * d_head]
        else:
            tq, tk, tv = (ta.tensor(a, requires_grad=True) for a in (q, k, v))
            if route == "sdpa":
                out = scaled_dot_product_attention(tq, tk, tv)
            elif route == "return_weights":
                out, _ = scaled_dot_product_attention(tq, tk, tv, return_weights=True)
            else:
                bias = ta.tensor(np.random.default_rng(5).standard_normal((time, time)).astype(np.float32))
                out = scaled_dot_product_attention(tq, tk, tv, attn_mask=bias)
            out.backward(ta.tensor(grad))
            dq, dk = np.asarray(tq.grad), np.asarray(tk.grad)
    # in float32 the weights sum to 1 only within rounding: one row sum leaves |dq| ~ 5e-5 here
    assert np.abs(dq).max() <= 1e-7 and np.abs(dk).max() <= 1e-7, (np.abs(dq).max(), np.abs(dk).max())
