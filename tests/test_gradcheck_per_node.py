"""gradcheck(per_node=True): every node's own backward against finite differences of its own
forward, and every node's arriving gradient against the sum of what its users sent. Planted
bugs are named by node, op, input, element and both numbers; correct graphs pass, with the
kernels on and off. Expected numbers come from hand-written NumPy, never from the engine."""
import re

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value
from tinygrad_attn import functional as F
from tinygrad_attn import gradcheck as gradcheck_module
from tinygrad_attn import nn
from tinygrad_attn.core import _state, observe
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.ops import get, patched
from tinygrad_attn.ops.samples import all_usages
from tinygrad_attn.scalar import dot, softmax, weighted_sum
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, VALUES

KERNELS = pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])


def _tensor(seed, shape, name=None):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, name=name)


def _numbers(message):
    """Every number written in the message, in order (10 significant digits are printed)."""
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", message)]


# ---- correct graphs pass ----
def test_the_worked_example_passes_node_by_node():
    tokens = list(KEYS)
    query = [Value(x, label=f"q{i}") for i, x in enumerate(QUERY_A)]
    keys = [Value(x, label=f"k_{t}{i}") for t in tokens for i, x in enumerate(KEYS[t])]
    values = [Value(x, label=f"v_{t}{i}") for t in tokens for i, x in enumerate(VALUES[t])]

    def attend(*numbers):
        q, k, v = numbers[:3], numbers[3:12], numbers[12:]
        scores = [dot(q, k[3 * j:3 * j + 3]) for j in range(3)]
        weights = softmax(scores)
        output = weighted_sum(weights, [v[3 * j:3 * j + 3] for j in range(3)])
        return output[0] * output[0] + output[1] - output[2]  # every output number on the loss path

    assert gradcheck(attend, query + keys + values, per_node=True, atol=1e-7, rtol=1e-6)
    # as README writes it: the keys and values are plain numbers (constants in the graph)
    readme = lambda *q: weighted_sum(softmax([dot(q, KEYS[t]) for t in tokens]), [VALUES[t] for t in tokens])[0]  # noqa: E731
    assert gradcheck(readme, query, per_node=True, atol=1e-7, rtol=1e-6)


def test_every_scalar_op_passes_node_by_node():
    def fn(a, b):
        h = a * b - a / b + (-a) ** 2 + a ** b  # a ** b needs a > 0
        return (h.tanh() + h.relu() + h.sigmoid() + (h * h + 1).log()).exp() * h

    assert gradcheck(fn, [Value(0.7, label="a"), Value(1.3, label="b")], per_node=True, atol=1e-7, rtol=1e-6)


@KERNELS
@pytest.mark.parametrize("case", ["broadcasting", "reductions", "softmax", "masked_softmax", "layer_norm",
                                  "large_layer_norm", "cross_entropy", "attention", "attention_weights"])
