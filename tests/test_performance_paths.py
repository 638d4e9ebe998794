"""The kernels give the same numbers as the readable reference ops: on every sample of every op
that has a kernel (kernels on against `use_kernels(False)`), from reused buffers poisoned with
NaN (`pool.empty`), and for the packed multi-head attention, the softmax that skips its max,
Adam on one long vector and the fused backwards' in-place arithmetic. Expected values come
from the reference path, the plain paths with reuse off, float64 NumPy written out here, or
the update rules written out."""
from __future__ import annotations

import math
import subprocess
import sys
import threading

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, attention, functional as F, nn, optim
from tinygrad_attn.kernels import attention as attention_kernels
from tinygrad_attn.kernels import pool as perf
from tinygrad_attn.ops.samples import all_usages

FUSED_CASES = [(entry, index, sample) for entry in all_usages() if entry.op.kernel is not None
               for index, sample in enumerate(entry.samples)]
FUSED_IDS = [f"{entry.id}#{index}" for entry, index, _ in FUSED_CASES]
KERNEL_RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def _forward_backward(entry, index, sample, dtype=np.float64) -> list[np.ndarray]:
    inputs = [Tensor(array, requires_grad=True) for array in sample.arrays(dtype, entry.seed(index))]
    out = entry.call(*inputs, **sample.kwargs)
    upstream = np.random.default_rng(entry.seed(index) + 1).standard_normal(out.shape).astype(out.dtype)
    out.backward(upstream)
    return [out.data] + [np.zeros_like(x.data) if x.grad is None else x.grad for x in inputs]


def test_the_ops_with_kernels_are_the_fused_ones():
    with_kernels = {entry.name for entry, _, _ in FUSED_CASES}
    assert {"layer_norm", "cross_entropy", "linear", "scaled_dot_product_attention", "packed_attention"} <= with_kernels


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("entry, index, sample", FUSED_CASES, ids=FUSED_IDS)
def test_kernel_and_reference_agree(entry, index, sample, dtype, every_buffer_pooled_and_poisoned):
    kernel = _forward_backward(entry, index, sample, dtype)
    with ta.use_kernels(False):
        reference = _forward_backward(entry, index, sample, dtype)
    assert all(np.isfinite(array).all() for array in reference), "the samples have finite results"
    names = ["output"] + [f"grad {i}" for i in range(len(reference) - 1)]
    rtol = KERNEL_RTOL[dtype]
    for got, want, name in zip(kernel, reference, names):
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1.0),
                                   err_msg=f"{entry.id}: {name}, kernel against reference")


@pytest.fixture
def every_buffer_pooled_and_poisoned(monkeypatch):
    """Route every fused-op array through the pool, and fill what it hands out with NaN first,
    so an op that reads an element it did not write gives NaN instead of yesterday's value."""
    monkeypatch.setattr(perf, "MIN_POOLED_BYTES", 0)
    plain_empty = perf.empty

    def poisoned_empty(shape, dtype):
        buffer = plain_empty(shape, dtype)
        buffer.fill(np.nan)
        return buffer

    monkeypatch.setattr(perf, "empty", poisoned_empty)
    perf.release_buffers()
    yield plain_empty
    perf.release_buffers()


def _without_reuse(plain_empty, run, *args):
    """`run(*args)` with fresh, unpoisoned arrays everywhere: the plain path to compare with."""
    poisoned_empty = perf.empty
    perf.empty = plain_empty
    perf.set_buffer_reuse(False)
    try:
        return run(*args)
    finally:
        perf.set_buffer_reuse(True)
        perf.empty = poisoned_empty


@pytest.mark.parametrize("entry, index, sample", FUSED_CASES, ids=FUSED_IDS)
def test_fused_ops_give_the_same_numbers_from_reused_buffers(entry, index, sample, every_buffer_pooled_and_poisoned):
    expected = _without_reuse(every_buffer_pooled_and_poisoned, _forward_backward, entry, index, sample)
    assert all(np.isfinite(array).all() for array in expected), "the samples have finite results"
    first = _forward_backward(entry, index, sample)
    kept = [array.copy() for array in first]
    second = _forward_backward(entry, index, sample)  # would reuse anything `first` no longer held
    for got, want, name in zip(first, expected, ["output"] + [f"grad {i}" for i in range(len(expected) - 1)]):
        np.testing.assert_array_equal(got, want, err_msg=f"{entry.id}: {name}")
    for got, want in zip(second, expected):
        np.testing.assert_array_equal(got, want, err_msg=f"{entry.id}: second run")
    for still, was in zip(first, kept):
        np.testing.assert_array_equal(still, was, err_msg=f"{entry.id}: results held by the caller changed")


