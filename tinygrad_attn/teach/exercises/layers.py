"""Layer backward passes: a linear layer with a broadcast bias, and layer norm."""
from __future__ import annotations

import numpy as np

from .base import Case, Exercise, Hint, axes_for, compare_array, variant


def _randn(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _tuple_of(got, count: int, names: str) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != count:
        what = f"a {type(got).__name__}" if not isinstance(got, (tuple, list)) else f"{len(got)} things"
        return f"it should return {count} gradients, {names}; yours returned {what}."
    return None


# ---- a linear layer: y = x Wᵀ + b, the bias broadcast over every row ----
def linear_backward(x, weight, bias, upstream_grad):
    """For y = x @ weight.T + bias, with x (..., in), weight (out, in) as in nn.Linear and bias
    (out,) added to every row, return (dL/dx, dL/dweight, dL/dbias) given upstream_grad = dL/dy."""
    out_features, in_features = weight.shape
    rows_g = upstream_grad.reshape(-1, out_features)            # every row, batch and token axes together
    rows_x = x.reshape(-1, in_features)
    grad_x = upstream_grad @ weight
    grad_weight = rows_g.T @ rows_x                             # Σ over rows of gᵀ x
    grad_bias = rows_g.sum(axis=0)                              # the bias was broadcast: sum over rows
    return grad_x, grad_weight, grad_bias


def _linear_cases() -> list[Case]:
    return [
        Case("4 rows, 3 in, 2 out", (_randn(110, 4, 3), _randn(111, 2, 3), _randn(112, 2), _randn(113, 4, 2))),
        Case("a batch (2, 5) of tokens: the bias is broadcast over both axes",
             (_randn(114, 2, 5, 3), _randn(115, 4, 3), _randn(116, 4), _randn(117, 2, 5, 4))),
        Case("one row", (_randn(118, 1, 2), _randn(119, 3, 2), _randn(120, 3), _randn(121, 1, 3))),
    ]


def _judge_linear(case, got, expected):
    x, weight, bias, g = case.args
    problem = _tuple_of(got, 3, "(dL/dx, dL/dweight, dL/dbias)")
    if problem:
        return "your linear_backward: " + problem
    lead = tuple(range(g.ndim - 1))
    message = compare_array(
        "dL/dbias", got[2], expected[2], ("output feature",),
        [Hint("you summed over the features of each row; the bias is one number per output feature, added to "
              "every row, so sum over the rows instead.", variant(lambda: g.sum(axis=-1)))],
        shape_note=(f"bias has shape {bias.shape} and was added to every one of the {int(np.prod(g.shape[:-1]))} "
                    f"rows (broadcast over axes {lead} of the output), so its gradient is the upstream gradient "
                    f"summed over those axes: upstream_grad.sum(axis={lead if len(lead) > 1 else lead[0]})."))
    if message:
        return message
    message = compare_array(
        "dL/dweight", got[1], expected[1], ("row (output feature)", "column (input feature)"),
        [Hint("only the first batch entry's rows are summed; every row of every batch uses the weight.",
              variant(lambda: g[0].reshape(-1, g.shape[-1]).T @ x[0].reshape(-1, x.shape[-1])))],
        shape_note=f"weight is stored (out, in) = {weight.shape}, as in nn.Linear: dL/dweight = Gᵀ·X, summed "
                   "over every row (batch and token axes flattened).")
    if message:
        return message
    return compare_array("dL/dx", got[0], expected[0], axes_for(x.ndim, ("row", "input feature")),
                         [Hint("dL/dx = G·W with W as stored (out, in); you used Wᵀ.", variant(lambda: g @ weight.T))],
                         shape_note="dL/dx has the shape of x.")


LINEAR_BACKWARD = Exercise(
    "linear_backward", "a linear layer's backward, with a broadcast bias",
    r"""
    Write `linear_backward(x, weight, bias, upstream_grad)` for $y = x W^\top + b$, with $W$ stored
    $(\text{out}, \text{in})$ as `nn.Linear` does and $b$ of shape $(\text{out},)$. `x` may have batch
    and token axes, $(B, T, \text{in})$: the same $b$ is added to every row. Return
    $(\partial L/\partial x,\ \partial L/\partial W,\ \partial L/\partial b)$, each the shape of its input.

    A broadcast input's gradient is the sum over the axes it was broadcast along: one bias number
    took part in $B\cdot T$ outputs, so it collects all their gradients.
    """,
    linear_backward, _linear_cases, _judge_linear)


# ---- layer norm ----
def layer_norm_backward(x, gamma, upstream_grad, eps=1e-5):
    """For y = gamma * x_hat + beta, x_hat = (x - mean) / sqrt(var + eps) over the last axis
    (var without Bessel's correction), return (dL/dx, dL/dgamma, dL/dbeta) given dL/dy."""
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    grad_x_hat = upstream_grad * gamma
    # x_hat depends on x directly and through the mean and the variance: two correction terms
    grad_x = inv_std * (grad_x_hat - np.mean(grad_x_hat, axis=-1, keepdims=True)
                        - x_hat * np.mean(grad_x_hat * x_hat, axis=-1, keepdims=True))
    rows = tuple(range(x.ndim - 1))                               # gamma, beta broadcast over every row
    return grad_x, np.sum(upstream_grad * x_hat, axis=rows), np.sum(upstream_grad, axis=rows)


def _layer_norm_cases() -> list[Case]:
    return [
        Case("3 rows of 4 features", (_randn(130, 3, 4), _randn(131, 4), _randn(132, 3, 4))),
        Case("a batch (2, 3) of tokens, 5 features", (_randn(133, 2, 3, 5), _randn(134, 5), _randn(135, 2, 3, 5))),
        Case("a constant row (variance 0: eps matters)", (np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 0.5]]),
                                                         _randn(136, 3), _randn(137, 2, 3))),
        Case("rows far from 0 (mean 1000)", (1000 + _randn(138, 2, 4), _randn(139, 4), _randn(140, 2, 4))),
    ]


