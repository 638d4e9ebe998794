"""Extreme inputs: softmax, log_softmax, cross_entropy, layer_norm, gelu, sigmoid and attention
stay finite and accurate, forward and backward, kernels on and off, for inputs from 1e-3 to ±1e4
(float32 and float64) and near the float32 limits, against PyTorch in float64 on the same values.

How close is close: each op's result may differ from the exact one by a few roundings, each at
most u (2⁻²⁴ in float32, 2⁻⁵³ in float64) of the size of what it rounds. So every comparison is
|ours - expected| <= ULPS · u · scale + FLOOR, elementwise, where `scale` is written out per op
from float64 values: the sizes of the terms the op adds (|g|, Σ|g|·y, ...), times the op's
condition where the input's last bits matter (an exponent e^s whose s is rounded to u·|s| turns
that into a relative error u·|s|). FLOOR is a few steps of the subnormal grid, where relative
precision ends. A test fails when ours is less accurate than this, not merely different.

Where PyTorch's own float64 loses a tail (σ'(x) as σ(1 - σ) at x = 40, Φ(x) as ½(1 + erf) at
x = -10, ½(1 + tanh u) for u ≪ 0), the expected values use the same function written carefully in
torch float64 (σ(x)·σ(-x), ½·erfc(-x/√2), σ(2u)), which agrees with PyTorch wherever PyTorch is exact.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["float32", "float64"]
KERNELS = pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
DTYPED = pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
ULPS = 8  # a handful of roundings per result; the scales below already count the terms summed
GELU_C, GELU_K = math.sqrt(2 / math.pi), 0.044715


def _unit_roundoff(dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def _floor(dtype) -> float:
    return 16 * float(np.finfo(dtype).smallest_subnormal)


def _spread(shape, seed, top=1e4, dtype=np.float32):
    """Magnitudes log-uniform from 1e-3 to `top` with random signs, plus ±top and 0 exactly."""
    rng = np.random.default_rng(seed)
    values = 10.0 ** rng.uniform(-3, math.log10(top), shape) * rng.choice([-1.0, 1.0], shape)
    flat = values.reshape(-1)
    flat[:3] = [top, -top, 0.0]
    rng.shuffle(flat)
    return flat.reshape(shape).astype(dtype)


def _upstream(shape, seed, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _t64(array, requires_grad=False):
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def _run(fn, x, upstream, kernels, *params):
    """fn(x, *params) and dL/dx for L = Σ upstream·fn, kernels on or off; any NumPy warning fails."""
    with ta.use_kernels(kernels), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an overflow warning is noise a learner cannot act on
        leaf = ta.tensor(x.copy(), requires_grad=True)
        out = fn(leaf, *params)
        out.backward(ta.tensor(upstream))
    return out.data, leaf.grad


def _assert_within(actual, expected, scale, dtype, what):
    """|actual - expected| <= ULPS·u·scale + FLOOR elementwise; infinities must match exactly."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    infinite = np.isinf(expected)
    np.testing.assert_array_equal(actual[infinite], expected[infinite], err_msg=f"{what}: infinities")
    assert np.isfinite(actual[~infinite]).all(), f"{what}: non-finite where the exact result is finite"
    error = np.abs(actual[~infinite] - expected[~infinite])
    bound = (ULPS * _unit_roundoff(dtype) * np.broadcast_to(scale, expected.shape) + _floor(dtype))[~infinite]
    worst = int(np.argmax(error / bound)) if error.size else 0
    assert (error <= bound).all(), (
        f"{what}: error {error[worst]:.3g} > bound {bound[worst]:.3g} "
        f"(ours {actual[~infinite][worst]!r}, expected {expected[~infinite][worst]!r})")


# ---- softmax and log_softmax ----
SOFTMAX_CALLS = {
    "Tensor.softmax": (lambda t: t.softmax(-1), -1),
    "F.softmax(dim=0)": (lambda t: F.softmax(t, dim=0), 0),
}


