"""What a learner sees when a notebook cell ends in an object: short reprs that say what it holds,
and a picture or a folded tree where that says more."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import functional as F, nn
from tinygrad_attn.viz import draw_graph


def small_gpt(n_layers: int = 2) -> nn.GPT:
    return nn.GPT(vocab_size=11, block_size=8, d_model=16, n_heads=2, n_layers=n_layers, d_ff=32, rng=0)


def test_module_list_prints_repeated_modules_once_as_pytorch_does():
    torch = pytest.importorskip("torch")
    ours = nn.ModuleList([nn.Linear(2, 3), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)])
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)])
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_a_gpt_prints_its_blocks_once():
    text = repr(small_gpt(n_layers=4))
    assert "(0-3): 4 x TransformerBlock(" in text
    assert text.count("qkv_proj") == 1 and len(text) < 1200


def test_module_summary_counts_the_parameters_from_the_config():
    d, vocab, T, d_ff, layers = 16, 11, 8, 32, 2
    per_block = 2 * (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d)
    expected = vocab * d + T * d + layers * per_block + 2 * d + (d * vocab + vocab)
    model = small_gpt(n_layers=layers)
    assert model.summary().startswith(f"GPT: {expected:,} parameters (float32) in 30 tensors")
    page = model._repr_html_()
    assert page.startswith("<details><summary>") and "(0-1): 2 x TransformerBlock(" in page


def test_position_ids_are_drawn_as_positions_and_token_ids_as_token_ids():
    model = small_gpt(n_layers=1)
    idx = ta.tensor(np.array([[1, 2, 3, 4]]))
    loss = F.cross_entropy(model(idx).view(-1, 11), idx.view(-1))
    source = draw_graph(loss, collapse=None).source
    assert ">positions</FONT>" in source and ">token ids</FONT>" in source and ">targets</FONT>" in source


def test_tensor_repr_shows_corners_and_shape_past_64_numbers():
    data = np.random.default_rng(0).uniform(-1, 1, (100, 100)).astype(np.float32)
    text = repr(ta.tensor(data))
    assert text.count("\n") == 6 and len(text) < 600 and text.endswith("shape=(100, 100))") and "..." in text
    lines = text.split("\n")  # three rows, "...", three rows; each row its first and last three numbers
    assert f"{data[0, 0]:.4f}".rstrip("0") in lines[0] and f"{data[-1, -1]:.4f}".rstrip("0") in lines[-1]
    small = ta.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert repr(small) == "Tensor([[1., 2.],\n        [3., 4.]])"  # small ones print whole, as PyTorch's do


def test_a_step_prints_one_line_naming_the_node_never_its_numbers():
    model = small_gpt(n_layers=1)
    idx = ta.tensor(np.array([[1, 2, 3, 4]]))
    steps = list(F.cross_entropy(model(idx).view(-1, 11), idx.view(-1)).backward_steps())
    for step in steps:
        text = repr(step)
        assert "\n" not in text and len(text) < 160, text
    head = next(s for s in steps if s.op == "linear" and s.node.scope.endswith("head"))
    assert repr(head) == f"Step({head.index}, linear: shape (1, 4, 11) in gpt/head, grad of shape (1, 4, 11), sends to 3 inputs)"
    a = ta.Value(2.0, name="a")
    first = next((a * a).backward_steps())
    assert repr(first) == "Step(0, mul: data 4, grad 1, sends to 2 inputs)"


def test_a_lens_head_shows_heatmaps_in_jupyter_and_prints_one_line():
    model = small_gpt(n_layers=1)
    idx = ta.tensor(np.array([[1, 2, 3, 4]]))
    with ta.lens.trace(model, tokens=["the", "cat", "sat", "on"]) as lens:
        loss = F.cross_entropy(model(idx).view(-1, 11), idx.view(-1))
        loss.backward()
    head = lens.head(0, 1)
    assert repr(head) == "HeadTrace(layer 0, head 1, packed_attention, 4×4)"
    page = head._repr_html_()
    assert page.count("<svg") == 3 and "cat" in page  # weights, dL/dweights, dL/dscores, token-labelled
    np.testing.assert_allclose(head.weights.sum(-1), 1.0, rtol=1e-6)  # still the data: softmax rows,
    assert not np.triu(head.weights, k=1).any()  # causal: nothing above the diagonal


def test_every_heatmap_legend_uses_its_own_colour_scale(monkeypatch):
    from tinygrad_attn.viz import lens as lens_module
    from tinygrad_attn.viz.lens import _DIVERGING, _SEQUENTIAL, _colour
    # Maps made and freed one after another may get the same id(); make that certain here.
    monkeypatch.setattr(lens_module, "id", lambda obj: 1, raising=False)
    model = small_gpt(n_layers=1)
    idx = ta.tensor(np.array([[1, 2, 3, 4]]))
    with ta.lens.trace(model) as lens:
        F.cross_entropy(model(idx).view(-1, 11), idx.view(-1)).backward()
    page = lens.head(0, 0)._repr_html_()
    gradients = dict(re.findall(r'<linearGradient id="([^"]+)"[^>]*>(.*?)</linearGradient>', page))
    used = re.findall(r'fill="url\(#([^)]+)\)"', page)
    assert len(used) == 3
    for gradient, kind in zip(used, (_SEQUENTIAL, _DIVERGING, _DIVERGING)):
        assert _colour(1.0, kind) in gradients[gradient]  # weights white-to-blue; gradients blue-white-red