# ---- the pool itself ----
def test_a_buffer_is_reused_only_once_nothing_refers_to_it():
    perf.release_buffers()
    first = perf.empty((128, 128), np.float32)
    second = perf.empty((128, 128), np.float32)
    assert first is not second
    first_id = id(first)
    view = first[1:]
    del first
    third = perf.empty((128, 128), np.float32)
    assert id(third) != first_id  # a view still refers to it
    del view
    assert id(perf.empty((128, 128), np.float32)) == first_id  # the only one nothing refers to
    assert second is not third
    perf.release_buffers()


def test_a_buffer_reshaped_in_place_by_its_holder_is_not_handed_out_with_the_wrong_shape():
    perf.release_buffers()
    buffer = perf.empty((128, 128), np.float32)
    buffer.shape = (128 * 128,)
    del buffer
    again = perf.empty((128, 128), np.float32)
    assert again.shape == (128, 128) and again.flags.c_contiguous and again.flags.writeable
    perf.release_buffers()


def test_the_pool_stays_under_its_size_cap():
    perf.release_buffers()
    perf.set_buffer_reuse(True, max_bytes=3 * 128 * 128 * 4)
    try:
        held = [perf.empty((128, 128), np.float32) for _ in range(5)]
        assert perf.pooled_bytes() <= 3 * 128 * 128 * 4
        assert len({id(array) for array in held}) == 5  # past the cap: plain new arrays
    finally:
        perf.set_buffer_reuse(True, max_bytes=perf.DEFAULT_MAX_POOLED_BYTES)
        perf.release_buffers()


def test_buffer_reuse_can_be_switched_off_and_checks_its_arguments():
    perf.empty((128, 128), np.float32)
    perf.set_buffer_reuse(False)
    try:
        assert perf.pooled_bytes() == 0  # switching off empties the pool
        assert perf.empty((128, 128), np.float32).shape == (128, 128)
        assert perf.pooled_bytes() == 0
    finally:
        perf.set_buffer_reuse(True)
    with pytest.raises(TypeError, match="set_buffer_reuse: enabled must be True or False"):
        perf.set_buffer_reuse("yes")
    with pytest.raises(ValueError, match="set_buffer_reuse: max_bytes must be a non-negative int"):
        perf.set_buffer_reuse(True, max_bytes=-1)


def test_threads_each_get_their_own_buffers(monkeypatch):
    monkeypatch.setattr(perf, "MIN_POOLED_BYTES", 0)
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((2, 6, 12))
    want = attention.packed_attention(Tensor(qkv), 2, is_causal=True).data.copy()
    results, errors = [], []

    def work() -> None:
        try:
            for _ in range(50):
                out = attention.packed_attention(Tensor(qkv), 2, is_causal=True).data
                results.append(np.array_equal(out, want))
        except Exception as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 150 and all(results)


# ---- a whole training step ----
def _train(steps: int) -> tuple[list[float], dict[str, np.ndarray]]:
    model = nn.GPT(vocab_size=11, block_size=8, d_model=16, n_heads=2, n_layers=2, d_ff=32, rng=0)
    optimizer = optim.AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(1)
    tokens, targets = rng.integers(0, 11, (4, 8)), rng.integers(0, 11, (4, 8))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tokens).reshape(-1, 11), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {name: p.data.copy() for name, p in model.named_parameters()}


def test_gpt_training_is_bit_for_bit_the_same_with_every_buffer_reused(every_buffer_pooled_and_poisoned):
    pooled_losses, pooled_params = _train(4)
    plain_losses, plain_params = _without_reuse(every_buffer_pooled_and_poisoned, _train, 4)
    assert pooled_losses == plain_losses and all(math.isfinite(loss) for loss in plain_losses)
    for name, values in plain_params.items():
        np.testing.assert_array_equal(pooled_params[name], values, err_msg=name)


