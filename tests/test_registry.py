"""The op registry and the core's public view: one unit per op, patching an op for a block,
the kernel switch, observers that change nothing, and the node view nothing private is read
around."""
import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value
from tinygrad_attn import functional as F
from tinygrad_attn.core import observe
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.ops import all_ops, get, patched
from tinygrad_attn.ops.samples import all_usages


def _softmax_backward_without_the_row_sum(ctx, upstream_grad):
    """A classic bug: y ◦ g, forgetting to subtract Σⱼ gⱼyⱼ."""
    return (ctx.data * upstream_grad,)


def test_every_op_declares_one_formula_per_input_and_a_backward():
    for op in all_ops():
        assert op.formulas and all(isinstance(f, str) and f for f in op.formulas), op
        assert callable(op.forward) and callable(op.backward), op


def test_scalar_and_tensor_ops_share_one_registry():
    assert get("mul", engine="scalar") is not get("mul")
    assert {op.name for op in all_ops("scalar")} <= {op.name for op in all_ops("tensor")}


def test_an_unknown_op_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="no tensor op named 'softmaks'.*softmax"):
        get("softmaks")


def test_a_patched_backward_runs_inside_the_block_and_is_restored_after():
    x = Tensor(np.array([[0.3, -1.2, 2.0]]), requires_grad=True, dtype=np.float64)
    good = gradcheck(lambda t: (t.softmax(axis=-1) * Tensor(np.array([[1.0, 2.0, 3.0]]))).sum(), [x])
    assert good
    with patched("softmax", backward=_softmax_backward_without_the_row_sum):
        with pytest.raises(AssertionError):
            gradcheck(lambda t: (t.softmax(axis=-1) * Tensor(np.array([[1.0, 2.0, 3.0]]))).sum(), [x])
    assert gradcheck(lambda t: (t.softmax(axis=-1) * Tensor(np.array([[1.0, 2.0, 3.0]]))).sum(), [x])


def test_a_patched_fused_op_bypasses_its_kernel():
    op = get("layer_norm")
    assert op.kernel is not None
    calls = []
    reference_backward = op.rule

    def spy(ctx, upstream_grad):
        calls.append(ctx.op)
        return reference_backward(ctx, upstream_grad)

    x = Tensor(np.random.default_rng(0).standard_normal((2, 4)), requires_grad=True)
    with patched("layer_norm", backward=spy):
        F.layer_norm(x, (4,)).sum().backward()
    assert calls == [op]  # the reference op ran (and so did the patch), not the kernel
    assert op.backward is not spy and op.active is op.kernel


def test_use_kernels_switches_and_restores():
    assert ta.ops.kernels_enabled()
    with ta.use_kernels(False):
        assert not ta.ops.kernels_enabled()
        assert get("layer_norm").active is get("layer_norm")
    assert ta.ops.kernels_enabled()
    ta.use_kernels(False)
    try:
        assert not ta.ops.kernels_enabled()
    finally:
        ta.use_kernels(True)
    with pytest.raises(TypeError, match="use_kernels: expected True or False"):
        ta.use_kernels("no")


def test_kernels_are_not_what_a_learner_reads_first():
    for op in all_ops("tensor"):
        if op.kernel is not None:
            assert op.kernel.reference_op is op and op.kernel.name == op.name
            assert op.kernel.formulas == op.formulas  # the same rule, explained once
            assert "kernels" in op.kernel.forward.__module__ and "kernels" not in op.forward.__module__


def test_every_usage_belongs_to_an_op_of_the_registry():
    ops = {id(op) for op in all_ops()}
    assert all(id(entry.op) in ops for entry in all_usages())


# ---- observers ----
def _small_graph():
    a = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, name="a")
    b = Tensor(np.array([0.5, -1.0]), requires_grad=True, name="b")
    return a, b, ((a * b + a).softmax(axis=-1) * a).sum()


def _description(root):
    return [(step.op, step.node.name, np.asarray(step.grad).tolist()) for step in root.backward_steps(retain_graph=True)]


def test_observers_hear_every_node_and_every_step_and_change_nothing():
    _, _, plain = _small_graph()
    expected = _description(plain)
    made, stepped = [], []
    with observe(on_node=lambda node: made.append(node.op.name), on_step=lambda step: stepped.append(step.op)):
        _, _, watched = _small_graph()
        assert _description(watched) == expected
    assert made == ["mul", "add", "softmax", "mul", "sum"]
    assert stepped == [op for op, _, _ in expected]
    assert not ta.core._state.watching  # nothing listens any more: node creation checks one flag


def test_an_observer_must_be_callable():
    with pytest.raises(TypeError, match="observe: on_node must be callable"):
        observe(on_node=3)


# ---- the public node view ----
def test_a_node_offers_op_inputs_scope_name_id_and_named_saves():
    with ta.scope("lesson"):
        x = Tensor(np.array([[1.0, 2.0, 4.0]]), requires_grad=True, name="x")
        y = x.softmax(axis=-1)
    assert y.op is get("softmax") and y.inputs == (x,) and y.scope == "lesson" and x.scope == "lesson"
    assert x.op is None and x.is_leaf and y.id > x.id
    assert y.saved.axis == 1
    y.sum().backward()
    assert y.is_freed
    with pytest.raises(RuntimeError, match="released what it saved"):
        y.saved


def test_value_and_tensor_share_name_and_backward_conventions():
    v = Value(2.0, name="v")
    assert v.label == "v" and Value(1.0, label="w").name == "w"
    (v * v).backward(grad=2.0)
    assert v.grad == 8.0
    t = Tensor([2.0], requires_grad=True, name="t")
    (t * t).sum().backward(grad=np.float32(2.0))
    assert t.grad.tolist() == [8.0]


def test_one_pow_for_numbers_and_values():
    x = Value(3.0)
    assert (x ** 2).op is (x ** Value(2.0)).op is (2 ** x).op is get("pow", engine="scalar")
