"""Attention: forward, backward by hand, causal and padding masks, heads, and dL/dW_q."""
from __future__ import annotations

import numpy as np

from .base import Case, Exercise, Hint, compare_array, variant


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _randn(seed: int, *shape: int) -> np.ndarray:
    return _rng(seed).standard_normal(shape)


def _softmax(s, axis=-1):
    s = s - np.max(s, axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def _t(x):
    return np.swapaxes(x, -1, -2)


def _tokens(ndim: int, last: str) -> tuple[str, ...]:
    return ("batch", "query token", last)[-ndim:] if ndim <= 3 else ("batch", "head", "query token", last)


# ---- scaled dot-product attention, forward ----
def attention(q, k, v):
    """Scaled dot-product attention: q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v)
    -> (..., T_q, d_v): softmax(q kᵀ / √d) v, the softmax over the keys."""
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)           # (..., T_q, T_k)
    scores = scores - np.max(scores, axis=-1, keepdims=True)   # stable: exponents <= 0
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    return weights @ v                                         # (..., T_q, d_v)


def _attention_cases() -> list[Case]:
    return [
        Case("3 tokens, d = 4, no batch", (_randn(20, 3, 4), _randn(21, 3, 4), _randn(22, 3, 2))),
        Case("a batch of 2, 3 queries over 5 keys", (_randn(23, 2, 3, 4), _randn(24, 2, 5, 4), _randn(25, 2, 5, 3))),
        Case("large scores (q and k times 30)", (30 * _randn(26, 2, 4), 30 * _randn(27, 3, 4), _randn(28, 3, 2))),
        Case("a single key: the output is its value", (_randn(29, 2, 3), _randn(30, 1, 3), _randn(31, 1, 2))),
    ]


def _judge_attention(case, got, expected):
    q, k, v = case.args
    d = q.shape[-1]
    hints = [
        Hint(f"did you divide the scores q·k by √d? Here d = {d} (the last axis of q), so by {np.sqrt(d):.4g}.",
             variant(lambda: _softmax(q @ _t(k)) @ v)),
        Hint(f"you divided the scores by d = {d}; the scale is 1/√d = 1/{np.sqrt(d):.4g}.",
             variant(lambda: _softmax(q @ _t(k) / d) @ v)),
        Hint("each query's weights must sum to 1 over the keys: the softmax runs over the last axis of the "
             "scores (one row per query), not over the queries.",
             variant(lambda: _softmax(q @ _t(k) / np.sqrt(d), axis=-2) @ v)),
        Hint("exp of a large score overflowed: subtract each row's max score before exp.",
             variant(lambda: (np.exp(q @ _t(k) / np.sqrt(d)) / np.exp(q @ _t(k) / np.sqrt(d)).sum(-1, keepdims=True)) @ v)),
        Hint("you returned the attention weights; the output is weights @ v.",
             variant(lambda: _softmax(q @ _t(k) / np.sqrt(d)))),
    ]
    return compare_array("attention output", got, expected, _tokens(expected.ndim, "feature"), hints,
                         shape_note="The output has one row per query and the width of v: (..., T_q, d_v).")


ATTENTION = Exercise(
    "attention", "scaled dot-product attention, forward",
    r"""
    Write `attention(q, k, v)`: $\mathrm{softmax}\!\big(q k^\top / \sqrt{d}\big)\, v$, where $d$ is the
    last axis of `q`, the softmax runs over the keys (the last axis of the scores), and any
    leading axes are batch axes. `q` has $T_q$ rows and `k`, `v` have $T_k$: they need not be equal.
    Keep it finite when the scores are large.
    """,
    attention, _attention_cases, _judge_attention)


# ---- attention backward, by hand ----
def attention_backward(q, k, v, upstream_grad):
    """For out = softmax(q kᵀ / √d) v, given upstream_grad = dL/dout (..., T_q, d_v), return
    (dL/dq, dL/dk, dL/dv), each the shape of its input."""
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    weights = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    weights = weights / np.sum(weights, axis=-1, keepdims=True)                        # W (..., T_q, T_k)
    grad_v = np.swapaxes(weights, -1, -2) @ upstream_grad                               # Wᵀ G
    grad_weights = upstream_grad @ np.swapaxes(v, -1, -2)                               # G Vᵀ
    grad_scores = weights * (grad_weights - np.sum(grad_weights * weights, axis=-1, keepdims=True))
    grad_q = grad_scores @ k / np.sqrt(d)                                               # dS K / √d
    grad_k = np.swapaxes(grad_scores, -1, -2) @ q / np.sqrt(d)                          # dSᵀ Q / √d
    return grad_q, grad_k, grad_v