# ---- packed attention, and the softmax that skips its max ----
def _attention_by_hand(qkv: np.ndarray, n_heads: int, allowed: np.ndarray) -> np.ndarray:
    """float64 multi-head attention, heads cut and merged by hand, softmax with the max shift."""
    batch, time, width = qkv.shape
    heads = lambda part: part.reshape(batch, time, n_heads, -1).transpose(0, 2, 1, 3)
    q, k, v = (heads(part) for part in np.split(qkv, 3, axis=-1))
    scores = np.where(allowed, q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]), -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights @ v).transpose(0, 2, 1, 3).reshape(batch, time, width // 3)


@pytest.mark.parametrize("magnitude", [0.1, 1.0, 300.0], ids=["small", "unit", "huge"])
def test_attention_is_exact_whether_or_not_softmax_skips_its_max(magnitude):
    # small and unit scores take the path without the max; huge ones (|q||k| far past exp's range) the shifted one
    qkv = np.random.default_rng(0).standard_normal((2, 5, 12)) * magnitude
    allowed = np.tril(np.ones((5, 5), dtype=bool))
    want = _attention_by_hand(qkv, 2, allowed)
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 2e-4)):
        got = attention.packed_attention(Tensor(qkv.astype(dtype)), 2, is_causal=True).data
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=str(dtype))
        q, k, v = qkv.reshape(2, 5, 3, 2, 2).transpose(2, 0, 3, 1, 4).astype(dtype)  # (B, H, T, d) each
        heads = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data
        merged = heads.transpose(0, 2, 1, 3).reshape(2, 5, 4)
        np.testing.assert_allclose(merged, want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=str(dtype))


def test_packed_attention_refuses_a_width_that_does_not_split_into_heads():
    with pytest.raises(ValueError, match=r"packed_attention: qkv must be \(batch, time >= 1, 3·n_heads·d_head\)"):
        attention.packed_attention(Tensor(np.ones((2, 3, 10))), 2)
    with pytest.raises(ValueError, match="packed_attention: n_heads must be a positive int"):
        attention.packed_attention(Tensor(np.ones((2, 3, 12))), 0)


def test_the_cached_causal_mask_cannot_be_changed():
    attention.packed_attention(Tensor(np.ones((1, 4, 6), dtype=np.float32)), 1, is_causal=True)
    bias = attention_kernels._causal_bias(4, 4, True, np.dtype(np.float32))
    with pytest.raises(ValueError):
        bias[0, 0] = 1.0


# ---- backwards never write into the gradient they are given ----
@pytest.mark.parametrize("make", [
    lambda x: F.gelu(x, approximate="tanh"),
    lambda x: F.layer_norm(x, (6,), Tensor(np.full(6, 1.5), requires_grad=True), Tensor(np.zeros(6), requires_grad=True)),
    lambda x: F.layer_norm(x, (6,)),
    lambda x: F.linear(x, Tensor(np.ones((3, 6)), requires_grad=True), Tensor(np.ones(3), requires_grad=True)),
    lambda x: attention.packed_attention(x, 2, is_causal=True),
    lambda x: F.scaled_dot_product_attention(x, x, x, is_causal=True),
], ids=["gelu_tanh", "layer_norm", "layer_norm_plain", "linear", "packed_attention", "sdpa"])
def test_a_backward_leaves_the_upstream_gradient_untouched(make):
    x = Tensor(np.random.default_rng(0).standard_normal((2, 4, 6)), requires_grad=True)
    out = make(x)
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    given = upstream.copy()
    out.op.backward(out, upstream)
    np.testing.assert_array_equal(upstream, given)


# ---- Adam on one long vector ----
def _adam_by_hand(initial, grads_per_step, lr, betas, eps, weight_decay):
    """AdamW written out per parameter; a None gradient skips that parameter's step."""
    params = [p.copy() for p in initial]
    moments = [(np.zeros_like(p), np.zeros_like(p), 0) for p in params]
    for step_grads in grads_per_step:
        for i, g in enumerate(step_grads):
            if g is None:
                continue
            m, v, t = moments[i]
            t += 1
            params[i] = params[i] - lr * weight_decay * params[i]
            m = betas[0] * m + (1 - betas[0]) * g
            v = betas[1] * v + (1 - betas[1]) * g * g
            params[i] = params[i] - lr / (1 - betas[0] ** t) * m / (np.sqrt(v / (1 - betas[1] ** t)) + eps)
            moments[i] = (m, v, t)
    return params


def test_adamw_matches_the_rule_when_steps_mix_the_vector_and_per_parameter_paths():
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,), (2, 2)]
    initial = [rng.standard_normal(shape) for shape in shapes]
    grads = [[rng.standard_normal(shape) for shape in shapes] for _ in range(6)]
    grads[2][1] = None  # one parameter sits out a step: its bias correction falls behind
    grads[4][0] = None
    params = [Tensor(value.copy(), requires_grad=True) for value in initial]
    arrays = [param.data for param in params]
    optimizer = optim.AdamW(params, lr=0.05, betas=(0.8, 0.95), eps=1e-7, weight_decay=0.1)
    for step_grads in grads:
        for param, grad in zip(params, step_grads):
            param.grad = None if grad is None else grad.copy()
        optimizer.step()
    want = _adam_by_hand(initial, grads, 0.05, (0.8, 0.95), 1e-7, 0.1)
    for param, array, expected in zip(params, arrays, want):
        assert param.data is array  # updated in place
        np.testing.assert_allclose(param.data, expected, rtol=1e-12, atol=1e-12)


