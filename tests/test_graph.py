"""draw_graph: what a learner sees in the drawn compute graph, checked in the rendered SVG."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, VALUES, worked_example
from tinygrad_attn.viz import draw_graph, find_dot
from tinygrad_attn.viz.graph import GRAD_PALETTE, HIGHLIGHT_COLOR
from tinygrad_attn.viz.render import Graph

SVG = "{http://www.w3.org/2000/svg}"

needs_renderer = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")


# ---- reading the SVG ----
class Drawn:
    """The parts of a rendered SVG the tests look at."""

    def __init__(self, svg: bytes):
        self.root = ET.fromstring(svg)
        self.nodes: dict[str, dict] = {}
        self.edges: dict[str, list[set[str]]] = {}
        self.clusters: list[str] = []
        for group in self.root.iter(f"{SVG}g"):
            classes = set(group.get("class", "").split())
            title = group.findtext(f"{SVG}title")
            if "node" in classes:
                texts = [t.text or "" for t in group.iter(f"{SVG}text")]
                fills = [p.get("fill") for p in group.iter() if p.tag in (f"{SVG}path", f"{SVG}polygon")]
                self.nodes[title] = {"classes": classes, "texts": texts, "fills": fills}
            elif "edge" in classes:
                self.edges.setdefault(title, []).append(classes)
            elif "cluster" in classes:
                self.clusters.append(" ".join(t.text or "" for t in group.iter(f"{SVG}text")))

    def text(self, node_id: str) -> str:
        return " ".join(" ".join(self.nodes[node_id]["texts"]).split())

    def find(self, *words: str) -> list[str]:
        """Ids of nodes whose text contains every word."""
        return [nid for nid in self.nodes if all(w in self.nodes[nid]["texts"] or w in self.text(nid).split()
                                                 for w in words)]

    def one(self, *words: str) -> str:
        found = self.find(*words)
        assert len(found) == 1, f"expected one node with {words}, found {[self.text(n) for n in found]}"
        return found[0]

    def with_class(self, name: str) -> set[str]:
        return {nid for nid, node in self.nodes.items() if name in node["classes"]}

    def highlighted_edges(self) -> list[str]:
        return sorted(t for t, classes in self.edges.items() for c in classes if "highlight" in c)

    def size_pt(self) -> tuple[float, float]:
        return float(self.root.get("width").rstrip("pt")), float(self.root.get("height").rstrip("pt"))


def drawn(graph: Graph) -> Drawn:
    return Drawn(graph.pipe(format="svg"))


def grad_in(text: str) -> float:
    match = re.search(r"grad (-?[0-9.]+(?:e[-+][0-9]+)?)", text)
    assert match, f"no gradient shown in {text!r}"
    return float(match.group(1))


# ---- graphs to draw ----
def worked_loss() -> dict:
    """The worked example from the CLI: A attends over A, B, C; loss = Σ (output - target)²."""
    return worked_example(io.StringIO())


def worked_loss_by_hand(query: np.ndarray) -> float:
    """The same loss written out in float64 NumPy, independent of the engine."""
    keys = np.array(list(KEYS.values()))
    values = np.array(list(VALUES.values()))
    scores = keys @ query
    weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    output = weights @ values
    return float(((output - np.array([0.0, 1.0, 0.0])) ** 2).sum())


def attention_head(T: int = 3, d: int = 2, seed: int = 0) -> dict:
    """One causal attention head from Tensor ops inside scope "head0", and loss = out.sum()."""
    rng = np.random.default_rng(seed)
    q = Tensor(rng.standard_normal((T, d)), requires_grad=True, name="q")
    k = Tensor(rng.standard_normal((T, d)), requires_grad=True, name="k")
    v = Tensor(rng.standard_normal((T, d)), requires_grad=True, name="v")
    causal_mask = np.triu(np.ones((T, T), dtype=bool), k=1)  # True above the diagonal: the future
    with ta.scope("head0"):
        scores = q @ k.swapaxes(-1, -2)
        scaled = scores / np.sqrt(d)
        masked = scaled.masked_fill(causal_mask, -1e9)
        weights = masked.softmax(-1)
        out = weights @ v
    loss = out.sum()
    return {"q": q, "k": k, "v": v, "scores": scores, "weights": weights, "out": out, "loss": loss}


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    centred = x - x.mean(axis=-1, keepdims=True)  # ops: mean, sub
    spread = (centred.var(axis=-1, keepdims=True, correction=0) + 1e-5).sqrt()  # var, add, sqrt
    return centred / spread * weight + bias  # div, mul, add  -> 8 ops


def scoped_gpt_loss(n_layers: int = 2, vocab: int = 7, T: int = 4, d: int = 8, seed: int = 0) -> tuple[Tensor, dict]:
    """A two-head GPT written out in Tensor ops, with the scopes nn modules give (gpt/blocks.0/...).

    Ops per block: ln1 8, attn 1 (qkv) + 2 heads x 9 + concat, out proj, residual 3 = 22, ln2 8,
    mlp 4 (matmul, tanh, matmul, residual): 42 in all.
    """
    rng = np.random.default_rng(seed)
    ids, targets = rng.integers(0, vocab, T), rng.integers(0, vocab, T)

    def param(name: str, *shape: int) -> Tensor:
        return Tensor(rng.standard_normal(shape) * 0.3, requires_grad=True, name=name)

    params = {"tok_emb.weight": param("tok_emb.weight", vocab, d), "pos_emb.weight": param("pos_emb.weight", T, d)}
    for b in range(n_layers):
        for name, shape in [("ln1.weight", (d,)), ("ln1.bias", (d,)), ("attn.qkv", (d, 3 * d)),
                            ("attn.out", (d, d)), ("ln2.weight", (d,)), ("ln2.bias", (d,)),
                            ("mlp.fc", (d, 2 * d)), ("mlp.proj", (2 * d, d))]:
            params[f"blocks.{b}.{name}"] = param(f"blocks.{b}.{name}", *shape)
    params["head.weight"] = param("head.weight", d, vocab)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    d_head = d // 2
    with ta.scope("gpt"):
        with ta.scope("tok_emb"):
            x = params["tok_emb.weight"][ids]
        with ta.scope("pos_emb"):
            x = x + params["pos_emb.weight"][np.arange(T)]
        for b in range(n_layers):
            p = {name.split(".", 2)[2]: t for name, t in params.items() if name.startswith(f"blocks.{b}.")}
            with ta.scope(f"blocks.{b}"):
                with ta.scope("ln1"):
                    h = layer_norm(x, p["ln1.weight"], p["ln1.bias"])
                with ta.scope("attn"):
                    qkv = h @ p["attn.qkv"]
                    heads = []
                    for head in range(2):
                        with ta.scope(f"head{head}"):
                            cols = [slice(part * d + head * d_head, part * d + (head + 1) * d_head) for part in range(3)]
                            q, k, v = (qkv[:, c] for c in cols)
                            scores = (q @ k.swapaxes(-1, -2) / np.sqrt(d_head)).masked_fill(future, -1e9)
                            heads.append(scores.softmax(-1) @ v)
                    x = x + ta.concatenate(heads, axis=-1) @ p["attn.out"]
                with ta.scope("ln2"):
                    h = layer_norm(x, p["ln2.weight"], p["ln2.bias"])
                with ta.scope("mlp"):
                    x = x + (h @ p["mlp.fc"]).tanh() @ p["mlp.proj"]
        with ta.scope("head"):
            logits = x @ params["head.weight"]
    loss = -logits.log_softmax(-1)[np.arange(T), targets].mean()
    return loss, params


# ---- the worked example as scalars ----
@needs_renderer
def test_worked_example_shows_every_op_and_value_with_data_and_grad():
    example = worked_loss()
    picture = drawn(draw_graph(example["loss"]))
    # By hand: scores 3 x (3 mul + 2 add), softmax 3 sub + 3 exp + 2 add + 3 div,
    # output 3 x (3 mul + 2 add), loss 3 sub + 3 pow + 2 add = 49 ops;
    # leaves: 3 query + 9 key + 9 value numbers, 3 softmax shifts, 3 targets and the exponent 2
    # of each square (a constant input of its pow) = 30.
    ops, values = picture.with_class("op"), picture.with_class("value")
    assert len(ops) == 49
    assert len(values) == 49 + 30
    assert sorted(picture.text(o) for o in ops if "pow" in picture.text(o)) == ["pow"] * 3
    for name in ["q_A[0]", "q_A[1]", "q_A[2]", "k_B[1]", "v_C[2]"]:
        picture.one(name)
    assert len(picture.find("const")) == 9
    assert len(picture.find("const", "data", "2.0000")) == 3  # the exponents, drawn as inputs

    root = picture.with_class("root")
    assert len(root) == 1
    assert f"data {worked_loss_by_hand(np.array(QUERY_A)):.4f}" in picture.text(root.pop())
    # The gradient shown on q_A[i] matches central differences of the NumPy loss.
    for i in range(3):
        step = np.zeros(3)
        step[i] = 1e-6
        expected = (worked_loss_by_hand(np.array(QUERY_A) + step) - worked_loss_by_hand(np.array(QUERY_A) - step)) / 2e-6
        assert grad_in(picture.text(picture.one(f"q_A[{i}]"))) == pytest.approx(expected, abs=1e-4)


@needs_renderer
def test_op_nodes_carry_their_formula_as_tooltip():
    a = Value(2.0, label="a")
    product = a * Value(3.0, label="b")
    svg = draw_graph(product).pipe(format="svg", encoding="utf-8")
    assert 'xlink:title="mul: d(a*b)/da = b, ' in svg


def test_scalar_constants_are_drawn_as_inputs():
    a = Value(2.0, label="a")
    source = draw_graph(a * 3.0 + 1.0).source
    assert source.count("const</FONT>") == 2
    assert "data 3.0000" in source and "data 1.0000" in source


# ---- a tensor attention head ----
@needs_renderer
def test_attention_head_shows_its_ops_inside_a_head0_cluster():
    head = attention_head()
    graph = draw_graph(head["loss"])
    picture = drawn(graph)
    op_names = sorted(picture.text(o) for o in picture.with_class("op"))
    assert op_names == sorted(["transpose", "matmul", "div", "masked_fill", "softmax", "matmul", "sum"])
    # q, k, v, k transposed, scores, the constant sqrt(d), scaled, the causal mask, masked,
    # weights, out, loss
    assert len(picture.with_class("value")) == 12
    assert picture.clusters == ["head0"]
    assert "(3, 2) float64" in picture.text(picture.one("q"))
    assert "1.414" in picture.text(picture.one("constant", "scalar"))
    assert "[F T T] [F F T] [F F F]" in picture.text(picture.one("mask (True = filled in)", "bool"))  # the mask too, named by its role
    # Only the sum (made outside the scope) and its output sit outside the head0 cluster.
    top_level, _, cluster = graph.source.partition("subgraph cluster_0")
    assert top_level.count("class=op") == 1 and "sum</B>" in top_level
    assert cluster.count("class=op") == 6


@needs_renderer
def test_tensor_gradients_appear_only_after_backward():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], name="x")
    weight = Tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True, name="weight")
    loss = (x @ weight).sum()
    before = drawn(draw_graph(loss))
    # Before backward a gradient is not 0, it is unknown: every box that will get one says so.
    assert "grad: not computed yet" in before.text(before.one("weight"))
    assert len(before.find("computed", "yet")) == 3  # weight, the matmul output, the loss
    assert "grad" not in before.text(before.one("x"))
    loss.backward()
    after = drawn(draw_graph(loss))
    # d(sum(x @ W))/dW = xᵀ @ ones: column sums of x in every column, [[4, 4], [6, 6]]
    assert "4.000 4.000" in after.text(after.one("weight")) and "6.000 6.000" in after.text(after.one("weight"))
    # The matmul output is not a leaf: its gradient passed through, unkept. The loss (the root)
    # shows the 1 backward started from.
    assert len(after.find("grad not retained")) == 1
    assert "grad 1 (the seed" in after.text(after.one("scalar"))
    assert "grad" not in after.text(after.one("x"))  # a constant input never gets one


@needs_renderer
def test_value_gradients_say_not_computed_yet_until_backward_runs():
    a, b = Value(2.0, name="a"), Value(-3.0, name="b")
    product = a * b + 1.0
    before = drawn(draw_graph(product))
    assert "grad: not computed yet" in before.text(before.one("a"))
    assert "grad 0.0000" not in " ".join(before.text(n) for n in before.nodes)
    assert "grad" not in before.text(before.one("const", "1.0000"))  # a constant never gets one
    product.backward()
    after = drawn(draw_graph(product))
    assert grad_in(after.text(after.one("a"))) == -3.0 and grad_in(after.text(after.one("b"))) == 2.0
    assert not after.find("computed", "yet")


def test_boxes_and_edges_carry_stable_ids_for_viewers():
    a = Value(2.0, name="a")
    product = a * 3.0
    graph = draw_graph(product, pending_grads=True)
    boxes = graph.boxes
    assert boxes.value == {a.id: "v0", product.inputs[1].id: "v1", product.id: "v2"}
    assert boxes.op == {product.id: "o2"}
    assert boxes.input_edge == {(product.id, 0): "e_v0_o2_0", (product.id, 1): "e_v1_o2_1"}
    assert boxes.output_edge == {product.id: "e_o2_v2"}
    assert boxes.grad_boxes == {"v0", "v2"}  # not the constant 3
    for element_id in ["v0", "v1", "v2", "o2", "e_v0_o2_0", "e_v1_o2_1", "e_o2_v2"]:
        assert f"id={element_id}" in graph.source.replace('"', "")


def test_pending_grads_hides_gradients_that_backward_already_computed():
    weight = Tensor([[1.0, 2.0]], requires_grad=True, name="weight")
    loss = (weight * 2.0).sum()
    loss.backward()
    source = draw_graph(loss, pending_grads=True).source
    assert source.count("grad: not computed yet") == 3 and "grad not retained" not in source
    assert ">grad</FONT>" not in source  # the label of a small tensor's gradient entries
    assert ">grad</FONT>" in draw_graph(loss).source


@needs_renderer
def test_large_tensor_gradients_show_their_norm():
    weight = Tensor(np.full((5, 5), 2.0), requires_grad=True, name="big")
    (weight * 3.0).sum().backward()
    text = drawn(draw_graph(weight * 1.0)).text("v0")
    assert "grad norm 15.0000" in text  # sqrt(25 * 3²)
    assert "2.000" not in text  # 25 entries are too many to print


def test_small_entries_are_never_printed_as_zero():
    tiny = Tensor([0.5, 3e-4], name="tiny")
    tinier = Tensor([1.0, 1e-7], name="tinier")
    source = draw_graph([tiny * 1.0, tinier * 1.0]).source
    assert "[0.50000 0.00030]" in source  # enough decimals for the smallest entry
    assert "[1.00e+00 1.00e-07]" in source  # too wide a span for decimals: all scientific


@needs_renderer
def test_graph_shows_itself_as_svg_in_jupyter():
    bundle = draw_graph(attention_head()["loss"])._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"] and "digraph" in bundle["text/plain"]


# ---- highlighting ----
@needs_renderer
def test_highlight_marks_every_path_from_the_root_to_the_query():
    head = attention_head()
    picture = drawn(draw_graph(head["loss"], highlight=head["q"]))
    marked = picture.with_class("highlight")
    # By hand: q -> matmul -> scores -> div -> scaled -> masked_fill -> masked -> softmax -> weights
    # -> matmul -> out -> sum -> loss: 7 values and 6 ops, joined by 12 edges.
    assert len(marked & picture.with_class("value")) == 7
    assert sorted(picture.text(o) for o in marked & picture.with_class("op")) == sorted(
        ["matmul", "div", "masked_fill", "softmax", "matmul", "sum"]
    )
    assert len(picture.highlighted_edges()) == 12
    assert picture.one("k") not in marked and picture.one("v") not in marked
    assert HIGHLIGHT_COLOR in draw_graph(head["loss"], highlight=head["q"]).source


def test_highlight_accepts_names_and_rejects_strangers():
    head = attention_head()
    by_name = draw_graph(head["loss"], highlight="q").source
    by_node = draw_graph(head["loss"], highlight=[head["q"]]).source
    assert by_name == by_node
    with pytest.raises(ValueError, match="'W_q' names no node.*q"):
        draw_graph(head["loss"], highlight="W_q")
    with pytest.raises(ValueError, match="not in this graph"):
        draw_graph(head["loss"], highlight=Tensor([1.0], requires_grad=True))


# ---- scopes, collapsing, size ----
@needs_renderer
def test_collapsed_gpt_shows_one_node_per_module_with_merged_edges():
    loss, params = scoped_gpt_loss()
    picture = drawn(draw_graph(loss, collapse=2, highlight="blocks.0.attn.qkv"))
    folded = picture.with_class("collapsed")
    names = {picture.nodes[n]["texts"][0]: n for n in folded}
    assert sorted(names) == ["blocks.0", "blocks.1", "head", "pos_emb", "tok_emb"]
    assert "42 ops hidden, 8 parameters" in picture.text(names["blocks.0"])
    assert "1 op hidden, 1 parameter" in picture.text(names["tok_emb"])
    # Block 0's output feeds ln1 (twice) and the residual add of block 1: one edge is drawn.
    assert len(picture.edges[f"{names['blocks.0']}->{names['blocks.1']}"]) == 1
    assert picture.clusters == ["gpt"]
    # The path loss -> head -> blocks.1 -> blocks.0 is marked; the embeddings are not on it.
    assert {names["blocks.0"], names["blocks.1"], names["head"]} <= picture.with_class("highlight")
    assert names["tok_emb"] not in picture.with_class("highlight")
    assert "highlight" in picture.edges[f"{names['blocks.0']}->{names['blocks.1']}"][0]
    assert "highlight" not in picture.edges[f"{names['tok_emb']}->{names['pos_emb']}"][0]
    width, height = picture.size_pt()
    assert width < 600 and height < 1200  # fits a screen at 100 %


@needs_renderer
def test_edges_into_and_out_of_a_folded_scope_are_merged():
    p = Tensor([1.0, 2.0], requires_grad=True, name="p")
    with ta.scope("inner"):
        doubled = p * 2.0
        grown = doubled.exp()
    picture = drawn(draw_graph((doubled * grown).sum(), collapse=["inner"]))
    inner = picture.one("inner")
    assert "2 ops hidden, 1 parameter" in picture.text(inner)  # p is used only inside, so it folds in
    mul = picture.one("mul")
    # doubled and grown both leave the folded scope for the same mul: one edge, labelled by shape.
    assert len(picture.edges[f"{inner}->{mul}"]) == 1
    assert sum(len(e) for e in picture.edges.values()) == 4  # inner->mul->out->sum->loss


def test_collapse_by_path_list_matches_collapse_by_depth():
    loss, _ = scoped_gpt_loss()
    by_list = draw_graph(loss, collapse=["gpt/tok_emb", "gpt/pos_emb", "gpt/blocks.*", "gpt/head"]).source
    assert by_list == draw_graph(loss, collapse=2).source


def test_uncollapsed_gpt_draws_nested_clusters():
    loss, _ = scoped_gpt_loss(n_layers=1)
    source = draw_graph(loss, collapse=None).source
    labels = re.findall(r"subgraph cluster_\d+ \{\n\t*class=scope [^\n]* label=\"?([\w.]+)", source)
    assert labels == ["gpt", "tok_emb", "pos_emb", "blocks.0", "ln1", "attn", "head0", "head1", "ln2", "mlp", "head"]
    # Parameters made outside any scope are drawn inside the module that uses them.
    attn = source.split("label=attn")[1].split("label=ln2")[0]
    assert "blocks.0.attn.qkv" in attn and "blocks.0.attn.out" in attn


def test_collapse_rejects_a_scope_that_is_not_there():
    loss, _ = scoped_gpt_loss(n_layers=1)
    with pytest.raises(ValueError, match=r"collapse 'gpt/blocks\.7' matches no scope.*blocks\.0, blocks\.0\.attn"):
        draw_graph(loss, collapse=["gpt/blocks.7"])
    with pytest.raises(ValueError, match="depth must be >= 1"):
        draw_graph(loss, collapse=0)


def test_max_nodes_refuses_a_big_graph_and_suggests_collapsing():
    loss, _ = scoped_gpt_loss()
    with pytest.raises(ValueError, match=r"needs 2\d\d boxes, more than max_nodes=100.*collapse=") as error:
        draw_graph(loss, max_nodes=100, collapse=None)
    assert "gpt/blocks.0" in str(error.value)
    assert isinstance(draw_graph(loss, max_nodes=100, collapse=2), Graph)


# ---- options ----
@needs_renderer
def test_color_by_grad_shades_bigger_gradients_darker_with_a_legend():
    small, large = Value(1.0, label="small"), Value(1.0, label="large")
    total = small * 0.01 + large * 10.0  # d/dsmall = 0.01, d/dlarge = 10
    total.backward()
    graph = draw_graph(total, color_by="grad")
    picture = drawn(graph)
    assert picture.with_class("legend")

    def shade(name: str) -> int:
        fills = [f for f in picture.nodes[picture.one(name)]["fills"] if f in GRAD_PALETTE]
        return GRAD_PALETTE.index(fills[0])

    assert shade("small") < shade("large")


def test_show_values_false_leaves_only_structure():
    head = attention_head()
    head["loss"].backward()
    labels = " ".join(re.findall(r"label=<(.*?)> ", draw_graph(head["loss"], show_values=False).source))
    assert "grad" not in labels and not re.search(r"\d\.\d", labels)
    assert "(3, 2) float64" in labels


def test_options_reach_the_dot_source():
    head = attention_head()
    assert "rankdir=TB" in draw_graph(head["loss"]).source
    assert "rankdir=LR" in draw_graph(head["loss"], rankdir="LR").source
    op_label = re.search(r"o\d+ \[label=<(.*?)> ", draw_graph(Value(1.0) * 2.0, formulas=True).source).group(1)
    assert "mul" in op_label and "d(a*b)/da = b" in op_label
    assert ">&lt;attention&gt;</FONT>" in draw_graph(head["loss"], title="<attention>").source


def test_bad_arguments_name_the_problem():
    with pytest.raises(TypeError, match="expected a Value or Tensor"):
        draw_graph(3.0)
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(Value(1.0), rankdir="sideways")
    with pytest.raises(ValueError, match="color_by"):
        draw_graph(Value(1.0), color_by="data")
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(Value(1.0), max_nodes=0)


def test_several_roots_share_one_drawing():
    a = Value(1.0, label="a")
    first, second = a * 2.0, a + 5.0
    source = draw_graph([first, second]).source
    assert source.count('class="value root"') == 2
    assert source.count("<B>a</B>") == 1


# ---- determinism ----
@needs_renderer
def test_same_graph_gives_byte_identical_dot_and_svg():
    head = attention_head()
    head["loss"].backward()
    first, second = draw_graph(head["loss"], highlight="q"), draw_graph(head["loss"], highlight="q")
    assert first.source == second.source
    assert first.pipe(format="svg") == second.pipe(format="svg")


def test_two_separately_built_graphs_give_identical_dot():
    built = [draw_graph(scoped_gpt_loss(seed=3)[0], collapse=["gpt/blocks.1"]).source for _ in range(2)]
    assert built[0] == built[1]
    assert draw_graph(worked_loss()["loss"]).source == draw_graph(worked_loss()["loss"]).source


# ---- a real nn.GPT, once it exists ----
def _nn_gpt_parts():
    try:
        from tinygrad_attn import functional as F
        from tinygrad_attn import nn

        return nn.GPT, F.cross_entropy
    except (ImportError, AttributeError) as error:
        pytest.skip(f"tinygrad_attn.nn.GPT is not available yet ({error})")


@needs_renderer
def test_nn_gpt_loss_collapsed_by_block_fits_one_screen():
    GPT, cross_entropy = _nn_gpt_parts()
    model = GPT(vocab_size=11, block_size=8, d_model=16, n_heads=2, n_layers=2, d_ff=32, rng=0)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 11, (2, 8)), rng.integers(0, 11, (2, 8))
    loss = cross_entropy(model(ids).reshape(-1, 11), Tensor(targets.reshape(-1)))
    loss.backward()
    qkv_name = next(name for name, _ in model.named_parameters() if name.startswith("blocks.0.attn"))
    picture = drawn(draw_graph(loss, collapse=2, highlight=qkv_name))
    folded = {picture.nodes[n]["texts"][0]: n for n in picture.with_class("collapsed")}
    assert {"blocks.0", "blocks.1"} <= set(folded)
    assert folded["blocks.0"] in picture.with_class("highlight")
    assert len(picture.edges[f"{folded['blocks.0']}->{folded['blocks.1']}"]) == 1
    width, height = picture.size_pt()
    assert width < 800 and height < 1400
