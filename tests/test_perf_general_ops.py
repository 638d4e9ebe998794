"""The general ops' fast paths give the reference's numbers: exact GELU without math.erfc per
element, `(..., n) @ (n, m)` as one GEMM forward and backward, a bias gradient summed by BLAS,
and a GPT written by hand from those ops (kernels on against `use_kernels(False)`)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn import functional as F
from tinygrad_attn.kernels import pool


def _gelu_and_grad(x: np.ndarray, upstream: np.ndarray, kernels: bool):
    with ta.use_kernels(kernels):
        leaf = Tensor(x.copy(), requires_grad=True)
        out = F.gelu(leaf)
        out.backward(upstream)
    return out.data, leaf.grad


def test_exact_gelu_kernel_is_within_eight_roundings_of_math_erfc_on_a_dense_grid():
    x = np.linspace(-14, 8, 100_001).astype(np.float32)
    upstream = np.ones_like(x)
    out, grad = _gelu_and_grad(x, upstream, kernels=True)
    wide = x.astype(np.float64)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in wide.tolist()])
    slope = cdf + wide * np.exp(-0.5 * wide * wide) / math.sqrt(2 * math.pi)
    u = np.finfo(np.float32).eps / 2
    condition = 1 + wide * wide  # Φ(x) for x ≪ 0 inherits x²·u from rounding x/√2
    floor = 16 * float(np.finfo(np.float32).smallest_subnormal)
    assert (np.abs(out - wide * cdf) <= 8 * u * np.abs(wide * cdf) * condition + floor).all()
    scale = (cdf + np.abs(wide) * np.exp(-0.5 * wide * wide) / math.sqrt(2 * math.pi)) * condition
    assert (np.abs(grad - slope) <= 8 * u * scale + floor).all()


def test_exact_gelu_kernel_matches_the_reference_path():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 300)) * 3).astype(np.float32)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    for got, want in zip(_gelu_and_grad(x, upstream, True), _gelu_and_grad(x, upstream, False)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shapes", [((4, 5, 6), (6, 7)), ((2, 3, 4, 6), (6, 5)), ((9, 6), (6, 3))])
def test_rows_times_matrix_is_one_gemm_with_the_reference_gradients(shapes):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    bias = rng.standard_normal(shapes[1][-1]).astype(np.float32)
    upstream = rng.standard_normal(shapes[0][:-1] + shapes[1][-1:]).astype(np.float32)
    results = []
    for kernels in (True, False):
        with ta.use_kernels(kernels):
            a, w, b = (Tensor(x, requires_grad=True) for x in (*arrays, bias))
            out = a @ w + b
            out.backward(upstream)
            results.append([out.data, a.grad, w.grad, b.grad])
    batched = np.swapaxes(arrays[0], -1, -2) @ upstream.reshape(arrays[0].shape[:-1] + upstream.shape[-1:])
    np.testing.assert_allclose(results[1][2], batched.reshape(-1, *shapes[1]).sum(axis=0), rtol=1e-5, atol=1e-5)
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_gpt_written_by_hand_trains_the_same_with_kernels_on_and_off(monkeypatch):
    import importlib.util
    import sys
    from pathlib import Path

    from tinygrad_attn.compat import torch as compat

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "models" / "gpt_by_hand.py"
    spec = importlib.util.spec_from_file_location("gpt_by_hand_on_engine_test", path)
    module = importlib.util.module_from_spec(spec)
    with compat.install():
        spec.loader.exec_module(module)
    sys.modules.pop("gpt_by_hand_on_engine_test", None)
    monkeypatch.setattr(pool, "MIN_POOLED_BYTES", 0)  # every buffer from the pool...
    plain_empty = pool.empty

    def poisoned_empty(shape, dtype):  # ...and poisoned, so a stale read shows as NaN
        buffer = plain_empty(shape, dtype)
        buffer.fill(np.nan)
        return buffer

    monkeypatch.setattr(pool, "empty", poisoned_empty)
    rng = np.random.default_rng(2)
    c, vocab, t = 16, 11, 8
    arrays = {"wte": rng.standard_normal((vocab, c)), "wpe": rng.standard_normal((t, c)),
              "lnf_g": 1 + 0.1 * rng.standard_normal(c), "lnf_b": 0.1 * rng.standard_normal(c),
              "w_head": 0.2 * rng.standard_normal((c, vocab)), "b_head": 0.1 * rng.standard_normal(vocab)}
    for name, shape in (("ln1_g", (c,)), ("ln1_b", (c,)), ("w_qkv", (c, 3 * c)), ("b_qkv", (3 * c,)),
                        ("w_proj", (c, c)), ("b_proj", (c,)), ("ln2_g", (c,)), ("ln2_b", (c,)),
                        ("w_fc", (c, 4 * c)), ("b_fc", (4 * c,)), ("w_fc2", (4 * c, c)), ("b_fc2", (c,))):
        arrays["h0." + name] = 0.2 * rng.standard_normal(shape) + (1.0 if name.endswith("_g") else 0.0)
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    idx, targets = rng.integers(0, vocab, (3, t)), rng.integers(0, vocab, (3, t))
    runs = []
    for kernels in (True, False):
        with ta.use_kernels(kernels):
            model = module.GPTByHand(arrays, n_heads=2)
            optimizer = ta.optim.AdamW(model.parameters(), lr=1e-2)
            losses, first_grads = [], None
            for _ in range(3):
                optimizer.zero_grad()
                loss = model(ta.tensor(idx), ta.tensor(targets))
                loss.backward()
                first_grads = first_grads or [p.grad.copy() for p in model.parameters()]
                optimizer.step()
                losses.append(loss.item())
            runs.append((losses, first_grads))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    # gradients, not parameters after AdamW: the key bias's exact gradient is 0, and Adam's
    # g/|g| step turns its float32 rounding noise into a full-size update on either path
    for got, want in zip(runs[0][1], runs[1][1]):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(want).max())))
