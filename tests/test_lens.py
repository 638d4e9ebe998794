"""The attention lens: its numbers against the scalar engine, NumPy written by hand and PyTorch;
observing changes nothing; labels, errors, and heatmaps that draw fast."""
from __future__ import annotations

import io
import math
import sys
import time

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, nn
from tinygrad_attn import functional as F
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, TARGET, VALUES, worked_example
from tinygrad_attn.trace.lens import number
from tinygrad_attn.viz import lens as lens_view


# ---- NumPy written by hand: the reference every lens number is checked against ----
def np_softmax(scores):
    shifted = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def np_attention(q, k, v, G, scale, allowed=None):
    """Forward and backward of softmax(q kᵀ · scale) @ v, given G = dL/doutput."""
    S = q @ np.swapaxes(k, -1, -2) * scale
    if allowed is not None:
        S = np.where(allowed, S, -np.inf)
    W = np_softmax(S)
    dW = G @ np.swapaxes(v, -1, -2)
    dS = W * (dW - np.sum(W * dW, axis=-1, keepdims=True))
    return dict(scores=S, weights=W, output=W @ v, weights_grad=dW, scores_grad=dS,
                q_grad=dS @ k * scale, k_grad=np.swapaxes(dS, -1, -2) @ q * scale, v_grad=np.swapaxes(W, -1, -2) @ G)


def seed_arrays():
    return (np.array([QUERY_A]), np.array([KEYS[t] for t in KEYS]), np.array([VALUES[t] for t in KEYS]),
            np.array([TARGET]))


def traced_seed(op=F.scaled_dot_product_attention):
    q, k, v, target = (Tensor(a, requires_grad=i < 3) for i, a in enumerate(seed_arrays()))
    with ta.lens.trace(tokens=list(KEYS), query_tokens=["A"]) as lens:
        output = op(q, k, v, scale=1.0)
        ((output - target) ** 2).sum().backward()
    return lens, q, k, v