def _attention_backward_cases() -> list[Case]:
    def case(label, seed, q_shape, k_shape, dv, scale=1.0):
        q, k = scale * _randn(seed, *q_shape), scale * _randn(seed + 1, *k_shape)
        v = _randn(seed + 2, *k_shape[:-1], dv)
        return Case(label, (q, k, v, _randn(seed + 3, *q_shape[:-1], dv)))
    return [
        case("3 tokens, d = 3 (square)", 40, (3, 3), (3, 3), 3),
        case("3 queries over 4 keys, d = 2, d_v = 3", 44, (3, 2), (4, 2), 3),
        case("a batch of 2, 4 tokens, d = 3", 48, (2, 4, 3), (2, 4, 3), 2),
        case("large scores (q and k times 10)", 52, (3, 4), (3, 4), 2, scale=10.0),
    ]


def _attention_backward_wrong(q, k, v, g):
    """The known mistakes, each as (which gradient, its wrong value, what to say)."""
    d = q.shape[-1]
    w = _softmax(q @ _t(k) / np.sqrt(d))
    dw = g @ _t(v)
    ds = w * (dw - np.sum(dw * w, axis=-1, keepdims=True))
    return [
        (2, lambda: w @ g, "dL/dv = Wᵀ·G: the weights W are (queries × keys), so transpose them."),
        (0, lambda: (w * dw) @ k / np.sqrt(d),
         "did you forget to subtract the row sum Σₖ wₖ (dL/dwₖ) in the softmax backward? "
         "dL/ds = W ⊙ (dL/dW − rowsum(dL/dW ⊙ W))."),
        (0, lambda: ds @ k, f"dL/dq = dS·K/√d: the 1/√d = 1/{np.sqrt(d):.4g} of the forward comes back in the backward."),
        (0, lambda: ds @ _t(k) / np.sqrt(d), "dL/dq = dS·K/√d, with K as it is (keys × d); you used Kᵀ."),
        (1, lambda: _t(w * dw) @ q / np.sqrt(d),
         "did you forget to subtract the row sum Σₖ wₖ (dL/dwₖ) in the softmax backward?"),
        (1, lambda: ds @ q / np.sqrt(d), "dL/dk = dSᵀ·Q/√d: the scores are (queries × keys), so transpose dS."),
        (1, lambda: _t(ds) @ q, f"dL/dk = dSᵀ·Q/√d: the 1/√d = 1/{np.sqrt(d):.4g} comes back in the backward."),
    ]


def _judge_attention_backward(case, got, expected):
    q, k, v, g = case.args
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return ("your attention_backward should return three gradients, (dL/dq, dL/dk, dL/dv); "
                f"it returned {'a ' + type(got).__name__ if not isinstance(got, (tuple, list)) else len(got)}.")
    wrong = _attention_backward_wrong(q, k, v, g)
    names = ("dL/dq", "dL/dk", "dL/dv")
    lasts = ("feature", "feature", "feature of v")
    for which in (2, 0, 1):  # the order backward finds them: dv first, then through the softmax
        hints = [Hint(text, variant(fn)) for position, fn, text in wrong if position == which]
        axes = _tokens(expected[which].ndim, lasts[which])
        if which > 0:
            axes = axes[:-2] + ("key token", lasts[which])
        message = compare_array(names[which], got[which], expected[which], axes, hints,
                                shape_note=f"{names[which]} has the shape of {names[which][-1]}.")
        if message:
            return message
    return None


ATTENTION_BACKWARD = Exercise(
    "attention_backward", "attention backward by hand",
    r"""
    Write `attention_backward(q, k, v, upstream_grad)` for $\mathrm{out} = W v$ with
    $W = \mathrm{softmax}(S)$, $S = q k^\top/\sqrt{d}$, given $G = \partial L/\partial\,\mathrm{out}$.
    Return `(dq, dk, dv)`:

    - $\partial L/\partial v = W^\top G$ and $\partial L/\partial W = G v^\top$;
    - $\partial L/\partial S = W \odot \big(\partial L/\partial W - \mathrm{rowsum}(\partial L/\partial W \odot W)\big)$ (the softmax backward);
    - $\partial L/\partial q = (\partial L/\partial S)\, k / \sqrt{d}$ and $\partial L/\partial k = (\partial L/\partial S)^\top q / \sqrt{d}$.
    """,
    attention_backward, _attention_backward_cases, _judge_attention_backward)


