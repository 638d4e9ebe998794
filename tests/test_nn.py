"""Specification tests for tinygrad_attn.nn: registration and names, saving, modes, layers,
attention records, scopes, and generation."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, nn
from tinygrad_attn.core import topological_order

VOCAB, BLOCK, D_MODEL, HEADS, D_FF = 7, 6, 8, 2, 16


def small_gpt(n_layers: int = 1, seed: int = 0, **kwargs) -> nn.GPT:
    return nn.GPT(VOCAB, BLOCK, D_MODEL, HEADS, n_layers, D_FF, rng=seed, **kwargs)


def token_batch(batch: int = 3, time: int = BLOCK, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=(batch, time))


def graph_nodes(root: Tensor) -> list[Tensor]:
    return topological_order(root)


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# ---- registration and names ----
GPT_NAMES = [
    "tok_emb.weight", "pos_emb.weight",
    "blocks.0.ln1.weight", "blocks.0.ln1.bias",
    "blocks.0.attn.qkv_proj.weight", "blocks.0.attn.qkv_proj.bias",
    "blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias",
    "blocks.0.ln2.weight", "blocks.0.ln2.bias",
    "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias",
    "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
    "ln_f.weight", "ln_f.bias", "head.weight", "head.bias",
]


def test_named_parameters_are_dotted_and_in_definition_order():
    model = small_gpt()
    assert [name for name, _ in model.named_parameters()] == GPT_NAMES
    shapes = dict((name, p.shape) for name, p in model.named_parameters())
    assert shapes["blocks.0.attn.qkv_proj.weight"] == (3 * D_MODEL, D_MODEL)
    assert shapes["head.weight"] == (VOCAB, D_MODEL)
    assert shapes["pos_emb.weight"] == (BLOCK, D_MODEL)


def test_parameters_carry_their_dotted_name():
    model = small_gpt(n_layers=2)
    for name, param in model.named_parameters():
        assert param.name == name
    assert model.blocks[1].attn.qkv_proj.weight.name == "blocks.1.attn.qkv_proj.weight"


def test_names_follow_a_module_into_its_parent():
    attn = nn.MultiHeadAttention(D_MODEL, HEADS)
    assert attn.qkv_proj.weight.name == "qkv_proj.weight"

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2)])
            self.attn = attn

    Wrapper()
    assert attn.qkv_proj.weight.name == "attn.qkv_proj.weight"


def test_parameters_and_modules_registered_by_assignment():
    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(3))
            self.first = nn.Linear(3, 4)
            self.second = nn.Linear(4, 2, bias=False)
            self.not_a_parameter = Tensor(np.ones(2))  # plain tensors are not learned

    model = TwoLayer()
    assert [n for n, _ in model.named_parameters()] == ["scale", "first.weight", "first.bias", "second.weight"]
    assert [n for n, _ in model.named_modules()] == ["", "first", "second"]
    assert model.num_parameters() == 3 + 12 + 4 + 8
    model.first = nn.Linear(3, 4, bias=False)  # reassigning replaces the registration
    assert [n for n, _ in model.named_parameters()] == ["scale", "first.weight", "second.weight"]
    del model.scale
    assert [n for n, _ in model.named_parameters()] == ["first.weight", "second.weight"]


def test_a_shared_parameter_is_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)
            self.b.weight = self.a.weight

    assert [n for n, _ in Tied().named_parameters()] == ["a.weight", "a.bias", "b.bias"]


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Broken()


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    weight = nn.Parameter([0.0, 1.0, 2.0])
    assert isinstance(weight, Tensor) and weight.requires_grad and weight.is_leaf
    assert weight.dtype == np.float32
    assert repr(weight).startswith("Parameter(")
    np.testing.assert_allclose((weight * 2.0).data, [0, 2, 4])  # a number on the right works too
    with pytest.raises(TypeError, match="floating point"):
        nn.Parameter(np.arange(3))


def test_module_list_indexing_and_errors():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
    assert len(layers) == 2 and layers[-1].out_features == 3
    assert [layer.out_features for layer in layers] == [2, 3]
    with pytest.raises(IndexError, match="out of range for 2 modules"):
        layers[2]
    with pytest.raises(TypeError, match="expected a Module"):
        layers.append(np.ones(2))
    with pytest.raises(NotImplementedError, match="loop over it"):
        layers(Tensor(np.ones(2)))


def test_zero_grad_clears_every_parameter_grad():
    model = small_gpt()
    model(token_batch()).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_shows_the_tree():
    text = repr(small_gpt())
    assert text.startswith("GPT(")
    assert "(blocks): ModuleList(" in text
    assert "(qkv_proj): Linear(in_features=8, out_features=24, bias=True)" in text
    assert "(ln_f): LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)" in text


# ---- state_dict, save and load ----
def test_state_dict_round_trip_reproduces_the_outputs():
    source, target = small_gpt(seed=0), small_gpt(seed=1)
    tokens = token_batch()
    assert not np.allclose(source(tokens).data, target(tokens).data)
    state = source.state_dict()
    assert list(state) == GPT_NAMES and all(isinstance(a, np.ndarray) for a in state.values())
    target.load_state_dict(state)
    np.testing.assert_array_equal(source(tokens).data, target(tokens).data)


def test_state_dict_is_a_snapshot_not_a_view():
    model = small_gpt()
    state = model.state_dict()
    model.head.bias.data += 1.0
    assert not np.array_equal(state["head.bias"], model.head.bias.data)


def test_load_state_dict_copies_in_place_and_keeps_dtype():
    model = small_gpt()
    weight = model.head.weight
    before = weight.data
    state = {name: array.astype(np.float64) for name, array in small_gpt(seed=5).state_dict().items()}
    model.load_state_dict(state)
    assert model.head.weight is weight and weight.data is before and weight.data.dtype == np.float32
    np.testing.assert_allclose(weight.data, state["head.weight"], rtol=1e-6)


def test_save_and_load_npz(tmp_path):
    source, target = small_gpt(seed=0), small_gpt(seed=1)
    path = tmp_path / "weights.npz"
    source.save(path)
    with np.load(path) as archive:
        assert sorted(archive.files) == sorted(GPT_NAMES)
    assert target.load(path) is target
    tokens = token_batch()
    np.testing.assert_array_equal(source(tokens).data, target(tokens).data)


def test_load_state_dict_errors_name_the_keys_and_change_nothing():
    model = small_gpt()
    before = model.state_dict()
    state = model.state_dict()
    del state["head.bias"]
    state["head.extra"] = np.ones(2)
    with pytest.raises(RuntimeError, match=r"missing keys \['head.bias'\]; unexpected keys \['head.extra'\]"):
        model.load_state_dict(state)
    state = {name: array + 1 for name, array in model.state_dict().items()}
    state["ln_f.weight"] = np.ones(D_MODEL + 1)
    with pytest.raises(RuntimeError, match=r"'ln_f.weight' has shape \(9,\) but the model's has shape \(8,\)"):
        model.load_state_dict(state)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])  # nothing was half-loaded
    with pytest.raises(TypeError, match="dict of arrays"):
        model.load_state_dict([1, 2])
    state = model.state_dict()
    state["head.bias"] = np.array(["a"] * VOCAB)
    with pytest.raises(TypeError, match="expected numbers"):
        model.load_state_dict(state)


def test_non_strict_load_reports_what_did_not_match():
    model = small_gpt()
    result = model.load_state_dict({"head.bias": np.zeros(VOCAB), "nope": np.ones(1)}, strict=False)
    assert result.unexpected_keys == ["nope"] and "head.weight" in result.missing_keys
    np.testing.assert_array_equal(model.head.bias.data, np.zeros(VOCAB))


# ---- modes and dropout ----
def test_train_and_eval_set_training_everywhere():
    model = small_gpt(dropout=0.5)
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_dropout_is_active_in_training_mode_only():
    model = small_gpt(dropout=0.5, seed=3)
    tokens = token_batch()
    model.train()
    first, second = model(tokens).data, model(tokens).data
    assert not np.allclose(first, second)
    model.eval()
    np.testing.assert_array_equal(model(tokens).data, model(tokens).data)
    np.testing.assert_allclose(model(tokens).data, small_gpt(dropout=0.0, seed=3)(tokens).data, rtol=1e-6)


def test_dropout_layer_scales_kept_elements():
    drop = nn.Dropout(0.25, rng=0)
    out = drop(Tensor(np.ones((200, 50)))).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02
    assert drop.eval()(Tensor(np.ones(3))).data.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\)"):
        nn.Dropout(1.0)


# ---- layers against NumPy written out ----
def test_linear_computes_x_times_weight_transposed_plus_bias():
    layer = nn.Linear(3, 2, rng=0)
    x = np.random.default_rng(1).standard_normal((4, 5, 3)).astype(np.float32)
    want = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(Tensor(x)).data, want, rtol=1e-5, atol=1e-6)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)


def test_linear_and_embedding_initialise_like_pytorch():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound  # std of U(-b, b)
    embedding = nn.Embedding(300, 400, rng=0).weight.data
    assert abs(embedding.std() - 1) < 0.01 and abs(embedding.mean()) < 0.01
    assert all(p.dtype == np.float32 for p in (layer.weight, layer.bias))


def test_initialisation_is_seeded():
    np.testing.assert_array_equal(nn.Linear(3, 3, rng=7).weight.data, nn.Linear(3, 3, rng=7).weight.data)
    ta.manual_seed(11)
    first = nn.Linear(3, 3).weight.data
    ta.manual_seed(11)
    np.testing.assert_array_equal(first, nn.Linear(3, 3).weight.data)


def test_embedding_looks_up_rows():
    table = nn.Embedding(5, 3, rng=0)
    ids = np.array([[4, 0], [4, 4]])
    np.testing.assert_array_equal(table(ids).data, table.weight.data[ids])


def test_layer_norm_normalises_the_last_axis():
    norm = nn.LayerNorm(4)
    norm.weight.data[:] = [1, 2, 3, 4]
    norm.bias.data[:] = [0, 1, 0, -1]
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * norm.weight.data + norm.bias.data
    np.testing.assert_allclose(norm(Tensor(x.astype(np.float32))).data, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Linear(0, 3), ValueError, "in_features must be >= 1"),
    (lambda: nn.Linear(2.5, 3), TypeError, "in_features must be an int"),
    (lambda: nn.MultiHeadAttention(10, 3), ValueError, "d_model=10 is not divisible by n_heads=3"),
    (lambda: nn.LayerNorm(4, eps=0), ValueError, "eps must be a positive number"),
    (lambda: nn.GPT(5, 4, 8, 2, 0, 16), ValueError, "n_layers must be >= 1"),
    (lambda: nn.Linear(2, 2, rng="seed"), TypeError, "rng must be None, an int seed"),
])
def test_bad_layer_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ---- multi-head attention, and recording what each head computes ----
from tinygrad_attn.trace import record_attention  # noqa: E402  (beside the tests that use it)


def manual_attention(mha: nn.MultiHeadAttention, x: np.ndarray, allowed: np.ndarray) -> dict[str, np.ndarray]:
    """The same forward in float64 NumPy, written out."""
    batch, time, width = x.shape
    qkv = x @ mha.qkv_proj.weight.data.T.astype(np.float64) + mha.qkv_proj.bias.data
    heads = lambda part: part.reshape(batch, time, mha.n_heads, mha.d_head).transpose(0, 2, 1, 3)
    q, k, v = heads(qkv[..., :width]), heads(qkv[..., width:2 * width]), heads(qkv[..., 2 * width:])
    scores = np.where(allowed, q @ k.transpose(0, 1, 3, 2) / math.sqrt(mha.d_head), -np.inf)
    weights = softmax(scores)
    head_outputs = weights @ v
    merged = head_outputs.transpose(0, 2, 1, 3).reshape(batch, time, width)
    out = merged @ mha.out_proj.weight.data.T + mha.out_proj.bias.data
    return dict(q=q, k=k, v=v, scores=scores, weights=weights, head_outputs=head_outputs, out=out)


def test_recorded_attention_matches_a_manual_computation():
    mha = nn.MultiHeadAttention(D_MODEL, HEADS, causal=True, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 5, D_MODEL)).astype(np.float32)
    with record_attention() as rec:
        out = mha(Tensor(x))
    assert len(rec) == 1
    record = rec[0]
    assert record.op == "packed_attention" and record.node.name == "merged_heads"
    assert record.scope == record.node.scope == "multiheadattention"
    want = manual_attention(mha, x.astype(np.float64), np.tril(np.ones((5, 5), bool)))
    for name, got in (("q", record.q), ("k", record.k), ("v", record.v), ("weights", record.weights),
                      ("head_outputs", record.output)):
        assert got.shape == ((2, HEADS, 5, 5) if name == "weights" else (2, HEADS, 5, D_MODEL // HEADS)), name
        np.testing.assert_allclose(got, want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert record.n_heads == HEADS and record.scale == pytest.approx(1 / math.sqrt(D_MODEL // HEADS))
    np.testing.assert_allclose(record.scores, want["scores"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.data, want["out"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(record.weights[..., 0, 1:], 0)  # the first token sees only itself
    assert record.weights_grad is None and "no grads yet" in repr(record)


def test_recorded_gradients_are_dloss_dweights_and_dloss_dscores():
    mha = nn.MultiHeadAttention(D_MODEL, HEADS, rng=1)
    mha.to(np.float64)
    x = np.random.default_rng(2).standard_normal((2, 4, D_MODEL))
    upstream = np.random.default_rng(3).standard_normal((2, 4, D_MODEL))
    with record_attention() as rec:
        out = mha(Tensor(x, dtype=np.float64))
        (out * Tensor(upstream)).sum().backward()
    record = rec[0]
    want = manual_attention(mha, x, np.ones((4, 4), bool))
    # by hand: L = Σ out·G, out = merged @ Woᵀ + b  =>  dL/dmerged = G @ Wo, dL/dW = dL/dhead_out @ vᵀ
    grad_merged = upstream @ mha.out_proj.weight.data
    grad_heads = grad_merged.reshape(2, 4, HEADS, D_MODEL // HEADS).transpose(0, 2, 1, 3)
    want_weights_grad = grad_heads @ want["v"].transpose(0, 1, 3, 2)
    np.testing.assert_allclose(record.weights_grad, want_weights_grad, rtol=1e-10, atol=1e-12)
    # softmax backward, row by row: dL/ds_ij = w_ij (dL/dw_ij − Σ_k w_ik dL/dw_ik)
    w = want["weights"]
    want_scores_grad = w * (want_weights_grad - (w * want_weights_grad).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(record.scores_grad, want_scores_grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(record.scores_grad.sum(axis=-1), 0, atol=1e-12)  # shifting a row's scores changes nothing
    assert "with grads" in repr(record)


def test_only_attention_made_inside_the_block_is_recorded():
    mha = nn.MultiHeadAttention(D_MODEL, HEADS, rng=0)
    assert not hasattr(mha, "record") and not hasattr(mha, "last")  # watching is not a mode of the layer
    x = Tensor(np.ones((1, 3, D_MODEL), dtype=np.float32))
    mha(x)
    with record_attention() as rec:
        assert len(rec) == 0 and repr(rec) == "AttentionRecorder(no records)"
        first, second = mha(x), mha(x)
        with ta.no_grad():
            mha(x)  # no graph, so no attention node to record
    mha(x)
    assert len(rec) == 2 and [r.node.name for r in rec] == ["merged_heads", "merged_heads"]
    assert rec.for_node(first.inputs[0]) is rec[0] and rec.for_node(second.inputs[0]) is rec[1]
    assert rec.in_scope("multiheadattention") == rec.records
    with pytest.raises(KeyError, match="no record of node"):
        rec.for_node(first)


def test_recording_does_not_change_the_output_or_gradients():
    model = small_gpt(n_layers=2, seed=4)
    tokens = token_batch()
    out = model(tokens)
    out.sum().backward()
    plain_out = out.data.copy()
    plain = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    with record_attention() as rec:
        out = model(tokens)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, plain_out)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, plain[name], err_msg=name)
    assert [r.scope for r in rec] == ["gpt/blocks.0/attn", "gpt/blocks.1/attn"]
    assert all(r.weights_grad is not None for r in rec)


def test_the_graph_is_identical_with_and_without_recording():
    model = small_gpt(n_layers=2, seed=5)
    tokens = token_batch(seed=1)

    def graph(root):
        return [(n.op_name, n.scope, n.name, n.data.dtype, n.data.shape, sorted(vars(n.saved)))
                for n in graph_nodes(root)], [n.data for n in graph_nodes(root)]

    plain_structure, plain_values = graph(model(tokens))
    with record_attention() as rec:
        recorded_structure, recorded_values = graph(model(tokens))
    assert len(rec) == 2
    assert recorded_structure == plain_structure
    for index, (mine, theirs) in enumerate(zip(recorded_values, plain_values)):
        np.testing.assert_array_equal(mine, theirs, err_msg=f"node {index}: {plain_structure[index][0]}")


def test_key_mask_hides_padding_from_every_query():
    mha = nn.MultiHeadAttention(D_MODEL, HEADS, rng=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, D_MODEL)).astype(np.float32)
    key_mask = np.array([[True] * 5, [True, True, True, False, False]])
    with record_attention() as rec:
        out = mha(Tensor(x), key_mask=key_mask).data
    np.testing.assert_array_equal(rec[0].weights[1, :, :, 3:], 0)
    assert np.isneginf(rec[0].scores[1, :, :, 3:]).all()
    x_changed = x.copy()
    x_changed[1, 3:] = rng.standard_normal((2, D_MODEL))  # new padding content
    out_changed = mha(Tensor(x_changed), key_mask=key_mask).data
    np.testing.assert_allclose(out_changed[1, :3], out[1, :3], rtol=1e-5, atol=1e-6)


def test_attention_argument_errors():
    mha = nn.MultiHeadAttention(D_MODEL, HEADS)
    with pytest.raises(ValueError, match=r"expected input \(batch, time, 8\), got \(2, 3, 4\)"):
        mha(Tensor(np.ones((2, 3, 4))))
    with pytest.raises(ValueError, match=r"key_mask must have shape \(batch, time\) = \(2, 3\)"):
        mha(Tensor(np.ones((2, 3, D_MODEL))), key_mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="key_mask must be boolean"):
        mha(Tensor(np.ones((2, 3, D_MODEL))), key_mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match="attn_mask of shape"):
        mha(Tensor(np.ones((2, 3, D_MODEL))), attn_mask=np.ones((4, 4), bool))


# ---- scopes for the graph renderer ----
def test_forward_tags_nodes_with_module_scopes():
    model = small_gpt(n_layers=2)
    logits = model(token_batch())
    scopes = {node.scope for node in graph_nodes(logits)}
    for expected in ("gpt/tok_emb", "gpt/blocks.0/ln1", "gpt/blocks.0/attn", "gpt/blocks.0/attn/qkv_proj",
                     "gpt/blocks.1/mlp/fc1", "gpt/blocks.1/mlp", "gpt/ln_f", "gpt/head"):
        assert expected in scopes, expected
    assert logits.scope == "gpt/head"
    assert all(all(part and "/" not in part for part in s.split("/")) for s in scopes if s)


def test_parameters_sit_in_the_scope_of_their_module():
    model = small_gpt(n_layers=2)
    logits = model(token_batch())
    assert model.head.weight.scope == logits.scope == "gpt/head"
    assert model.blocks[1].attn.qkv_proj.bias.scope == "gpt/blocks.1/attn/qkv_proj"
    assert model.blocks[1].attn.scope_path == "gpt/blocks.1/attn"
    node_scopes = {node.scope for node in graph_nodes(logits) if not node.is_leaf}
    for name, param in model.named_parameters():
        assert param.scope in node_scopes, name  # the module really ran its ops in that scope


def test_scopes_nest_under_a_scope_the_caller_opens():
    mha = nn.MultiHeadAttention(D_MODEL, HEADS)
    with ta.scope("lesson"):
        out = mha(Tensor(np.ones((1, 2, D_MODEL), dtype=np.float32)))
    assert out.scope == "lesson/multiheadattention/out_proj"


# ---- GPT ----
def test_gpt_logits_shape_and_length_check():
    model = small_gpt()
    assert model(token_batch(time=4)).shape == (3, 4, VOCAB)
    with pytest.raises(ValueError, match="sequence length 7 exceeds block_size 6"):
        model(np.zeros((1, 7), dtype=np.int64))
    with pytest.raises(TypeError, match="token ids must be integers"):
        model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"token ids must be \(batch, time\)"):
        model(np.zeros(3, dtype=np.int64))


def test_gpt_is_causal_later_tokens_do_not_change_earlier_logits():
    model = small_gpt(n_layers=2)
    tokens = token_batch(batch=1)
    changed = tokens.copy()
    changed[0, 4:] = (changed[0, 4:] + 1) % VOCAB
    np.testing.assert_allclose(model(tokens).data[0, :4], model(changed).data[0, :4], rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(tokens).data[0, 4:], model(changed).data[0, 4:])


def test_greedy_generation_picks_the_argmax_each_step():
    model = small_gpt(n_layers=2)
    prompt = token_batch(batch=2, time=3)
    out = model.generate(prompt, max_new_tokens=5, greedy=True)
    assert isinstance(out, Tensor) and out.shape == (2, 8) and not out.requires_grad
    ids = out.numpy()
    np.testing.assert_array_equal(ids[:, :3], prompt)
    for t in range(3, 8):  # each new token is the argmax given what came before (context cut to BLOCK)
        context = ids[:, max(0, t - BLOCK):t]
        np.testing.assert_array_equal(ids[:, t], model(context).data[:, -1].argmax(-1))
    np.testing.assert_array_equal(model.generate(prompt, 5, greedy=True).numpy(), ids)


def test_sampled_generation_is_reproducible_with_a_seed():
    model = small_gpt(n_layers=2)
    prompt = token_batch(batch=4, time=2)
    first = model.generate(prompt, 6, temperature=1.5, rng=123).numpy()
    np.testing.assert_array_equal(first, model.generate(prompt, 6, temperature=1.5, rng=123).numpy())
    others = [model.generate(prompt, 6, temperature=1.5, rng=seed).numpy() for seed in range(5)]
    assert any(not np.array_equal(first, other) for other in others)
    assert first.min() >= 0 and first.max() < VOCAB


def test_sampling_follows_the_softmax_probabilities():
    model = small_gpt()
    prompt = np.zeros((4000, 1), dtype=np.int64)
    probs = softmax(model(prompt[:1]).data[0, -1].astype(np.float64) / 0.7)
    drawn = model.generate(prompt, 1, temperature=0.7, rng=0).numpy()[:, 1]
    frequencies = np.bincount(drawn, minlength=VOCAB) / len(drawn)
    np.testing.assert_allclose(frequencies, probs, atol=0.03)


def test_generate_turns_dropout_off_and_restores_the_mode():
    model = small_gpt(dropout=0.5)
    prompt = token_batch(batch=1, time=2)
    first = model.generate(prompt, 4, greedy=True).numpy()
    assert model.training
    np.testing.assert_array_equal(first, model.generate(prompt, 4, greedy=True).numpy())


def test_generate_argument_errors():
    model = small_gpt()
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        model.generate(token_batch(1, 2), 3, temperature=0)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        model.generate(token_batch(1, 2), -1)


# ---- the attention classifier ----
def test_classifier_ignores_padding_content():
    model = nn.AttentionClassifier(VOCAB, BLOCK, D_MODEL, HEADS, 2, pad_id=0, rng=0)
    tokens = np.array([[3, 4, 5, 0, 0, 0]])
    logits = model(tokens)
    assert logits.shape == (1, BLOCK, 2)
    key_mask = np.array([[True, True, True, False, False, False]])
    changed = np.array([[3, 4, 5, 1, 2, 6]])  # same sentence, other "padding" hidden by key_mask
    np.testing.assert_allclose(model(changed, key_mask=key_mask).data[0, :3], logits.data[0, :3], rtol=1e-5, atol=1e-6)
    with record_attention() as rec:
        model(tokens)
    np.testing.assert_array_equal(rec[0].weights[..., 3:], 0)


def test_float64_models_keep_float64_gradients():
    model = small_gpt().to(np.float64)
    model(token_batch()).sum().backward()
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    with pytest.raises(TypeError, match="floating point"):
        model.to(np.int32)