def _softmax_scales(x, upstream, dim):
    """Scales of softmax's forward and backward (see the module docstring)."""
    xt = _t64(x)
    y = torch.softmax(xt, dim).numpy()
    terms = x.shape[dim]
    exponent = 1 + np.abs(x - x.max(axis=dim, keepdims=True))  # e^(x - max): its rounding, relatively
    relative = exponent + terms  # and the sum of the row's exponentials
    g = np.abs(upstream.astype(np.float64))
    return y, y * relative, y * (g + (g * y).sum(axis=dim, keepdims=True)) * (relative + terms)


@KERNELS
@DTYPED
@pytest.mark.parametrize("call", SOFTMAX_CALLS, ids=list(SOFTMAX_CALLS))
def test_softmax_of_inputs_up_to_1e4_is_accurate(call, dtype, kernels):
    fn, dim = SOFTMAX_CALLS[call]
    x = _spread((6, 9), seed=1, dtype=dtype)
    upstream = _upstream(x.shape, 2, dtype)
    out, grad = _run(fn, x, upstream, kernels)
    xt = _t64(x, requires_grad=True)
    expected = torch.softmax(xt, dim)
    expected.backward(_t64(upstream))
    _, forward_scale, backward_scale = _softmax_scales(x, upstream, dim)
    _assert_within(out, expected.detach().numpy(), forward_scale, dtype, f"{call} forward")
    _assert_within(grad, xt.grad.numpy(), backward_scale, dtype, f"{call} backward")


LOG_SOFTMAX_CALLS = {
    "Tensor.log_softmax": (lambda t: t.log_softmax(-1), -1),
    "F.log_softmax(dim=0)": (lambda t: F.log_softmax(t, dim=0), 0),
}