def test_tensor_graphs_pass_node_by_node(case, kernels):
    x = _tensor(0, (2, 4, 3), "x")
    if case == "broadcasting":
        inputs = [x, _tensor(1, (3,), "bias"), _tensor(2, (4, 1), "scale")]
        fn = lambda x, b, s: ((x + b) * s - b / (s * s + 1)).tanh()  # noqa: E731
    elif case == "reductions":
        inputs = [x]
        fn = lambda x: (x.sum(axis=(0, 2), keepdims=True) * x.mean(axis=1, keepdims=True)  # noqa: E731
                        + x.max(axis=-1, keepdims=True) + x.var(axis=0) + x.exp().sum(axis=-1, keepdims=True).log())
    elif case == "softmax":
        inputs = [x]
        fn = lambda x: x.softmax(axis=-1) * x.log_softmax(axis=1) + F.softmax(x * 2, axis=0)  # noqa: E731
    elif case == "masked_softmax":  # -inf scores: moving an input leaves them -inf, which is no change
        inputs = [x]
        fn = lambda x: x.masked_fill(np.array([True, False, False]), float("-inf")).softmax(axis=-1)  # noqa: E731
    elif case == "large_layer_norm":  # big enough for the kernels to take their buffers from the pool
        inputs = [_tensor(0, (4, 64, 64), "x")]
        fn = lambda x: F.layer_norm(x, (64,)) * 2.0  # noqa: E731
    elif case == "layer_norm":
        inputs = [x, _tensor(1, (3,), "weight"), _tensor(2, (3,), "bias")]
        fn = lambda x, w, b: F.layer_norm(x, (3,), w, b) + F.layer_norm(x * x, (4, 3))  # noqa: E731
    elif case == "cross_entropy":
        inputs = [_tensor(0, (5, 4), "logits")]
        fn = lambda z: F.cross_entropy(z * 1.5, [1, 0, 3, -100, 2], ignore_index=-100)  # noqa: E731
    elif case == "attention":
        inputs = [_tensor(0, (2, 4, 3), "q"), _tensor(1, (2, 5, 3), "k"), _tensor(2, (2, 5, 2), "v")]
        padding = np.array([[True, True, True, False, False], [True] * 5])[:, None, :]
        fn = lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, mask=padding)  # noqa: E731
                              + F.scaled_dot_product_attention(q, k, v, is_causal=True))
    else:
        inputs = [_tensor(0, (2, 4, 3), "q"), _tensor(1, (2, 4, 3), "k"), _tensor(2, (2, 4, 3), "v")]
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)[1]  # noqa: E731
    with ta.use_kernels(kernels):
        assert gradcheck(fn, inputs, per_node=True, atol=1e-7, rtol=1e-6)


@KERNELS
def test_multi_head_attention_passes_node_by_node(kernels):
    attention = nn.MultiHeadAttention(d_model=8, n_heads=2, causal=True, rng=0).to(np.float64)
    key_mask = np.array([[True, True, True, False], [True] * 4])
    x = _tensor(3, (2, 4, 8), "x")
    with ta.use_kernels(kernels):
        assert gradcheck(lambda x: attention(x, key_mask=key_mask), [x], per_node=True, atol=1e-7, rtol=1e-6)
    assert all(p.grad is None for p in attention.parameters())  # the check leaves no gradient behind


def _usage_cases():
    for entry in all_usages():
        for index, sample in enumerate(entry.samples):
            if sample.smooth:
                yield pytest.param(entry, index, sample, id=f"{entry.id}#{index}")


def _verdict(fn, inputs, **options):
    try:
        return gradcheck(fn, inputs, atol=1e-6, rtol=1e-5, **options)
    except AssertionError as error:
        return str(error)


@KERNELS
@pytest.mark.parametrize("entry, index, sample", list(_usage_cases()))
def test_every_op_sample_gets_the_whole_function_checks_verdict_node_by_node(entry, index, sample, kernels):
    inputs = [Tensor(a, requires_grad=True) for a in sample.arrays(np.float64, entry.seed(index))]
    fn = lambda *tensors: entry.call(*tensors, **sample.kwargs)  # noqa: E731
    with ta.use_kernels(kernels):
        if entry.op.name == "dropout":  # draws its mask again when run again: cannot be replayed
            with pytest.raises(RuntimeError, match="'dropout' gives a different result when run again"):
                gradcheck(fn, inputs, per_node=True)
            return
        whole, per_node = _verdict(fn, inputs), _verdict(fn, inputs, per_node=True)
    assert (whole is True) == (per_node is True), f"whole function: {whole}; node by node: {per_node}"


# ---- planted bugs are named ----
def _add_backward_that_forgets_the_broadcast_sum(ctx, upstream_grad):
    return upstream_grad, upstream_grad  # both inputs get the output's shape, broadcast or not


