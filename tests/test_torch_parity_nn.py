"""`nn` against `torch.nn`: containers (ModuleDict, Sequential, ModuleList slices), Module.apply,
buffers (register_buffer, persistent, state_dict, load_state_dict, to), zero_grad, PyTorch's
assignment rules, and nn.init's formulas. Expected numbers and orders come from torch (or NumPy
written out here)."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, nn

torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
tnn = torch.nn


def copy_weights(ours, theirs):
    """Our module's weights into torch's module (same names)."""
    theirs.load_state_dict({name: torch.tensor(array) for name, array in ours.state_dict().items()})


# ---- Sequential ----
def test_sequential_names_forward_and_gradients_match_torch():
    ours = nn.Sequential(nn.Linear(4, 6, rng=0), nn.GELU(), nn.Linear(6, 3, rng=1)).to(np.float64)
    theirs = tnn.Sequential(tnn.Linear(4, 6), tnn.GELU(), tnn.Linear(6, 3)).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal((5, 4))
    out = ours(Tensor(x))
    expected = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    for (name, mine), (_, ref) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(mine.grad, ref.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    assert repr(ours).splitlines()[0] == repr(theirs).splitlines()[0] == "Sequential("


def test_sequential_from_an_ordered_dict_indexing_and_slices_keep_torchs_keys():
    layers = OrderedDict([("fc", nn.Linear(2, 3, rng=0)), ("act", nn.ReLU()), ("out", nn.Linear(3, 1, rng=1))])
    ours = nn.Sequential(layers)
    theirs = tnn.Sequential(OrderedDict([("fc", tnn.Linear(2, 3)), ("act", tnn.ReLU()), ("out", tnn.Linear(3, 1))]))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours) == len(theirs) == 3 and ours[-1] is layers["out"] and isinstance(ours[1], nn.ReLU)
    tail = ours[1:]
    assert isinstance(tail, nn.Sequential) and list(tail.state_dict()) == list(theirs[1:].state_dict())
    assert layers["out"].weight.name == "out.weight"  # slicing does not rename the layers
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(tail(x).data, layers["out"](layers["act"](x)).data)
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        ours[3]
    with pytest.raises(TypeError, match="argument 1 must be a Module, got int"):
        nn.Sequential(nn.ReLU(), 3)


def test_sequential_scopes_nest_like_module_names():
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    out = model(Tensor(np.ones((1, 2), dtype=np.float32)))
    assert out.scope == "sequential/0" and model[0].weight.scope == "sequential/0"


def test_module_list_slices_are_module_lists_as_in_torch():
    ours = nn.ModuleList([nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)])
    part = ours[::2]
    assert isinstance(part, nn.ModuleList) and len(part) == 2 and part[1] is ours[2]
    theirs = tnn.ModuleList([tnn.Linear(2, 2), tnn.ReLU(), tnn.Linear(2, 1)])
    assert list(part.state_dict()) == list(theirs[::2].state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert ours[2].weight.name == "2.weight"  # the items keep their names in the list they belong to


# ---- ModuleDict ----
def test_module_dict_registers_under_its_keys_as_torch():
    ours = nn.ModuleDict({"encoder": nn.Linear(3, 4), "decoder": nn.Linear(4, 3)})
    theirs = tnn.ModuleDict({"encoder": tnn.Linear(3, 4), "decoder": tnn.Linear(4, 3)})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours) == list(theirs) == ["encoder", "decoder"] and ours.keys() == list(theirs.keys())
    assert "encoder" in ours and "nope" not in ours and len(ours) == 2
    ours["extra"] = nn.ReLU()
    theirs["extra"] = tnn.ReLU()
    assert [k for k, _ in ours.items()] == list(theirs.keys())
    assert ours.pop("extra").__class__ is nn.ReLU and "extra" not in ours
    del ours["decoder"]
    assert [n for n, _ in ours.named_parameters()] == ["encoder.weight", "encoder.bias"]
    ours.update([("head", nn.Linear(4, 2))])
    assert ours["head"].weight.name == "head.weight"
    ours.clear()
    assert len(ours) == 0 and list(ours.parameters()) == []


def test_module_dict_inside_a_model_names_and_scopes_its_items():
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleDict({"copy": nn.Linear(2, 2, rng=0), "sort": nn.Linear(2, 2, rng=1)})

        def forward(self, x, task):
            return self.heads[task](x)

    model = Heads()
    assert [n for n, _ in model.named_parameters()] == ["heads.copy.weight", "heads.copy.bias", "heads.sort.weight",
                                                         "heads.sort.bias"]
    out = model(Tensor(np.ones((1, 2), dtype=np.float32)), "sort")
    assert out.scope == "heads/heads.sort"


@pytest.mark.parametrize("key, error, message", [
    ("a.b", KeyError, "can't contain '.'"), ("", KeyError, "empty string"), ("keys", KeyError, "'keys' already exists"),
    ("training", KeyError, "'training' already exists"), (3, TypeError, "name must be a str"),
])
def test_module_dict_refuses_the_keys_torch_refuses(key, error, message):
    with pytest.raises(error):
        tnn.ModuleDict({key: tnn.ReLU()})
    with pytest.raises(error, match=message):
        nn.ModuleDict({key: nn.ReLU()})


def test_module_dict_errors():
    heads = nn.ModuleDict({"a": nn.ReLU()})
    with pytest.raises(KeyError, match=r"no module under key 'b'; keys are \['a'\]"):
        heads["b"]
    with pytest.raises(TypeError, match="the value of key 'b' must be a Module, got int"):
        heads["b"] = 1
    with pytest.raises(NotImplementedError, match="look a module up by key"):
        heads(Tensor(np.ones(2)))


# ---- apply ----
def test_apply_visits_children_first_then_the_module_as_torch():
    def tree(lib):
        return lib.Sequential(lib.Linear(2, 3), lib.Sequential(lib.ReLU(), lib.Linear(3, 1)))

    seen_ours, seen_torch = [], []
    ours = tree(nn)
    assert ours.apply(lambda m: seen_ours.append(type(m).__name__)) is ours
    tree(tnn).apply(lambda m: seen_torch.append(type(m).__name__))
    assert seen_ours == seen_torch == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]


def test_apply_initialises_weights_the_nanogpt_way():
    model = nn.Sequential(nn.Linear(8, 16, rng=0), nn.GELU(), nn.Linear(16, 4, rng=1))

    def init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02, generator=0)
            nn.init.zeros_(module.bias)

    model.apply(init_weights)
    np.testing.assert_allclose(model[0].weight.data, np.random.default_rng(0).normal(0.0, 0.02, (16, 8)), rtol=1e-6)
    assert all((m.bias.data == 0).all() for m in (model[0], model[2]))
    with pytest.raises(TypeError, match="apply: fn must be callable"):
        model.apply(3)


# ---- buffers ----
class WithBuffers(nn.Module):
    def __init__(self, lib_nn, tensor):
        super().__init__()
        self.proj = lib_nn.Linear(3, 3)
        self.register_buffer("mask", tensor(np.tril(np.ones((3, 3)))))
        self.register_buffer("cache", tensor(np.zeros(3)), persistent=False)
        self.register_buffer("count", tensor(np.array(0)))


class TorchWithBuffers(tnn.Module):
    def __init__(self):
        super().__init__()
        self.proj = tnn.Linear(3, 3)
        self.register_buffer("mask", torch.tensor(np.tril(np.ones((3, 3)))))
        self.register_buffer("cache", torch.zeros(3), persistent=False)
        self.register_buffer("count", torch.tensor(0))


def test_buffers_are_saved_not_learned_in_torchs_order():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", Tensor(np.ones(2)))
            self.inner = WithBuffers(nn, Tensor)

    class TorchOuter(tnn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.ones(2))
            self.inner = TorchWithBuffers()

    ours, theirs = Outer(), TorchOuter()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "scale", "inner.mask", "inner.count", "inner.proj.weight", "inner.proj.bias"]  # own buffers before children
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == [
        "scale", "inner.mask", "inner.cache", "inner.count"]
    assert ours.inner.mask is dict(ours.named_buffers())["inner.mask"]  # an attribute, the same tensor
    assert ours.inner.mask.name == "inner.mask" and not ours.inner.mask.requires_grad
    assert ours.num_parameters() == 12


def test_load_state_dict_fills_buffers_in_place_and_checks_them():
    ours = WithBuffers(nn, Tensor)
    buffer = ours.mask
    state = ours.state_dict()
    state["mask"] = np.full((3, 3), 7.0)
    state["count"] = np.array(5)
    ours.load_state_dict(state)
    assert ours.mask is buffer and (buffer.data == 7).all() and ours.count.item() == 5
    assert ours.count.dtype == np.int64
    del state["count"]
    with pytest.raises(RuntimeError, match=r"missing keys \['count'\]"):
        ours.load_state_dict(state)
    state["count"] = np.array(1)
    state["cache"] = np.ones(3)  # not persistent: not expected
    with pytest.raises(RuntimeError, match=r"unexpected keys \['cache'\]"):
        ours.load_state_dict(state)


def test_state_dict_loads_into_torch_and_back():
    ours, theirs = WithBuffers(nn, Tensor), TorchWithBuffers()
    ours.mask.data[...] = 3.0
    theirs.load_state_dict({name: torch.tensor(array) for name, array in ours.state_dict().items()})
    assert (theirs.mask == 3).all()
    with torch.no_grad():
        theirs.proj.weight.fill_(0.5)
    ours.load_state_dict(theirs.state_dict())  # torch tensors are accepted
    assert (ours.proj.weight.data == 0.5).all()


def test_buffer_assignment_follows_torchs_rules():
    model = WithBuffers(nn, Tensor)
    replacement = Tensor(np.eye(3))
    model.mask = replacement
    assert model.state_dict()["mask"].tolist() == np.eye(3).tolist() and replacement.name == "mask"
    with pytest.raises(TypeError, match=r"cannot assign ndarray as buffer 'mask' \(a Tensor or None expected\)"):
        model.mask = np.eye(3)
    model.mask = None
    assert "mask" not in model.state_dict() and model.mask is None
    with pytest.raises(KeyError, match="attribute 'proj' already exists"):
        model.register_buffer("proj", Tensor(np.ones(1)))
    with pytest.raises(KeyError, match="can't contain '.'"):
        model.register_buffer("a.b", Tensor(np.ones(1)))
    with pytest.raises(TypeError, match="cannot register list as buffer 'c'"):
        model.register_buffer("c", [1.0])


def test_to_casts_floating_buffers_and_leaves_integer_ones():
    model = WithBuffers(nn, Tensor).to(np.float64)
    assert model.mask.dtype == np.float64 and model.count.dtype == np.int64 and model.proj.weight.dtype == np.float64


# ---- parameters: PyTorch's assignment rules ----
def test_a_plain_tensor_cannot_replace_a_parameter_as_in_torch():
    layer, torch_layer = nn.Linear(2, 2), tnn.Linear(2, 2)
    with pytest.raises(TypeError):
        torch_layer.weight = torch.ones(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight' \(an nn.Parameter or None"):
        layer.weight = Tensor(np.ones((2, 2)))
    layer.bias = None  # None keeps the slot, as in torch
    torch_layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == [n for n, _ in torch_layer.named_parameters()] == ["weight"]
    layer.bias = nn.Parameter(np.zeros(2))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_register_parameter_and_add_module():
    model = nn.Module()
    model.register_parameter("scale", nn.Parameter(np.ones(3)))
    model.register_parameter("shift", None)
    model.add_module("proj", nn.Linear(3, 3))
    assert [n for n, _ in model.named_parameters()] == ["scale", "proj.weight", "proj.bias"]
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'x'"):
        model.register_parameter("x", Tensor(np.ones(1)))
    with pytest.raises(TypeError, match="int is not a Module"):
        model.add_module("y", 3)
    assert [n for n, _ in model.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in model.named_children()] == ["proj"]


# ---- zero_grad ----
def test_zero_grad_sets_to_none_by_default_or_zeros_as_torch():
    ours, theirs = nn.Linear(3, 2, rng=0), tnn.Linear(3, 2)
    for set_to_none in (True, False):
        ours(Tensor(np.ones((1, 3), dtype=np.float32))).sum().backward()
        theirs(torch.ones(1, 3)).sum().backward()
        ours.zero_grad(set_to_none=set_to_none)
        theirs.zero_grad(set_to_none=set_to_none)
        for mine, ref in zip(ours.parameters(), theirs.parameters()):
            if set_to_none:
                assert mine.grad is None and ref.grad is None
            else:
                np.testing.assert_array_equal(mine.grad, ref.grad.numpy())
                assert (mine.grad == 0).all() and mine.grad.shape == mine.shape
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


# ---- nn.init ----
SHAPES = [(30, 20), (16, 4, 3, 3), (5, 50)]


def torch_fans(shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_init_formulas_use_torchs_fans_and_gains(shape):
    fan_in, fan_out = torch_fans(shape)
    rng = lambda: np.random.default_rng(4)  # noqa: E731  (the same draws for ours and the NumPy reference)
    checks = [
        (lambda t: nn.init.xavier_uniform_(t, gain=1.5, generator=rng()),
         rng().uniform(-1, 1, shape) * 1.5 * math.sqrt(6 / (fan_in + fan_out))),
        (lambda t: nn.init.xavier_normal_(t, gain=0.5, generator=rng()),
         rng().normal(0, 0.5 * math.sqrt(2 / (fan_in + fan_out)), shape)),
        (lambda t: nn.init.kaiming_uniform_(t, generator=rng()),
         rng().uniform(-1, 1, shape) * torch.nn.init.calculate_gain("leaky_relu", 0) * math.sqrt(3 / fan_in)),
        (lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5), mode="fan_out", generator=rng()),
         rng().uniform(-1, 1, shape) * torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) * math.sqrt(3 / fan_out)),
        (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu", generator=rng()),
         rng().normal(0, torch.nn.init.calculate_gain("relu") / math.sqrt(fan_in), shape)),
        (lambda t: nn.init.normal_(t, 0.5, 0.02, generator=rng()), rng().normal(0.5, 0.02, shape)),
        (lambda t: nn.init.uniform_(t, -0.1, 0.3, generator=rng()), rng().uniform(-0.1, 0.3, shape)),
    ]
    for index, (init, want) in enumerate(checks):
        weight = nn.Parameter(np.zeros(shape))
        assert init(weight) is weight
        # U(-b, b) drawn as b·U(-1, 1) and N(0, s) as rng.normal(0, s): the same numbers up to rounding
        np.testing.assert_allclose(weight.data, want, rtol=1e-12, atol=1e-15, err_msg=f"check {index}")


@pytest.mark.parametrize("name, kwargs", [
    ("xavier_uniform_", {}), ("xavier_normal_", {}), ("kaiming_uniform_", {}),
    ("kaiming_uniform_", dict(a=math.sqrt(5))), ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu")),
    ("normal_", dict(std=0.02)), ("uniform_", dict(a=-2.0, b=1.0)),
])
def test_init_spreads_match_torchs_samples(name, kwargs):
    shape = (400, 300)
    ours = getattr(nn.init, name)(nn.Parameter(np.zeros(shape)), **kwargs, generator=0).data
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), **kwargs).numpy()
    assert abs(ours.std() - theirs.std()) < 0.02 * theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 0.02 * theirs.std() + 1e-12
    assert abs(np.abs(ours).max() - np.abs(theirs).max()) < 0.1 * np.abs(theirs).max()


def test_calculate_gain_is_torchs():
    for args in [("linear",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2), ("selu",),
                 ("conv2d",)]:
        assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-15)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")


def test_init_writes_in_place_into_parameters_that_require_grad():
    layer = nn.Linear(4, 3, rng=0)
    weight, array = layer.weight, layer.weight.data
    nn.init.ones_(layer.weight)
    nn.init.zeros_(layer.bias)
    nn.init.constant_(layer.weight, 0.25)
    assert layer.weight is weight and weight.data is array and weight.requires_grad
    assert (weight.data == 0.25).all() and (layer.bias.data == 0).all()
    ta.manual_seed(3)
    first = nn.init.normal_(nn.Parameter(np.zeros(5))).data.copy()
    ta.manual_seed(3)
    np.testing.assert_array_equal(nn.init.normal_(nn.Parameter(np.zeros(5))).data, first)  # the global seed
    gen = np.random.default_rng(9)
    np.testing.assert_array_equal(nn.init.uniform_(nn.Parameter(np.zeros(5)), generator=gen).data,
                                  np.random.default_rng(9).uniform(0, 1, 5))
    float32 = nn.init.normal_(nn.Parameter(np.zeros(3, dtype=np.float32)), generator=1)
    assert float32.dtype == np.float32


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.init.xavier_uniform_(nn.Parameter(np.zeros(5))), ValueError,
     r"xavier_uniform_: fan in and fan out can not be computed for a tensor with fewer than 2 dims, got shape \(5,\)"),
    (lambda: nn.init.kaiming_uniform_(nn.Parameter(np.zeros((2, 2))), mode="fan"), ValueError,
     "mode must be 'fan_in' or 'fan_out'"),
    (lambda: nn.init.normal_(Tensor(np.zeros(2, dtype=np.int64))), TypeError, "normal_: needs a floating-point tensor"),
    (lambda: nn.init.normal_(nn.Parameter(np.zeros(2)), std=-1.0), ValueError, "normal_: std must be >= 0"),
    (lambda: nn.init.uniform_(nn.Parameter(np.zeros(2)), generator="seed"), TypeError,
     "uniform_: generator must be None"),
    (lambda: nn.init.zeros_(np.zeros(2)), TypeError, "zeros_: expected a Tensor"),
    (lambda: nn.init.ones_(nn.Parameter(np.zeros(2)) * 2), RuntimeError, "only a leaf"),
])
def test_init_errors_are_clear(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_kaiming_uniform_with_a_sqrt5_is_linears_default_bound():
    weight = nn.init.kaiming_uniform_(nn.Parameter(np.zeros((300, 400))), a=math.sqrt(5), generator=0).data
    assert np.abs(weight).max() <= 1 / math.sqrt(400) and np.abs(weight).max() > 0.99 / math.sqrt(400)


def test_module_to_takes_a_device_and_a_dtype_as_torch():
    import tinygrad_attn as ta
    from tinygrad_attn import nn as tnn

    layer = tnn.Linear(3, 2)
    assert layer.to("cpu") is layer and layer.weight.dtype == np.float32
    assert layer.to(ta.device("cpu"), ta.float64).weight.dtype == np.float64
    assert layer.float().weight.dtype == np.float32 and layer.double().bias.dtype == np.float64
    assert layer.to(dtype=ta.float32).weight.dtype == np.float32
    with pytest.raises(ValueError, match="CPU"):
        layer.to("cuda")