def _log_softmax_scales(x, upstream, dim, log_probs):
    terms = x.shape[dim]
    finite = np.isfinite(x)
    shift = np.where(finite, x, -np.inf).max(axis=dim, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        forward = np.where(finite, np.abs(x - shift), 0) + np.abs(np.log(np.exp(np.where(finite, x - shift, -np.inf))
                                                                          .sum(axis=dim, keepdims=True))) + terms
    probs = np.exp(log_probs)
    g = np.abs(upstream.astype(np.float64))
    return forward, g + probs * g.sum(axis=dim, keepdims=True) * (forward + terms)


@KERNELS
@DTYPED
@pytest.mark.parametrize("call", LOG_SOFTMAX_CALLS, ids=list(LOG_SOFTMAX_CALLS))
def test_log_softmax_of_inputs_up_to_1e4_is_accurate(call, dtype, kernels):
    fn, dim = LOG_SOFTMAX_CALLS[call]
    x = _spread((6, 9), seed=3, dtype=dtype)
    upstream = _upstream(x.shape, 4, dtype)
    out, grad = _run(fn, x, upstream, kernels)
    xt = _t64(x, requires_grad=True)
    expected = torch.log_softmax(xt, dim)
    expected.backward(_t64(upstream))
    forward_scale, backward_scale = _log_softmax_scales(x.astype(np.float64), upstream, dim,
                                                        expected.detach().numpy())
    _assert_within(out, expected.detach().numpy(), forward_scale, dtype, f"{call} forward")
    _assert_within(grad, xt.grad.numpy(), backward_scale, dtype, f"{call} backward")


# rows near the float32 limits: ±3e38, -inf entries, a row that is all -inf
LIMIT_ROWS = np.array([[3e38, -3e38, 0.0, 1.0],
                       [-np.inf, 0.0, 1.0, -np.inf],
                       [3e38, 3e38, -np.inf, 1.0],
                       [-3e38, -3e38, -3e38, -3.0e38],
                       [-np.inf, -np.inf, -np.inf, -np.inf]], dtype=np.float32)
ALL_INF_ROW = 4


@KERNELS
def test_softmax_near_the_float32_limits_matches_torch(kernels):
    upstream = _upstream(LIMIT_ROWS.shape, 5, np.float32)
    out, grad = _run(lambda t: F.softmax(t, dim=-1), LIMIT_ROWS, upstream, kernels)
    xt = _t64(LIMIT_ROWS, requires_grad=True)
    expected = torch.softmax(xt, -1)
    expected.backward(_t64(upstream))
    rows = slice(0, ALL_INF_ROW)  # every row but the all -inf one, where torch gives NaN
    y, forward_scale, backward_scale = _softmax_scales(np.nan_to_num(LIMIT_ROWS[rows].astype(np.float64), neginf=-1e300),
                                                       upstream[rows], -1)
    _assert_within(out[rows], expected.detach().numpy()[rows], forward_scale, np.float32, "softmax forward")
    _assert_within(grad[rows], xt.grad.numpy()[rows], backward_scale, np.float32, "softmax backward")
    # ours on purpose (the op's note): a row with no allowed entry gives zeros and zero gradient, not NaN
    assert np.isnan(expected.detach().numpy()[ALL_INF_ROW]).all()
    np.testing.assert_array_equal(out[ALL_INF_ROW], 0.0)
    np.testing.assert_array_equal(grad[ALL_INF_ROW], 0.0)


@KERNELS
def test_log_softmax_near_the_float32_limits_matches_torch(kernels):
    upstream = _upstream(LIMIT_ROWS.shape, 6, np.float32)
    out, grad = _run(lambda t: t.log_softmax(-1), LIMIT_ROWS, upstream, kernels)
    xt = _t64(LIMIT_ROWS, requires_grad=True)
    expected = torch.log_softmax(xt, -1)
    expected.backward(_t64(upstream))
    expected = expected.detach().numpy()
    # -3e38 beside 3e38: the exact log-probability -6e38 overflows float32, so no formula can give
    # it; torch's float32 gives -inf there, and so must ours
    in_float32 = torch.log_softmax(torch.tensor(LIMIT_ROWS), -1).numpy()
    overflows = np.isfinite(expected) & (np.abs(expected) > np.finfo(np.float32).max)
    assert overflows.any() and np.isneginf(in_float32[overflows]).all()
    np.testing.assert_array_equal(out[overflows], in_float32[overflows])
    rows = slice(0, ALL_INF_ROW)
    representable = np.where(overflows, -np.inf, expected)[rows]
    forward_scale, backward_scale = _log_softmax_scales(LIMIT_ROWS[rows].astype(np.float64), upstream[rows], -1,
                                                        representable)
    _assert_within(np.where(overflows[rows], -np.inf, out[rows]), representable, forward_scale, np.float32,
                   "log_softmax forward")
    _assert_within(grad[rows], xt.grad.numpy()[rows], backward_scale, np.float32, "log_softmax backward")
    # ours on purpose (the op's note): an all -inf row gives -inf, and the upstream gradient passes
    # through unchanged (softmax of it is 0), where torch gives NaN
    assert np.isnan(expected[ALL_INF_ROW]).all()
    assert np.isneginf(out[ALL_INF_ROW]).all()
    np.testing.assert_array_equal(grad[ALL_INF_ROW], upstream[ALL_INF_ROW])


# ---- cross_entropy ----
CE_CASES = {
    "plain": dict(target=[0, 3, 8, 2, 5, 1]),
    "label_smoothing": dict(target=[0, 3, 8, 2, 5, 1], label_smoothing=0.1),
    "ignore_index": dict(target=[0, -100, 8, 2, -100, 1]),
    "ignore_index+smoothing+none": dict(target=[0, -100, 8, 2, -100, 1], label_smoothing=0.2, reduction="none"),
    "weight+sum": dict(target=[0, 3, 8, 2, 5, 1], weight=np.linspace(0.5, 2.0, 9), reduction="sum"),
}


def _cross_entropy_scales(z, target, upstream, weight=None, label_smoothing=0.0, reduction="mean",
                          ignore_index=-100):
    """Scales of cross_entropy's loss and gradient: per position, the loss adds |z_t - max| and the
    row's log Σ e^(z - max) (its exponentials rounded relatively by 1 + |z - max|)."""
    rows, classes = z.shape
    target = np.asarray(target)
    counted = target != ignore_index
    w = np.ones(classes) if weight is None else np.asarray(weight, np.float64)
    q = np.zeros((rows, classes))
    q[np.arange(rows)[counted], target[counted]] = (1 - label_smoothing) * w[target[counted]]
    q += counted[:, None] * (label_smoothing / classes) * w
    shifted = z - z.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    probs = np.exp(shifted - log_total)
    exponent = 1 + np.abs(shifted) + classes
    per_row = (q * (np.abs(shifted) + np.abs(log_total) + classes)).sum(axis=1)
    grad = (probs * exponent * q.sum(axis=1, keepdims=True) + q)
    if reduction == "none":
        return per_row, grad * np.abs(upstream).reshape(-1, 1)
    divisor = (w[target[counted]]).sum() if reduction == "mean" else 1.0
    return (per_row.sum() + rows * np.abs(per_row).max()) / divisor, grad * abs(float(upstream)) / divisor


def _torch_cross_entropy(logits, target, weight=None, **kwargs):
    weight = None if weight is None else _t64(weight)
    return TF.cross_entropy(logits, torch.tensor(np.asarray(target)), weight=weight, **kwargs)


@KERNELS
@DTYPED
@pytest.mark.parametrize("case", CE_CASES, ids=list(CE_CASES))
def test_cross_entropy_of_logits_up_to_1e4_is_accurate(case, dtype, kernels):
    kwargs = dict(CE_CASES[case])
    target = np.array(kwargs.pop("target"))
    if "weight" in kwargs:
        kwargs["weight"] = kwargs["weight"].astype(dtype)
    z = _spread((6, 9), seed=7, dtype=dtype)
    shape = target.shape if kwargs.get("reduction") == "none" else ()
    upstream = _upstream(shape, 8, dtype)
    out, grad = _run(lambda t: F.cross_entropy(t, target, **kwargs), z, upstream, kernels)
    zt = _t64(z, requires_grad=True)
    expected = _torch_cross_entropy(zt, target, **kwargs)
    expected.backward(_t64(upstream))
    loss_scale, grad_scale = _cross_entropy_scales(z.astype(np.float64), target, upstream, **kwargs)
    _assert_within(out, expected.detach().numpy(), loss_scale, dtype, f"cross_entropy {case} loss")
    _assert_within(grad, zt.grad.numpy(), grad_scale, dtype, f"cross_entropy {case} gradient")


@KERNELS
@pytest.mark.parametrize("case", CE_CASES, ids=list(CE_CASES))
def test_cross_entropy_of_logits_of_1e30_stays_finite_and_matches_torch(case, kernels):
    kwargs = dict(CE_CASES[case])
    target = np.array(kwargs.pop("target"))
    if "weight" in kwargs:
        kwargs["weight"] = kwargs["weight"].astype(np.float32)
    rng = np.random.default_rng(9)
    z = (rng.choice([-1.0, 1.0], (6, 9)) * 10.0 ** rng.uniform(28, 30, (6, 9))).astype(np.float32)
    z[0, :3] = [1e30, -1e30, 0.0]
    z[1, :] = 1e30  # a row of ties: uniform probabilities
    shape = target.shape if kwargs.get("reduction") == "none" else ()
    upstream = _upstream(shape, 10, np.float32)
    out, grad = _run(lambda t: F.cross_entropy(t, target, **kwargs), z, upstream, kernels)
    zt = _t64(z, requires_grad=True)
    expected = _torch_cross_entropy(zt, target, **kwargs)
    expected.backward(_t64(upstream))
    loss_scale, grad_scale = _cross_entropy_scales(z.astype(np.float64), target, upstream, **kwargs)
    _assert_within(out, expected.detach().numpy(), loss_scale, np.float32, f"cross_entropy {case} loss at 1e30")
    _assert_within(grad, zt.grad.numpy(), grad_scale, np.float32, f"cross_entropy {case} gradient at 1e30")


# ---- layer_norm ----
def _layer_norm_float64(x, upstream, weight=None, bias=None, eps=1e-5):
    """layer_norm and its gradients written out in float64 NumPy, with the scales of each."""
    x = x.astype(np.float64)
    g = upstream.astype(np.float64)
    w = np.ones(x.shape[-1]) if weight is None else weight.astype(np.float64)
    b = np.zeros(x.shape[-1]) if bias is None else bias.astype(np.float64)
    width = x.shape[-1]
    centered = x - x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + eps)
    x_hat = centered / sigma
    gw = g * w
    grad_x = (gw - gw.mean(axis=-1, keepdims=True) - x_hat * (gw * x_hat).mean(axis=-1, keepdims=True)) / sigma
    rows = tuple(range(x.ndim - 1))
    # the mean's rounding (u·max|x|) is an error of max|x|/σ in x̂: layer norm's condition
    condition = np.abs(x).max(axis=-1, keepdims=True) / sigma + width
    x_hat_error = np.abs(x_hat) + condition
    forward_scale = x_hat_error * np.abs(w) + np.abs(b)
    agw = np.abs(gw)
    grad_x_scale = (agw + agw.mean(axis=-1, keepdims=True)
                    + x_hat_error * (agw * x_hat_error).mean(axis=-1, keepdims=True)) * condition / sigma
    return dict(out=x_hat * w + b, grad_x=grad_x, grad_w=(g * x_hat).sum(axis=rows), grad_b=g.sum(axis=rows),
                out_scale=forward_scale, grad_x_scale=grad_x_scale,
                grad_w_scale=(np.abs(g) * x_hat_error).sum(axis=rows) * np.prod(x.shape[:-1]),
                grad_b_scale=np.abs(g).sum(axis=rows) * np.prod(x.shape[:-1]))