# ---- the causal mask ----
def causal_softmax(scores):
    """Attention weights with a causal mask: scores (..., T, T), query i may attend to keys
    j <= i only; a masked key gets weight exactly 0 and each row still sums to 1."""
    T = scores.shape[-1]
    allowed = np.tril(np.ones((T, T), dtype=bool))              # True on and below the diagonal
    masked = np.where(allowed, scores, -np.inf)                 # before the softmax, not after
    masked = masked - np.max(masked, axis=-1, keepdims=True)    # the diagonal is always allowed
    weights = np.exp(masked)
    return weights / np.sum(weights, axis=-1, keepdims=True)


def _causal_cases() -> list[Case]:
    return [
        Case("4 tokens", (_randn(60, 4, 4),)),
        Case("a batch of 2 with 2 heads, 3 tokens", (_randn(61, 2, 2, 3, 3),)),
        Case("large scores (times 500)", (500 * _randn(62, 3, 3),)),
        Case("one token", (np.array([[7.0]]),)),
    ]


def _judge_causal(case, got, expected):
    (s,) = case.args
    T = s.shape[-1]
    tril = np.tril(np.ones((T, T), dtype=bool))
    hints = [
        Hint("you zeroed the future weights after the softmax, so a row no longer sums to 1. Set the masked "
             "scores to −inf before the softmax: exp(−inf) = 0, and the rest renormalise.",
             variant(lambda: _softmax(s) * tril)),
        Hint("token i may attend to keys j ≤ i (itself and the past); yours lets it see the future instead. "
             "np.tril keeps the lower triangle.", variant(lambda: _masked_softmax(s, np.triu(np.ones((T, T), bool))))),
        Hint("a token may attend to itself: the diagonal (j = i) is allowed, only j > i is masked.",
             variant(lambda: _masked_softmax(s, np.tril(np.ones((T, T), bool), -1)))),
        Hint("exp of a large score overflowed: subtract each row's max (over the allowed keys) before exp.",
             variant(lambda: np.where(tril, np.exp(s), 0) / np.where(tril, np.exp(s), 0).sum(-1, keepdims=True))),
    ]
    return compare_array("causal attention weights", got, expected, _tokens(s.ndim, "key token"), hints)


CAUSAL_SOFTMAX = Exercise(
    "causal_softmax", "applying a causal mask",
    r"""
    Write `causal_softmax(scores)`: `scores` is $(\ldots, T, T)$, row $i$ the scores of query $i$.
    In a decoder, token $i$ may attend only to keys $j \le i$. Return the weights: masked
    entries exactly 0, each row summing to 1 over its allowed keys.

    The mask goes in before the softmax: set $s_{ij} = -\infty$ for $j > i$, then softmax
    ($e^{-\infty} = 0$). Zeroing weights after the softmax leaves rows that do not sum to 1.
    """,
    causal_softmax, _causal_cases, _judge_causal)


