"""BackwardStepper, driven headlessly: frames, navigation, text, the output bundle, the widget.

Expected gradients come from a separate copy of each graph, built fresh and backpropagated
with `.backward()`, or from float64 NumPy written out here; never from the stepper itself.
"""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value, nn
from tinygrad_attn import functional as F
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, TARGET, VALUES
from tinygrad_attn.teach.worked_example import build_graph
from tinygrad_attn.viz import BackwardStepper, find_dot, render
from tinygrad_attn.viz.stepper_page import frame_events, frame_state

needs_renderer = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")


# ---- graphs, each built fresh on every call ----
def worked_example() -> dict:
    """The worked example's graph (the teach module's numbers), not yet backpropagated."""
    return build_graph()


def every_node(root) -> list:
    """Everything root depends on (constants too), in creation order: two copies line up."""
    seen, stack = {id(root): root}, [root]
    while stack:
        for inp in stack.pop().inputs:
            if id(inp) not in seen:
                seen[id(inp)] = inp
                stack.append(inp)
    return sorted(seen.values(), key=lambda n: n.id)


def backward_order(root) -> list:
    """The order backward visits nodes in, worked out here: newest first, only what needs grad."""
    return [n for n in reversed(every_node(root)) if n.requires_grad]


def broadcast_graph() -> dict:
    """A Tensor graph with broadcasting and a tensor (`h`) used by three consumers."""
    x = Tensor(np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]]), requires_grad=True, name="x")
    b = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, name="b")
    scale = Tensor(np.array([[2.0], [-0.5]]), name="scale")  # a constant, broadcast over columns
    h = (x + b) * scale
    h.name = "h"
    h.retain_grad()
    loss = (h * h + h.exp() - h).sum()
    loss.name = "loss"
    return {"x": x, "b": b, "h": h, "loss": loss}


def small_gpt_loss(seed: int = 0) -> tuple[Tensor, nn.GPT]:
    model = nn.GPT(vocab_size=7, block_size=6, d_model=8, n_heads=2, n_layers=2, d_ff=16, rng=seed)
    rng = np.random.default_rng(seed)
    ids, targets = rng.integers(0, 7, (1, 5)), rng.integers(0, 7, (1, 5))
    return F.cross_entropy(model(ids).reshape(-1, 7), Tensor(targets.reshape(-1))), model


def run_to_end(stepper: BackwardStepper) -> None:
    while stepper.position < len(stepper) - 1:
        stepper.next()


# ---- stepping to the end is backward ----
def test_stepping_a_value_graph_to_the_end_leaves_backwards_gradients():
    stepped, plain = worked_example(), worked_example()
    run_to_end(BackwardStepper(stepped["loss"]))
    plain["loss"].backward()
    pairs = list(zip(every_node(stepped["loss"]), every_node(plain["loss"])))
    assert len(pairs) == 79  # 49 op results, 21 numbers that learn, 9 constants
    for a, b in pairs:  # leaves and every intermediate Value
        assert a.grad == b.grad, (a, b)


def test_worked_example_query_gradient_matches_float64_numpy():
    example = worked_example()
    run_to_end(BackwardStepper(example["loss"]))
    keys, values = np.array(list(KEYS.values())), np.array(list(VALUES.values()))

    def loss(q):
        s = keys @ q
        w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        return ((w @ values - np.array(TARGET)) ** 2).sum()

    q = np.array(QUERY_A)
    numeric = [(loss(q + e) - loss(q - e)) / 2e-6 for e in np.eye(3) * 1e-6]
    assert [v.grad for v in example["query"]] == pytest.approx(numeric, abs=1e-6)


