"""What a learner sees in a drawn model graph: folded boxes coloured by their gradients, the
highlighted parameter found inside its folded box, one naming for scopes and parameters, a big
graph folded to fit a screen by default, and constants that say what they are."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import functional as F, nn
from tinygrad_attn.viz import draw_graph, find_dot
from tinygrad_attn.viz.graph import GRAD_PALETTE
from tinygrad_attn.viz.render import scalable_svg

from test_graph import drawn, scoped_gpt_loss

needs_renderer = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")
QKV = "blocks.0.attn.qkv_proj.weight"


def readme_gpt(n_layers: int = 2):
    """The README's drawing: a small nn.GPT, its cross-entropy loss, backpropagated."""
    ta.manual_seed(0)
    model = nn.GPT(vocab_size=11, block_size=8, d_model=16, n_heads=2, n_layers=n_layers, d_ff=32)
    rng = np.random.default_rng(0)
    idx, targets = ta.tensor(rng.integers(0, 11, (2, 8))), ta.tensor(rng.integers(0, 11, (2, 8)))
    logits = model(idx)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
    loss.backward()
    return model, loss


def folded_boxes(picture) -> dict[str, str]:
    return {picture.nodes[n]["texts"][0]: n for n in picture.with_class("collapsed")}


def shade_of(picture, node_id: str) -> int | None:
    fills = [f for f in picture.nodes[node_id]["fills"] if f in GRAD_PALETTE]
    return GRAD_PALETTE.index(fills[0]) if fills else None


@needs_renderer
def test_readme_example_colours_folded_boxes_by_the_norm_of_their_gradients():
    model, loss = readme_gpt()
    picture = drawn(draw_graph(loss, collapse=2, highlight=QKV, color_by="grad"))
    boxes = folded_boxes(picture)
    assert sorted(boxes) == ["blocks.0", "blocks.1", "head", "ln_f", "pos_emb", "tok_emb"]
    # Each folded box's gradient size, computed here from the parameters' own gradients.
    norms = {}
    for name in boxes:
        grads = [p.grad for key, p in model.named_parameters() if key.startswith(name + ".")]
        norms[name] = float(np.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads)))
    shades = {name: shade_of(picture, node) for name, node in boxes.items()}
    assert all(shade is not None for shade in shades.values()), shades  # every folded box is coloured
    by_norm = sorted(boxes, key=norms.get)
    assert [shades[n] for n in by_norm] == sorted(shades[n] for n in by_norm)  # bigger norm, darker or equal
    assert shades[by_norm[0]] < shades[by_norm[-1]]
    assert "folded boxes" in " ".join(picture.nodes[next(iter(picture.with_class("legend")))]["texts"])


@needs_renderer
def test_readme_example_names_the_highlighted_weight_in_its_folded_box_and_marks_the_path():
    _, loss = readme_gpt()
    picture = drawn(draw_graph(loss, collapse=2, highlight=QKV, color_by="grad"))
    boxes = folded_boxes(picture)
    assert f"holds {QKV}" in picture.text(boxes["blocks.0"])
    assert "holds" not in picture.text(boxes["blocks.1"])
    marked = picture.with_class("highlight")
    # The path loss <- head <- ln_f <- blocks.1 <- blocks.0 is red; the embeddings are not on it.
    assert {boxes["blocks.0"], boxes["blocks.1"], boxes["ln_f"], boxes["head"]} <= marked
    assert not {boxes["tok_emb"], boxes["pos_emb"]} & marked
    assert f"{boxes['blocks.0']}->{boxes['blocks.1']}" in picture.highlighted_edges()


@needs_renderer
def test_the_root_shows_the_gradient_backward_started_from():
    _, loss = readme_gpt(n_layers=1)
    picture = drawn(draw_graph(loss, collapse=2))
    root = next(iter(picture.with_class("root")))
    assert "grad 1 (the seed" in picture.text(root)


def test_a_scope_is_named_as_its_parameters_name_it():
    _, loss = readme_gpt(n_layers=2)
    by_module_name = draw_graph(loss, collapse=["blocks.0", "blocks.1.mlp"]).source
    by_path = draw_graph(loss, collapse=["gpt/blocks.0", "gpt/blocks.1/mlp"]).source
    assert by_module_name == by_path
    assert draw_graph(loss, collapse=["blocks.*"]).source == draw_graph(loss, collapse=["gpt/blocks.*"]).source
    with pytest.raises(ValueError, match=r"collapse 'blocks\.7' matches no scope in this graph; its scopes are .*blocks\.0\.attn"):
        draw_graph(loss, collapse="blocks.7")


@needs_renderer
def test_highlight_takes_a_scope_name_too():
    _, loss = readme_gpt(n_layers=2)
    picture = drawn(draw_graph(loss, collapse=2, highlight="blocks.1.mlp"))
    boxes = folded_boxes(picture)
    assert boxes["blocks.1"] in picture.with_class("highlight")
    assert boxes["blocks.0"] not in picture.with_class("highlight")  # upstream of the mlp, not on its path