# ---- a padding mask, fully masked rows ----
def masked_softmax(scores, mask):
    """Softmax over the last axis of scores, with mask (broadcastable to scores; True = the key
    may be attended to, as in PyTorch). A row with no allowed key gives all zeros, not NaN."""
    allowed = np.broadcast_to(mask, scores.shape)
    masked = np.where(allowed, scores, -np.inf)
    row_max = np.max(masked, axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)     # a row with no allowed key
    weights = np.exp(masked - row_max)                        # exp(-inf) = 0
    total = np.sum(weights, axis=-1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def _masked_softmax(s, mask):
    return masked_softmax(s, mask)


def _masked_cases() -> list[Case]:
    padding = np.array([[True, True, True, False, False], [True] * 5])[:, None, :]   # (2, 1, 5): per batch
    fully = np.array([[True, False, True], [False, False, False], [True, True, False]])
    return [
        Case("a padding mask (2, 1, 5) broadcast over 3 queries", (_randn(70, 2, 3, 5), padding)),
        Case("a row with every key masked (query token 1)", (_randn(71, 3, 3), fully)),
        Case("one mask row (5,) for every query, large scores", (400 * _randn(72, 2, 5), np.array([True, False, True, True, False]))),
        Case("causal and padding together, 4 tokens", (_randn(73, 4, 4), np.tril(np.ones((4, 4), bool)) & np.array([True, True, True, False]))),
    ]


def _judge_masked(case, got, expected):
    s, mask = case.args
    allowed = np.broadcast_to(mask, s.shape)
    none = ~allowed.any(axis=-1)
    empty_rows = np.argwhere(none)
    hints = [
        Hint("you zeroed the masked weights after the softmax, so a row no longer sums to 1. Set the masked "
             "scores to −inf before the softmax.", variant(lambda: _softmax(s) * allowed)),
        Hint("the mask is True where a key MAY be attended to (as in PyTorch's scaled_dot_product_attention); "
             "yours masks those and keeps the others.", variant(lambda: masked_softmax(s, ~allowed))),
    ]
    if empty_rows.size:
        row = ", ".join(f"{name} {i}" for name, i in zip(_tokens(s.ndim, "")[:-1], empty_rows[0]))
        hints += [
            Hint(f"{row} has no allowed key at all: its weights should be all 0, but yours are NaN (0/0, or "
                 "exp(−inf − (−inf))). Where a row's total is 0, return 0.",
                 lambda got: bool(np.isnan(np.asarray(got, dtype=float)[none]).all())),
            Hint(f"{row} has no allowed key at all: its weights should be all 0, but yours spread 1/T evenly. "
                 "Filling with a large negative number gives every key of that row the same score.",
                 lambda got: bool(np.allclose(np.asarray(got, dtype=float)[none], 1.0 / s.shape[-1]))),
        ]
    return compare_array("masked attention weights", got, expected, _tokens(s.ndim, "key token"), hints)


MASKED_SOFTMAX = Exercise(
    "masked_softmax", "a padding mask, with fully masked rows",
    r"""
    Write `masked_softmax(scores, mask)`: the softmax over the last axis of `scores` where only
    keys with `mask == True` take part (`mask` broadcasts against `scores`, e.g. `(B, 1, T)` for
    padding). Masked keys get weight exactly 0. A query whose every key is masked must get a row
    of zeros, not NaN: with all scores $-\infty$ the softmax is $0/0$.
    """,
    masked_softmax, _masked_cases, _judge_masked)


# ---- multi-head split and merge ----
def split_heads(x, n_heads):
    """(B, T, D) -> (B, n_heads, T, D // n_heads): head h takes features h·d_head ... (h+1)·d_head - 1."""
    B, T, D = x.shape
    d_head = D // n_heads
    return x.reshape(B, T, n_heads, d_head).transpose(0, 2, 1, 3)   # (B, T, H, d_head) -> (B, H, T, d_head)


def merge_heads(x):
    """(B, H, T, d_head) -> (B, T, H·d_head): the inverse of split_heads."""
    B, H, T, d_head = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * d_head)


def _split_cases() -> list[Case]:
    return [
        Case("batch 2, 3 tokens, d_model 4, 2 heads", (np.arange(24.0).reshape(2, 3, 4), 2)),
        Case("batch 1, 4 tokens, d_model 6, 3 heads", (_randn(80, 1, 4, 6), 3)),
        Case("one head (a no-op apart from the axis)", (_randn(81, 2, 2, 3), 1)),
    ]