def test_a_bias_gradient_left_unsummed_is_named():
    x, weight, bias = _tensor(0, (4, 2), "x"), _tensor(1, (2, 3), "weight"), _tensor(2, (3,), "bias")

    def fn(x, weight, bias):
        with ta.scope("head"):
            logits = x @ weight + bias
            logits.name = "logits"
        return logits.tanh()

    with patched("add", backward=_add_backward_that_forgets_the_broadcast_sum, unbroadcast=False):
        with pytest.raises(AssertionError) as caught:
            gradcheck(fn, [x, weight, bias], per_node=True)
    message = str(caught.value)
    assert "the backward of 'add' is wrong" in message
    assert "node 'logits' (made by 'add', scope 'head', shape (4, 3))" in message
    assert "input 1, node 'bias' (a leaf, shape (3,)), has shape (4, 3)" in message
    assert "was the broadcast gradient not summed?" in message
    summed, numeric = _numbers(message)[-2:]
    # d/dbias₀ of Σ R ◦ tanh(x W + b), with R the gradient that arrived at tanh: the same sum
    # of the column either way; finite differences and the summed gradient must agree
    assert summed == pytest.approx(numeric, rel=1e-6)
    assert gradcheck(fn, [x, weight, bias], per_node=True)  # the registry's entry is restored


def _linear_backward_that_forgets_the_bias_sum(ctx, upstream_grad):
    x, weight = ctx.inputs[0].data, ctx.inputs[1].data
    return upstream_grad @ weight, upstream_grad.T @ x, upstream_grad  # db should be Σ over rows


def test_a_linear_layer_whose_bias_gradient_is_not_summed_is_named_with_its_module_scope():
    layer = nn.Linear(3, 2, rng=0).to(np.float64)
    x = _tensor(0, (5, 3), "x")
    with patched("linear", backward=_linear_backward_that_forgets_the_bias_sum):
        with pytest.raises(AssertionError, match=r"the backward of 'linear' is wrong.*scope 'linear'.*input 2, "
                                                 r"node 'bias' \(a leaf, scope 'linear', shape \(2,\)\), has shape \(5, 2\)"):
            gradcheck(lambda x: layer(x).tanh(), [x], per_node=True)


def test_an_overwritten_gradient_at_a_node_used_twice_is_named(monkeypatch):
    x = _tensor(0, (4, 3), "x")

    def fn(x):
        h = x.tanh()
        h.name = "h"
        return (h * 2 + h.exp()).sum(axis=1)

    assert gradcheck(fn, [x], per_node=True)
    monkeypatch.setattr(Tensor, "_add_grads", staticmethod(lambda previous, grad: grad))  # = instead of +=
    with pytest.raises(AssertionError) as caught:
        gradcheck(fn, [x], per_node=True)
    message = str(caught.value)
    assert "node 'h' (made by 'tanh', shape (4, 3)) is used 2 times" in message
    assert "was one gradient overwritten (= instead of +=)?" in message
    exp_sent, mul_sent, total, arrived = _numbers(message.split("at element (0, 0)")[1])
    # both users got the same gradient R₀ from the sum; exp sends R₀·e^h, mul sends R₀·2
    h = np.tanh(x.data[0, 0])
    assert exp_sent / mul_sent == pytest.approx(np.exp(h) / 2, rel=1e-5)
    assert total == pytest.approx(exp_sent + mul_sent, rel=1e-5)
    assert arrived in (pytest.approx(exp_sent, rel=1e-5), pytest.approx(mul_sent, rel=1e-5))


def test_an_overwritten_gradient_in_a_value_graph_is_named(monkeypatch):
    monkeypatch.setattr(Value, "_add_grads", staticmethod(lambda previous, grad: grad))
    a = Value(0.5, label="a")

    def fn(a):
        h = a * 3
        h.label = "h"
        return h * h + h.exp()

    with pytest.raises(AssertionError) as caught:
        gradcheck(fn, [a], per_node=True)
    message = str(caught.value)
    assert "node 'h' (made by 'mul') is used 3 times" in message
    exp_sent, square_a, square_b, total, arrived = _numbers(message)
    assert (exp_sent, square_a, square_b) == pytest.approx((np.exp(1.5), 1.5, 1.5))  # e^h, and h for each side of h·h
    assert total == pytest.approx(np.exp(1.5) + 3.0)
    assert arrived != pytest.approx(total)