def _layer_norm_run(x, upstream, kernels, with_params, dtype):
    width = x.shape[-1]
    params = []
    if with_params:
        params = [np.linspace(-2.0, 3.0, width).astype(dtype), np.linspace(1.0, -1.0, width).astype(dtype)]
    with ta.use_kernels(kernels), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        leaves = [ta.tensor(a.copy(), requires_grad=True) for a in [x] + params]
        out = F.layer_norm(leaves[0], width, *leaves[1:])
        out.backward(ta.tensor(upstream))
    return out.data, [leaf.grad for leaf in leaves], params


def _check_layer_norm(x, upstream, kernels, with_params, dtype, what):
    out, grads, params = _layer_norm_run(x, upstream, kernels, with_params, dtype)
    expected = _layer_norm_float64(x, upstream, *params)
    _assert_within(out, expected["out"], expected["out_scale"], dtype, f"{what} forward")
    _assert_within(grads[0], expected["grad_x"], expected["grad_x_scale"], dtype, f"{what} dx")
    if with_params:
        _assert_within(grads[1], expected["grad_w"], expected["grad_w_scale"], dtype, f"{what} dweight")
        _assert_within(grads[2], expected["grad_b"], expected["grad_b_scale"], dtype, f"{what} dbias")
    return out, grads