@needs_renderer
def test_a_graph_too_big_for_a_screen_comes_out_folded_with_a_note_saying_how_to_expand():
    loss, _ = scoped_gpt_loss(n_layers=2)
    width, height = drawn(draw_graph(loss, collapse=None)).size_pt()
    assert width > 1400 or height > 2000  # the whole model does not fit a screen
    graph = draw_graph(loss)
    assert graph.note and "collapse=None draws everything" in graph.note and "collapse=4" in graph.note
    picture = drawn(graph)
    assert picture.size_pt()[0] <= 1400 and picture.size_pt()[1] <= 2000
    # The deepest fold that fits: each block's layer norms, attention and MLP as one box each.
    names = sorted(picture.nodes[n]["texts"][0] for n in picture.with_class("collapsed"))
    assert names == ["attn", "attn", "ln1", "ln1", "ln2", "ln2", "mlp", "mlp"]
    caption = " ".join(t.text or "" for t in picture.root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Folded at depth 3" in caption and "collapse=None draws everything" in caption
    assert draw_graph(loss, collapse=None).note is None


def test_small_graphs_and_single_level_scopes_are_never_folded_by_default():
    x = ta.tensor([1.0, 2.0], requires_grad=True)
    with ta.scope("only"):
        y = (x * x).sum()
    graph = draw_graph(y)
    assert graph.note is None and "collapsed" not in graph.source


@needs_renderer
def test_constants_say_what_they_are_and_never_look_like_parameters():
    _, loss = readme_gpt(n_layers=1)
    picture = drawn(draw_graph(loss, collapse=None))
    constants = picture.with_class("constant")
    texts = sorted(picture.text(c).split(" (")[0].split(" scalar")[0] for c in constants)
    assert any(t.startswith("targets") for t in texts), texts
    assert any(t.startswith("token ids") for t in texts), texts
    assert not any(t.startswith("constant") for t in texts), texts


def test_jupyter_svg_shrinks_to_the_cell_width():
    _, loss = readme_gpt(n_layers=1)
    bundle = draw_graph(loss)._repr_mimebundle_(include=["image/svg+xml"])
    if "image/svg+xml" not in bundle:
        pytest.skip("no dot renderer installed")
    opening = re.search(r"<svg[^>]*>", bundle["image/svg+xml"]).group(0)
    assert 'style="max-width:100%;height:auto"' in opening and "viewBox" in opening
    assert scalable_svg(bundle["image/svg+xml"]) == bundle["image/svg+xml"]  # applied once


def test_jupyter_also_gets_the_svg_inline_in_html_which_shrinks_to_the_cell():
    _, loss = readme_gpt(n_layers=1)
    bundle = draw_graph(loss)._repr_mimebundle_()
    if "image/svg+xml" not in bundle:
        pytest.skip("no dot renderer installed")
    page = bundle["text/html"]  # JupyterLab prefers it; an <img> of the SVG would keep its point size
    assert page.startswith('<div style="max-width:100%') and "<?xml" not in page
    assert re.search(r'<svg style="max-width:100%;height:auto"', page)
    assert "text/html" not in draw_graph(loss)._repr_mimebundle_(include=["image/svg+xml"])


def test_composed_attention_names_its_mask_in_sdpas_sense_and_its_scale():
    rng = np.random.default_rng(0)
    q, k, v = (ta.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3))
    steps = F.attention_steps(q, k, v, is_causal=True)
    source = draw_graph(steps.output.sum()).source
    assert ">causal mask (True = may attend)</FONT>" in source and ">1/√d = 0.5</FONT>" in source
    # True = may attend: the mask drawn is allowed[i, j] = j <= i, as SDPA's boolean attn_mask reads
    mask = next(n for n in _leaves(steps.output) if n.name == "causal mask (True = may attend)")
    np.testing.assert_array_equal(mask.data, np.tril(np.ones((3, 3), dtype=bool)))
    custom = F.attention_steps(q, k, v, mask=np.array([True, True, False]), scale=0.3)
    assert ">attention mask (True = may attend)</FONT>" in draw_graph(custom.output.sum()).source
    assert ">scale = 0.3</FONT>" in draw_graph(custom.output.sum()).source


def _leaves(root):
    seen, stack = {}, [root]
    while stack:
        node = stack.pop()
        for inp in node.inputs:
            if id(inp) not in seen:
                seen[id(inp)] = inp
                stack.append(inp)
    return [n for n in seen.values() if n.is_leaf]


def test_an_embedding_of_positions_in_a_users_own_model_reads_positions():
    wte = ta.tensor(np.ones((5, 2)), requires_grad=True)
    wte.name = "wte.weight"
    wpe = ta.tensor(np.ones((4, 2)), requires_grad=True)
    wpe.name = "wpe.weight"
    x = F.embedding(ta.tensor([[1, 2, 3]]), wte) + F.embedding(ta.tensor([0, 1, 2]), wpe)
    source = draw_graph(x.sum()).source
    assert ">token ids</FONT>" in source and ">positions</FONT>" in source
