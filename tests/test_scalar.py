"""The scalar engine: Value ops, backward semantics, stepping, scale and bad input."""
import math
import sys

import pytest

import tinygrad_attn as ta
from tinygrad_attn import Value
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.ops import all_ops
from tinygrad_attn.scalar import dot, softmax, sum_values, weighted_sum

# One sample function per op in the scalar op table; a new op without a sample fails below.
SAMPLES = {
    "add": (lambda a, b: a + b, (0.7, -1.3)),
    "sub": (lambda a, b: a - b, (0.7, -1.3)),
    "mul": (lambda a, b: a * b, (0.7, -1.3)),
    "div": (lambda a, b: a / b, (0.7, -1.3)),
    "neg": (lambda a: -a, (0.4,)),
    "pow": (lambda a, b: a ** 3 + a ** -1.5 + a ** b + 2.0 ** b, (1.7, -0.6)),
    "exp": (lambda a: a.exp(), (0.3,)),
    "log": (lambda a: a.log(), (0.3,)),
    "tanh": (lambda a: a.tanh(), (0.3,)),
    "relu": (lambda a: a.relu() + (-a).relu() * 3, (0.3,)),
    "sigmoid": (lambda a: a.sigmoid(), (-0.8,)),
}


def test_every_scalar_op_has_a_gradcheck_sample():
    assert set(SAMPLES) == {op.name for op in all_ops("scalar")}


def test_numbers_in_an_expression_are_constants_that_receive_no_gradient():
    x = Value(2.0, name="x")
    y = x * 3 + 1
    y.backward()
    three = y.inputs[0].inputs[1]
    assert three.data == 3.0 and three.is_leaf and not three.requires_grad
    assert three.grad == 0.0 and x.grad == 3.0
    assert [step.node for step in y.backward_steps()].count(three) == 0  # never stepped as a leaf that learns


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_scalar_op_gradient_matches_finite_differences(name):
    fn, args = SAMPLES[name]
    inputs = [Value(x, label=f"x{i}") for i, x in enumerate(args)]
    assert gradcheck(fn, inputs, atol=1e-7, rtol=1e-6)


def test_numbers_on_either_side():
    x = Value(2.0)
    results = [3 + x, x + 3, 3 - x, x - 3, 3 * x, x * 3, 3 / x, x / 3, 2 ** x, x ** 2]
    expected = [5.0, 5.0, 1.0, -1.0, 6.0, 6.0, 1.5, 2 / 3, 4.0, 4.0]
    assert [r.data for r in results] == pytest.approx(expected)


def test_forward_values_match_math_module():
    x = Value(0.37)
    assert x.exp().data == math.exp(0.37)
    assert x.log().data == math.log(0.37)
    assert x.tanh().data == math.tanh(0.37)
    assert x.sigmoid().data == pytest.approx(1 / (1 + math.exp(-0.37)), rel=1e-15)
    assert Value(-500.0).sigmoid().data == pytest.approx(math.exp(-500.0), rel=1e-12)


def test_gradient_accumulates_when_a_value_is_used_twice():
    x = Value(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_second_backward_accumulates_leaves_but_not_intermediates():
    a, b = Value(2.0), Value(-3.0)
    hidden = a * b
    out = hidden * hidden  # d/d hidden = 2·hidden = -12; d/da = -12·b = 36
    out.backward()
    assert (a.grad, hidden.grad) == (36.0, -12.0)
    out.backward()
    assert a.grad == 72.0  # leaves accumulate, as in PyTorch
    assert hidden.grad == -12.0  # intermediates hold this pass's gradient, never a doubled one


def test_zero_grad_resets_a_leaf():
    a = Value(2.0)
    (a * a).backward()
    a.zero_grad()
    assert a.grad == 0.0
    (a * 5).backward()
    assert a.grad == 5.0


def test_backward_is_the_exhaustion_of_backward_steps():
    def build():
        a, b = Value(0.5, "a"), Value(-1.5, "b")
        return [a, b], (a * b + a.exp()).tanh()

    leaves1, out1 = build()
    out1.backward()
    leaves2, out2 = build()
    steps = list(out2.backward_steps())
    assert [l.grad for l in leaves1] == [l.grad for l in leaves2]
    assert steps[0].node is out2 and steps[0].grad == 1.0
    assert [s.index for s in steps] == list(range(len(steps)))


def test_same_graph_gives_same_order_and_steps_twice():
    def trace():
        query = [Value(x) for x in (1.0, 2.0, -1.0)]
        keys = [[Value(x) for x in k] for k in ((3, -1, 0), (3, -1, -1), (0, 1, -3))]
        weights = softmax([dot(query, k) for k in keys])
        loss = sum_values(w * w for w in weights)
        return [(s.op, s.formula, round(s.grad, 12), len(s.contributions)) for s in loss.backward_steps()]

    assert trace() == trace()


def test_step_reports_op_formula_and_contributions():
    a, b = Value(2.0, "a"), Value(5.0, "b")
    out = a * b
    step = next(out.backward_steps())
    assert step.op == "mul"
    assert "d(a*b)/da = b" in step.formula
    assert [(node.label, grad) for node, grad in step.contributions] == [("a", 5.0), ("b", 2.0)]


def test_hook_sees_and_can_replace_the_gradient():
    a = Value(2.0)
    hidden = a * 3
    seen = []
    hidden.register_hook(lambda g: seen.append(g))
    (hidden * 4).backward()
    assert seen == [4.0] and a.grad == 12.0
    b = Value(2.0)
    h2 = b * 3
    h2.register_hook(lambda g: g * 10)
    (h2 * 4).backward()
    assert b.grad == 120.0


def test_chain_of_a_million_ops_backpropagates_without_recursion_error():
    assert sys.getrecursionlimit() <= 10_000
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0001 + 0.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 1_000_000, rel=1e-9)