@KERNELS
@DTYPED
@pytest.mark.parametrize("with_params", [False, True], ids=["plain", "weight_bias"])
def test_layer_norm_of_inputs_up_to_1e4_is_accurate(with_params, dtype, kernels):
    x = _spread((2, 5, 9), seed=11, dtype=dtype)
    upstream = _upstream(x.shape, 12, dtype)
    _check_layer_norm(x, upstream, kernels, with_params, dtype, "layer_norm")
    # the float64 reference written out here is PyTorch's layer norm
    xt = _t64(x, requires_grad=True)
    TF.layer_norm(xt, (9,)).backward(_t64(upstream))
    expected = _layer_norm_float64(x, upstream)
    np.testing.assert_allclose(expected["grad_x"], xt.grad.numpy(), rtol=1e-9, atol=1e-12)


# rows of huge values: x² overflows float32 from |x| ≈ 1.8e19, the mean's sum from 1.7e38
HUGE_ROWS = np.array([[1e20, 2e20, 3e20, -1e20, 0.0, 5e19],
                      [1e38, 3e38, -3e38, 2e38, -1e38, 0.0],
                      [3.4e38, -3.4e38, 3.4e38, -3.4e38, 1e30, -1e30],
                      [-2e25, 7e24, 1e25, -3e25, 4e25, 1e24],
                      [1e-3, -2.0, 5.0, 0.5, 1e4, -1e4]], dtype=np.float32)  # an ordinary row beside them
