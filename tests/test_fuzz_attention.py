"""Attention fuzzed two ways: the same random small attention built from Values (every multiply
and add its own node) and as one Tensor op must agree in output and every input's gradient; and
the bugs the graph fuzzer found in attention, each pinned by a test of its own."""
from __future__ import annotations

import numpy as np
import pytest

import fuzz_programs as fp
import tinygrad_attn as ta
from tinygrad_attn import functional as F
from tinygrad_attn.attention.sdpa import sdpa_backward

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

_settings = hypothesis.settings(deadline=None, derandomize=True, database=None)
_step = st.tuples(st.just("scalar"), st.integers(0, 999), st.integers(0, 999), st.integers(0, 999),
                  st.integers(0, 999))


@hypothesis.settings(_settings, max_examples=300)
@hypothesis.given(step=_step, seed=st.integers(0, 2**31 - 1))
def test_value_and_tensor_attention_agree_in_output_and_every_gradient(step, seed):
    program = fp.make_program("scalar_attention", [(1,)], [step], seed)
    found = fp.check(program)
    assert not found, f"{found}\nreplay: {fp.replay_command(program)}"


@hypothesis.settings(_settings, max_examples=300)
@hypothesis.given(steps=st.lists(_step, min_size=1, max_size=12), size=st.integers(1, 3),
                  seed=st.integers(0, 2**31 - 1))
def test_value_and_tensor_expressions_over_the_scalar_ops_agree(steps, size, seed):
    program = fp.make_program("scalar_expr", [(size,)], steps, seed)
    found = fp.check(program)
    assert not found, f"{found}\nreplay: {fp.replay_command(program)}"


def test_the_scalar_attention_check_catches_a_wrong_tensor_backward():
    program = fp.make_program("scalar_attention", [(1,)], [("scalar", 2, 2, 2, 3)], seed=4)
    assert fp.check(program) == []

    def dv_doubled(ctx, upstream_grad):
        dq, dk, dv = sdpa_backward(ctx, upstream_grad)
        return dq, dk, 2 * dv

    with ta.ops.patched("scaled_dot_product_attention", backward=dv_doubled):
        found = fp.check(program)
    assert found and "grad v" in found[0].where, found


# ---- found by the fuzzer ----
def test_a_lone_allowed_key_gets_weight_exactly_one_and_sends_q_and_k_no_gradient():
    # softmax over one key is the constant 1: its weight is exactly 1 and q, k get exactly 0.
    # The kernel once normalised by × (1/total), leaving 1 ± 1 ulp, so the first causal row and
    # one-key rows sent q and k a gradient of ulp · |G·Vᵀ| (large when v is large).
    rng = np.random.default_rng(0)
    q = rng.standard_normal((8, 6, 3)).astype(np.float32)
    k = rng.standard_normal((8, 6, 3)).astype(np.float32)
    v = (rng.standard_normal((8, 6, 2)) * 1e4).astype(np.float32)
    for kernels in (True, False):
        with ta.use_kernels(kernels):
            _, causal_weights = F.scaled_dot_product_attention(ta.tensor(q), ta.tensor(k), ta.tensor(v),
                                                               is_causal=True, return_weights=True)
            tq, tk, tv = (ta.tensor(x[:, :, None, :], requires_grad=True) for x in (q, k, v))  # one key per query
            F.scaled_dot_product_attention(tq, tk, tv).sum().backward()
        assert np.all(causal_weights.data[:, 0, 0] == 1), f"kernels={kernels}"
        assert np.all(tq.grad == 0) and np.all(tk.grad == 0), f"kernels={kernels}"