def _judge_split(case, got, expected):
    x, H = case.args
    B, T, D = x.shape
    hints = [
        Hint("you reshaped (B, T, D) straight to (B, H, T, d_head): that cuts the token axis into heads. "
             "Reshape to (B, T, H, d_head) first, then swap the token and head axes.",
             variant(lambda: x.reshape(B, H, T, D // H))),
        Hint("head h takes the contiguous features h·d_head … (h+1)·d_head − 1, not every H-th feature: "
             "reshape to (B, T, H, d_head), not (B, T, d_head, H).",
             variant(lambda: x.reshape(B, T, D // H, H).transpose(0, 3, 1, 2))),
    ]
    return compare_array("heads", got, expected, ("batch", "head", "token", "feature"), hints,
                         shape_note=f"The heads are (batch, head, token, feature) = ({B}, {H}, {T}, {D // H}): "
                                    "did you forget to move the head axis in front of the tokens?")


SPLIT_HEADS = Exercise(
    "split_heads", "multi-head attention: split into heads",
    r"""
    Write `split_heads(x, n_heads)`: `x` is $(B, T, D)$ and $D = H \cdot d_\text{head}$. Return
    $(B, H, T, d_\text{head})$ where head $h$ holds the features $h\,d_\text{head}, \ldots, (h+1)\,d_\text{head}-1$
    of every token. A reshape alone cannot do it: the head axis must end up in front of the tokens.
    """,
    split_heads, _split_cases, _judge_split)


def _merge_cases() -> list[Case]:
    return [
        Case("batch 2, 2 heads, 3 tokens, d_head 2", (np.arange(24.0).reshape(2, 2, 3, 2),)),
        Case("batch 1, 3 heads, 4 tokens, d_head 2", (_randn(82, 1, 3, 4, 2),)),
    ]


def _judge_merge(case, got, expected):
    (x,) = case.args
    B, H, T, d = x.shape
    hints = [
        Hint("you reshaped (B, H, T, d_head) straight to (B, T, H·d_head): that mixes tokens of different heads. "
             "Swap the head and token axes first, then reshape.", variant(lambda: x.reshape(B, T, H * d))),
    ]
    return compare_array("merged heads", got, expected, ("batch", "token", "feature"), hints)


MERGE_HEADS = Exercise(
    "merge_heads", "multi-head attention: merge the heads back",
    r"""
    Write `merge_heads(x)`: the inverse of `split_heads`, $(B, H, T, d_\text{head}) \to (B, T, H\,d_\text{head})$,
    so that `merge_heads(split_heads(x, H))` is `x` again: token $t$'s features are head 0's, then head 1's, ...
    """,
    merge_heads, _merge_cases, _judge_merge)


# ---- dL/dW_q for one head ----
def grad_w_q(x, w_q, w_k, w_v, upstream_grad):
    """One attention head: q, k, v = x w_q, x w_k, x w_v (x is (T, D), each w is (D, d)) and
    out = softmax(q kᵀ / √d) v. Given upstream_grad = dL/dout (T, d), return dL/dw_q (D, d)."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    d = q.shape[-1]
    scores = q @ k.T / np.sqrt(d)
    weights = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    grad_weights = upstream_grad @ v.T
    grad_scores = weights * (grad_weights - np.sum(grad_weights * weights, axis=-1, keepdims=True))
    grad_q = grad_scores @ k / np.sqrt(d)
    return x.T @ grad_q                                          # q = x w_q, so dL/dw_q = xᵀ dL/dq


def _grad_w_q_cases() -> list[Case]:
    def case(label, seed, T, D, d):
        return Case(label, (_randn(seed, T, D), _randn(seed + 1, D, d), _randn(seed + 2, D, d),
                            _randn(seed + 3, D, d), _randn(seed + 4, T, d)))
    return [case("3 tokens, D = 4, d = 2", 90, 3, 4, 2), case("5 tokens, D = 3, d = 3", 95, 5, 3, 3),
            case("2 tokens, D = 6, d = 4", 100, 2, 6, 4)]


def _judge_grad_w_q(case, got, expected):
    x, w_q, w_k, w_v, g = case.args
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    d = q.shape[-1]
    w = _softmax(q @ k.T / np.sqrt(d))
    dw = g @ v.T
    ds = w * (dw - np.sum(dw * w, axis=-1, keepdims=True))
    hints = [
        Hint("did you forget to subtract the row sum in the softmax backward? dL/dS = W ⊙ (dL/dW − rowsum(dL/dW ⊙ W)).",
             variant(lambda: x.T @ ((w * dw) @ k / np.sqrt(d)))),
        Hint(f"the 1/√d = 1/{np.sqrt(d):.4g} of the scores comes back in dL/dq = dS·K/√d.",
             variant(lambda: x.T @ (ds @ k))),
        Hint("dL/dq = dS·K/√d uses K itself; you used Q (the scores are q kᵀ: dL/dq takes k, dL/dk takes q).",
             variant(lambda: x.T @ (ds @ q / np.sqrt(d)))),
        Hint("you took the key's path: dSᵀ·Q is dL/dk. The query's is dS·K.",
             variant(lambda: x.T @ (ds.T @ q / np.sqrt(d)))),
    ]
    return compare_array("dL/dW_q", got, expected, ("row (input feature)", "column (query feature)"), hints,
                         shape_note=f"dL/dW_q has the shape of W_q, {w_q.shape}: since q = x·W_q, dL/dW_q = xᵀ·dL/dq.")


GRAD_W_Q = Exercise(
    "grad_w_q", "dL/dW_q for a one-head attention layer",
    r"""
    One head: $q = xW_q$, $k = xW_k$, $v = xW_v$ with $x$ of shape $(T, D)$ and each $W$ of shape $(D, d)$;
    $\mathrm{out} = \mathrm{softmax}(qk^\top/\sqrt d)\,v$. Write `grad_w_q(x, w_q, w_k, w_v, upstream_grad)`
    returning $\partial L/\partial W_q$ given $\partial L/\partial\,\mathrm{out}$.

    Chain it: $\partial L/\partial W = G v^\top$, the softmax backward gives $\partial L/\partial S$,
    then $\partial L/\partial q = (\partial L/\partial S)\,k/\sqrt d$ and, since $q = xW_q$,
    $\partial L/\partial W_q = x^\top\, \partial L/\partial q$.
    """,
    grad_w_q, _grad_w_q_cases, _judge_grad_w_q)

