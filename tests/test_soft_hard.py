"""Soft vs hard attention and temperature: hard attention sends exactly zero gradient to the
scores, the query and every key; soft attention gives every key a gradient, which vanishes as
the temperature falls. Expected numbers come from NumPy written here."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn import functional as F
from tinygrad_attn.attention import hard_attention
from tinygrad_attn.teach.soft_hard import TEMPERATURES, TEXT_TRADE, soft_vs_hard, worked_example_lens
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, TARGET, VALUES

Q = np.array([QUERY_A])
K = np.array([KEYS[t] for t in KEYS])
V = np.array([VALUES[t] for t in KEYS])
Y = np.array([TARGET])


def np_soft(q, k, v, target, scale):
    """Weights, dL/d(scores·scale) (the softmax input), dL/dq, dL/dk, loss, for Σ(out − target)²."""
    z = q @ k.T * scale
    w = np.exp(z - z.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    out = w @ v
    g = 2 * (out - target)
    dw = g @ v.T
    dz = w * (dw - np.sum(w * dw, axis=-1, keepdims=True))
    return w, dz, dz @ k * scale, dz.T @ q * scale, float(np.sum((out - target) ** 2))


# ---- hard attention ----
def test_hard_attention_takes_the_best_keys_value_and_nothing_else():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2))
    out = hard_attention(Tensor(q), Tensor(k), Tensor(v))
    best = np.argmax(q @ k.transpose(0, 2, 1), axis=-1)
    np.testing.assert_array_equal(out.data, np.take_along_axis(v, best[..., None], axis=1))


def test_hard_attention_respects_the_mask_and_a_query_with_no_allowed_key_takes_nothing():
    q = Tensor(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    k = Tensor(np.array([[5.0, 0.0], [0.0, 5.0], [-1.0, -1.0]]))
    v = Tensor(np.array([[10.0], [20.0], [30.0]]))
    mask = np.array([[False, True, True], [True, False, True], [False, False, False]])
    out = hard_attention(q, k, v, mask=mask)
    # scores q·k: row 1 [5, 0, -1], row 2 [0, 5, -1], row 3 [5, 5, -2]
    np.testing.assert_array_equal(out.data, [[20.0], [10.0], [0.0]])  # the best *allowed* key; row 3: none allowed
    causal = hard_attention(q, k, v, is_causal=True)
    np.testing.assert_array_equal(causal.data, [[10.0], [20.0], [10.0]])  # row 3: a tie goes to the first key


def test_hard_attention_sends_exactly_zero_gradient_to_the_scores_the_query_and_every_key():
    q, k, v = (Tensor(a.copy(), requires_grad=True) for a in (Q, K, V))
    with ta.lens.trace(tokens=list(KEYS)) as lens:
        output = hard_attention(q, k, v, scale=1.0)
        ((output - Tensor(Y)) ** 2).sum().backward()
    chosen = int(np.argmax(Q @ K.T))  # C: the highest score q·k
    assert list(KEYS)[chosen] == "C"
    assert np.array_equal(q.grad, np.zeros_like(Q)) and np.array_equal(k.grad, np.zeros_like(K))
    assert np.array_equal(lens[0].record.scores_grad, np.zeros((1, 3)))
    ignored = [j for j in range(3) if j != chosen]
    assert np.array_equal(v.grad[ignored], np.zeros((2, 3)))  # the ignored values learn nothing
    np.testing.assert_array_equal(v.grad[chosen], 2 * (V[chosen] - Y[0]))  # the chosen one gets all of g


def test_soft_attention_gives_every_key_a_nonzero_gradient_at_every_temperature_in_the_table():
    report = soft_vs_hard()
    for row in report.rows[:-1]:
        assert np.all(row.scores_grad != 0) and np.all(row.k_grad_norm > 0) and row.q_grad_norm > 0, row.name
    hard = report.row("hard")
    assert not hard.scores_grad.any() and not hard.k_grad_norm.any() and hard.q_grad_norm == 0
    assert np.count_nonzero(hard.v_grad_norm) == 1


# ---- temperature ----
def test_the_table_has_numpys_numbers_at_every_temperature():
    report = soft_vs_hard()
    assert [r.name for r in report.rows] == [f"T = {t:g}" for t in TEMPERATURES] + ["hard"]
    for row in report.rows[:-1]:
        w, dz, dq, dk, loss = np_soft(Q, K, V, Y, 1.0 / row.temperature)
        np.testing.assert_allclose(row.weights, w[0], rtol=1e-12)
        # atol: at small T, out − target loses digits to rounding (out is within 1e-13 of C's value)
        np.testing.assert_allclose(row.scores_grad, dz[0], rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(row.q_grad_norm, np.linalg.norm(dq), rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(row.k_grad_norm, np.linalg.norm(dk, axis=-1), rtol=1e-9, atol=1e-13)
        assert row.loss == pytest.approx(loss, rel=1e-12)


def test_the_gradient_to_the_scores_vanishes_as_the_temperature_falls():
    # (far above T = 4 the weights are nearly uniform and dL/dscores tends to a small nonzero limit)
    temperatures = (4.0, 2.0, 1.0, 0.5, 0.25, 0.1)
    rows = soft_vs_hard(temperatures=temperatures).rows[:-1]
    largest = [float(np.max(np.abs(r.scores_grad))) for r in rows]
    assert all(a > b for a, b in zip(largest, largest[1:])), largest
    assert largest[-1] < 1e-10
    # what reaches q and k is 1/T times that: it peaks near T = 1, and from there on it vanishes too
    cool = [r for r in rows if r.temperature <= 1]
    for measure in (lambda r: r.q_grad_norm, lambda r: float(np.max(r.k_grad_norm))):
        values = [measure(r) for r in cool]
        assert all(a > b for a, b in zip(values, values[1:])), values


def test_temperature_is_the_scale_of_sdpa_one_over_t_times_root_d():
    rng = np.random.default_rng(4)
    q, k, v, target = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2)), \
        rng.standard_normal((3, 2))
    report = soft_vs_hard(q, k, v, target, temperatures=(2.0, 1.0))
    for row in report.rows[:-1]:
        w, dz, *_ = np_soft(q, k, v, target, 1.0 / (row.temperature * math.sqrt(4)))
        np.testing.assert_allclose(row.weights, w, rtol=1e-12)
        np.testing.assert_allclose(row.scores_grad, dz, rtol=1e-9, atol=1e-15)
    at_one = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), return_weights=True)[1]
    np.testing.assert_allclose(report.row("T = 1").weights, at_one.data, rtol=1e-12)  # T = 1: PyTorch's default


def test_the_report_prints_a_table_and_bad_temperatures_are_refused():
    text = str(soft_vs_hard())
    lines = text.splitlines()
    assert any(line.startswith("T = 0.25") for line in lines) and any(line.startswith("hard ") for line in lines)
    assert "weights" in text and "dL/dscores" in text and "|dL/dk|" in text and "a sliver, but not zero" in text
    with pytest.raises(ValueError, match="soft_vs_hard: every temperature must be a positive number, got 0"):
        soft_vs_hard(temperatures=(1.0, 0))
    with pytest.raises(KeyError, match="no row 'T = 3'"):
        soft_vs_hard().row("T = 3")


def test_the_worked_example_answers_the_texts_question_for_its_target():
    explanation = worked_example_lens().explain()
    w, dz, *_ = np_soft(Q, K, V, Y, 1.0)
    g = 2 * (w @ V - Y)[0]
    more, less = TEXT_TRADE
    keys = list(KEYS)
    change = (V[keys.index(more)] - V[keys.index(less)]) @ g  # dL per ε of weight moved from `less` to `more`
    assert explanation.trade(more, less) == pytest.approx(change, rel=1e-12)
    assert ("raise the loss" if change > 0 else "lower the loss") in explanation.trade_text(more, less)
    assert f"attend a bit more to {keys[int(np.argmin(dz))]}" in explanation.text
