"""Specification tests for tinygrad_attn.optim: PyTorch's update rules, state, and argument checks."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, optim
from tinygrad_attn.kernels import adam as adam_kernel

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def make_problem(seed: int = 0, steps: int = 10, dtype=np.float64):
    """Initial parameter values and a fixed gradient for every step."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    grads = [[rng.standard_normal(shape).astype(dtype) for shape in SHAPES] for _ in range(steps)]
    return initial, grads


def run_ours(name: str, settings: dict, initial, grads, kernels_at=lambda step: True) -> list[np.ndarray]:
    """Our optimizer through the steps; a None gradient leaves that parameter out of a step.
    `kernels_at(step)` says whether that step runs with kernels on."""
    params = [Tensor(value.copy(), requires_grad=True) for value in initial]
    optimizer = getattr(optim, name)(params, **settings)
    for step, step_grads in enumerate(grads):
        for param, grad in zip(params, step_grads):
            param.grad = None if grad is None else grad.copy()
        with ta.use_kernels(kernels_at(step)):
            optimizer.step()
    return [param.data for param in params]


# ---- the rules written out by hand in float64 NumPy, straight from the formulas ----
def reference_sgd(initial, grads, lr, momentum=0.0, weight_decay=0.0):
    params = [p.copy() for p in initial]
    buffers = [None] * len(params)
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            g = g + weight_decay * params[i]
            if momentum:
                buffers[i] = g.copy() if buffers[i] is None else momentum * buffers[i] + g
                g = buffers[i]
            params[i] = params[i] - lr * g
    return params


def reference_adam(initial, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """A None gradient skips that parameter's step (its own step count t falls behind)."""
    beta1, beta2 = betas
    params = [p.copy() for p in initial]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    steps = [0] * len(params)
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            if g is None:
                continue
            steps[i] += 1
            t = steps[i]
            if decoupled:
                params[i] = params[i] - lr * weight_decay * params[i]
            else:
                g = g + weight_decay * params[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1 ** t)
            v_hat = v[i] / (1 - beta2 ** t)
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.02, "betas": (0.85, 0.95), "eps": 1e-7, "weight_decay": 0.3}),
]


def reference(name: str, settings: dict, initial, grads):
    if name == "SGD":
        return reference_sgd(initial, grads, **settings)
    settings = dict(settings)
    if name == "AdamW":
        settings.setdefault("weight_decay", 0.01)
    return reference_adam(initial, grads, decoupled=name == "AdamW", **settings)


