"""`tinygrad_attn` implementations of W1 (GPT train step) and W2 (fused causal attention).

W1 builds `tinygrad_attn.nn.GPT` with the workload's configuration and loads the shared
initial weights. The workload stores a linear weight as (in, out) and `nn.Linear` as
(out, in), like PyTorch, so every linear weight is transposed on the way in. The fused q|k|v
projection has the same column order in both (q, then k, then v, each split head-major), so
transposing `w_qkv` is the whole mapping.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from benchmarks.workloads import GPT_CONFIG, GPTConfig, attention_inputs, gpt_batch, gpt_init_params


def gpt_weight_map(model: object, config: GPTConfig = GPT_CONFIG) -> dict[str, tuple[object, bool]]:
    """Workload parameter name -> (our Parameter, stored transposed?)."""
    mapping: dict[str, tuple[object, bool]] = {
        "wte": (model.tok_emb.weight, False), "wpe": (model.pos_emb.weight, False),
        "lnf_g": (model.ln_f.weight, False), "lnf_b": (model.ln_f.bias, False),
        "w_head": (model.head.weight, True), "b_head": (model.head.bias, False),
    }
    for layer, block in enumerate(model.blocks):
        prefix = f"h{layer}."
        for short, norm in (("ln1", block.ln1), ("ln2", block.ln2)):
            mapping[prefix + short + "_g"] = (norm.weight, False)
            mapping[prefix + short + "_b"] = (norm.bias, False)
        for short, linear in (("qkv", block.attn.qkv_proj), ("proj", block.attn.out_proj),
                              ("fc", block.mlp.fc1), ("fc2", block.mlp.fc2)):
            mapping[prefix + "w_" + short] = (linear.weight, True)
            mapping[prefix + "b_" + short] = (linear.bias, False)
    return mapping


def make_gpt(seed: int, config: GPTConfig = GPT_CONFIG, randomize_all: bool = False) -> tuple[object, object]:
    """Our GPT with the shared W1 weights, and its AdamW optimiser with W1's settings."""
    from tinygrad_attn import nn, optim

    model = nn.GPT(vocab_size=config.vocab_size, block_size=config.context, d_model=config.d_model,
                   n_heads=config.n_heads, n_layers=config.n_layers, d_ff=config.mlp_hidden, dropout=0.0,
                   rng=seed)
    weights = gpt_init_params(seed, config, randomize_all=randomize_all)
    mapping = gpt_weight_map(model, config)
    if len(mapping) != len(weights) or len(mapping) != len(list(model.parameters())):
        raise RuntimeError("impl_gpt: the parameter mapping does not cover every parameter exactly once")
    for name, (param, transposed) in mapping.items():
        values = weights[name].T if transposed else weights[name]
        if values.shape != param.data.shape:
            raise RuntimeError(f"impl_gpt: {name} has shape {values.shape}, our parameter {param.data.shape}")
        param.data[...] = values
    for layer_norm_eps in {block.ln1.eps for block in model.blocks} | {model.ln_f.eps}:
        if layer_norm_eps != config.layernorm_eps:
            raise RuntimeError(f"impl_gpt: LayerNorm eps {layer_norm_eps} != {config.layernorm_eps}")
    optimizer = optim.AdamW(model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                            eps=config.adam_eps, weight_decay=config.weight_decay)
    return model, optimizer


def w1_tinygrad_attn(seed: int) -> Callable[[], float]:
    """W1: zero_grad, forward, cross-entropy, backward, AdamW step; returns the loss before the update."""
    from tinygrad_attn import functional as F

    model, optimizer = make_gpt(seed)
    tokens, targets = gpt_batch(seed)
    flat_targets = targets.reshape(-1)
    vocab = GPT_CONFIG.vocab_size

    def step() -> float:
        optimizer.zero_grad()
        logits = model(tokens)
        loss = F.cross_entropy(logits.reshape(-1, vocab), flat_targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def w2_tinygrad_attn(seed: int) -> Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """W2: fused causal attention forward, backward with the fixed upstream gradient; (out, dq, dk, dv)."""
    import tinygrad_attn as ta
    from tinygrad_attn import functional as F

    q_data, k_data, v_data, upstream = attention_inputs(seed)
    q, k, v = (ta.Tensor(a, requires_grad=True) for a in (q_data, k_data, v_data))

    def step() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        q.grad = k.grad = v.grad = None
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(upstream)
        return out.data, q.grad, k.grad, v.grad

    return step


def w1_tinygrad_attn_reference(seed: int) -> Callable[[], float]:
    """W1 with every kernel switched off: the readable reference ops a learner steps through."""
    import tinygrad_attn as ta

    step = w1_tinygrad_attn(seed)

    def reference_step() -> float:
        with ta.use_kernels(False):
            return step()

    return reference_step