CONSTANT_HUGE_ROW = np.full((1, 6), 3e38, dtype=np.float32)


@KERNELS
@pytest.mark.parametrize("with_params", [False, True], ids=["plain", "weight_bias"])
def test_layer_norm_of_rows_up_to_3e38_is_finite_and_accurate(with_params, kernels):
    upstream = _upstream(HUGE_ROWS.shape, 13, np.float32)
    # PyTorch's float32 gives NaN for these rows (its variance overflows); its float64 does not
    assert np.isnan(TF.layer_norm(torch.tensor(HUGE_ROWS), (6,)).numpy()[:3]).all()
    out, grads = _check_layer_norm(HUGE_ROWS, upstream, kernels, with_params, np.float32, "layer_norm of 1e38s")
    xt = _t64(HUGE_ROWS, requires_grad=True)
    expected = TF.layer_norm(xt, (6,))
    expected.backward(_t64(upstream))
    if not with_params:
        np.testing.assert_allclose(out, expected.detach().numpy(), rtol=2e-6, atol=2e-6)
    # the gradient of a row of 1e38s is about 1e-39: below float32's normal range, so it keeps
    # only the subnormals' absolute precision, but it is not 0 and not NaN
    assert np.isfinite(grads[0]).all() and (grads[0][1] != 0).any()


@KERNELS
def test_layer_norm_of_a_constant_row_of_3e38_is_the_bias_with_the_gradient_of_eps(kernels):
    upstream = _upstream(CONSTANT_HUGE_ROW.shape, 14, np.float32)
    out, grads, params = _layer_norm_run(CONSTANT_HUGE_ROW, upstream, kernels, True, np.float32)
    weight, bias = params
    np.testing.assert_array_equal(out, np.broadcast_to(bias, out.shape))  # x̂ = 0 / √eps = 0
    # σ = √eps exactly: dx = (g·w - mean(g·w)) / √eps, written out in float64
    gw = upstream.astype(np.float64) * weight
    expected = (gw - gw.mean()) / math.sqrt(1e-5)
    np.testing.assert_allclose(grads[0], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_array_equal(grads[1], 0.0)


@pytest.mark.parametrize("rows", [HUGE_ROWS, CONSTANT_HUGE_ROW, _spread((4, 6), seed=15)],
                         ids=["huge", "constant_huge", "ordinary"])
def test_layer_norm_kernel_equals_the_reference_near_the_limits(rows):
    upstream = _upstream(rows.shape, 16, np.float32)
    kernel = _layer_norm_run(rows, upstream, True, True, np.float32)
    reference = _layer_norm_run(rows, upstream, False, True, np.float32)
    for got, want in zip([kernel[0]] + kernel[1], [reference[0]] + reference[1]):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


# ---- sigmoid and gelu (elementwise) ----
def _sigmoid_float64(x):
    xt = _t64(x)
    y = torch.sigmoid(xt).numpy()
    slope = y * torch.sigmoid(-xt).numpy()  # σ'(x) = σ(x)·σ(-x): exact on both sides
    return y, slope, y, slope


def _gelu_float64(x):
    xt = _t64(x)
    cdf = 0.5 * torch.special.erfc(-xt / math.sqrt(2))
    density = torch.exp(-0.5 * xt * xt) / math.sqrt(2 * math.pi)
    condition = 1 + xt * xt  # Φ(x) ≈ φ(x)/|x| for x ≪ 0: a rounding u of x/√2 costs Φ u·x² of its precision
    return ((xt * cdf).numpy(), (cdf + xt * density).numpy(), ((xt * cdf).abs() * condition).numpy(),
            ((cdf + xt.abs() * density) * condition).numpy())


def _gelu_tanh_float64(x):
    xt = _t64(x)
    u = GELU_C * (xt + GELU_K * xt ** 3)
    gate = torch.sigmoid(2 * u)  # ½(1 + tanh u), without its cancellation for u ≪ 0
    poly = 2 * GELU_C * xt * (1 + 3 * GELU_K * xt * xt)
    slope = gate + poly * gate * (1 - gate)
    exponent = 1 + 2 * u.abs()  # e^(-2u) with u rounded by u·|u|
    forward_scale = (xt * gate).abs() * exponent
    backward_scale = (gate + (poly * gate * (1 - gate)).abs()) * exponent + poly.abs() * gate  # 1 - s: eps of 1
    return (xt * gate).numpy(), slope.numpy(), forward_scale.numpy(), backward_scale.numpy()


ELEMENTWISE = {
    "sigmoid": (lambda t: t.sigmoid(), _sigmoid_float64, lambda t: torch.sigmoid(t)),
    "gelu": (lambda t: F.gelu(t), _gelu_float64, lambda t: TF.gelu(t)),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), _gelu_tanh_float64,
                  lambda t: TF.gelu(t, approximate="tanh")),
}
TAILS = np.array([-1e4, -300.0, -100.0, -50.0, -20.0, -13.0, -10.0, -8.0, -6.0, -5.0, -3.0, -0.75, -1e-3, 0.0,
                  1e-3, 0.5, 1.0, 3.0, 5.0, 8.0, 10.0, 20.0, 40.0, 50.0, 300.0, 1e4])