def test_stepping_a_tensor_graph_with_broadcasting_leaves_backwards_gradients():
    stepped, plain = broadcast_graph(), broadcast_graph()
    stepper = BackwardStepper(stepped["loss"])
    run_to_end(stepper)
    plain["loss"].backward()
    for name in ["x", "b", "h"]:
        np.testing.assert_array_equal(stepped[name].grad, plain[name].grad)
    # By hand in float64: dloss/dh = 2h + e^h - 1, then h = (x + b) * scale.
    x, b, scale = stepped["x"].data, stepped["b"].data, np.array([[2.0], [-0.5]])
    h = (x + b) * scale
    dh = 2 * h + np.exp(h) - 1
    np.testing.assert_allclose(stepped["x"].grad, dh * scale, rtol=1e-12)
    np.testing.assert_allclose(stepped["b"].grad, (dh * scale).sum(axis=0), rtol=1e-12)
    assert stepped["loss"].grad is None  # a non-leaf that did not retain grad, as after backward()


def test_stepping_a_collapsed_gpt_leaves_backwards_gradients():
    (stepped, model), (plain, twin) = small_gpt_loss(), small_gpt_loss()
    stepper = BackwardStepper(stepped, collapse=2)
    run_to_end(stepper)
    plain.backward()
    pairs = list(zip(model.named_parameters(), twin.named_parameters()))
    assert len(pairs) > 20
    for (name, p), (_, q) in pairs:
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)
    # Expanding a scope afterwards shares the recorded steps: nothing runs backward again.
    inside = stepper.expand("blocks.0")
    assert all(frame.group != "gpt/blocks.0" for frame in inside)
    for (name, p), (_, q) in pairs:
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


# ---- backward runs lazily ----
def test_backward_runs_only_as_far_as_the_learner_steps():
    example = worked_example()
    stepper = BackwardStepper(example["loss"])
    assert len(stepper) == 70  # from the plan: nothing has run
    assert all(v.grad == 0.0 for v in every_node(example["loss"]))
    stepper.next()
    stepper.next()  # steps 0, 1 and 2 (the loss, then its two inputs)
    assert example["loss"].grad == 1.0
    assert example["query"][0].grad == 0.0  # a leaf: visited last
    visited = [n for n in every_node(example["loss"]) if n.grad != 0.0]
    assert len(visited) == 3
    stepper.prev()
    stepper.prev()
    assert stepper.position == 0 and len([n for n in every_node(example["loss"]) if n.grad != 0.0]) == 3


def test_a_tensor_leaf_has_no_grad_until_backward_reaches_it():
    graph = broadcast_graph()
    stepper = BackwardStepper(graph["loss"])
    stepper.goto(len(stepper) - 3)
    assert graph["x"].grad is None and graph["b"].grad is None
    stepper.goto(-1)
    assert graph["x"].grad is not None and graph["b"].grad is not None


# ---- frames as data: the highlighted node, the gradients known so far ----
@needs_renderer
def test_each_frame_highlights_the_node_backward_visits():
    example = worked_example()
    stepper = BackwardStepper(example["loss"])
    order = backward_order(example["loss"])
    frames = frame_events(stepper)["frames"]
    assert len(frames) == len(order) == 70
    for frame, node in zip(frames, order):
        value_box = stepper.boxes.value[node.id]
        assert frame["cur"][0] == value_box
        if not node.is_leaf:
            assert frame["cur"][1] == stepper.boxes.op[node.id]
            assert set(frame["flow"]) == {stepper.boxes.output_edge[node.id]} | {
                stepper.boxes.input_edge[(node.id, slot)] for slot, inp in enumerate(node.inputs) if inp.requires_grad}


@needs_renderer
def test_gradient_lines_fill_in_as_backward_reaches_each_box():
    stepped, plain = worked_example(), worked_example()
    plain["loss"].backward()
    truth = {a.id: b.grad for a, b in zip(every_node(stepped["loss"]), every_node(plain["loss"]))}
    stepper = BackwardStepper(stepped["loss"])
    order = backward_order(stepped["loss"])
    for k in [0, 5, 30, 69]:
        classes, grads = frame_state(stepper, k)
        for j, node in enumerate(order):
            box = stepper.boxes.value[node.id]
            if j <= k:  # visited: its total gradient, as backward() computes it
                assert grads[box].startswith("grad ")
                assert float(grads[box].split()[-1]) == pytest.approx(truth[node.id], rel=1e-3, abs=1e-6)
                assert "tas-pending" not in classes[box]
            elif box in grads:  # reached by some of its consumers: a partial sum
                assert grads[box].startswith("so far ")
            else:
                assert "tas-pending" in classes[box]
        assert "tas-cur" in classes[stepper.boxes.value[order[k].id]]


