"""Second-round fast paths give the reference's numbers from NaN-poisoned reused buffers:
the pieces of `split`/`chunk` (copied into reused buffers; the gradient scattered into a reused
buffer zeroed only outside the slice) and `F.scaled_dot_product_attention` on q, k, v split and
transposed from one (B, T, 3C) projection (output and dq, dk, dv laid out (B, T, H, d) in
memory, so the transposes back copy nothing), against `use_kernels(False)` and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn import functional as F
from tinygrad_attn.kernels import pool


@pytest.fixture
def poisoned_pool(monkeypatch):
    monkeypatch.setattr(pool, "MIN_POOLED_BYTES", 0)  # every buffer from the pool...
    plain_empty = pool.empty

    def poisoned_empty(shape, dtype):  # ...and poisoned, so an element never written shows as NaN
        buffer = plain_empty(shape, dtype)
        buffer.fill(np.nan)
        return buffer

    monkeypatch.setattr(pool, "empty", poisoned_empty)
    pool.release_buffers()
    yield
    pool.release_buffers()


def _run(build, arrays, upstream_seed, kernels):
    with ta.use_kernels(kernels):
        leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        out = build(*leaves)
        upstream = np.random.default_rng(upstream_seed).standard_normal(out.shape).astype(out.dtype)
        out.backward(upstream)
        return [out.data.copy()] + [leaf.grad.copy() for leaf in leaves]


SPLITS = {
    "three pieces, last axis": ((2, 5, 12), lambda x: x.split(4, dim=-1)),
    "uneven pieces, middle axis": ((3, 7, 2), lambda x: x.split([2, 4, 1], dim=1)),
    "chunk, first axis, last shorter": ((5, 3), lambda x: x.chunk(2, dim=0)),
    "one piece unused": ((4, 6), lambda x: x.split(2, dim=1)[:2]),
}


@pytest.mark.parametrize("name", SPLITS, ids=list(SPLITS))
def test_split_pieces_give_the_reference_gradient_from_poisoned_buffers(name, poisoned_pool):
    shape, pieces = SPLITS[name]
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)

    def build(leaf):
        parts = pieces(leaf)
        weights = [float(i + 2) for i in range(len(parts))]  # each piece its own factor
        return sum((p * w).sum() for p, w in zip(parts, weights)) + parts[0].mean()

    for _ in range(2):  # the second time every buffer is a reused (poisoned) one
        got = _run(build, [x], 4, True)
        want = _run(build, [x], 4, False)
        for g, w in zip(got, want):
            assert np.isfinite(g).all()
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("index", [(slice(None), slice(1, 3)), (Ellipsis, 2), (slice(None, None, 2),),
                                   (slice(-3, None), None), (1, slice(0, 0))],
                         ids=["slice", "ellipsis-int", "step-2", "negative-newaxis", "empty"])
def test_basic_indexing_gives_the_reference_gradient_from_poisoned_buffers(index, poisoned_pool):
    x = np.random.default_rng(5).standard_normal((4, 5)).astype(np.float32)
    for _ in range(2):
        got = _run(lambda leaf: leaf[index] * 3.0, [x], 6, True)
        want = _run(lambda leaf: leaf[index] * 3.0, [x], 6, False)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def _heads_from_one_projection(qkv, n_heads):
    b, t, width = qkv.shape
    c = width // 3
    q, k, v = qkv.split(c, dim=2)
    q, k, v = (z.view(b, t, n_heads, c // n_heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, d)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y, y.transpose(1, 2).contiguous().view(b, t, c)


def test_sdpa_on_heads_split_from_one_projection_matches_the_reference_and_torch(poisoned_pool):
    torch = pytest.importorskip("torch")
    qkv = np.random.default_rng(7).standard_normal((2, 6, 3 * 8)).astype(np.float32)
    results = []
    for kernels in (True, False):
        for _ in range(2):
            results.append(_run(lambda leaf: _heads_from_one_projection(leaf, 2)[1], [qkv], 8, kernels))
    for got in results[:2]:
        for g, w in zip(got, results[2]):
            assert np.isfinite(g).all()
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    leaf = torch.tensor(qkv, requires_grad=True)
    q, k, v = leaf.split(8, dim=2)
    q, k, v = (z.view(2, 6, 2, 4).transpose(1, 2) for z in (q, k, v))
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(2, 6, 8)
    upstream = np.random.default_rng(8).standard_normal(y.shape).astype(np.float32)
    y.backward(torch.tensor(upstream))
    np.testing.assert_allclose(results[0][0], y.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], leaf.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_sdpa_output_of_split_heads_is_laid_out_so_merging_heads_copies_nothing():
    qkv = Tensor(np.random.default_rng(9).standard_normal((2, 6, 24)).astype(np.float32), requires_grad=True)
    y, merged = _heads_from_one_projection(qkv, 2)
    assert y.shape == (2, 2, 6, 4)
    assert np.shares_memory(merged.data, y.data)  # the view(B, T, C) is a view, not a copy
    with ta.use_kernels(False):
        y_ref, merged_ref = _heads_from_one_projection(qkv, 2)
    np.testing.assert_allclose(merged.data, merged_ref.data, rtol=1e-5, atol=1e-6)