def _attention_backward_with_k_transposed(ctx, upstream_grad):
    """dQ = dS·Kᵀ·scale instead of dS·K·scale (it runs only because the shapes are square)."""
    q, k, v = (x.data for x in ctx.inputs)
    W, scale = ctx.saved.attn_weights, ctx.saved.scale
    dW = upstream_grad @ np.swapaxes(v, -1, -2)
    dS = W * (dW - np.sum(dW * W, axis=-1, keepdims=True))
    return dS @ np.swapaxes(k, -1, -2) * scale, np.swapaxes(dS, -1, -2) @ q * scale, np.swapaxes(W, -1, -2) @ upstream_grad


def _attention_numpy(q, k, v):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


@KERNELS
def test_attention_with_k_transposed_in_backward_is_named_at_q(kernels):
    q, k, v = _tensor(0, (2, 3, 3), "q"), _tensor(1, (2, 3, 3), "k"), _tensor(2, (2, 3, 3), "v")

    def fn(q, k, v):
        out = F.scaled_dot_product_attention(q, k, v)
        out.name = "attention"
        return out.sum()  # G = dL/d(out) is the same number everywhere

    with ta.use_kernels(kernels), patched("scaled_dot_product_attention", backward=_attention_backward_with_k_transposed):
        with pytest.raises(AssertionError) as caught:
            gradcheck(fn, [q, k, v], per_node=True)
    message = str(caught.value)
    assert "the backward of 'scaled_dot_product_attention' is wrong" in message
    assert "at node 'attention' (made by 'scaled_dot_product_attention', shape (2, 3, 3))" in message
    assert "input 0, node 'q' (a leaf, shape (2, 3, 3)), at element (0, 0, 0)" in message
    assert "Its rule: dQ = dS·K·scale" in message
    engine, numeric = _numbers(message.split("at element (0, 0, 0)")[1])[:2]
    # by hand, with G all ones: dS = W ◦ (G Vᵀ − rowsum(G Vᵀ ◦ W)), dQ = dS K / √d
    W = _attention_numpy(q.data, k.data, v.data)
    dW = np.ones((2, 3, 3)) @ np.swapaxes(v.data, -1, -2)
    dS = W * (dW - np.sum(dW * W, axis=-1, keepdims=True))
    right = (dS @ k.data / np.sqrt(3))[0, 0, 0]
    transposed = (dS @ np.swapaxes(k.data, -1, -2) / np.sqrt(3))[0, 0, 0]
    assert engine / numeric == pytest.approx(transposed / right, rel=1e-5)


def test_a_softmax_backward_without_the_row_sum_is_named_at_its_element():
    x = _tensor(0, (2, 3), "scores")

    def without_row_sum(ctx, upstream_grad):
        return (ctx.data * upstream_grad,)

    with patched("softmax", backward=without_row_sum):
        with pytest.raises(AssertionError, match=r"backward of 'softmax' is wrong.*input 0, node 'scores' "
                                                 r"\(a leaf, shape \(2, 3\)\), at element \(0, 0\)"):
            gradcheck(lambda x: x.softmax(axis=-1) * 3.0, [x], per_node=True)


def test_the_first_wrong_node_in_backward_order_is_named():
    x = _tensor(0, (2, 3), "x")

    def wrong_exp(ctx, upstream_grad):
        return (upstream_grad * 2.0,)

    def fn(x):
        inner = x.exp()
        inner.name = "inner"
        outer = (inner * 0.5).exp()
        outer.name = "outer"
        return outer

    with patched("exp", backward=wrong_exp):
        with pytest.raises(AssertionError, match="at node 'outer'"):
            gradcheck(fn, [x], per_node=True)


def test_a_difference_no_single_element_shows_alone_is_reported_along_the_direction(monkeypatch):
    monkeypatch.setattr(gradcheck_module, "MAX_ELEMENTS_LOCALISED", 0)
    x = _tensor(0, (3,), "x")
    with patched("tanh", backward=lambda ctx, upstream_grad: (upstream_grad,)):
        with pytest.raises(AssertionError, match="'tanh' is wrong.*along a random direction"):
            gradcheck(lambda x: x.tanh(), [x], per_node=True)


