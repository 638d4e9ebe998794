"""Real PyTorch model code runs unchanged on the engine (`tinygrad_attn.compat.torch`).

tests/models/nanogpt_style.py is a GPT written for PyTorch in nanoGPT's style. It is loaded
twice under two module names: once with real torch, once after `compat.install()`, so its
module-level `import torch` binds to the engine. With the torch model's weights copied into
the engine's model through `load_state_dict` (tied key included), the logits, the loss, every
parameter gradient, one AdamW step from `configure_optimizers` and greedy `generate` must match
what torch computes.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn.compat import torch as compat

torch = pytest.importorskip("torch")

MODEL_FILE = Path(__file__).parent / "models" / "nanogpt_style.py"
TOL = {"float32": 1e-4, "float64": 1e-9}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files():
    on_torch = _load("nanogpt_style_on_torch")
    with compat.install():
        on_engine = _load("nanogpt_style_on_engine")
    assert sys.modules["torch"] is not compat  # restored
    yield on_torch, on_engine
    for name in ("nanogpt_style_on_torch", "nanogpt_style_on_engine"):
        sys.modules.pop(name, None)


def _array(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.data)


def _pair(files, dtype="float32", **config):
    on_torch, on_engine = files
    torch.manual_seed(0)
    theirs = on_torch.GPT(on_torch.GPTConfig(**config))
    ours = on_engine.GPT(on_engine.GPTConfig(**config))
    if dtype == "float64":
        theirs = theirs.double()
        ours.to(ta.float64)
    ours.load_state_dict({name: _array(value) for name, value in theirs.state_dict().items()})
    return theirs, ours


def _batch(vocab=37, batch=3, time=10, seed=1):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, vocab, (batch, time))
    targets = rng.integers(0, vocab, (batch, time))
    targets[0, 2] = targets[2, 7] = -1  # ignore_index=-1 positions
    return idx, targets


def test_the_model_file_binds_the_engine(files):
    on_torch, on_engine = files
    assert on_torch.torch is torch and on_torch.F is torch.nn.functional
    assert on_engine.torch is compat and on_engine.nn.Module is ta.nn.Module
    assert on_engine.F is ta.functional and on_engine.torch.optim is ta.optim


def test_install_restores_the_previous_modules():
    before = {name: sys.modules.get(name) for name in ("torch", "torch.nn", "torch.nn.functional",
                                                     "torch.nn.init", "torch.optim")}
    handle = compat.install()
    import torch as aliased  # noqa: PLC0415
    from torch.nn import functional as aliased_f  # noqa: PLC0415
    assert aliased is compat and aliased_f is ta.functional
    assert aliased.nn.functional is ta.functional and aliased.nn.init is ta.nn.init
    handle.uninstall()
    handle.uninstall()  # a second time does nothing
    assert {name: sys.modules.get(name) for name in before} == before


def test_compat_defines_no_op():
    """Names only: every public attribute of compat.torch is an object of the engine."""
    engine_objects = {id(v) for m in (ta, ta.nn, ta.functional, ta.optim, ta.nn.init) for v in vars(m).values()}
    for name, value in vars(compat).items():
        if name.startswith("_") or name in ("Installed", "install", "annotations", "sys", "types", "Any", "nn"):
            continue
        assert id(value) in engine_objects, f"compat.torch.{name} is not one of the engine's objects"
    for name, value in vars(compat.nn).items():
        if not name.startswith("_"):
            assert id(value) in engine_objects, f"compat.torch.nn.{name} is not one of the engine's objects"


def test_tied_weights_and_init(files):
    theirs, ours = _pair(files)
    assert ours.transformer.wte.weight is ours.lm_head.weight
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.get_num_params() == theirs.get_num_params()
    on_torch, on_engine = files
    fresh = on_engine.GPT(on_engine.GPTConfig(n_layer=4, n_embd=32, vocab_size=50))
    std = {n: float(np.std(p.data)) for n, p in fresh.named_parameters() if p.dim() >= 2}
    assert abs(std["transformer.wte.weight"] - 0.02) < 0.002
    assert abs(std["transformer.h.0.attn.c_proj.weight"] - 0.02 / np.sqrt(8)) < 0.001
    assert all(np.all(p.data == 0) for n, p in fresh.named_parameters() if n.endswith(".bias")
               and not n.endswith("ln_1.bias"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("flash", [True, False], ids=["sdpa", "manual"])
def test_forward_backward_and_adamw_step_match_torch(files, flash, dtype):
    theirs, ours = _pair(files, dtype=dtype, flash=flash)
    tol = TOL[dtype]
    idx, targets = _batch()
    their_logits, their_loss = theirs(torch.tensor(idx), torch.tensor(targets))
    our_logits, our_loss = ours(ta.tensor(idx), ta.tensor(targets))
    assert our_logits.dtype == ta.float64 if dtype == "float64" else our_logits.dtype == ta.float32
    np.testing.assert_allclose(_array(our_logits), _array(their_logits), rtol=0, atol=tol)
    np.testing.assert_allclose(float(our_loss.item()), their_loss.item(), rtol=0, atol=tol)
    their_loss.backward()
    our_loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert param.grad is not None, name
        np.testing.assert_allclose(param.grad, _array(their_params[name].grad), rtol=0, atol=tol, err_msg=name)

    settings = dict(weight_decay=0.1, learning_rate=1e-2, betas=(0.9, 0.95), device_type="cpu")
    their_opt, our_opt = theirs.configure_optimizers(**settings), ours.configure_optimizers(**settings)
    assert [len(g["params"]) for g in our_opt.param_groups] == [len(g["params"]) for g in their_opt.param_groups]
    their_opt.step()
    our_opt.step()
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.data, _array(their_params[name]), rtol=0, atol=tol, err_msg=name)


def test_dropout_in_training_changes_the_loss_and_eval_does_not(files):
    _, ours = _pair(files, dropout=0.5)
    idx, targets = _batch()
    ta.manual_seed(0)
    first = ours(ta.tensor(idx), ta.tensor(targets))[1].item()
    second = ours(ta.tensor(idx), ta.tensor(targets))[1].item()
    assert first != second
    ours.eval()
    assert ours(ta.tensor(idx), ta.tensor(targets))[1].item() == ours(ta.tensor(idx), ta.tensor(targets))[1].item()


@pytest.mark.parametrize("flash", [True, False], ids=["sdpa", "manual"])
def test_greedy_generate_matches_torch(files, flash):
    theirs, ours = _pair(files, flash=flash, block_size=8)
    # larger weights than the 0.02 init, so the greedy choice is well separated
    rng = np.random.default_rng(3)
    state = {name: rng.normal(0, 0.5, value.shape).astype(np.float32) if name.endswith("weight") else _array(value)
             for name, value in theirs.state_dict().items()}
    state["transformer.wte.weight"] = state["lm_head.weight"]
    theirs.load_state_dict({name: torch.tensor(value) for name, value in state.items()})
    ours.load_state_dict(state)
    theirs.eval()
    ours.eval()
    start = np.array([[1, 2, 3], [4, 5, 6]])
    their_tokens = theirs.generate(torch.tensor(start), max_new_tokens=12, top_k=1)  # past block_size: cropped
    our_tokens = ours.generate(ta.tensor(start), max_new_tokens=12, top_k=1)
    assert our_tokens.shape == (2, 15)
    np.testing.assert_array_equal(_array(our_tokens), _array(their_tokens))
    assert not ta.is_grad_enabled() or our_tokens.requires_grad is False


def test_sampled_generate_is_reproducible_under_a_seed(files):
    _, ours = _pair(files, block_size=8)
    ours.eval()
    start = ta.tensor(np.array([[1, 2, 3]]))
    runs = []
    for _ in range(2):
        ta.manual_seed(1234)
        runs.append(_array(ours.generate(start, max_new_tokens=10, temperature=1.0, top_k=3)))
    np.testing.assert_array_equal(runs[0], runs[1])
    # every sampled token is among the top 3 of its context's next-token logits
    with ta.no_grad():
        for step in range(3, runs[0].shape[1]):
            context = ta.tensor(runs[0][:, max(0, step - 8):step])
            last = _array(ours(context)[0])[0, -1]
            assert runs[0][0, step] in np.argsort(last)[-3:], step
    ta.manual_seed(1235)
    other = [_array(ours.generate(start, max_new_tokens=10, top_k=3)) for _ in range(3)]
    assert any(not np.array_equal(o, runs[0]) for o in other)
    assert runs[0].min() >= 0 and runs[0].max() < 37