@needs_renderer
def test_constants_are_never_stepped_and_never_get_a_gradient():
    example = worked_example()
    stepper = BackwardStepper(example["loss"])
    constants = [n for n in every_node(example["loss"]) if not n.requires_grad]
    assert len(constants) == 9  # 3 softmax shifts, 3 targets, 3 exponents
    constant_boxes = {stepper.boxes.value[c.id] for c in constants}
    for frame in stepper.frames():
        assert all(node.requires_grad for node in frame.nodes)
    for frame in frame_events(stepper)["frames"]:
        assert not constant_boxes & set(frame["cur"])
        assert not constant_boxes & {box for box, _ in frame["grads"]}
    assert not constant_boxes & stepper.boxes.grad_boxes
    svg = stepper.svg(len(stepper) - 1)
    for box in constant_boxes:  # drawn: dashed and grey, with no gradient line
        block = svg.split(f'-{box}" class="')[1].split("</g>")[0]
        assert "grad" not in block and 'stroke-dasharray' in block


def test_attention_constants_scale_and_mask_are_not_stepped():
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rng.standard_normal((3, 2)), requires_grad=True, name=n) for n in "qkv")
    scores = (q @ k.swapaxes(-1, -2)) / np.sqrt(2.0)
    weights = scores.masked_fill(np.triu(np.ones((3, 3), dtype=bool), k=1), -1e9).softmax(-1)
    loss = (weights @ v).sum()
    stepper = BackwardStepper(loss)
    stepped = [n for f in stepper.frames() for n in f.nodes]
    assert all(n.requires_grad for n in stepped)
    div = next(f for f in stepper.frames() if f.steps[0].op == "div")
    assert "is a constant: nothing sent" in div.text and "1.414" in div.text


# ---- the text reads like a lesson ----
def test_text_fills_each_formula_in_and_makes_the_sum_explicit():
    a, b = Value(2.0, name="a"), Value(5.0, name="b")
    c = a * b
    c.name = "c"
    loss = c + a  # a has two consumers: the mul and the add
    loss.name = "loss"
    stepper = BackwardStepper(loss)
    first = stepper.text()
    assert first.splitlines()[0].startswith("step 1/4  loss  (Value, made by add)   grad arrived: 1.0")
    assert "d(a+b)/da = 1 → sends 1.0 × 1.0 = 1.0 to c" in first
    assert "d(a+b)/db = 1 → sends 1.0 × 1.0 = 1.0 to a" in first
    assert "a.grad: 1st of 2 contributions: 1.0" in first
    second = stepper.next().text
    assert second.splitlines()[0].startswith("step 2/4  c  (Value, made by mul)   grad arrived: 1.0")
    assert "d(a*b)/da = b = 5.0 → sends 1.0 × 5.0 = 5.0 to a" in second
    assert "a.grad: had 1.0 += 5.0 → 6.0  (2nd of 2)" in second
    assert "d(a*b)/db = a = 2.0 → sends 1.0 × 2.0 = 2.0 to b" in second
    leaf = stepper.run_to("a").text
    assert "grad arrived: 6.0" in leaf and "accumulates into .grad: had 0.0 += 6.0 → 6.0" in leaf
    assert str(stepper) == stepper.text() == leaf


def test_text_names_constants_and_abbreviates_tensors():
    example = worked_example()
    stepper = BackwardStepper(example["loss"])
    pow_step = stepper.goto(2).text  # a square: (out - target) ** 2
    assert re.search(r"d\(aᵇ\)/da = b·aᵇ⁻¹ = [\d.]+ → sends 1\.0 × [\d.]+ = [\d.]+ to sub output", pow_step)
    assert "d(aᵇ)/db: b = 2.0 is a constant: nothing sent" in pow_step
    graph = broadcast_graph()
    tensor_text = BackwardStepper(graph["loss"]).text()
    assert "loss  (Tensor () float64, made by sum)" in tensor_text
    assert re.search(r"sends \(2, 3\) \[[-\d., ]+…\] norm [\d.]+", tensor_text) or "sends [[" in tensor_text


