"""The bug zoo: each planted bug fails its check with a message naming the node where the graph
first goes wrong (and the place inside it), each fix passes, planting leaves the engine as it
was, and the stepper opens on the broken graph with the bug's numbers in it."""
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_attn import Tensor, Value
from tinygrad_attn import functional as F
from tinygrad_attn.core import topological_order
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.teach.bugzoo import BUGS, get
from tinygrad_attn.viz import BackwardStepper

# What the checker must say about each bug: the node it names, and the place or the cause.
NAMED = {
    "bias_not_summed": ["the backward of 'add' is wrong", "at node 'logits' (made by 'add'",
                        "input 1, node 'bias' (a leaf, shape (5,)), has shape (2, 3, 5)",
                        "was the broadcast gradient not summed?"],
    "overwritten_gradient": ["node 'h' (made by 'mul') is used 3 times", "was one gradient overwritten (= instead of +=)?"],
    "softmax_overflow": ["the forward goes wrong first at node 'weights' (made by 'softmax', shape (2, 3, 3))",
                         "its value is nan at batch 1, query token 1, key token 1", "'softmax' itself made the non-finite",
                         "every gradient below that node is lost"],
    "mask_after_softmax": ["the forward goes wrong first at node 'weights' (made by 'masked_fill', shape (2, 4, 4))",
                           "wrong at batch 0, query token 0, key token 0: expected 1, got",
                           "those of batch 0, query token 0 sum to",
                           "the gradient first goes wrong at node 'scores'"],
    "scale_by_d_model": ["the forward goes wrong first at node 'scores'", "batch 0, head 0, query token 0, key token 0",
                         "Every number is 0.707107 times the right one, which is 1/√2"],
    "k_transposed": ["the backward of 'scaled_dot_product_attention' is wrong", "at node 'output'",
                     "input 0, node 'q' (a leaf, shape (2, 3, 3)), at element (0, 0, 0)", "Its rule: dQ = dS·K·scale"],
    "softmax_without_row_sum": ["the backward of 'softmax' is wrong", "at node 'weights' (made by 'softmax'",
                                "input 0, node 'scores'", "at element (0, 0, 0)"],
}


def test_the_zoo_holds_the_six_classic_bugs_and_more():
    assert set(NAMED) == set(BUGS) and len(BUGS) >= 6


@pytest.mark.parametrize("name", list(BUGS))
def test_the_planted_bug_fails_naming_the_node(name):
    with np.errstate(all="ignore"):
        result = BUGS[name].check()
    assert not result.passed
    for phrase in NAMED[name]:
        assert phrase in result.message, f"{phrase!r} not in: {result.message}"


@pytest.mark.parametrize("name", list(BUGS))
def test_the_fix_passes(name):
    result = BUGS[name].check(BUGS[name].fixed)
    assert result.passed, result.message
    assert result.message.startswith("Fixed: every stage of the graph")


@pytest.mark.parametrize("name", list(BUGS))
def test_a_fix_not_written_yet_is_said_so(name):
    def not_yet(*args, **kwargs):
        raise NotImplementedError()

    result = BUGS[name].check(not_yet)
    assert not result.passed and "still raises NotImplementedError" in result.message


@pytest.mark.parametrize("name", list(BUGS))
def test_planting_leaves_the_engine_as_it_was(name):
    with np.errstate(all="ignore"):
        BUGS[name].check()
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 3)), requires_grad=True)
    b = Tensor(np.random.default_rng(1).standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, b: ((x + b).softmax(-1) @ x).tanh(), [x, b], per_node=True)
    a = Value(0.3)
    assert gradcheck(lambda a: (a * a + a.exp()).tanh(), [a], per_node=True)
    # and the ops the zoo patches besides: attention and masked_fill
    allowed = np.tril(np.ones((3, 3), dtype=bool))
    assert gradcheck(lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=allowed), [x], per_node=True)
    assert gradcheck(lambda x: x.masked_fill(~allowed, 0.0).softmax(-1), [x], per_node=True)


def test_the_source_shown_is_the_broken_code():
    assert "return upstream_grad, upstream_grad" in BUGS["bias_not_summed"].source()
    assert "np.swapaxes(k, -1, -2) * scale" in BUGS["k_transposed"].source()
    assert "masked_fill(~allowed, 0.0)" in BUGS["mask_after_softmax"].source()


def _node(root, name):
    return next(node for node in topological_order(root) if node.name == name)


def test_the_stepper_opens_on_the_broken_graph():
    """Stepping the overwritten-gradient bug shows the lost gradient: a and b end with what h's
    last user sent alone, not the sum (h·h and exp(h) both use h)."""
    stepper = get("overwritten_gradient").stepper()
    assert isinstance(stepper, BackwardStepper) and stepper.current.steps[0].node is stepper.root
    a, b = _node(stepper.root, "a"), _node(stepper.root, "b")
    h = a.data * b.data
    right = (2 * h + np.exp(h)) * b.data
    assert a.grad != pytest.approx(right)
    assert a.grad == pytest.approx(2 * h * b.data) or a.grad == pytest.approx(h * b.data) \
        or a.grad == pytest.approx(np.exp(h) * b.data)
    fixed = get("overwritten_gradient").stepper(get("overwritten_gradient").fixed)
    assert _node(fixed.root, "a").grad == pytest.approx(right)
    assert "step 1/" in str(stepper)  # the text view a terminal shows


def test_the_stepper_on_a_broken_rule_shows_the_wrong_gradient():
    broken, fixed = get("k_transposed").stepper(), get("k_transposed").stepper(get("k_transposed").fixed)
    q_broken, q_fixed = _node(broken.root, "q").grad, _node(fixed.root, "q").grad
    assert q_broken.shape == q_fixed.shape and not np.allclose(q_broken, q_fixed)
    # the rule is restored: attention itself (the op the bug patched) passes the per-node check again
    q, k, v = (Tensor(np.random.default_rng(i).standard_normal((2, 3, 3)), requires_grad=True) for i in range(3))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [q, k, v], per_node=True)


def test_cli_checks_a_fix_from_a_file(tmp_path):
    fix = tmp_path / "fix.py"
    fix.write_text("import numpy as np\n\n\ndef add_backward(ctx, upstream_grad):\n    a, b = ctx.inputs\n"
                   "    grad_b = upstream_grad.sum(axis=tuple(range(upstream_grad.ndim - b.data.ndim)))\n"
                   "    return upstream_grad, grad_b\n")
    run = subprocess.run([sys.executable, "-m", "tinygrad_attn.exercises", "check", "bias_not_summed", str(fix)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("Fixed:"), run.stdout + run.stderr
    shown = subprocess.run([sys.executable, "-m", "tinygrad_attn.exercises", "show", "bias_not_summed"],
                           capture_output=True, text=True, timeout=120)
    assert "def add_backward_buggy" in shown.stdout and "was the broadcast gradient not summed?" in shown.stdout