# ---- the worked example ----
def test_the_seed_through_the_lens_gives_the_scalar_engines_numbers():
    scalar = worked_example(out=io.StringIO())
    lens, q, k, v = traced_seed()
    head = lens.head()
    np.testing.assert_allclose(head.weights[0], [w.data for w in scalar["weights"]], rtol=1e-12)
    np.testing.assert_allclose(head.output[0], [o.data for o in scalar["output"]], rtol=1e-12)
    np.testing.assert_allclose(head.weights_grad[0], [w.grad for w in scalar["weights"]], rtol=1e-12)
    np.testing.assert_allclose(head.scores_grad[0], [s.grad for s in scalar["scores"]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(head.q_grad[0], [x.grad for x in scalar["query"]], rtol=1e-12)
    for j, t in enumerate(KEYS):
        np.testing.assert_allclose(head.k_grad[j], [x.grad for x in scalar["keys"][t]], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(head.v_grad[j], [x.grad for x in scalar["values"][t]], rtol=1e-12)
    assert head.query_tokens == ["A"] and head.key_tokens == ["A", "B", "C"]


def test_the_seed_through_the_lens_equals_numpy_written_by_hand():
    q, k, v, target = seed_arrays()
    W = np_softmax(q @ k.T)
    G = 2 * (W @ v - target)
    want = np_attention(q, k, v, G, 1.0)
    head = traced_seed()[0].head()
    for name in ("scores", "weights", "output", "output_grad", "weights_grad", "scores_grad", "q_grad", "k_grad"):
        expected = G if name == "output_grad" else want[name]
        np.testing.assert_allclose(getattr(head, name), expected, rtol=1e-12, atol=1e-15, err_msg=name)


def test_the_explanation_says_which_key_a_step_would_make_a_attend_to_more_and_why():
    q, k, v, target = seed_arrays()
    W = np_softmax(q @ k.T)[0]
    g = 2 * (W @ v - target)[0]
    dW = v @ g
    dS = W * (dW - W @ dW)
    keys = list(KEYS)
    more, less = keys[int(np.argmin(dS))], keys[int(np.argmax(dS))]
    explanation = traced_seed()[0].explain()
    text = explanation.text
    assert f"A would attend a bit more to {more}" in text and f"a bit less to {less}" in text
    assert "A negative dL/dscore means raising that score lowers the loss" in text
    for j, key in enumerate(keys):  # every step's number is in the words
        assert f"{key}: g · " in text and number(dW[j]) in text and number(dS[j]) in text
    np.testing.assert_allclose(explanation.scores_grad, dS, rtol=1e-12, atol=1e-15)
    # the text's "a bit more of A's value and a bit less of B's": dL ≈ ε (dL/dw_A − dL/dw_B)
    assert explanation.trade("A", "B") == pytest.approx(dW[0] - dW[1], rel=1e-12)
    verdict = "raise the loss" if dW[0] > dW[1] else "lower the loss"
    assert verdict in explanation.trade_text("A", "B")


def test_the_explanation_of_hard_attention_says_no_gradient_reaches_the_scores():
    explanation = traced_seed(ta.attention.hard_attention)[0].explain()
    assert not explanation.scores_grad.any() and explanation.more is None
    assert "dL/dscore_j = 0 exactly for every key" in explanation.text


# ---- a learner's own multi-head attention, projections by matmul ----
B, T, D, H = 2, 5, 6, 2
dh = D // H
# two ways to cut (B, T, D) into heads (B, H, T, dh): head-major channels (as nanoGPT), or
# interleaved (channel c·H + h belongs to head h), whose transpose is not its own inverse
LAYOUTS = {
    "head-major": (lambda t: t.reshape(B, T, H, dh).swapaxes(1, 2),
                   lambda a: a.reshape(B, T, H, dh).transpose(0, 2, 1, 3),
                   lambda h: np.arange(h * dh, (h + 1) * dh)),
    "interleaved": (lambda t: _permuted(t.reshape(B, T, dh, H), (0, 3, 1, 2)),
                    lambda a: a.reshape(B, T, dh, H).transpose(0, 3, 1, 2),
                    lambda h: np.arange(dh) * H + h),
}


def _permuted(t, dims):
    """The axes of t reordered (PyTorch's permute; NumPy's transpose(axes))."""
    return t.permute(*dims) if hasattr(t, "permute") else t.transpose(*dims)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_hand_written_heads_and_the_projection_slices_equal_numpy(layout):
    heads, np_heads, columns = LAYOUTS[layout]
    rng = np.random.default_rng(0)
    x_np, wq, wk, wv = rng.standard_normal((B, T, D)), *(rng.standard_normal((D, D)) for _ in range(3))
    R = rng.standard_normal((B, H, T, dh))
    x = Tensor(x_np, requires_grad=True)
    Wq, Wk, Wv = (Tensor(w, requires_grad=True, name=n) for w, n in ((wq, "W_q"), (wk, "W_k"), (wv, "W_v")))
    with ta.lens.trace() as lens:
        out = F.scaled_dot_product_attention(heads(x @ Wq), heads(x @ Wk), heads(x @ Wv), is_causal=True)
        (out * Tensor(R)).sum().backward()

    want = np_attention(np_heads(x_np @ wq), np_heads(x_np @ wk), np_heads(x_np @ wv), R, 1 / math.sqrt(dh),
                        np.tri(T, dtype=bool))
    # dW = xᵀ·dQ, with each head's dQ put back at its channels of the (B, T, D) projection
    dW = {}
    for p in "qkv":
        d_proj = np.zeros((B, T, D))
        for h in range(H):
            d_proj[:, :, columns(h)] = want[f"{p}_grad"][:, h]
        dW[p] = np.einsum("btd,bte->de", x_np, d_proj)
    for b in range(B):
        for h in range(H):
            head = lens.head(0, h, batch=b)
            for name in ("scores", "weights", "weights_grad", "scores_grad", "q_grad", "k_grad", "v_grad"):
                np.testing.assert_allclose(getattr(head, name), want[name][b, h], rtol=1e-10, atol=1e-12,
                                           err_msg=f"{name}, batch {b}, head {h}")
            for p in "qkv":  # this head's columns of W (x @ W: a head owns columns)
                np.testing.assert_allclose(getattr(head, f"w_{p}_grad"), dW[p][:, columns(h)],
                                           rtol=1e-10, atol=1e-12, err_msg=f"W_{p}, head {h}")
            assert head.w_names == {"q": "W_q", "k": "W_k", "v": "W_v"}
    np.testing.assert_allclose(lens.param_grads["W_q"], dW["q"], rtol=1e-10)


def test_a_fused_projection_cut_by_indexing_gives_q_k_and_v_their_own_columns():
    rng = np.random.default_rng(3)
    x_np, w_np, R = rng.standard_normal((2, 4, 3)), rng.standard_normal((3, 9)), rng.standard_normal((2, 4, 3))
    x, W = Tensor(x_np, requires_grad=True), Tensor(w_np, requires_grad=True, name="W_qkv")
    with ta.lens.trace() as lens:
        qkv = x @ W  # (B, T, 3·d): q | k | v, one head
        out = F.scaled_dot_product_attention(qkv[:, :, 0:3], qkv[:, :, 3:6], qkv[:, :, 6:9])
        (out * Tensor(R)).sum().backward()
    p = x_np @ w_np
    want = np_attention(p[..., 0:3], p[..., 3:6], p[..., 6:9], R, 1 / math.sqrt(3))
    head = lens.head(0, 0, batch=1)
    assert lens[0].n_heads == 1 and lens[0].n_batch == 2  # a 3-D q is (batch, T, d)
    for part, columns in zip("qkv", (slice(0, 3), slice(3, 6), slice(6, 9))):
        dW = np.einsum("btd,bte->de", x_np, want[f"{part}_grad"])
        np.testing.assert_allclose(getattr(head, f"w_{part}_grad"), dW, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(getattr(head, f"w_{part}_grad"), W.grad[:, columns], rtol=1e-10, atol=1e-12)


def test_the_return_weights_path_records_the_values_and_the_gradient_at_the_output():
    rng = np.random.default_rng(1)
    q_np, k_np, v_np, R = (rng.standard_normal(s) for s in ((1, 3, 4), (1, 3, 4), (1, 3, 4), (1, 3, 4)))
    q, k, v = (Tensor(a, requires_grad=True) for a in (q_np, k_np, v_np))
    with ta.lens.trace() as lens:
        out, weights = F.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
        (out * Tensor(R)).sum().backward()
    want = np_attention(q_np, k_np, v_np, R, 0.5, np.tri(3, dtype=bool))
    head = lens.head()
    assert lens[0].op == "attention_weights"
    for name in ("weights", "output", "weights_grad", "scores_grad", "q_grad", "k_grad", "v_grad"):
        np.testing.assert_allclose(getattr(head, name), want[name][0], rtol=1e-10, atol=1e-12, err_msg=name)


# ---- nn.MultiHeadAttention and nn.GPT against PyTorch ----
torch_or_skip = pytest.importorskip  # (used inside the tests so the rest runs without torch)


def _torch_attention(torch, x, qkv_weight, qkv_bias, n_heads, causal):
    """Multi-head attention in torch, keeping the masked scores and weights (retain_grad) per head."""
    B, T, D = x.shape
    q, k, v = torch.nn.functional.linear(x, qkv_weight, qkv_bias).split(D, dim=-1)
    q, k, v = (t.view(B, T, n_heads, D // n_heads).transpose(1, 2) for t in (q, k, v))
    for t in (q, k, v):
        t.retain_grad()
    scores = q @ k.transpose(-1, -2) / math.sqrt(D // n_heads)
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool)) if causal else torch.ones(T, T, dtype=torch.bool)
    masked = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(masked, dim=-1)
    masked.retain_grad()
    weights.retain_grad()
    kept = dict(q=q, k=k, v=v, scores=masked, weights=weights)
    return (weights @ v).transpose(1, 2).reshape(B, T, D), kept


def _compare_heads(lens_call_heads, kept, qkv_grad, D, H, tolerance):
    dh = D // H
    for (b, h), head in lens_call_heads.items():
        pairs = {"scores": kept["scores"].detach(), "weights": kept["weights"].detach(),
                 "scores_grad": kept["scores"].grad, "weights_grad": kept["weights"].grad,
                 "q_grad": kept["q"].grad, "k_grad": kept["k"].grad, "v_grad": kept["v"].grad}
        for name, theirs in pairs.items():
            np.testing.assert_allclose(getattr(head, name), theirs.numpy()[b, h], rtol=tolerance, atol=tolerance,
                                       err_msg=f"{name}, batch {b}, head {h}")
        for offset, p in enumerate("qkv"):  # nn.Linear: W is (out, in), a head owns rows
            rows = slice(offset * D + h * dh, offset * D + (h + 1) * dh)
            np.testing.assert_allclose(getattr(head, f"w_{p}_grad"), qkv_grad[rows], rtol=tolerance,
                                       atol=tolerance, err_msg=f"W_{p} rows of head {h}")


def test_multihead_attention_lens_matches_torch_with_copied_weights():
    torch = torch_or_skip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
    B, T, D, H = 2, 5, 6, 3
    mha = nn.MultiHeadAttention(D, H, causal=True, rng=0)
    mha.to(np.float64)
    rng = np.random.default_rng(2)
    x_np, R = rng.standard_normal((B, T, D)), rng.standard_normal((B, T, D))
    with ta.lens.trace(mha) as lens:
        (mha(Tensor(x_np, requires_grad=True)) * Tensor(R)).sum().backward()

    params = {n: torch.tensor(p.data, requires_grad=True) for n, p in mha.named_parameters()}
    merged, kept = _torch_attention(torch, torch.tensor(x_np), params["qkv_proj.weight"], params["qkv_proj.bias"],
                                    H, causal=True)
    out = torch.nn.functional.linear(merged, params["out_proj.weight"], params["out_proj.bias"])
    (out * torch.tensor(R)).sum().backward()
    heads = {(b, h): lens.head(0, h, batch=b) for b in range(B) for h in range(H)}
    _compare_heads(heads, kept, params["qkv_proj.weight"].grad.numpy(), D, H, 1e-10)


VOCAB, BLOCK, D_MODEL, HEADS, LAYERS, D_FF = 11, 8, 8, 2, 2, 16


def _torch_gpt(torch, state, tokens):
    """The GPT of nn/transformer.py in torch ops, keeping each layer's attention tensors."""
    P = {n: torch.tensor(a, requires_grad=True) for n, a in state.items()}
    f = torch.nn.functional
    tok = f.embedding(torch.tensor(tokens), P["tok_emb.weight"])
    tok.retain_grad()
    x = tok + f.embedding(torch.arange(tokens.shape[1]), P["pos_emb.weight"])
    kept = []
    for i in range(LAYERS):
        p = lambda n: P[f"blocks.{i}.{n}"]  # noqa: E731
        h = f.layer_norm(x, (D_MODEL,), p("ln1.weight"), p("ln1.bias"))
        merged, layer = _torch_attention(torch, h, p("attn.qkv_proj.weight"), p("attn.qkv_proj.bias"), HEADS, True)
        kept.append(layer)
        x = x + f.linear(merged, p("attn.out_proj.weight"), p("attn.out_proj.bias"))
        h = f.layer_norm(x, (D_MODEL,), p("ln2.weight"), p("ln2.bias"))
        h = f.linear(f.gelu(f.linear(h, p("mlp.fc1.weight"), p("mlp.fc1.bias")), approximate="tanh"),
                     p("mlp.fc2.weight"), p("mlp.fc2.bias"))
        x = x + h
    logits = f.linear(f.layer_norm(x, (D_MODEL,), P["ln_f.weight"], P["ln_f.bias"]), P["head.weight"], P["head.bias"])
    return logits, P, tok, kept


def _gpt_and_batch(seed=0):
    model = nn.GPT(VOCAB, BLOCK, D_MODEL, HEADS, LAYERS, D_FF, rng=seed)
    rng = np.random.default_rng(seed + 1)
    return model, rng.integers(0, VOCAB, (2, BLOCK)), rng.integers(0, VOCAB, (2 * BLOCK,))


def test_gpt_lens_matches_torch_per_layer_and_head_with_embedding_gradients():
    torch = torch_or_skip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
    model, tokens, targets = _gpt_and_batch()
    model.to(np.float64)
    with ta.lens.trace(model, tokens=lambda i: "abcdefghijk"[i]) as lens:
        F.cross_entropy(model(tokens).reshape(-1, VOCAB), targets).backward()
    logits, P, tok, kept = _torch_gpt(torch, model.state_dict(), tokens)
    torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.tensor(targets)).backward()
    assert len(lens) == LAYERS
    for layer in range(LAYERS):
        heads = {(b, h): lens.head(layer, h, batch=b) for b in range(2) for h in range(HEADS)}
        _compare_heads(heads, kept[layer], P[f"blocks.{layer}.attn.qkv_proj.weight"].grad.numpy(), D_MODEL,
                       HEADS, 1e-9)
        assert lens[layer].scope == f"gpt/blocks.{layer}/attn"
    for b in range(2):
        np.testing.assert_allclose(lens.embedding_grad(batch=b), tok.grad.numpy()[b], rtol=1e-9, atol=1e-12)
        assert lens.head(0, 0, batch=b).key_tokens == ["abcdefghijk"[i] for i in tokens[b]]
    np.testing.assert_allclose(lens.param_grads["tok_emb.weight"], P["tok_emb.weight"].grad.numpy(), rtol=1e-9)


def _loss_and_grads(model, tokens, targets):
    model.zero_grad()
    loss = F.cross_entropy(model(tokens).reshape(-1, VOCAB), targets)
    loss.backward()
    return np.array(loss.data), {n: np.array(p.grad) for n, p in model.named_parameters()}


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
def test_observing_changes_nothing_the_loss_and_every_gradient_are_bit_identical(kernels):
    model, tokens, targets = _gpt_and_batch(seed=3)
    with ta.use_kernels(kernels):
        plain_loss, plain_grads = _loss_and_grads(model, tokens, targets)
        with ta.lens.trace(model) as lens:
            seen_loss, seen_grads = _loss_and_grads(model, tokens, targets)
    assert len(lens) == LAYERS and lens[0].has_grads
    assert plain_loss.tobytes() == seen_loss.tobytes()
    for name, grad in plain_grads.items():
        assert grad.dtype == seen_grads[name].dtype and grad.tobytes() == seen_grads[name].tobytes(), name


def test_the_lens_keeps_only_the_given_models_calls():
    mine, other = nn.MultiHeadAttention(4, 2, rng=0), nn.MultiHeadAttention(4, 2, rng=1)
    x = Tensor(np.ones((1, 3, 4), dtype=np.float32), requires_grad=True)
    with ta.lens.trace(mine) as lens:
        other(x)
        mine(x)
        other(x)
    assert len(lens) == 1 and lens.head(0, 1).w_names["q"] == "qkv_proj.weight"


# ---- no_grad, forward only, labels, errors ----
def test_under_no_grad_nothing_is_recorded_and_the_error_says_why():
    model, tokens, _ = _gpt_and_batch()
    with ta.lens.trace(model) as lens, ta.no_grad():
        model(tokens)
    assert len(lens) == 0
    with pytest.raises(ValueError, match=r"no attention call was recorded.*no_grad"):
        lens.heatmap()


def test_before_backward_the_weights_draw_and_the_gradients_say_not_computed_yet():
    model, tokens, _ = _gpt_and_batch()
    with ta.lens.trace(model) as lens:
        model(tokens)
    assert not lens.head(1, 1).has_grads and lens.head(1, 1).w_q_grad is None
    assert "weights (layer 1, head 1)" in lens.heatmap(1, 1).svg
    with pytest.raises(ValueError, match=r"dL/dweights of layer 0, head 0 not computed yet"):
        lens.heatmap(0, 0, "weights_grad")
    with pytest.raises(ValueError, match="no gradients yet"):
        lens.explain()
    assert "dL/dweights" not in lens._repr_html_()


def test_token_labels_given_per_batch_row_decoded_or_positions_by_default():
    model, tokens, _ = _gpt_and_batch()
    with ta.lens.trace(model) as lens:
        model(tokens)
    assert lens.head().key_tokens == [str(t) for t in range(BLOCK)]
    lens.tokens = [[f"r{b}t{t}" for t in range(BLOCK)] for b in range(2)]
    assert lens.head(batch=1).query_tokens[2] == "r1t2"
    lens.tokens = lambda i: f"<{i}>"
    assert lens.head(batch=1).key_tokens == [f"<{i}>" for i in tokens[1]]
    lens.tokens = ["x"] * 3
    with pytest.raises(ValueError, match="lens: tokens has 3 labels but the attention has 8 keys"):
        lens.head()


def test_bad_arguments_name_the_call_and_the_value():
    lens, *_ = traced_seed()
    with pytest.raises(ValueError, match=r"lens.head: layer must be an int in \[0, 1\), got 4"):
        lens.head(4)
    with pytest.raises(ValueError, match=r"lens.head: head must be an int in \[0, 1\) for layer 0, got 2"):
        lens.head(0, 2)
    with pytest.raises(ValueError, match=r"explain \(layer 0, head 0\): query must be an int in \[-1, 1\), got 3"):
        lens.explain(query=3)
    with pytest.raises(ValueError, match="heatmap: what must be one of"):
        lens.heatmap(what="probs")
    with pytest.raises(TypeError, match="lens.trace: model must be an nn.Module or None, got int"):
        ta.lens.trace(3)
    with pytest.raises(ValueError, match="Explanation.trade: no key 'D'"):
        lens.explain().trade("D", "A")
    with pytest.raises(ValueError, match="Heatmap.save: unknown file type '.bmp'"):
        lens.heatmap().save("x.bmp")


# ---- drawing ----
def test_ta_lens_is_the_drawing_module_and_trace_lens_is_the_data():
    assert ta.lens is lens_view and isinstance(ta.lens.trace(), ta.trace.lens.Lens)


def test_gradient_heatmaps_use_a_scale_centred_at_zero_with_a_legend():
    lens, *_ = traced_seed()
    heat = lens.heatmap(0, 0, "scores_grad")
    assert heat.vmin == -heat.vmax and heat.vmax == pytest.approx(np.max(np.abs(lens.head().scores_grad)))
    svg = heat.svg
    assert "dL/dscores (layer 0, head 0)" in svg and "<linearGradient" in svg and ">0</text>" in svg
    assert ">A</text>" in svg and ">C</text>" in svg  # token labels
    assert lens.heatmap().vmin == 0  # weights: a sequential scale from 0


def test_a_64_token_heatmap_draws_in_cells_fast():
    model = nn.GPT(50, 64, 16, 2, 1, 32, rng=0)
    tokens = np.random.default_rng(0).integers(0, 50, (1, 64))
    with ta.lens.trace(model, tokens=lambda i: f"tok{i}") as lens:
        F.cross_entropy(model(tokens).reshape(-1, 50), tokens.reshape(-1)).backward()

    def fastest(draw):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            draw()
            times.append(time.perf_counter() - start)
        return min(times)

    heat = lens.heatmap(0, 1, "weights_grad")
    assert fastest(lambda: heat.svg) < 0.5
    assert fastest(lens._repr_html_) < 0.5
    svg = heat.svg
    assert svg.count("<path") <= lens_view.LEVELS + 1  # one path per colour level, not one element per cell
    assert "dL/dweights (layer 0, head 1)" in svg and f">tok{tokens[0, 63]}</text>" in svg


def test_html_page_and_svg_files_are_self_contained(tmp_path):
    lens, *_ = traced_seed()
    page = lens.save(tmp_path / "lens.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    assert "One query row explained: A" in page and "weights (layer 0, head 0)" in page
    svg = lens.heatmap(0, 0, "weights_grad").save(tmp_path / "w.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.endswith("</svg>")


def test_png_uses_matplotlib_or_says_how_to_install_it(tmp_path, monkeypatch):
    lens, *_ = traced_seed()
    if "matplotlib" in sys.modules or _has_matplotlib():
        path = lens.heatmap(0, 0, "scores_grad").save(tmp_path / "s.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert lens.save(tmp_path / "all.png").stat().st_size > 0
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"needs matplotlib.*notebooks"):
        lens.heatmap().save(tmp_path / "w.png")


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