def test_text_of_a_collapsed_frame_summarises_the_scope():
    loss, _ = small_gpt_loss()
    stepper = BackwardStepper(loss, collapse=2)
    block = stepper.run_to("blocks.1")
    assert block.group == "gpt/blocks.1" and len(block.steps) > 3
    assert "folded scope gpt/blocks.1" in block.text and "sends out of the scope" in block.text
    assert "stepper.expand('blocks.1')" in block.text
    later = [f for f in stepper.frames() if f.group == "gpt/blocks.1"]
    assert len(later) == 2  # its ops, then (visited last, as the oldest nodes) its parameters
    assert "12 parameters receive their gradients" in later[1].text


# ---- navigation ----
def test_next_prev_goto_run_to_and_current():
    example = worked_example()
    stepper = BackwardStepper(example["loss"])
    order = backward_order(example["loss"])
    assert stepper.current.node is order[0] and stepper.current.index == 0
    assert stepper.prev().index == 0  # at the start: stays
    assert stepper.next().node is order[1]
    assert stepper.goto(40).node is order[40]
    assert stepper.goto(-1).node is order[-1] and stepper.next().index == 69  # at the end: stays
    assert stepper.run_to("weight_B").node is example["weights"][1]
    assert stepper.run_to(example["query"][2]).node is example["query"][2]
    assert stepper[3].node is order[3] and len(list(stepper)) == 70


def test_bad_input_names_the_operation_and_the_value():
    with pytest.raises(TypeError, match="BackwardStepper: root must be a Value or Tensor, got list"):
        BackwardStepper([Value(1.0)])
    with pytest.raises(RuntimeError, match="BackwardStepper: .* does not require grad"):
        BackwardStepper(Tensor([1.0]) * 2.0)
    with pytest.raises(RuntimeError, match="BackwardStepper: backward_steps: grad can be omitted only"):
        BackwardStepper(Tensor([1.0, 2.0], requires_grad=True) * 2.0)
    stepper = BackwardStepper(worked_example()["loss"])
    with pytest.raises(IndexError, match=r"goto\(200\): there are 70 steps \(0\.\.69\)"):
        stepper.goto(200)
    with pytest.raises(TypeError, match=r"goto\('3'\): expected a frame number \(int\), got str"):
        stepper.goto("3")
    with pytest.raises(ValueError, match=r"run_to\('nope'\): no node named 'nope'; names: k_A\[0\], k_A\[1\]"):
        stepper.run_to("nope")
    with pytest.raises(ValueError, match="is not in this graph"):
        stepper.run_to(Value(3.0))
    with pytest.raises(ValueError, match=r"expand\('blocks.0'\): nothing is folded"):
        stepper.expand("blocks.0")
    loss, _ = small_gpt_loss()
    with pytest.raises(ValueError, match=r"expand\('blocks.7'\): matches no folded scope; folded here: .*gpt/blocks.0"):
        BackwardStepper(loss, collapse=2).expand("blocks.7")


def test_expand_steps_inside_one_scope_starting_at_its_first_step():
    loss, model = small_gpt_loss()
    stepper = BackwardStepper(loss, collapse=2)
    inside = stepper.expand("blocks.1")
    assert inside.current.group is None and inside.current.node.scope.startswith("gpt/blocks.1")
    assert len(inside) > len(stepper)
    groups = {f.group for f in inside}
    assert "gpt/blocks.0" in groups and "gpt/blocks.1" not in groups
    weight = model.blocks[1].attn.qkv_proj.weight
    own = [f for f in inside if any(n is weight for n in f.nodes)]
    assert len(own) == 1 and own[0].node is weight and len(own[0].steps) == 1 and own[0].group is None
    folded = [f for f in stepper if any(n is weight for n in f.nodes)]
    assert len(folded) == 1 and folded[0].group == "gpt/blocks.1" and len(folded[0].steps) == 12


