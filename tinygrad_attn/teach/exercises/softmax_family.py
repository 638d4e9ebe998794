"""Softmax forward, its backward without the Jacobian, and cross-entropy from logits."""
from __future__ import annotations

import tracemalloc

import numpy as np

from .base import Case, Exercise, Hint, as_array, axes_for, close, compare_array, sentence, variant


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- softmax forward ----
def softmax(x):
    """Softmax over the last axis of x (any number of leading axes): each row becomes positive
    numbers that sum to 1. Must stay finite for logits like [1000, 999, -1000]."""
    shifted = x - np.max(x, axis=-1, keepdims=True)  # the shift cancels in the ratio; exponents <= 0
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=-1, keepdims=True)


def _softmax_cases() -> list[Case]:
    return [
        Case("a small (2, 3) matrix", (_rng(0).standard_normal((2, 3)),)),
        Case("a batch of shape (2, 3, 4)", (_rng(1).standard_normal((2, 3, 4)),)),
        Case("large logits: a row [1000, 999, -1000]", (np.array([[1000.0, 999.0, -1000.0], [3.0, 1.0, 2.0]]),)),
        Case("a row of equal numbers", (np.array([[2.0, 2.0, 2.0, 2.0]]),)),
        Case("a masked score (-inf) in a row", (np.array([[1.0, -np.inf, 0.5], [0.0, 1.0, -np.inf]]),)),
        Case("one number per row, shape (3, 1)", (np.array([[5.0], [-2.0], [0.0]]),)),
    ]


def _unshifted(x):
    exps = np.exp(x)
    return exps / np.sum(exps, axis=-1, keepdims=True)


def _judge_softmax(case, got, expected):
    (x,) = case.args
    hints = [
        Hint(f"exp({np.max(x):g}) overflows to inf and inf/inf is NaN: subtract each row's max before exp. "
             "softmax(x) = softmax(x − max x), so the answer is the same but every exponent is ≤ 0.",
             variant(_unshifted, x)),
        Hint("the rows of yours do not sum to 1: did you normalise over the wrong axis? Softmax divides by the sum "
             "over the last axis (axis=-1, keepdims=True), one sum per row.",
             variant(lambda x: np.exp(x - x.max()) / np.exp(x - x.max()).sum(axis=0, keepdims=True), x)),
        Hint("did you forget to divide by the row's sum Σⱼ exp(xⱼ)? Yours is exp alone.",
             variant(lambda x: np.exp(x - x.max(axis=-1, keepdims=True)), x)),
        Hint("you divided by the sum of the whole array; softmax divides each row by its own sum.",
             variant(lambda x: np.exp(x - x.max()) / np.exp(x - x.max()).sum(), x)),
    ]
    return compare_array("softmax", got, expected, axes_for(x.ndim, ("row", "column")), hints)


SOFTMAX = Exercise(
    "softmax", "softmax forward, stable for large logits",
    r"""
    Write `softmax(x)`: for each row of the last axis,
    $\mathrm{softmax}(x)_i = \dfrac{e^{x_i}}{\sum_j e^{x_j}}$.

    It must work for any number of leading (batch) axes and stay finite for logits like
    `[1000, 999, -1000]`: `exp(1000)` is `inf` in floating point. Subtracting the row's maximum
    first changes nothing mathematically (the factor $e^{-m}$ cancels) and keeps every
    exponent at most 0. A score of `-inf` (a masked key) must get weight exactly 0.
    """,
    softmax, _softmax_cases, _judge_softmax)


# ---- softmax backward, without the Jacobian ----
def softmax_backward(y, upstream_grad):
    """Given y = softmax(scores) over the last axis and upstream_grad = dL/dy, return dL/dscores
    (the same shape), without forming the T x T Jacobian."""
    row_sum = np.sum(upstream_grad * y, axis=-1, keepdims=True)  # Σₖ yₖ gₖ, one per row
    return y * (upstream_grad - row_sum)


