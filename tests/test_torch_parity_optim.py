"""`optim` against `torch.optim`: parameter groups with per-group options, `param_groups` whose
mutable lr takes effect, SGD's dampening and nesterov, Adam's decoupled_weight_decay, state keyed
by parameter, `state_dict()` / `load_state_dict()` (also from torch's), zero_grad(set_to_none),
closures, named parameters. Every trajectory is compared with torch's in float64."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, optim

torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with it are skipped")

SHAPES = [(3, 4), (5,), (2, 3), (4,)]
KERNELS = pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])


def problem(seed=0, steps=8):
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return initial, grads


def groups_of(params, spec):
    """spec: list of (indices, options) -> param groups over `params`."""
    return [{"params": [params[i] for i in indices], **options} for indices, options in spec]


def run_both(name, spec, defaults, initial, grads, kernels=True, between=None):
    ours = [Tensor(a.copy(), requires_grad=True) for a in initial]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in initial]
    our_opt = getattr(optim, name)(groups_of(ours, spec) if spec else ours, **defaults)
    their_opt = getattr(torch.optim, name)(groups_of(theirs, spec) if spec else theirs, **defaults)
    with ta.use_kernels(kernels):
        for step, step_grads in enumerate(grads):
            for mine, ref, g in zip(ours, theirs, step_grads):
                mine.grad = None if g is None else g.copy()
                ref.grad = None if g is None else torch.tensor(g)
            our_opt.step()
            their_opt.step()
            if between is not None:
                between(step, our_opt, their_opt)
    for index, (mine, ref) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(mine.data, ref.detach().numpy(), rtol=1e-11, atol=1e-12, err_msg=f"param {index}")
    return our_opt, their_opt


GROUP_CASES = [
    ("SGD", [([0, 1], {"lr": 0.05, "momentum": 0.9}), ([2, 3], {"weight_decay": 0.1})], dict(lr=0.1)),
    ("SGD", [([0, 2], {"momentum": 0.8, "nesterov": True}), ([1, 3], {"momentum": 0.5, "dampening": 0.3})],
     dict(lr=0.05)),
    ("SGD", None, dict(lr=0.03, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("Adam", [([0, 1], {"weight_decay": 0.1}), ([2, 3], {"lr": 0.02, "betas": (0.8, 0.99)})], dict(lr=0.01)),
    ("Adam", [([0], {"decoupled_weight_decay": True, "weight_decay": 0.2}), ([1, 2, 3], {})], dict(lr=0.01)),
    ("AdamW", [([0, 1, 2], {"weight_decay": 0.1}), ([3], {"weight_decay": 0.0, "eps": 1e-6})], dict(lr=0.01)),
    ("AdamW", None, dict(lr=0.02, betas=(0.85, 0.95), weight_decay=0.3)),
]


@KERNELS
@pytest.mark.parametrize("name, spec, defaults", GROUP_CASES)
def test_parameter_groups_follow_torch(name, spec, defaults, kernels):
    initial, grads = problem()
    our_opt, their_opt = run_both(name, spec, defaults, initial, grads, kernels)
    assert len(our_opt.param_groups) == len(their_opt.param_groups)
    for mine, ref in zip(our_opt.param_groups, their_opt.param_groups):
        for key in our_opt.defaults:
            assert mine[key] == pytest.approx(ref[key]), key  # per-group options, defaults filled in


@KERNELS
@pytest.mark.parametrize("name, spec, defaults", GROUP_CASES)
def test_params_sitting_out_steps_follow_torch(name, spec, defaults, kernels):
    initial, grads = problem(seed=1)
    grads[2][1] = None
    grads[4][0] = grads[4][3] = None
    run_both(name, spec, defaults, initial, grads, kernels)


@KERNELS
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_changing_a_groups_lr_takes_effect_as_in_torch(name, kernels):
    initial, grads = problem(seed=2)

    def schedule(step, our_opt, their_opt):
        for index, (mine, ref) in enumerate(zip(our_opt.param_groups, their_opt.param_groups)):
            mine["lr"] = ref["lr"] = 0.05 / (step + 2) * (index + 1)

    spec = [([0, 1], {}), ([2, 3], {"lr": 0.2})]
    run_both(name, spec, dict(lr=0.1, **({"momentum": 0.9} if name == "SGD" else {})), initial, grads, kernels,
             between=schedule)


def test_the_lr_attribute_sets_every_group():
    params = [Tensor(np.zeros(2), requires_grad=True) for _ in range(2)]
    optimizer = optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=1.0)
    with pytest.raises(AttributeError, match="different learning rates"):
        optimizer.lr
    optimizer.lr = 0.25
    assert [g["lr"] for g in optimizer.param_groups] == [0.25, 0.25] and optimizer.lr == 0.25


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_add_param_group_follows_torch(name):
    initial, grads = problem(seed=3)

    def add_later(step, our_opt, their_opt):
        if step == 2:
            our_opt.add_param_group({"params": [late_ours], "lr": 0.3})
            their_opt.add_param_group({"params": [late_theirs], "lr": 0.3})
        late_ours.grad = np.full(3, 0.5 * step)
        late_theirs.grad = torch.full((3,), 0.5 * step, dtype=torch.float64)

    late_ours = Tensor(np.ones(3), requires_grad=True)
    late_theirs = torch.ones(3, dtype=torch.float64, requires_grad=True)
    run_both(name, None, dict(lr=0.1), initial, grads, between=add_later)
    np.testing.assert_allclose(late_ours.data, late_theirs.detach().numpy(), rtol=1e-11, atol=1e-12)


def test_named_parameters_are_accepted_as_in_torch():
    model = ta.nn.Linear(3, 2, rng=0)
    optimizer = optim.AdamW(model.named_parameters(), lr=0.1)
    assert optimizer.param_groups[0]["param_names"] == ["weight", "bias"]
    assert optimizer.param_groups[0]["params"][0] is model.weight


def test_state_is_keyed_by_parameter_with_torchs_names():
    initial, grads = problem(seed=4, steps=3)
    for name in ("Adam", "SGD"):
        kwargs = {"momentum": 0.9} if name == "SGD" else {}
        our_opt, their_opt = run_both(name, None, dict(lr=0.1, **kwargs), initial, grads)
        ours_state, theirs_state = our_opt.state_dict(), their_opt.state_dict()
        assert sorted(ours_state["state"]) == sorted(theirs_state["state"]) == [0, 1, 2, 3]
        for index in ours_state["state"]:
            assert set(ours_state["state"][index]) == set(theirs_state["state"][index])
            for key, value in ours_state["state"][index].items():
                ref = theirs_state["state"][index][key]
                np.testing.assert_allclose(np.asarray(value, dtype=float), ref.numpy(), rtol=1e-11, atol=1e-13)
        assert [g["params"] for g in ours_state["param_groups"]] == [g["params"] for g in theirs_state["param_groups"]]
        param = next(iter(our_opt.param_groups[0]["params"]))
        assert our_opt.state[param] is our_opt.state[param] and our_opt.state[param]


@KERNELS
@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                          ("Adam", dict(lr=0.01, weight_decay=0.1)), ("AdamW", dict(lr=0.02))])
def test_loading_torchs_state_dict_continues_torchs_trajectory(name, kwargs, kernels):
    initial, grads = problem(seed=5, steps=8)
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in initial]
    their_opt = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.05}], **kwargs)
    for step_grads in grads[:4]:
        for ref, g in zip(theirs, step_grads):
            ref.grad = torch.tensor(g)
        their_opt.step()
    ours = [Tensor(t.detach().numpy().copy(), requires_grad=True) for t in theirs]
    our_opt = getattr(optim, name)([{"params": ours[:2]}, {"params": ours[2:]}], **kwargs)
    our_opt.load_state_dict(their_opt.state_dict())
    assert our_opt.param_groups[1]["lr"] == 0.05  # the groups' options come from the saved state
    with ta.use_kernels(kernels):
        for step_grads in grads[4:]:
            for mine, ref, g in zip(ours, theirs, step_grads):
                mine.grad, ref.grad = g.copy(), torch.tensor(g)
            our_opt.step()
            their_opt.step()
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine.data, ref.detach().numpy(), rtol=1e-11, atol=1e-12)


@KERNELS
def test_our_state_dict_round_trips(kernels):
    initial, grads = problem(seed=6, steps=6)
    first = [Tensor(a.copy(), requires_grad=True) for a in initial]
    opt = optim.AdamW(first, lr=0.02)
    with ta.use_kernels(kernels):
        for step_grads in grads[:3]:
            for p, g in zip(first, step_grads):
                p.grad = g.copy()
            opt.step()
        saved = opt.state_dict()
        second = [Tensor(p.data.copy(), requires_grad=True) for p in first]
        other = optim.AdamW(second, lr=0.5)
        other.load_state_dict(saved)
        assert other.param_groups[0]["lr"] == 0.02
        for step_grads in grads[3:]:
            for a, b, g in zip(first, second, step_grads):
                a.grad, b.grad = g.copy(), g.copy()
            opt.step()
            other.step()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.data, b.data)
    for p in first:  # the saved copy did not follow the optimizer
        assert saved["state"][0]["exp_avg"] is not opt.state[first[0]]["exp_avg"]


def test_a_failed_load_changes_nothing():
    params = [Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)]
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()
    saved = opt.state_dict()
    bad = {"state": {0: dict(saved["state"][0], exp_avg=np.zeros(5))}, "param_groups": saved["param_groups"]}
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(5,\), the parameter has shape \(2,\)"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="has 2 parameter groups, this optimizer has 1"):
        opt.load_state_dict({"state": {}, "param_groups": saved["param_groups"] * 2})
    with pytest.raises(ValueError, match="amsgrad=True"):
        opt.load_state_dict({"state": {}, "param_groups": [dict(saved["param_groups"][0], amsgrad=True)]})
    after = opt.state_dict()
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])
    assert after["param_groups"] == before["param_groups"]


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_zero_grad_set_to_none_as_torch(name):
    ours, theirs = Tensor(np.ones(3), requires_grad=True), torch.ones(3, dtype=torch.float64, requires_grad=True)
    our_opt, their_opt = getattr(optim, name)([ours], lr=0.1), getattr(torch.optim, name)([theirs], lr=0.1)
    ours.grad, theirs.grad = np.full(3, 2.0), torch.full((3,), 2.0, dtype=torch.float64)
    our_opt.zero_grad(set_to_none=False)
    their_opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())
    our_opt.zero_grad()
    their_opt.zero_grad()
    assert ours.grad is None and theirs.grad is None


def test_step_with_a_closure_returns_its_loss():
    weight = Tensor(np.array([2.0]), requires_grad=True)
    opt = optim.SGD([weight], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (weight * weight).sum()
        loss.backward()
        return loss

    with ta.no_grad():  # the closure still records its graph, as torch's enable_grad does
        loss = opt.step(closure)
    assert loss.item() == 4.0 and weight.data[0] == pytest.approx(2.0 - 0.25 * 4.0)


@pytest.mark.parametrize("make, error, message", [
    (lambda a, b: optim.SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1), ValueError,
     r"param_groups\[1\]\['params'\]\[0\] .* is already in another parameter group"),
    (lambda a, b: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, "parameter group 0 has no 'params' entry"),
    (lambda a, b: optim.SGD([a], lr=0.1, nesterov=True), ValueError, "nesterov momentum needs momentum > 0"),
    (lambda a, b: optim.SGD([{"params": [a], "momentum": -1}], lr=0.1), ValueError, "momentum must be >= 0"),
    (lambda a, b: optim.Adam([{"params": [a]}, {"params": [b], "betas": (0.9, 1.5)}]), ValueError,
     r"Adam param_groups\[1\]: betas\[1\] must be >= 0.0 and < 1.0"),
    (lambda a, b: optim.SGD({a, b}, lr=0.1), TypeError, "not a set"),
    (lambda a, b: optim.SGD([{"params": [a]}, b], lr=0.1), TypeError, "a parameter group must be a dict"),
    (lambda a, b: optim.Adam([a], amsgrad=True), NotImplementedError, "amsgrad=True is not supported"),
])
def test_bad_groups_are_refused_clearly(make, error, message):
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(error, match=message):
        make(a, b)


def test_a_bad_lr_set_between_steps_is_caught_at_the_step():
    weight = Tensor(np.ones(2), requires_grad=True)
    weight.grad = np.ones(2)
    opt = optim.Adam([weight])
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="Adam: lr must be >= 0"):
        opt.step()