# ---- how it shows itself ----
@needs_renderer
def test_mimebundle_has_self_contained_html_an_svg_and_text():
    stepper = BackwardStepper(worked_example()["loss"])
    stepper.goto(12)
    bundle = stepper._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/svg+xml", "text/plain"}
    page = bundle["text/html"]
    assert "<script" in page and "require(" not in page and "http://" not in page.replace(
        "http://www.w3.org", "") and "https://" not in page
    uid = re.search(r'class="tas-stepper" id="([^"]+)"', page).group(1)
    ids = re.findall(r' id="([^"]+)"', page)
    assert all(i == uid or i.startswith(uid + "-") for i in ids)
    data = json.loads(re.search(r'<script type="application/json" class="tas-data">(.*?)</script>', page, re.S)
                      .group(1))
    assert data["start"] == 12 and len(data["frames"]) == 70
    assert bundle["text/plain"] == stepper.text() and bundle["text/plain"].startswith("step 13/70")
    assert bundle["image/svg+xml"].startswith("<svg") and "tas-cur" in bundle["image/svg+xml"]
    other = stepper.html()  # a second output of the same stepper: new ids, no clash
    assert re.search(r'class="tas-stepper" id="([^"]+)"', other).group(1) != uid


@needs_renderer
def test_changing_frame_never_runs_graphviz_again(monkeypatch):
    runs = []
    original = render._run_dot
    monkeypatch.setattr(render, "_run_dot", lambda *a, **k: runs.append(1) or original(*a, **k))
    stepper = BackwardStepper(worked_example()["loss"])
    stepper.html()
    for i in range(len(stepper)):
        stepper.goto(i)
        stepper.svg()
    stepper.html()
    stepper._repr_mimebundle_()
    assert len(runs) == 1


@needs_renderer
def test_save_writes_the_page_and_names_a_path_it_cannot_write(tmp_path):
    stepper = BackwardStepper(worked_example()["loss"])
    path = stepper.save(tmp_path / "steps.html")
    text = (tmp_path / "steps.html").read_text(encoding="utf-8")
    assert path == str(tmp_path / "steps.html") and text.startswith("<!DOCTYPE html>")
    assert 'data-standalone="1"' in text and "tas-data" in text
    missing = tmp_path / "no such folder" / "steps.html"
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(missing)))):
        stepper.save(missing)
    with pytest.raises(IsADirectoryError, match="cannot write the stepper page"):
        stepper.save(tmp_path)


def test_print_gives_the_current_step():
    stepper = BackwardStepper(worked_example()["loss"])
    stepper.next()
    assert str(stepper).startswith("step 2/70") and "step 2/70" in repr(stepper)


# ---- the widget's Python side ----
@needs_renderer
def test_widget_steps_the_stepper_and_returns_the_picked_node():
    pytest.importorskip("ipywidgets", reason="ipywidgets is not installed (the 'notebooks' extra)")
    example = worked_example()
    stepper = BackwardStepper(example["loss"])
    ui = stepper.widget()
    order = backward_order(example["loss"])
    for _ in range(3):
        ui.next_button.click()
    assert stepper.position == 3 and ui.slider.value == 3
    assert "step 4/70" in ui.panel.value and "tas-cur" in ui.picture.value
    ui.prev_button.click()
    assert stepper.position == 2
    ui.slider.value = 10
    assert stepper.position == 10 and stepper.current.node is order[10]
    target = example["keys"]["B"][1]
    ui.picker.value = target
    assert ui.selected is target and stepper.current.node is target


def test_widget_without_ipywidgets_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    stepper = BackwardStepper(Value(2.0) * 3.0)
    with pytest.raises(ImportError, match=r"needs ipywidgets.*tinygrad_attn\[notebooks\]"):
        stepper.widget()


def test_scope_and_no_grad_do_not_change_what_is_stepped():
    with ta.scope("outer"):
        a = Value(1.5, name="a")
        out = a.tanh()
    with ta.no_grad():
        frozen = a * 2.0
    stepper = BackwardStepper(out)
    assert [f.node for f in stepper] == [out, a] and not frozen.requires_grad
