"""The zoo: seven classic bugs, each planted in one piece of a working engine.

Each `*_buggy` function is what the student reads and fixes; its `*_fixed` twin is the mend
(for the tests and the instructor). The references the checker compares with are plain NumPy
below, written from the formulas, not from the engine.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np

from ...core import topological_order
from ...functional import scaled_dot_product_attention
from ...ops import patched
from ...scalar import Value
from ...tensors import Tensor
from .base import Bug, nothing_planted

ATTENTION_AXES = ("batch", "query token", "key token")
HEAD_AXES = ("batch", "head", "query token", "key token")


def _randn(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _leaf(data: np.ndarray, name: str) -> Tensor:
    return Tensor(np.array(data, dtype=np.float64), requires_grad=True, name=name)


def _loss_of(output: Any, projection: np.ndarray) -> Any:
    """Σ output ⊙ R with a fixed random R: every output number takes part, dL/doutput = R."""
    loss = (output * projection).sum()
    loss.name = "loss"
    return loss


def _keeping_stage_grads(build_output: Callable[..., Any], projection: np.ndarray) -> Callable[..., Any]:
    """fn(*inputs) -> loss, keeping .grad on every named intermediate (the checker reads them)."""
    def fn(*inputs: Any) -> Any:
        output = build_output(*inputs)
        for node in topological_order(output):
            if isinstance(node, Tensor) and node.name and node.op is not None:
                node.retain_grad()
        return _loss_of(output, projection)
    return fn


def _softmax(s: np.ndarray) -> np.ndarray:
    s = s - np.max(s, axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward(w: np.ndarray, grad_w: np.ndarray) -> np.ndarray:
    return w * (grad_w - np.sum(grad_w * w, axis=-1, keepdims=True))


def _attention_reference(q, k, v, projection, allowed=None, scale=None):
    """Stages of softmax(q kᵀ·scale, masked) v and their gradients, by hand in NumPy."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    masked = scores if allowed is None else np.where(allowed, scores, -np.inf)
    weights = _softmax(masked)
    output = weights @ v
    grad_weights = projection @ np.swapaxes(v, -1, -2)
    grad_scores = _softmax_backward(weights, grad_weights)        # exactly 0 at masked keys
    grad_q = grad_scores @ k * scale
    grad_k = np.swapaxes(grad_scores, -1, -2) @ q * scale
    grad_v = np.swapaxes(weights, -1, -2) @ projection
    return [("q", ("batch", "query token", "feature"), q, grad_q), ("k", ("batch", "key token", "feature"), k, grad_k),
            ("v", ("batch", "key token", "feature"), v, grad_v), ("scores", ATTENTION_AXES, scores, grad_scores),
            ("weights", ATTENTION_AXES, weights, grad_weights), ("output", ("batch", "query token", "feature"), output,
                                                                   projection)]


