"""Graduating to PyTorch and back: `to_torch()`, `nn.Module.from_torch()`, nanoGPT's layout.

Every comparison's expected numbers come from torch running its own ops: the torch side is
either the module `to_torch()` made (plain torch code, none of the engine's), a model written
in the test from torch.nn modules, or tests/models/nanogpt_style.py, a nanoGPT-style model
written for PyTorch. Weights are drawn at random for every tensor (layer-norm gains and biases
too), so a key mapped to the wrong place, a transposed weight or q and k swapped in the fused
projection changes the logits.
"""
from __future__ import annotations

import importlib.util
import pickle
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import functional as F
from tinygrad_attn import nn
from tinygrad_attn.nn.nanogpt_layout import nanogpt_name

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {"float32": 1e-5, "float64": 1e-10}
VOCAB, BLOCK = 13, 8
MODEL_FILE = Path(__file__).parent / "models" / "nanogpt_style.py"


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Distinct random numbers in every parameter, so no two tensors could be swapped unseen."""
    rng = np.random.default_rng(seed)
    with ta.no_grad():
        for param in model.parameters():
            param.data[...] = rng.normal(0.0, 0.4, param.shape)
    return model


def tokens(seed: int = 1, batch: int = 3, time: int = BLOCK):
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB, (batch, time)), rng.integers(0, VOCAB, (batch, time))


def as_numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor.data)


def max_diff(ours, theirs) -> float:
    ours, theirs = as_numpy(ours), as_numpy(theirs)
    assert ours.shape == theirs.shape
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)), initial=0.0))


def compare_lm(ours: nn.Module, theirs, dtype: str, their_names=None) -> dict[str, float]:
    """Logits, cross-entropy loss and every parameter gradient of a language model on both sides."""
    idx, targets = tokens()
    our_logits = ours(ta.tensor(idx))
    our_loss = F.cross_entropy(our_logits.view(-1, VOCAB), ta.tensor(targets).view(-1))
    our_loss.backward()
    their_logits = theirs(torch.tensor(idx))
    their_loss = tnn.functional.cross_entropy(their_logits.reshape(-1, VOCAB), torch.tensor(targets).view(-1))
    their_loss.backward()
    assert str(our_logits.dtype) == dtype and str(their_logits.dtype) == f"torch.{dtype}"
    diffs = {"logits": max_diff(our_logits, their_logits), "loss": max_diff(our_loss, their_loss)}
    their_params = dict(theirs.named_parameters())
    grads = []
    for name, param in ours.named_parameters():
        their_name = their_names(name) if their_names else name
        assert their_params[their_name].grad is not None, their_name
        grads.append(max_diff(param.grad, their_params[their_name].grad))
    assert len(grads) == len(their_params)
    diffs["gradients"] = max(grads)
    for quantity, diff in diffs.items():
        assert diff <= TOL[dtype], f"{quantity}: max abs diff {diff:.3g} > {TOL[dtype]}"
    return diffs


def gpt_variants():
    return {
        "teaching GPT (defaults)": lambda rng: nn.GPT(VOCAB, BLOCK, 16, 4, 2, 32, rng=rng),
        "nanoGPT architecture": lambda rng: nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=2, n_head=2, n_embd=16, rng=rng),
        "nanoGPT, bias=False": lambda rng: nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=2, n_head=4, n_embd=16, bias=False,
                                                           rng=rng),
    }


# ---- ours -> torch ----
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", list(gpt_variants()))
def test_gpt_to_torch_gives_the_same_logits_loss_and_gradients(variant, dtype):
    ours = randomize(gpt_variants()[variant](0), seed=2).to(np.dtype(dtype))
    theirs = ours.to_torch()
    assert isinstance(theirs, tnn.Module) and list(theirs.state_dict()) == list(ours.state_dict())
    compare_lm(ours, theirs, dtype)


def test_to_torch_copies_weights_dtype_requires_grad_and_mode():
    ours = randomize(nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=1, n_head=2, n_embd=8, rng=0), seed=3).double()
    ours.pos_emb.weight.requires_grad = False
    ours.eval()
    theirs = ours.to_torch()
    assert theirs.head.weight is theirs.tok_emb.weight  # tied on the torch side too
    assert theirs.pos_emb.weight.requires_grad is False and theirs.head.weight.requires_grad is True
    assert not theirs.training and not theirs.blocks[0].drop.training
    for name, value in theirs.state_dict().items():
        assert value.dtype == torch.float64
        np.testing.assert_array_equal(value.numpy(), ours.state_dict()[name])
    with torch.no_grad():
        theirs.head.weight.add_(1.0)  # copies, not shared memory
    assert not np.array_equal(ours.head.weight.data, as_numpy(theirs.head.weight))


def test_to_torch_leaves_the_random_streams_alone():
    ours = nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, rng=0)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    ours.to_torch()
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_and_block_to_torch_match(dtype, causal):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 5, 8))
    key_mask = np.array([[True] * 5, [True, True, True, False, False]])
    for ours in (nn.MultiHeadAttention(8, 2, causal=causal, rng=0), nn.TransformerBlock(8, 2, 16, causal=causal, rng=0)):
        ours = randomize(ours, seed=5).to(np.dtype(dtype))
        theirs = ours.to_torch()
        our_x = ta.tensor(x.astype(dtype), requires_grad=True)
        their_x = torch.tensor(x.astype(dtype), requires_grad=True)
        our_out, their_out = ours(our_x, key_mask=key_mask), theirs(their_x, key_mask=torch.tensor(key_mask))
        (our_out * our_out).mean().backward()
        (their_out * their_out).mean().backward()
        assert max_diff(our_out, their_out) <= TOL[dtype]
        assert max_diff(our_x.grad, their_x.grad) <= TOL[dtype]
        their_params = dict(theirs.named_parameters())
        for name, param in ours.named_parameters():
            assert max_diff(param.grad, their_params[name].grad) <= TOL[dtype], name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layers_and_sequential_to_torch_match(dtype):
    rng = np.random.default_rng(6)
    ours = nn.Sequential(OrderedDict([("embed", nn.Embedding(VOCAB, 8, padding_idx=0)), ("proj", nn.Linear(8, 12)),
                                      ("act", nn.GELU()), ("norm", nn.LayerNorm(12)), ("drop", nn.Dropout(0.3)),
                                      ("out", nn.Linear(12, 4, bias=False)), ("relu", nn.ReLU())]))
    randomize(ours, seed=7).to(np.dtype(dtype)).eval()
    theirs = ours.to_torch()
    assert isinstance(theirs, tnn.Sequential) and isinstance(theirs.norm, tnn.LayerNorm)
    assert theirs.embed.padding_idx == 0 and theirs.out.bias is None and not theirs.drop.training
    ids = rng.integers(0, VOCAB, (3, 5))
    our_out, their_out = ours(ta.tensor(ids)), theirs(torch.tensor(ids))
    our_out.sum().backward()
    their_out.sum().backward()
    assert max_diff(our_out, their_out) <= TOL[dtype]
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert max_diff(param.grad, their_params[name].grad) <= TOL[dtype], name


def test_the_torch_twin_pickles():
    theirs = nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, rng=0).to_torch()
    again = pickle.loads(pickle.dumps(theirs))
    idx = torch.tensor(tokens()[0])
    assert torch.equal(again(idx), theirs(idx))


def test_to_torch_refuses_what_it_cannot_convert():
    class Doubler(nn.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(TypeError, match=r"no torch equivalent for AttentionClassifier.*converts nn.GPT"):
        nn.AttentionClassifier(VOCAB, BLOCK, 8, 2, 3, rng=0).to_torch()
    with pytest.raises(TypeError, match=r"no torch equivalent for Doubler \(at 1\)"):
        nn.Sequential(nn.Linear(2, 2), Doubler()).to_torch()
    model = nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, rng=0)
    model.blocks[0].mlp = Doubler()  # a swapped-in layer would be lost silently: refused
    with pytest.raises(TypeError, match=r"Doubler \(at blocks.0.mlp\)"):
        model.to_torch()


# ---- torch -> ours ----
class TorchReference(tnn.Module):
    """A small model written in the test with torch.nn, to come over to the engine."""

    def __init__(self):
        super().__init__()
        self.layers = tnn.Sequential(tnn.Linear(6, 10), tnn.GELU(approximate="tanh"), tnn.LayerNorm(10),
                                     tnn.Linear(10, 3, bias=False), tnn.ReLU())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_torch_sequential_comes_over_with_the_same_outputs_and_gradients(dtype):
    torch.manual_seed(0)
    theirs = TorchReference().layers.to(getattr(torch, dtype))
    with torch.no_grad():
        for param in theirs.parameters():
            param.normal_(0, 0.4)
    ours = nn.Module.from_torch(theirs)
    assert isinstance(ours, nn.Sequential) and isinstance(ours[2], nn.LayerNorm) and ours[3].bias is None
    assert ours[0].weight.dtype == np.dtype(dtype)
    x = np.random.default_rng(8).normal(size=(4, 6)).astype(dtype)
    our_x, their_x = ta.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    our_out, their_out = ours(our_x), theirs(their_x)
    (our_out * our_out).mean().backward()
    (their_out * their_out).mean().backward()
    assert max_diff(our_out, their_out) <= TOL[dtype]
    assert max_diff(our_x.grad, their_x.grad) <= TOL[dtype]
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert max_diff(param.grad, their_params[name].grad) <= TOL[dtype], name


def test_from_torch_round_trips_every_kind_and_keeps_the_class():
    ta.manual_seed(11)
    expected = ta.randn(3).data
    ta.manual_seed(11)
    for ours in (nn.GPT(VOCAB, BLOCK, 8, 2, 2, 16, rng=0), nn.TransformerBlock(8, 2, 16, rng=0),
                 nn.MultiHeadAttention(8, 4, causal=True, bias=False, rng=0), nn.MLP(8, 16, rng=0, gelu="none"),
                 nn.Embedding(5, 3, rng=0), nn.LayerNorm((2, 3), bias=False), nn.Linear(3, 2, rng=0),
                 nn.ModuleList([nn.Linear(2, 2, rng=0)]), nn.ModuleDict({"a": nn.Linear(2, 2, rng=0)})):
        back = type(ours).from_torch(randomize(ours, seed=9).to_torch())
        assert type(back) is type(ours) and repr(back) == repr(ours)
        assert list(back.state_dict()) == list(ours.state_dict())
        for name, array in ours.state_dict().items():
            np.testing.assert_array_equal(back.state_dict()[name], array, err_msg=name)
    np.testing.assert_array_equal(ta.randn(3).data, expected)  # building ours drew nothing from ta's stream
    with pytest.raises(TypeError, match=r"becomes an nn.Linear, not an nn.GPT"):
        nn.GPT.from_torch(tnn.Linear(2, 3))
    with pytest.raises(TypeError, match=r"no equivalent here for torch's Conv1d \(at 1\)"):
        nn.Module.from_torch(tnn.Sequential(tnn.Linear(2, 2), tnn.Conv1d(1, 1, 1)))
    with pytest.raises(TypeError, match=r"expected a torch.nn.Module, got ndarray"):
        nn.Module.from_torch(np.ones(3))


# ---- nanoGPT: the model written for PyTorch, its checkpoint layout ----
@pytest.fixture(scope="module")
def nanogpt_file():
    name = "nanogpt_style_for_graduate"
    spec = importlib.util.spec_from_file_location(name, MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is made
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)


def nanogpt_model(nanogpt_file, dtype="float32", seed=0, **config):
    torch.manual_seed(seed)
    config = {"vocab_size": VOCAB, "block_size": BLOCK, "n_layer": 2, "n_head": 2, "n_embd": 16, **config}
    model = nanogpt_file.GPT(nanogpt_file.GPTConfig(**config))
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.4)  # the 0.02 init would hide a wrong mapping in small logits
    return model.to(getattr(torch, dtype)), config


def nanogpt_loss(model, idx, targets):
    return model(torch.tensor(idx), torch.tensor(targets))


def our_loss(model, idx, targets):
    logits = model(ta.tensor(idx))
    return logits, F.cross_entropy(logits.view(-1, VOCAB), ta.tensor(targets).view(-1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [dict(), dict(bias=False), dict(flash=False)], ids=["bias", "no-bias", "mask-buffer"])
def test_a_nanogpt_state_dict_loads_and_gives_the_same_loss(nanogpt_file, options, dtype):
    theirs, config = nanogpt_model(nanogpt_file, dtype, **options)
    state = theirs.state_dict()  # torch tensors under nanoGPT's names (with the mask buffers when flash=False)
    assert "transformer.h.0.attn.c_attn.weight" in state and "lm_head.weight" in state
    assert ("transformer.h.0.attn.bias" in state) == (options.get("flash") is False)
    ours = nn.GPT.nanogpt(config["vocab_size"], config["block_size"], config["n_layer"], config["n_head"],
                          config["n_embd"], bias=options.get("bias", True)).to(np.dtype(dtype))
    result = ours.load_state_dict(state, style="nanogpt")
    assert result.missing_keys == [] and result.unexpected_keys == []
    idx, targets = tokens()
    their_logits, their_loss = nanogpt_loss(theirs, idx, targets)
    our_logits, loss = our_loss(ours, idx, targets)
    assert max_diff(our_logits, their_logits) <= TOL[dtype]
    assert max_diff(loss, their_loss) <= TOL[dtype]
    their_loss.backward()
    loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert max_diff(param.grad, their_params[nanogpt_name(name)].grad) <= TOL[dtype], name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ours_loads_into_nanogpt_and_gives_the_same_logits(nanogpt_file, dtype):
    ours = randomize(nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=2, n_head=2, n_embd=16, rng=0), seed=12).to(np.dtype(dtype))
    theirs, _ = nanogpt_model(nanogpt_file, dtype, seed=3)
    theirs.load_state_dict({name: torch.from_numpy(array) for name, array in ours.state_dict(style="nanogpt").items()})
    assert theirs.lm_head.weight is theirs.transformer.wte.weight
    idx, targets = tokens(seed=4)
    their_logits, their_loss = nanogpt_loss(theirs, idx, targets)
    our_logits, loss = our_loss(ours, idx, targets)
    assert max_diff(our_logits, their_logits) <= TOL[dtype] and max_diff(loss, their_loss) <= TOL[dtype]


def test_a_nanogpt_model_comes_over_with_from_torch(nanogpt_file):
    theirs, _ = nanogpt_model(nanogpt_file, "float64", bias=False)
    ours = nn.Module.from_torch(theirs)
    assert isinstance(ours, nn.GPT) and ours.tok_emb.weight is ours.head.weight and ours.head.bias is None
    assert ours.blocks[0].attn.n_heads == 2 and ours.tok_emb.weight.dtype == np.float64
    idx, targets = tokens(seed=5)
    their_logits, their_loss = nanogpt_loss(theirs, idx, targets)
    our_logits, loss = our_loss(ours, idx, targets)
    assert max_diff(our_logits, their_logits) <= TOL["float64"] and max_diff(loss, their_loss) <= TOL["float64"]
    their_loss.backward()
    loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert max_diff(param.grad, their_params[nanogpt_name(name)].grad) <= TOL["float64"], name


def test_the_nanogpt_mapping_moves_each_weight_to_its_place():
    model = randomize(nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=1, n_head=2, n_embd=8, rng=0), seed=13)
    state = model.state_dict(style="nanogpt")
    attn = model.blocks[0].attn
    np.testing.assert_array_equal(state["transformer.h.0.attn.c_attn.weight"], attn.qkv_proj.weight.data)
    np.testing.assert_array_equal(state["transformer.h.0.attn.c_attn.bias"], attn.qkv_proj.bias.data)
    np.testing.assert_array_equal(state["transformer.h.0.mlp.c_proj.bias"], model.blocks[0].mlp.fc2.bias.data)
    np.testing.assert_array_equal(state["lm_head.weight"], state["transformer.wte.weight"])
    # torch's Linear computes x Wᵀ with W (out, in): the first 8 outputs of c_attn are q, as nanoGPT splits them
    x = np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32)
    c_attn = tnn.Linear(8, 24)
    with torch.no_grad():
        c_attn.weight.copy_(torch.from_numpy(state["transformer.h.0.attn.c_attn.weight"]))
        c_attn.bias.copy_(torch.from_numpy(state["transformer.h.0.attn.c_attn.bias"]))
        q_torch = c_attn(torch.from_numpy(x)).split(8, dim=-1)[0]
    q_ours = attn.qkv_proj(ta.tensor(x)).data[:, :8]
    assert max_diff(q_ours, q_torch) <= 1e-6


def test_a_compiled_nanogpt_state_dict_loads(nanogpt_file):
    theirs, _ = nanogpt_model(nanogpt_file)
    compiled = {f"_orig_mod.{name}": value for name, value in theirs.state_dict().items()}
    ours = nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=2, n_head=2, n_embd=16)
    ours.load_state_dict(compiled, style="nanogpt")
    np.testing.assert_array_equal(ours.head.weight.data, as_numpy(theirs.lm_head.weight))


def test_a_bfloat16_torch_tensor_is_refused_by_name():
    model = nn.Linear(2, 3, rng=0)
    state = {"weight": torch.zeros(3, 2, dtype=torch.bfloat16), "bias": torch.zeros(3)}
    with pytest.raises(TypeError, match=r"'weight' holds a torch torch.bfloat16 tensor.*tensor.float\(\)"):
        model.load_state_dict(state)