def _softmax_backward_cases() -> list[Case]:
    cases = []
    for label, scores, seed in [
        ("a (3, 4) matrix of scores", _rng(2).standard_normal((3, 4)), 3),
        ("a batch of heads, shape (2, 2, 3, 3)", _rng(4).standard_normal((2, 2, 3, 3)), 5),
        ("a saturated row (one weight near 1)", np.array([[30.0, 0.0, -30.0], [0.0, 0.0, 0.0]]), 6),
        ("a masked key (weight exactly 0)", np.array([[1.0, -np.inf, 0.5], [0.2, 0.1, -np.inf]]), 7),
    ]:
        cases.append(Case(label, (softmax(scores), _rng(seed).standard_normal(scores.shape))))
    long_row = softmax(_rng(8).standard_normal((1, 3000)))
    cases.append(Case("one long row of 3000 scores (no room for a 3000 x 3000 Jacobian)",
                      (long_row, _rng(9).standard_normal((1, 3000)))))
    return cases


JACOBIAN_BYTES = 3000 * 3000 * 8 // 4  # a quarter of the long row's Jacobian in float64


def _run_measuring_memory(fn, case):
    if case.args[0].shape[-1] < 3000:
        return fn(*case.args)
    tracemalloc.start()
    try:
        result = fn(*case.args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _judge_softmax_backward(case, got, expected):
    y, g = case.args
    if y.shape[-1] >= 3000:
        (got, peak), (expected, _) = got, expected
        if peak > JACOBIAN_BYTES:
            return (f"your softmax backward allocated {peak / 1e6:.0f} MB for one row of {y.shape[-1]} weights: "
                    f"that is the {y.shape[-1]} x {y.shape[-1]} Jacobian (or most of it). You never need it: "
                    "dL/dsᵢ = yᵢ (gᵢ − Σₖ yₖ gₖ) takes one row sum.")
    hints = [
        Hint("did you forget to subtract the row sum Σₖ yₖ gₖ? dL/dsᵢ = yᵢ (gᵢ − Σₖ yₖ gₖ): every weight "
             "depends on every score through the normalisation.", variant(lambda: y * g)),
        Hint("the row sum Σₖ yₖ gₖ runs over the last axis (the keys), one per row; yours sums another axis.",
             variant(lambda: y * (g - np.sum(g * y, axis=-2, keepdims=True)))),
        Hint("did you forget the factor yᵢ in front? dL/dsᵢ = yᵢ (gᵢ − Σₖ yₖ gₖ).",
             variant(lambda: g - np.sum(g * y, axis=-1, keepdims=True))),
        Hint("the row sum is of yₖ gₖ (weights times gradients), not of gₖ alone.",
             variant(lambda: y * (g - np.sum(g, axis=-1, keepdims=True)))),
        Hint("the sign of the row-sum term is flipped: dL/dsᵢ = yᵢ (gᵢ − Σₖ yₖ gₖ).",
             variant(lambda: y * (g + np.sum(g * y, axis=-1, keepdims=True)))),
    ]
    return compare_array("gradient for the scores (dL/dscores)", got, expected,
                         axes_for(y.ndim, ("row", "column")) if y.ndim < 4 else ("batch", "head", "row", "column"),
                         hints)


SOFTMAX_BACKWARD = Exercise(
    "softmax_backward", "softmax backward without forming the Jacobian",
    r"""
    Write `softmax_backward(y, upstream_grad)`. Here `y = softmax(s)` over the last axis (the
    attention weights) and `upstream_grad` is $g = \partial L/\partial y$. Return
    $\partial L/\partial s$, the same shape.

    Each weight depends on every score of its row, so the chain rule sums over the row:
    $\dfrac{\partial L}{\partial s_i} = \sum_k g_k \dfrac{\partial y_k}{\partial s_i}
    = y_i\Big(g_i - \sum_k y_k g_k\Big)$.
    Do not build the $T \times T$ Jacobian: one of the cases is a row of 3000 scores.
    """,
    softmax_backward, _softmax_backward_cases, _judge_softmax_backward, run=_run_measuring_memory)


# ---- cross-entropy from logits ----
def cross_entropy(logits, targets):
    """Mean over the N rows of -log softmax(logits)[row, target], computed from the logits
    (N, C) without overflow; targets is an int array of N class indices. Returns a float."""
    m = np.max(logits, axis=-1, keepdims=True)
    log_sum_exp = m[:, 0] + np.log(np.sum(np.exp(logits - m), axis=-1))  # log Σ exp, shifted
    picked = logits[np.arange(len(targets)), targets]
    return float(np.mean(log_sum_exp - picked))


def _cross_entropy_cases() -> list[Case]:
    return [
        Case("4 rows of 3 classes", (_rng(10).standard_normal((4, 3)), np.array([0, 2, 1, 2]))),
        Case("a single row", (np.array([[0.5, -1.0, 2.0, 0.0]]), np.array([3]))),
        Case("large logits: [1000, 999, -1000]", (np.array([[1000.0, 999.0, -1000.0], [2.0, 1.0, 0.0]]),
                                                  np.array([1, 0]))),
        Case("the target's logit 2000 below the best (loss 2000, still finite)",
             (np.array([[0.5, 0.0, 0.2], [1000.0, -1000.0, 0.0]]), np.array([0, 1]))),
        Case("one class only (loss 0)", (np.array([[3.0], [-7.0]]), np.array([0, 0]))),
    ]


def _row_losses(logits, targets):
    m = np.max(logits, axis=-1, keepdims=True)
    return m[:, 0] + np.log(np.sum(np.exp(logits - m), axis=-1)) - logits[np.arange(len(targets)), targets]


def _judge_cross_entropy(case, got, expected):
    logits, targets = case.args
    array, problem = as_array(got, "loss")
    if problem:
        return problem
    if array.shape not in ((), (1,)):
        return (f"your loss has shape {array.shape}; cross-entropy is one number, the mean over the "
                f"{len(targets)} rows (did you return the per-row losses?)")
    value = float(array.reshape(()))
    if close(value, expected):
        return None
    per_row = _row_losses(logits, targets)
    with np.errstate(all="ignore"):
        unshifted = np.log(np.sum(np.exp(logits), axis=-1)) - logits[np.arange(len(targets)), targets]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        via_probs = -np.log(probs[np.arange(len(targets)), targets])
    hints = [
        Hint(f"you summed over the rows; cross-entropy is the mean, so yours is {len(targets)} times too big.",
             lambda v: len(targets) > 1 and close(v, per_row.sum())),
        Hint("softmax of the target underflows to 0 and −log 0 = inf: do not take the log of a probability; "
             "use log softmax(z)_t = z_t − logsumexp(z).", lambda v: close(v, np.mean(via_probs))),
        Hint("exp of a large logit overflows to inf: compute log Σⱼ exp(zⱼ) as m + log Σⱼ exp(zⱼ − m) with m "
             "the row's max (the log-sum-exp trick).", lambda v: close(v, np.mean(unshifted))),
        Hint("the sign is flipped: the loss is −log softmax(z)_t, which is never negative.",
             lambda v: close(v, -expected)),
    ]
    # name the first row whose own loss is wrong: run the student's function on that row alone
    row_note = ""
    for row in range(len(targets)):
        try:
            alone = float(np.asarray(case.fn(logits[row:row + 1].copy(), targets[row:row + 1].copy())).reshape(()))
        except Exception:
            break
        if not close(alone, per_row[row]):
            row_note = (f" The first wrong row is row {row} (target class {targets[row]}, logits "
                        f"{np.array2string(logits[row], precision=4)}): on that row alone yours gives {alone:.6g}, "
                        f"the right loss is {per_row[row]:.6g}.")
            break
    message = f"your loss is {value:.6g}, but the mean cross-entropy is {expected:.6g}.{row_note}"
    for hint in hints:
        if hint.matches(value):
            return message + " " + sentence(hint.text)
    return message


def _run_remembering_fn(fn, case):
    case.fn = fn  # the judge runs the student's function on single rows to name the wrong one
    return fn(*case.args)


CROSS_ENTROPY = Exercise(
    "cross_entropy", "cross-entropy from logits, without overflow",
    r"""
    Write `cross_entropy(logits, targets)`: `logits` is $(N, C)$, `targets` holds $N$ class
    indices. The loss of row $n$ is $-\log \mathrm{softmax}(z_n)_{t_n} = \log\sum_j e^{z_{nj}} - z_{n t_n}$;
    return the mean over the rows as a float.

    Work from the logits: $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$ with $m = \max_j z_j$
    (the log-sum-exp trick) stays finite for logits of 1000, and never takes the log of a
    probability that rounded to 0.
    """,
    cross_entropy, _cross_entropy_cases, _judge_cross_entropy, run=_run_remembering_fn)