# ---- the rules of the check ----
@pytest.mark.parametrize("eps", [0, -1e-6, float("nan")])
@pytest.mark.parametrize("per_node", [False, True])
def test_eps_must_be_positive(eps, per_node):
    with pytest.raises(ValueError, match="eps is the finite-difference step and must be a positive number"):
        gradcheck(lambda x: x * x, [Value(1.0)], eps=eps, per_node=per_node)


@pytest.mark.parametrize("per_node, failing_call", [(False, 1), (False, 3), (True, 1)])  # 3: x's first element moved
def test_inputs_are_restored_when_fn_raises_half_way(per_node, failing_call):
    original = np.array([[0.5, -1.0], [2.0, 0.25]])
    x, other = Tensor(original.copy(), requires_grad=True), Tensor(original * 2, requires_grad=True)
    x.grad = np.full((2, 2), 7.0)
    calls = []

    def fn(x, other):
        calls.append(1)
        if len(calls) == failing_call:
            raise RuntimeError("planted")
        return (x * other).exp().sum()

    with pytest.raises(RuntimeError, match="planted"):
        gradcheck(fn, [x, other], per_node=per_node)
    np.testing.assert_array_equal(x.data, original)
    np.testing.assert_array_equal(other.data, original * 2)
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 7.0))
    assert other.grad is None


def test_gradients_are_restored_when_a_replayed_forward_raises_after_backward():
    x = _tensor(0, (2, 3), "x")
    x.grad = np.full((2, 3), 7.0)
    layer = nn.Linear(3, 2, rng=0).to(np.float64)
    exp_forward = get("exp").forward
    calls = []

    def exp_failing_when_replayed(ctx, a):
        calls.append(1)
        if len(calls) > 1:  # the first call builds the graph; the second is the checker's replay
            raise RuntimeError("planted")
        return exp_forward(ctx, a)

    with patched("exp", forward=exp_failing_when_replayed):
        with pytest.raises(RuntimeError, match="planted"):
            gradcheck(lambda x: layer(x).exp(), [x], per_node=True)
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 7.0))
    assert layer.weight.grad is None and layer.bias.grad is None


@pytest.mark.parametrize("per_node", [False, True])
def test_values_are_restored_when_fn_raises_half_way(per_node):
    a, b = Value(1.5), Value(-0.5)
    a.grad = 3.0
    calls = []

    def fn(a, b):
        calls.append(1)
        if len(calls) == (1 if per_node else 3):
            raise RuntimeError("planted")
        return a * b

    with pytest.raises(RuntimeError, match="planted"):
        gradcheck(fn, [a, b], per_node=per_node)
    assert (a.data, a.grad, b.data, b.grad) == (1.5, 3.0, -0.5, 0.0)


def test_a_float32_model_is_refused_with_what_to_do():
    layer = nn.Linear(3, 2, rng=0)  # float32 parameters
    with pytest.raises(TypeError, match=r"node 'weight' \(a leaf, scope 'linear'.* is float32.*model\.to\(np\.float64\)"):
        gradcheck(lambda x: layer(x.astype(np.float32)), [_tensor(0, (4, 3))], per_node=True)


def test_observing_calls_gives_each_ops_extra_arguments_and_then_stops():
    x = _tensor(0, (2, 3))
    heard = []
    with observe(on_call=lambda node, args, params: heard.append((node.op.name, args, dict(params)))):
        assert _state.watching
        x.sum(axis=1, keepdims=True)
        F.scaled_dot_product_attention(x, x, x, is_causal=True, scale=0.5)
        x.exp()
    assert not _state.watching  # nobody watches again: the unwatched path runs
    assert heard[0] == ("sum", ((1,), True), {})
    assert heard[1] == ("scaled_dot_product_attention", (), {"mask": None, "is_causal": True, "scale": 0.5})
    assert heard[2] == ("exp", (), {})