# ---- 1. a broadcast bias whose gradient is not summed ----
def summed_to(grad, shape):
    """grad summed over the axes an input of `shape` was broadcast along (a helper you may use)."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def add_backward_buggy(ctx, upstream_grad):
    """The backward of the tensor op a + b (either may be broadcast, as a bias is)."""
    return upstream_grad, upstream_grad


def add_backward_fixed(ctx, upstream_grad):
    a, b = ctx.inputs
    return summed_to(upstream_grad, a.shape), summed_to(upstream_grad, b.shape)


_BIAS_INPUTS = (_randn(1, 2, 3, 4), _randn(2, 4, 5), _randn(3, 5))
_BIAS_R = _randn(4, 2, 3, 5)


def _bias_build(impl):
    def layer(x, weight, bias):
        logits = x @ weight + bias
        logits.name = "logits"
        h = logits.tanh()
        h.name = "h"
        return h
    return _keeping_stage_grads(layer, _BIAS_R), [_leaf(a, n) for a, n in zip(_BIAS_INPUTS, ("x", "weight", "bias"))]


def _bias_reference():
    x, weight, bias = _BIAS_INPUTS
    logits = x @ weight + bias
    h = np.tanh(logits)
    grad_logits = _BIAS_R * (1 - h * h)
    rows = grad_logits.reshape(-1, 5)
    return [("x", ("batch", "token", "feature"), x, grad_logits @ weight.T),
            ("weight", ("row", "column"), weight, x.reshape(-1, 4).T @ rows),
            ("bias", ("feature",), bias, rows.sum(axis=0)),
            ("logits", ("batch", "token", "feature"), logits, grad_logits),
            ("h", ("batch", "token", "feature"), h, _BIAS_R)]


BIAS_NOT_SUMMED = Bug(
    "bias_not_summed", "a broadcast bias whose gradient is not summed",
    "Training a linear layer crashes (or, with a lenient optimizer, the bias moves by a whole batch's worth of "
    "numbers at once).",
    "the backward rule of the tensor op 'add': add_backward(ctx, upstream_grad)",
    add_backward_buggy, add_backward_fixed,
    lambda impl: patched("add", backward=impl, unbroadcast=False), _bias_build, _bias_reference)


# ---- 2. = instead of += where a value feeds several ops ----
def accumulate_buggy(previous, grad):
    """What backward does when a second gradient arrives at a Value that several ops use."""
    return grad


def accumulate_fixed(previous, grad):
    return previous + grad


@contextlib.contextmanager
def _accumulating_with(impl):
    missing = object()
    saved = Value.__dict__.get("_add_grads", missing)
    Value._add_grads = staticmethod(impl)
    try:
        yield
    finally:
        if saved is missing:
            del Value._add_grads
        else:
            Value._add_grads = saved


def _overwrite_build(impl):
    def fn(a, b):
        h = a * b
        h.name = "h"
        loss = h * h + h.exp()          # h feeds three places: both sides of h·h, and exp
        loss.name = "loss"
        return loss
    return fn, [Value(0.5, name="a"), Value(-1.5, name="b")]


def _overwrite_reference():
    a, b = 0.5, -1.5
    h = a * b
    grad_h = 2 * h + np.exp(h)
    return [("a", (), a, grad_h * b), ("b", (), b, grad_h * a), ("h", (), h, grad_h),
            ("loss", (), h * h + np.exp(h), 1.0)]


OVERWRITTEN_GRADIENT = Bug(
    "overwritten_gradient", "= instead of += where a value feeds several ops",
    "The gradients of a and b are too small, and which part is lost depends on the order backward visits the ops.",
    "the core's accumulation: accumulate(previous, grad), the total a node has when another gradient arrives",
    accumulate_buggy, accumulate_fixed, _accumulating_with, _overwrite_build, _overwrite_reference)


# ---- 3. softmax without the max shift ----
def softmax_forward_buggy(ctx, x, axis):
    """The forward of the tensor op softmax: exp(x) / Σ exp(x) along `axis`."""
    exps = np.exp(x)
    ctx.save(axis=axis)
    return exps / np.sum(exps, axis=axis, keepdims=True)


def softmax_forward_fixed(ctx, x, axis):
    exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
    ctx.save(axis=axis)
    return exps / np.sum(exps, axis=axis, keepdims=True)


def _composed_attention(q, k, v, allowed=None):
    """softmax(q kᵀ/√d) v in engine ops, each stage named (the graph the softmax bugs live in)."""
    scores = q @ k.transpose(-1, -2) / np.sqrt(q.shape[-1])
    scores.name = "scores"
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = scores.softmax(-1)
    weights.name = "weights"
    output = weights @ v
    output.name = "output"
    return output


_LARGE = (40 * _randn(10, 2, 3, 4), 40 * _randn(11, 2, 3, 4), _randn(12, 2, 3, 2))
_LARGE_R = _randn(13, 2, 3, 2)


def _overflow_build(impl):
    return (_keeping_stage_grads(_composed_attention, _LARGE_R),
            [_leaf(a, n) for a, n in zip(_LARGE, ("q", "k", "v"))])


SOFTMAX_OVERFLOW = Bug(
    "softmax_overflow", "softmax without the max shift overflows",
    "With sharp attention (large scores) the loss turns into NaN and stays there.",
    "the forward of the tensor op 'softmax': softmax_forward(ctx, x, axis)",
    softmax_forward_buggy, softmax_forward_fixed,
    lambda impl: patched("softmax", forward=impl), _overflow_build,
    lambda: _attention_reference(*_LARGE, _LARGE_R))


# ---- 4. the mask applied after the softmax ----
def masked_attention_buggy(q, k, v, allowed):
    """Attention where query i may use key j only where allowed[..., i, j] is True."""
    scores = q @ k.transpose(-1, -2) / np.sqrt(q.shape[-1])
    scores.name = "scores"
    weights = scores.softmax(-1).masked_fill(~allowed, 0.0)
    weights.name = "weights"
    output = weights @ v
    output.name = "output"
    return output


def masked_attention_fixed(q, k, v, allowed):
    scores = q @ k.transpose(-1, -2) / np.sqrt(q.shape[-1])
    scores.name = "scores"
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    weights.name = "weights"
    output = weights @ v
    output.name = "output"
    return output


_MASK_INPUTS = (_randn(20, 2, 4, 3), _randn(21, 2, 4, 3), _randn(22, 2, 4, 2))
_MASK_ALLOWED = np.tril(np.ones((4, 4), dtype=bool)) & np.array([[[True, True, True, False]], [[True] * 4]])
_MASK_R = _randn(23, 2, 4, 2)


def _mask_build(impl):
    def output(q, k, v):
        return impl(q, k, v, _MASK_ALLOWED)
    return _keeping_stage_grads(output, _MASK_R), [_leaf(a, n) for a, n in zip(_MASK_INPUTS, ("q", "k", "v"))]


MASK_AFTER_SOFTMAX = Bug(
    "mask_after_softmax", "the mask applied after the softmax",
    "The model trains, but masked tokens still steer it, and attention weights no longer sum to 1.",
    "an attention forward in engine ops: masked_attention(q, k, v, allowed)",
    masked_attention_buggy, masked_attention_fixed, nothing_planted, _mask_build,
    lambda: _attention_reference(*_MASK_INPUTS, _MASK_R, allowed=_MASK_ALLOWED))


# ---- 5. scaling by √d_model instead of √d_head ----
def multi_head_attention_buggy(x, w_qkv, n_heads):
    """Multi-head self-attention (no output projection): x (B, T, d_model), w_qkv (d_model, 3·d_model)."""
    B, T, d_model = x.shape
    d_head = d_model // n_heads
    qkv = x @ w_qkv                                                          # (B, T, 3·d_model)
    q, k, v = (qkv[:, :, i * d_model:(i + 1) * d_model].reshape(B, T, n_heads, d_head).transpose(1, 2)
               for i in range(3))                                            # each (B, H, T, d_head)
    scores = q @ k.transpose(-1, -2) / np.sqrt(d_model)
    scores.name = "scores"
    weights = scores.softmax(-1)
    weights.name = "weights"
    output = (weights @ v).transpose(1, 2).reshape(B, T, d_model)           # heads merged back
    output.name = "output"
    return output


def multi_head_attention_fixed(x, w_qkv, n_heads):
    B, T, d_model = x.shape
    d_head = d_model // n_heads
    qkv = x @ w_qkv
    q, k, v = (qkv[:, :, i * d_model:(i + 1) * d_model].reshape(B, T, n_heads, d_head).transpose(1, 2)
               for i in range(3))
    scores = q @ k.transpose(-1, -2) / np.sqrt(d_head)
    scores.name = "scores"
    weights = scores.softmax(-1)
    weights.name = "weights"
    output = (weights @ v).transpose(1, 2).reshape(B, T, d_model)
    output.name = "output"
    return output


_MHA_INPUTS = (_randn(30, 2, 3, 4), _randn(31, 4, 12))
_MHA_HEADS = 2
_MHA_R = _randn(32, 2, 3, 4)


def _mha_build(impl):
    def output(x, w_qkv):
        return impl(x, w_qkv, _MHA_HEADS)
    return _keeping_stage_grads(output, _MHA_R), [_leaf(a, n) for a, n in zip(_MHA_INPUTS, ("x", "w_qkv"))]


def _mha_reference():
    x, w = _MHA_INPUTS
    B, T, D = x.shape
    H, d = _MHA_HEADS, D // _MHA_HEADS
    qkv = x @ w
    heads = [qkv[:, :, i * D:(i + 1) * D].reshape(B, T, H, d).transpose(0, 2, 1, 3) for i in range(3)]
    q, k, v = heads
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    weights = _softmax(scores)
    output = (weights @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
    grad_heads_out = _MHA_R.reshape(B, T, H, d).transpose(0, 2, 1, 3)
    grad_weights = grad_heads_out @ np.swapaxes(v, -1, -2)
    grad_scores = _softmax_backward(weights, grad_weights)
    grads = [grad_scores @ k / np.sqrt(d), np.swapaxes(grad_scores, -1, -2) @ q / np.sqrt(d),
             np.swapaxes(weights, -1, -2) @ grad_heads_out]
    grad_qkv = np.concatenate([g.transpose(0, 2, 1, 3).reshape(B, T, D) for g in grads], axis=-1)
    return [("x", ("batch", "token", "feature"), x, grad_qkv @ w.T),
            ("w_qkv", ("row", "column"), w, x.reshape(-1, D).T @ grad_qkv.reshape(-1, 3 * D)),
            ("scores", HEAD_AXES, scores, grad_scores), ("weights", HEAD_AXES, weights, grad_weights),
            ("output", ("batch", "token", "feature"), output, _MHA_R)]


SCALE_BY_D_MODEL = Bug(
    "scale_by_d_model", "scaling by √d_model instead of √d_head",
    "Multi-head attention comes out blurrier than one head of the same width: every head's weights are too even.",
    "a multi-head attention forward in engine ops: multi_head_attention(x, w_qkv, n_heads)",
    multi_head_attention_buggy, multi_head_attention_fixed, nothing_planted, _mha_build, _mha_reference)


# ---- 6. K transposed in the gradient ----
def attention_backward_buggy(ctx, upstream_grad):
    """The backward of scaled_dot_product_attention: ctx.inputs are q, k, v; ctx.saved holds the
    attention weights W and the scale."""
    q, k, v = (x.data for x in ctx.inputs)
    W, scale = ctx.saved.attn_weights, ctx.saved.scale
    grad_W = upstream_grad @ np.swapaxes(v, -1, -2)
    grad_S = W * (grad_W - np.sum(grad_W * W, axis=-1, keepdims=True))
    grad_q = grad_S @ np.swapaxes(k, -1, -2) * scale
    grad_k = np.swapaxes(grad_S, -1, -2) @ q * scale
    grad_v = np.swapaxes(W, -1, -2) @ upstream_grad
    return grad_q, grad_k, grad_v


def attention_backward_fixed(ctx, upstream_grad):
    q, k, v = (x.data for x in ctx.inputs)
    W, scale = ctx.saved.attn_weights, ctx.saved.scale
    grad_W = upstream_grad @ np.swapaxes(v, -1, -2)
    grad_S = W * (grad_W - np.sum(grad_W * W, axis=-1, keepdims=True))
    return grad_S @ k * scale, np.swapaxes(grad_S, -1, -2) @ q * scale, np.swapaxes(W, -1, -2) @ upstream_grad


_SQUARE = (_randn(40, 2, 3, 3), _randn(41, 2, 3, 3), _randn(42, 2, 3, 3))
_SQUARE_R = _randn(43, 2, 3, 3)


def _sdpa_output(q, k, v):
    output = scaled_dot_product_attention(q, k, v)
    output.name = "output"
    return output


def _k_transposed_build(impl):
    return _keeping_stage_grads(_sdpa_output, _SQUARE_R), [_leaf(a, n) for a, n in zip(_SQUARE, ("q", "k", "v"))]


def _k_transposed_reference():
    stages = _attention_reference(*_SQUARE, _SQUARE_R)
    return [s for s in stages if s[0] in ("q", "k", "v", "output")]  # the fused op names no scores or weights


K_TRANSPOSED = Bug(
    "k_transposed", "K transposed in the gradient",
    "It runs (the shapes are square), the loss even falls a little, but the queries learn the wrong thing.",
    "the backward rule of the tensor op 'scaled_dot_product_attention': attention_backward(ctx, upstream_grad)",
    attention_backward_buggy, attention_backward_fixed,
    lambda impl: patched("scaled_dot_product_attention", backward=impl), _k_transposed_build, _k_transposed_reference)


# ---- 7. the softmax backward without its row sum ----
def softmax_backward_buggy(ctx, upstream_grad):
    """The backward of the tensor op softmax: ctx.data is the output y, ctx.saved.axis the axis."""
    y = ctx.data
    return (y * upstream_grad,)


def softmax_backward_fixed(ctx, upstream_grad):
    y, axis = ctx.data, ctx.saved.axis
    return (y * (upstream_grad - np.sum(upstream_grad * y, axis=axis, keepdims=True)),)


_SMALL = (_randn(50, 2, 3, 4), _randn(51, 2, 3, 4), _randn(52, 2, 3, 2))
_SMALL_R = _randn(53, 2, 3, 2)


def _row_sum_build(impl):
    return (_keeping_stage_grads(_composed_attention, _SMALL_R),
            [_leaf(a, n) for a, n in zip(_SMALL, ("q", "k", "v"))])


SOFTMAX_WITHOUT_ROW_SUM = Bug(
    "softmax_without_row_sum", "the softmax backward forgets the row sum",
    "Gradients reach the scores, but they do not sum to zero across each row, so all scores drift together.",
    "the backward rule of the tensor op 'softmax': softmax_backward(ctx, upstream_grad)",
    softmax_backward_buggy, softmax_backward_fixed,
    lambda impl: patched("softmax", backward=impl), _row_sum_build,
    lambda: _attention_reference(*_SMALL, _SMALL_R))

BUGS: dict[str, Bug] = {b.name: b for b in [
    BIAS_NOT_SUMMED, OVERWRITTEN_GRADIENT, SOFTMAX_OVERFLOW, MASK_AFTER_SOFTMAX, SCALE_BY_D_MODEL, K_TRANSPOSED,
    SOFTMAX_WITHOUT_ROW_SUM]}
