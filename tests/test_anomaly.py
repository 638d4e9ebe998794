"""Anomaly mode in a real GPT: a non-finite value put there the way it happens in practice (a
weight grown huge so a later op overflows, an inf in one embedding row, the log of a probability
that is 0 or subnormal, a loss scale too large for backward) stops at the first op producing it,
and the error names that op and where it is in the model.

The expected op and scope come from watching the same computation without anomaly mode: every
node made (`ta.observe`) and every backward step (`backward_steps`), in order, the first one
whose value or sent gradient is not finite.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import functional as F, nn

def _assert_names_scope(message, scope):
    assert scope in message, f"{scope!r} not in {message!r}"


def _gpt():
    model = nn.GPT(vocab_size=8, block_size=6, d_model=16, n_heads=2, n_layers=2, d_ff=32, rng=0)
    idx = np.array([[1, 3, 5, 2, 7, 3], [0, 4, 6, 1, 3, 2]])
    targets = np.roll(idx, -1, axis=1)
    return model, idx, targets


def _loss(model, idx, targets):
    logits = model(ta.tensor(idx))
    return F.cross_entropy(logits.view(-1, logits.size(-1)), ta.tensor(targets.reshape(-1)))


def _first_non_finite_node(run):
    """(op name, scope) of the first node `run()` makes whose value is not finite, anomaly mode off."""
    found = []

    def watch(node):
        if not found and not np.isfinite(node.data).all():
            found.append((node.op_name, node.scope))

    with warnings.catch_warnings(), np.errstate(all="ignore"), ta.observe(on_node=watch):
        warnings.simplefilter("ignore", RuntimeWarning)
        run()
    assert found, "the planted value made nothing non-finite"
    return found[0]


def _first_non_finite_gradient(root, upstream=None):
    """(op name, scope) of the first backward step that sends a non-finite gradient, anomaly mode off."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for step in root.backward_steps(upstream, retain_graph=True):
            if any(g is not None and not np.isfinite(g).all() for g in step.sent):
                return step.op, step.node.scope
    raise AssertionError("backward sent only finite gradients")


def _anomaly_message(run):
    with ta.detect_anomaly(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(RuntimeError, match="detect_anomaly") as caught:
            run()
    return str(caught.value)


# ---- forward: the planted values ----
def _huge_attention_weight():
    """The query/key projection grown to 1e21: its output (1e20) is finite, q·k (1e40) is not."""
    model, idx, targets = _gpt()
    with ta.no_grad():
        model.blocks[0].attn.qkv_proj.weight.data *= np.float32(1e21)
    return lambda: _loss(model, idx, targets), ("packed_attention", "gpt/blocks.0/attn")


def _inf_embedding_row():
    """One token's embedding row is inf (a corrupted checkpoint); token 3 is in the batch."""
    model, idx, targets = _gpt()
    with ta.no_grad():
        model.tok_emb.weight.data[3] = np.inf
    return lambda: _loss(model, idx, targets), ("embedding", "gpt/tok_emb")


def _log_of_a_zero_probability():
    """A hand-written loss, -log p[target], where the target's probability underflowed to 0 (the
    head grew large, so logits differ by more than float32's exp can span)."""
    model, idx, _ = _gpt()
    with ta.no_grad():
        model.head.weight.data *= np.float32(300.0)
        logits = model(ta.tensor(idx)).data.reshape(-1, 8)
    targets = logits.argmin(axis=1)  # the least likely class of each position

    def run():
        with ta.scope("loss"):
            probs = F.softmax(model(ta.tensor(idx)).view(-1, 8), dim=-1)
            return -probs[np.arange(len(targets)), targets].log().mean()

    return run, ("log", "loss")


FORWARD_CASES = {"huge_attention_weight": _huge_attention_weight, "inf_embedding_row": _inf_embedding_row,
                 "log_of_zero_probability": _log_of_a_zero_probability}


@pytest.mark.parametrize("case", FORWARD_CASES, ids=list(FORWARD_CASES))
def test_forward_anomaly_names_the_first_op_producing_a_non_finite_value(case):
    run, (op, scope) = FORWARD_CASES[case]()
    assert _first_non_finite_node(run) == (op, scope)  # the planted value does what the case says
    message = _anomaly_message(run)
    assert re.search(rf"'{op}'( in \S+)? produced a non-finite value", message), message


@pytest.mark.parametrize("case", FORWARD_CASES, ids=list(FORWARD_CASES))
def test_forward_anomaly_says_where_in_the_model_the_op_is(case):
    run, (op, scope) = FORWARD_CASES[case]()
    assert _first_non_finite_node(run) == (op, scope)
    _assert_names_scope(_anomaly_message(run), scope)


# ---- backward: forward is finite, a gradient is not ----
def _loss_scale_too_large():
    """Mixed-precision style loss scaling with too large a scale, in a model whose final layer
    norm's gain has grown to 100: the loss is finite and so is the gradient cross_entropy sends
    (at most scale/N), but the gain multiplies it past float32's range in the model's backward."""
    model, idx, targets = _gpt()
    with ta.no_grad():
        model.ln_f.weight.data *= np.float32(100.0)
    loss = _loss(model, idx, targets)
    upstream = ta.tensor(np.float32(3e38))
    return loss, upstream


def _log_of_a_subnormal_probability():
    """-log p with p subnormal (1e-40): log p = -92 is finite, its gradient 1/p overflows."""
    model, idx, _ = _gpt()
    with ta.no_grad():
        model.head.weight.data *= np.float32(60.0)
        logits = model(ta.tensor(idx)).data.reshape(-1, 8).astype(np.float64)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    # per row, a class whose probability is below 1/float32 max (so 1/p overflows) but above 0
    subnormal = (log_probs < -np.log(np.finfo(np.float32).max)) & (log_probs > np.log(2.0 ** -140))
    rows = np.flatnonzero(subnormal.any(axis=1))
    assert rows.size, "the scaled head gives subnormal probabilities"
    targets = subnormal[rows].argmax(axis=1)
    with ta.scope("loss"):
        probs = F.softmax(model(ta.tensor(idx)).view(-1, 8), dim=-1)
        loss = -probs[rows, targets].log().sum()
    return loss, None


BACKWARD_CASES = {"loss_scale_too_large": _loss_scale_too_large,
                  "log_of_subnormal_probability": _log_of_a_subnormal_probability}


def _backward_expectation(case):
    loss, upstream = BACKWARD_CASES[case]()
    assert np.isfinite(loss.data).all()
    op, scope = _first_non_finite_gradient(loss, upstream)
    if case == "loss_scale_too_large":
        assert scope.startswith("gpt/"), scope  # inside the model, not in the loss
    else:
        assert (op, scope) == ("log", "loss")
    return loss, upstream, op, scope


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=list(BACKWARD_CASES))
def test_backward_anomaly_names_the_first_op_sending_a_non_finite_gradient(case):
    loss, upstream, op, _ = _backward_expectation(case)
    message = _anomaly_message(lambda: loss.backward(upstream))
    assert re.search(rf"backward of '{op}'( in \S+)? sent a non-finite gradient", message), message


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=list(BACKWARD_CASES))
def test_backward_anomaly_says_where_in_the_model_the_op_is(case):
    loss, upstream, _, scope = _backward_expectation(case)
    _assert_names_scope(_anomaly_message(lambda: loss.backward(upstream)), scope)


def test_without_anomaly_mode_the_same_model_runs_through():
    run, _ = _inf_embedding_row()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        loss = run()
    assert not np.isfinite(loss.data)  # a NaN you pass in is allowed outside anomaly mode
