"""Graduating without PyTorch: safetensors files, nanoGPT's key names, and what nn.GPT's new
options change (nothing, by default). The torch parity tests are in test_graduate_torch.py."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import nn

VOCAB, BLOCK = 11, 6

# nanoGPT's key names for a one-layer model, typed from nanoGPT's model (not from our mapping)
NANOGPT_KEYS = [
    "transformer.wte.weight", "transformer.wpe.weight",
    "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
    "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
    "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
    "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
    "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
    "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias",
    "transformer.ln_f.weight", "transformer.ln_f.bias",
    "lm_head.weight",
]


def nanogpt(bias=True, seed=0):
    return nn.GPT.nanogpt(VOCAB, BLOCK, n_layer=1, n_head=2, n_embd=8, bias=bias, rng=seed)


def ids():
    return np.random.default_rng(0).integers(0, VOCAB, (2, BLOCK))


# ---- safetensors ----
@pytest.fixture
def safetensors():
    return pytest.importorskip("safetensors.numpy", reason="the safetensors extra is not installed")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_safetensors_round_trip_is_exact(tmp_path, safetensors, dtype):
    source = nn.GPT(VOCAB, BLOCK, 8, 2, 2, 16, rng=0).to(dtype)
    path = tmp_path / "model.safetensors"
    nn.save_safetensors(source, path)
    loaded = nn.load_safetensors(path)
    assert sorted(loaded) == sorted(source.state_dict())
    for name, array in source.state_dict().items():
        assert loaded[name].dtype == dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)
    target = nn.GPT(VOCAB, BLOCK, 8, 2, 2, 16, rng=1).to(dtype)
    target.load_state_dict(loaded)
    np.testing.assert_array_equal(target(ids()).data, source(ids()).data)


def test_the_file_is_plain_safetensors_both_ways(tmp_path, safetensors):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array([3], np.int64),
             "b": np.array([True, False])}
    ours = tmp_path / "ours.safetensors"
    nn.save_safetensors(state, ours)
    theirs = safetensors.load_file(str(ours))  # the package's own reader
    assert sorted(theirs) == sorted(state)
    for name, array in state.items():
        assert theirs[name].dtype == array.dtype
        np.testing.assert_array_equal(theirs[name], array)
    written = tmp_path / "theirs.safetensors"
    safetensors.save_file(state, str(written))  # the package's own writer
    for name, array in nn.load_safetensors(written).items():
        np.testing.assert_array_equal(array, state[name])


def test_tied_weights_round_trip_through_safetensors(tmp_path, safetensors):
    source = nanogpt()
    path = tmp_path / "tied.safetensors"
    nn.save_safetensors(source, path)
    target = nanogpt(seed=5)
    target.load_state_dict(nn.load_safetensors(path))
    assert target.tok_emb.weight is target.head.weight
    np.testing.assert_array_equal(target(ids()).data, source(ids()).data)


def test_a_nanogpt_named_safetensors_file_loads_with_the_style(tmp_path, safetensors):
    source = nanogpt()
    path = tmp_path / "nanogpt.safetensors"
    nn.save_safetensors(source.state_dict(style="nanogpt"), path)
    target = nanogpt(seed=3)
    target.load_state_dict(nn.load_safetensors(path), style="nanogpt")
    np.testing.assert_array_equal(target(ids()).data, source(ids()).data)


def test_missing_extras_name_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install tinygrad_attn\[safetensors\]"):
        nn.save_safetensors(nanogpt(), tmp_path / "x.safetensors")
    with pytest.raises(ImportError, match=r"pip install tinygrad_attn\[safetensors\]"):
        nn.load_safetensors(tmp_path / "x.safetensors")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"GPT.to_torch needs PyTorch: pip install tinygrad_attn\[torch\]"):
        nanogpt().to_torch()
    with pytest.raises(ImportError, match=r"from_torch needs PyTorch: pip install tinygrad_attn\[torch\]"):
        nn.Module.from_torch(object())


# ---- nanoGPT's names ----
def test_nanogpt_style_uses_nanogpts_names_in_its_order():
    model = nanogpt()
    state = model.state_dict(style="nanogpt")
    assert list(state) == NANOGPT_KEYS
    assert state["transformer.h.0.attn.c_attn.weight"].shape == (24, 8)  # (out, in), as torch.nn.Linear
    assert state["transformer.h.0.mlp.c_fc.weight"].shape == (32, 8)
    no_bias = nanogpt(bias=False).state_dict(style="nanogpt")
    assert list(no_bias) == [name for name in NANOGPT_KEYS if not name.endswith(".bias")]


def test_nanogpt_style_skips_mask_buffers_and_the_compile_prefix():
    source, target = nanogpt(), nanogpt(seed=4)
    state = {f"_orig_mod.{name}": array for name, array in source.state_dict(style="nanogpt").items()}
    state["_orig_mod.transformer.h.0.attn.bias"] = np.tril(np.ones((BLOCK, BLOCK)))[None, None]
    result = target.load_state_dict(state, style="nanogpt")
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(target(ids()).data, source(ids()).data)


def test_a_failed_nanogpt_load_names_nanogpts_keys_and_changes_nothing():
    model = nanogpt()
    before = model.state_dict()
    state = model.state_dict(style="nanogpt")
    del state["transformer.ln_f.bias"]
    state["transformer.h.0.mlp.c_fc.weight"] = np.zeros((8, 32), np.float32)  # (in, out): a transposed weight
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state, style="nanogpt")
    message = str(error.value)
    assert "missing keys ['transformer.ln_f.bias']" in message
    assert "'transformer.h.0.mlp.c_fc.weight' has shape (8, 32) but the model's has shape (32, 8)" in message
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_nanogpt_style_needs_nanogpts_architecture():
    teaching = nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, rng=0)
    for call in (lambda: teaching.state_dict(style="nanogpt"),
                 lambda: teaching.load_state_dict(nanogpt().state_dict(style="nanogpt"), style="nanogpt")):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        for part in ("not tied to the token embedding (tie_weights=True)", "the head has a bias (head_bias=False)",
                     "the tanh form (gelu='none'", "d_ff is 16, nanoGPT's is 4·d_model = 32", "nn.GPT.nanogpt("):
            assert part in message, part
    with pytest.raises(TypeError, match="Linear is not an nn.GPT"):
        nn.Linear(2, 2).state_dict(style="nanogpt")
    with pytest.raises(ValueError, match=r"style must be one of \[None, 'nanogpt'\], got 'hf'"):
        teaching.load_state_dict({}, style="hf")


# ---- nn.GPT's options ----
def test_the_defaults_are_the_teaching_gpt_unchanged():
    default = nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, rng=0)
    spelled = nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, rng=0, bias=True, head_bias=True, tie_weights=False, gelu="tanh")
    assert default.tok_emb.weight is not default.head.weight and default.head.bias is not None
    assert default.blocks[0].mlp.gelu == "tanh"
    for name, array in default.state_dict().items():
        np.testing.assert_array_equal(spelled.state_dict()[name], array)
    np.testing.assert_array_equal(default(ids()).data, spelled(ids()).data)


def test_the_nanogpt_options_change_what_they_say():
    model = nanogpt(bias=False)
    assert model.tok_emb.weight is model.head.weight and model.head.bias is None
    assert model.blocks[0].mlp.fc1.out_features == 32 and model.blocks[0].mlp.gelu == "none"
    assert all(layer.bias is None for layer in (model.ln_f, model.blocks[0].ln1, model.blocks[0].attn.qkv_proj,
                                                model.blocks[0].mlp.fc2))
    assert [name for name, _ in model.named_parameters()].count("tok_emb.weight") == 1
    assert "head.weight" not in dict(model.named_parameters())  # tied: listed once, under its first name
    with pytest.raises(ValueError, match="gelu must be 'tanh'"):
        nn.GPT(VOCAB, BLOCK, 8, 2, 1, 16, gelu="exact")


def test_a_tied_gpt_trains_one_tensor():
    model = nanogpt()
    logits = model(ids())
    loss = ta.functional.cross_entropy(logits.view(-1, VOCAB), ta.tensor(ids()).view(-1))
    loss.backward()
    grad = model.tok_emb.weight.grad
    assert grad is model.head.weight.grad and np.abs(grad).sum() > 0