@pytest.mark.parametrize("name, settings", CASES)
def test_ten_steps_follow_the_update_rule_written_out(name, settings):
    initial, grads = make_problem()
    ours = run_ours(name, settings, initial, grads)
    for got, want in zip(ours, reference(name, settings, initial, grads)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, settings", CASES)
def test_ten_steps_match_torch_optim_in_float64(name, settings):
    torch = pytest.importorskip("torch")
    initial, grads = make_problem(seed=1)
    ours = run_ours(name, settings, initial, grads)
    params = [torch.tensor(value.copy(), requires_grad=True) for value in initial]
    optimizer = getattr(torch.optim, name)(params, **settings)
    for step_grads in grads:
        for param, grad in zip(params, step_grads):
            param.grad = torch.tensor(grad)
        optimizer.step()
    for got, param in zip(ours, params):
        np.testing.assert_allclose(got, param.detach().numpy(), rtol=0, atol=1e-6)


def test_adam_first_step_moves_each_weight_by_about_lr():
    # with bias correction, step 1 is lr · g/|g| (up to eps): the textbook sanity check
    param = Tensor(np.zeros(4), requires_grad=True)
    param.grad = np.array([3.0, -0.5, 1e-3, -200.0])
    optim.Adam([param], lr=0.1).step()
    np.testing.assert_allclose(param.data, [-0.1, 0.1, -0.1, 0.1], rtol=1e-4)


def test_adamw_decay_shrinks_weights_even_with_zero_gradient():
    param = Tensor(np.full(3, 2.0), requires_grad=True)
    param.grad = np.zeros(3)
    optim.AdamW([param], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(param.data, 2.0 * (1 - 0.1 * 0.5))


def test_params_without_grad_are_skipped_and_keep_their_state_fresh():
    moving = Tensor(np.ones(2), requires_grad=True)
    frozen = Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.Adam([moving, frozen], lr=0.1)
    moving.grad = np.ones(2)
    optimizer.step()
    np.testing.assert_array_equal(frozen.data, np.ones(2))
    assert optimizer.state[frozen] == {}  # keyed by the parameter, as in PyTorch
    frozen.grad = np.ones(2)
    optimizer.step()  # frozen's first step: its own bias correction starts at t = 1
    np.testing.assert_allclose(frozen.data, 1 - 0.1, rtol=1e-6)


def test_zero_grad_sets_every_grad_to_none():
    params = [Tensor(np.ones(2), requires_grad=True) for _ in range(3)]
    for param in params:
        param.grad = np.ones(2)
    optim.SGD(params, lr=0.1).zero_grad()
    assert all(param.grad is None for param in params)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_float32_parameters_stay_float32(name):
    param = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    optimizer = getattr(optim, name)([param], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    data_before = param.data
    for _ in range(3):
        param.grad = np.full((2, 3), 0.5, dtype=np.float32)
        optimizer.step()
    assert param.data.dtype == np.float32
    assert param.data is data_before  # updated in place: graphs and views see the new values
    assert all(value.dtype == np.float32 for value in optimizer.state[param].values() if isinstance(value, np.ndarray))


def test_lr_can_be_changed_between_steps():
    param = Tensor(np.zeros(1), requires_grad=True)
    optimizer = optim.SGD([param], lr=1.0)
    param.grad = np.ones(1)
    optimizer.step()
    optimizer.lr = 0.5
    optimizer.step()
    np.testing.assert_allclose(param.data, [-1.5])


def test_accepts_a_generator_of_parameters():
    params = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    optimizer = optim.AdamW(p for p in params)
    assert len(optimizer.params) == 2


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr must be >= 0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "momentum"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda p: optim.Adam(p, eps=-1e-8), "eps"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay"),
    (lambda p: optim.Adam(p, lr=math.nan), "lr"),
])
def test_bad_hyper_parameters_raise_value_error_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make([Tensor(np.ones(2), requires_grad=True)])


def test_bad_parameter_lists_raise_clear_errors():
    weight = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(weight, lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray"):
        optim.SGD([weight, np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="requires_grad=True"):
        optim.SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([weight * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([weight, weight], lr=0.1)
    with pytest.raises(TypeError, match="betas must be a pair"):
        optim.Adam([weight], betas=0.9)


def test_a_grad_of_the_wrong_shape_is_reported():
    param = Tensor(np.ones(3), requires_grad=True, name="w")
    param.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"w has shape \(3,\) but its grad has shape \(4,\)"):
        optim.SGD([param], lr=0.1).step()


def test_repr_shows_the_settings():
    text = repr(optim.AdamW([Tensor(np.ones(2), requires_grad=True)], lr=0.01))
    assert text.startswith("AdamW(1 parameters") and "lr=0.01" in text and "weight_decay=0.01" in text


# ---- the kernel (in place, one long vector) and the rule as written give the same parameters ----
ADAM_CASES = [case for case in CASES if case[0] != "SGD"]


def with_gaps(grads):
    """The same gradients, with some parameters sitting out some steps (their bias corrections
    fall behind, so those steps and all later ones cannot run as one vector)."""
    grads = [list(step_grads) for step_grads in grads]
    for step, missing in {2: [1], 5: [0, 2], 6: [0, 1, 2]}.items():
        for i in missing:
            grads[step][i] = None
    return grads


@pytest.mark.parametrize("gaps", [False, True], ids=["every_grad", "some_steps_without_grads"])
@pytest.mark.parametrize("name, settings", ADAM_CASES)
def test_kernel_and_readable_rule_give_the_same_parameters(name, settings, gaps):
    initial, grads = make_problem(seed=2, steps=12)
    if gaps:
        grads = with_gaps(grads)
    kernel = run_ours(name, settings, initial, grads, kernels_at=lambda step: True)
    readable = run_ours(name, settings, initial, grads, kernels_at=lambda step: False)
    switching = run_ours(name, settings, initial, grads, kernels_at=lambda step: step % 3 != 1)
    by_hand = reference(name, settings, initial, grads)
    for k, r, mixed, want in zip(kernel, readable, switching, by_hand):
        np.testing.assert_allclose(k, r, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mixed, r, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(r, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, settings", ADAM_CASES)
def test_kernel_and_readable_rule_agree_in_float32(name, settings):
    initial, grads = make_problem(seed=3, steps=8, dtype=np.float32)
    kernel = run_ours(name, settings, initial, grads, kernels_at=lambda step: True)
    readable = run_ours(name, settings, initial, grads, kernels_at=lambda step: False)
    for k, r in zip(kernel, readable):
        assert k.dtype == r.dtype == np.float32
        np.testing.assert_allclose(k, r, rtol=1e-5, atol=1e-6)


def test_with_kernels_off_no_kernel_code_runs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel ran while use_kernels(False)")

    monkeypatch.setattr(adam_kernel, "update", refuse)
    monkeypatch.setattr(adam_kernel.OneVector, "step", refuse)
    initial, grads = make_problem(steps=3)
    with ta.use_kernels(False):
        ours = run_ours("AdamW", {"lr": 0.01}, initial, grads, kernels_at=lambda step: False)
    for got, want in zip(ours, reference("AdamW", {"lr": 0.01}, initial, grads)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_with_kernels_on_the_moments_live_in_one_long_vector():
    params = [Tensor(np.ones(shape), requires_grad=True) for shape in SHAPES]
    optimizer = optim.AdamW(params)
    for param in params:
        param.grad = np.ones(param.shape)
    optimizer.step()
    bases = {id(optimizer.state[param]["exp_avg"].base) for param in params}  # state is keyed by parameter
    assert len(bases) == 1 and optimizer.state[params[0]]["exp_avg"].base is not None  # views into one buffer