def test_adamw_starts_afresh_for_a_parameter_replaced_by_one_of_another_shape():
    param = Tensor(np.ones(4), requires_grad=True)
    other = Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.AdamW([param, other], lr=0.1, weight_decay=0.0)
    for tensor in (param, other):
        tensor.grad = np.ones(tensor.shape)
    optimizer.step()
    param.data = np.zeros(6)
    param.grad = np.ones(6)
    other.grad = np.ones(3)
    optimizer.step()  # param: first step of a new parameter (moves by lr); other: its second step
    np.testing.assert_allclose(param.data, -0.1, rtol=1e-6)
    np.testing.assert_allclose(other.data, 1 - 0.2, rtol=1e-6)


# ---- the C allocator switch ----
def test_tune_malloc_is_harmless_and_checks_its_arguments():
    # in a child process, so this test process keeps the allocator it started with
    code = "from tinygrad_attn.kernels import pool; print(pool.tune_malloc())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("True", "False")
    if sys.platform != "linux":
        assert result.stdout.strip() == "False"
    with pytest.raises(ValueError, match="tune_malloc: mmap_threshold must be a positive int"):
        perf.tune_malloc(mmap_threshold=0)
    with pytest.raises(ValueError, match="tune_malloc: trim_threshold must be a positive int"):
        perf.tune_malloc(trim_threshold=2**40)


def test_ones_are_shared_and_read_only():
    ones = perf.ones(5, np.float32)
    assert ones is perf.ones(5, np.float32) and ones.dtype == np.float32
    with pytest.raises(ValueError):
        ones[0] = 2.0


def test_row_dot_sums_products_over_the_last_axis():
    a = np.arange(12.0).reshape(2, 2, 3)
    b = np.ones((2, 2, 3)) * 2
    np.testing.assert_array_equal(perf.row_dot(a, b), (a * b).sum(axis=-1))



# ---- large arrays take the pooled paths (>= 64 KiB): the same promises must hold there ----
def _large(seed: int, shape=(128, 160)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_large_leaf_grads_of_one_sum_do_not_alias():
    a = Tensor(_large(0), requires_grad=True)
    b = Tensor(_large(1), requires_grad=True)
    (a + b).backward(np.ones(a.shape, np.float32))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1.0
    np.testing.assert_array_equal(b.grad, np.ones(b.shape, np.float32))


def test_large_gradient_sums_stay_correct_while_earlier_grads_are_held():
    a_data, b_data = _large(2), _large(3)
    a = Tensor(a_data, requires_grad=True)
    b = Tensor(b_data, requires_grad=True)
    held = []
    for _ in range(3):
        loss = ((a * b + a) * a).sum()  # a used three times: its gradient is a sum of three
        loss.backward()
        held.append(a.grad.copy())
    # d/da Σ (a·b + a)·a = 2ab + 2a, accumulated over three passes
    expected = 2 * a_data * b_data + 2 * a_data
    np.testing.assert_allclose(held[0], expected, rtol=1e-5)
    np.testing.assert_allclose(held[2], 3 * expected, rtol=1e-5)
    np.testing.assert_allclose(b.grad, 3 * a_data * a_data, rtol=1e-5)


def test_large_broadcast_results_do_not_reuse_an_operand_shaped_buffer():
    row = Tensor(_large(4, (1, 160)), requires_grad=True)
    column = Tensor(_large(5, (128, 1)), requires_grad=True)
    out = row + column
    assert out.shape == (128, 160)
    np.testing.assert_allclose(out.data, row.data + column.data)
    out.backward(np.ones(out.shape, np.float32))
    np.testing.assert_allclose(row.grad, np.full((1, 160), 128.0))
    np.testing.assert_allclose(column.grad, np.full((128, 1), 160.0))


def test_large_results_held_by_the_user_never_change_in_later_steps():
    a = Tensor(_large(6), requires_grad=True)
    first = (a * 2.0 + a).data
    snapshot = first.copy()
    for _ in range(3):
        ((a * 3.0 + a) * a).sum().backward()
    np.testing.assert_array_equal(first, snapshot)