def test_worked_example_matches_numpy_written_out():
    np = pytest.importorskip("numpy")
    query = np.array([1.0, 2.0, -1.0])
    keys = np.array([[3.0, -1.0, 0.0], [3.0, -1.0, -1.0], [0.0, 1.0, -3.0]])
    values = np.array([[1.0, 0.0, 1.0], [-1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    scores = keys @ query
    weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    q = [Value(x) for x in query]
    engine_weights = softmax([dot(q, k.tolist()) for k in keys])
    engine_out = weighted_sum(engine_weights, values.tolist())
    assert [w.data for w in engine_weights] == pytest.approx(weights, rel=1e-14)
    assert [o.data for o in engine_out] == pytest.approx(weights @ values, rel=1e-14)
    # dL/dq for L = out[0]: d out0 / dq = Σ_t v_t0 · w_t (k_t - Σ_s w_s k_s)
    engine_out[0].backward()
    expected = sum(values[t, 0] * weights[t] * (keys[t] - weights @ keys) for t in range(3))
    assert [x.grad for x in q] == pytest.approx(expected, rel=1e-12)


def test_softmax_is_stable_for_huge_scores():
    weights = softmax([Value(1000.0), Value(999.0), Value(-1000.0)])
    assert all(math.isfinite(w.data) for w in weights)
    assert weights[0].data == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-12)


@pytest.mark.parametrize("bad, error, words", [
    (lambda: Value("a"), TypeError, "str"),
    (lambda: Value(None), TypeError, "NoneType"),
    (lambda: Value(-1.0).log(), ValueError, "-1.0"),
    (lambda: Value(0.0).log(), ValueError, "0.0"),
    (lambda: Value(-2.0) ** Value(0.5), ValueError, "positive base"),
    (lambda: Value(0.0) ** Value(2.0), ValueError, "positive base"),
    (lambda: 0 ** Value(2.0), ValueError, "positive base"),
    (lambda: Value(-2.0) ** 0.5, ValueError, "non-integer"),
    (lambda: Value(1.0) / 0, ZeroDivisionError, "zero"),
    (lambda: Value(1.0) + "x", TypeError, "str"),
    (lambda: Value(800.0).exp(), OverflowError, "exp"),
    (lambda: dot([Value(1.0)], [1.0, 2.0]), ValueError, "lengths"),
])
def test_bad_input_raises_a_clear_error(bad, error, words):
    with pytest.raises(error, match=words):
        bad()


def test_nan_from_the_user_is_allowed_but_anomaly_mode_names_the_op():
    x = Value(float("nan"))
    y = (x * 2).tanh()  # allowed outside anomaly mode
    assert math.isnan(y.data)
    with ta.detect_anomaly():
        with pytest.raises(RuntimeError, match="'mul'"):
            (x * 2).tanh()
        with pytest.raises(RuntimeError, match="'add'"):
            Value(1.0) * 3 + float("inf")
    assert (Value(1.0) * 3).data == 3.0


def test_repr_is_readable():
    assert repr(Value(0.125, label="w")) == "Value(data=0.125, grad=0, label='w')"