@KERNELS
@DTYPED
@pytest.mark.parametrize("name", ELEMENTWISE, ids=list(ELEMENTWISE))
def test_activations_of_inputs_up_to_1e4_are_accurate_in_both_tails(name, dtype, kernels):
    ours, exact, torch_fn = ELEMENTWISE[name]
    x = np.concatenate([TAILS, _spread((40,), seed=17).astype(np.float64)]).astype(dtype)
    upstream = _upstream(x.shape, 18, dtype)
    out, grad = _run(ours, x, upstream, kernels)
    value, slope, value_scale, slope_scale = exact(x)
    _assert_within(out, value, value_scale, dtype, f"{name} forward")
    _assert_within(grad, upstream * slope, np.abs(upstream) * slope_scale, dtype, f"{name} backward")
    # the careful float64 formulas are PyTorch's own wherever PyTorch's float64 is exact
    xt = _t64(x, requires_grad=True)
    torch_value = torch_fn(xt)
    torch_value.backward(torch.ones_like(xt))
    moderate = np.abs(x) <= 4
    np.testing.assert_allclose(value[moderate], torch_value.detach().numpy()[moderate], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(slope[moderate], xt.grad.numpy()[moderate], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_gelu_tanh_kernel_equals_the_reference_in_both_tails(dtype):
    x = np.concatenate([TAILS, _spread((40,), seed=19).astype(np.float64)]).astype(dtype)
    upstream = _upstream(x.shape, 20, dtype)
    kernel = _run(lambda t: F.gelu(t, approximate="tanh"), x, upstream, True)
    reference = _run(lambda t: F.gelu(t, approximate="tanh"), x, upstream, False)
    _, _, value_scale, slope_scale = _gelu_tanh_float64(x)
    _assert_within(kernel[0], reference[0], value_scale, dtype, "gelu_tanh kernel forward")
    _assert_within(kernel[1], reference[1], np.abs(upstream) * slope_scale, dtype, "gelu_tanh kernel backward")


# ---- scaled dot-product attention with large scores ----
def _attention_float64(q, k, v, upstream, scale):
    """Attention and its gradients in float64 NumPy, with scales: each score s is rounded by
    u·Σ|q||k|·scale, which e^(s - max) turns into that relative error of its weight."""
    q, k, v, g = (a.astype(np.float64) for a in (q, k, v, upstream))
    scores = q @ np.swapaxes(k, -1, -2) * scale
    causal = np.tril(np.ones(scores.shape[-2:], dtype=bool))
    scores = np.where(causal, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    terms = q.shape[-1] + k.shape[-2]
    relative = np.where(causal, np.abs(q) @ np.swapaxes(np.abs(k), -1, -2) * scale, 0) + 1 + terms
    dw = g @ np.swapaxes(v, -1, -2)
    ds = weights * (dw - (dw * weights).sum(axis=-1, keepdims=True))
    adw = np.abs(g) @ np.swapaxes(np.abs(v), -1, -2)
    ds_scale = weights * relative * (adw + (adw * weights).sum(axis=-1, keepdims=True)) * 2
    return dict(out=weights @ v, dq=ds @ k * scale, dk=np.swapaxes(ds, -1, -2) @ q * scale,
                dv=np.swapaxes(weights, -1, -2) @ g,
                out_scale=(weights * relative) @ np.abs(v),
                dq_scale=(ds_scale + np.abs(ds) * terms) @ np.abs(k) * scale,
                dk_scale=np.swapaxes(ds_scale + np.abs(ds) * terms, -1, -2) @ np.abs(q) * scale,
                dv_scale=np.swapaxes(weights * relative, -1, -2) @ np.abs(g))


@KERNELS
@DTYPED
def test_attention_with_scores_up_to_1e4_is_accurate(dtype, kernels):
    rng = np.random.default_rng(21)
    shape = (2, 2, 6, 4)
    q = (rng.standard_normal(shape) * 40).astype(dtype)
    k = (rng.standard_normal(shape) * 40).astype(dtype)
    v = rng.standard_normal(shape).astype(dtype)
    upstream = _upstream(shape, 22, dtype)
    scale = 1 / math.sqrt(shape[-1])
    with ta.use_kernels(kernels), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        leaves = [ta.tensor(a.copy(), requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*leaves, is_causal=True)
        out.backward(ta.tensor(upstream))
    expected = _attention_float64(q, k, v, upstream, scale)
    largest = np.abs(q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64) * scale).max()
    assert 2e3 < largest < 2e4, largest  # the scores are as large as the test says
    tq, tk, tv = (_t64(a, requires_grad=True) for a in (q, k, v))  # the float64 written out is PyTorch's
    TF.scaled_dot_product_attention(tq, tk, tv, is_causal=True).backward(_t64(upstream))
    for name, leaf in zip(("dq", "dk", "dv"), (tq, tk, tv)):
        np.testing.assert_allclose(expected[name], leaf.grad.numpy(), rtol=1e-8, atol=1e-10)
    _assert_within(out.data, expected["out"], expected["out_scale"], dtype, "attention output")
    for name, leaf in zip(("dq", "dk", "dv"), leaves):
        _assert_within(leaf.grad, expected[name], expected[f"{name}_scale"], dtype, f"attention {name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernels", [True, False])
def test_gelu_tanh_slope_stays_finite_where_x_cubed_overflows(dtype, kernels):
    # x³ overflows float32 past about 7e12 and float64 past 5e102; the gate is exactly 0 or 1
    # there, so the slope is exactly 0 (x ≪ 0) or 1 (x ≫ 0): found by the fuzzer at x ≈ 6e16.
    big = 6e16 if dtype == np.float32 else 1e110
    values = np.array([big, -big, 1e4, -1e4, 3.0, -3.0], dtype=dtype)
    x = ta.tensor(values, requires_grad=True, dtype=dtype)
    with ta.use_kernels(kernels):
        F.gelu(x, approximate="tanh").sum().backward()
    grad = np.asarray(x.grad, dtype=np.float64)
    assert np.all(np.isfinite(grad)), grad
    assert grad[0] == 1.0 and grad[1] == 0.0 and grad[2] == 1.0 and grad[3] == 0.0
    # the ordinary points, against the formula written out in float64
    c, k = np.sqrt(2 / np.pi), 0.044715
    s = values[4:].astype(np.float64)
    t = np.tanh(c * (s + k * s ** 3))
    want = 0.5 * (1 + t) + 0.5 * s * (1 - t * t) * c * (1 + 3 * k * s * s)
    np.testing.assert_allclose(grad[4:], want, rtol=1e-5 if dtype == np.float32 else 1e-12)