def _judge_layer_norm(case, got, expected):
    x, gamma, g = case.args
    eps = 1e-5
    problem = _tuple_of(got, 3, "(dL/dx, dL/dgamma, dL/dbeta)")
    if problem:
        return "your layer_norm_backward: " + problem
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv
    gh = g * gamma
    shape_note = ("gamma and beta are shared by every row (broadcast), so their gradients sum over every row: "
                  f"the result has shape {gamma.shape}.")
    for position, name, hints in [
        (2, "dL/dbeta", []),
        (1, "dL/dgamma", [Hint("dL/dgamma = Σ over rows of upstream_grad ⊙ x̂ (the normalised x, not x).",
                               variant(lambda: np.sum(g * x, axis=tuple(range(x.ndim - 1)))))]),
        (0, "dL/dx", [
            Hint("you treated the mean and the variance as constants: they depend on x too. "
                 "dL/dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)) with ĝ = gamma ⊙ upstream_grad.",
                 variant(lambda: gh * inv)),
            Hint("you subtracted the mean term but not the variance term: − x̂·mean(ĝ ⊙ x̂) is missing.",
                 variant(lambda: inv * (gh - gh.mean(-1, keepdims=True)))),
            Hint("you subtracted the variance term but not the mean term: − mean(ĝ) is missing.",
                 variant(lambda: inv * (gh - x_hat * (gh * x_hat).mean(-1, keepdims=True)))),
            Hint("multiply upstream_grad by gamma first: y = gamma ⊙ x̂ + beta, so dL/dx̂ = gamma ⊙ upstream_grad.",
                 variant(lambda: inv * (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True)))),
        ]),
    ]:
        axes = ("feature",) if position else axes_for(x.ndim, ("row", "feature"))
        message = compare_array(name, got[position], expected[position], axes, hints,
                                shape_note=shape_note if position else "dL/dx has the shape of x.")
        if message:
            return message
    return None


LAYER_NORM_BACKWARD = Exercise(
    "layer_norm_backward", "layer norm backward",
    r"""
    Layer norm over the last axis: $\hat x = (x - \mu)/\sqrt{\sigma^2 + \varepsilon}$ with $\mu$, $\sigma^2$
    the mean and (biased) variance of each row, then $y = \gamma \odot \hat x + \beta$. Write
    `layer_norm_backward(x, gamma, upstream_grad, eps=1e-5)` returning
    $(\partial L/\partial x,\ \partial L/\partial\gamma,\ \partial L/\partial\beta)$.

    With $\hat g = \gamma \odot g$: $\partial L/\partial x = \frac{1}{\sigma}\big(\hat g - \mathrm{mean}(\hat g) - \hat x\,\mathrm{mean}(\hat g \odot \hat x)\big)$
    (the mean and the variance depend on $x$ too). $\gamma$ and $\beta$ are shared by every row, so
    their gradients sum over the rows.
    """,
    layer_norm_backward, _layer_norm_cases, _judge_layer_norm)
