"""W1's GPT written by hand from tensors and `F` ops, as a learner writes it: no nn.Module.

It imports `torch` only: `benchmarks/impl_by_hand.py` runs this file on PyTorch and, through
`tinygrad_attn.compat.torch.install()`, on the engine. Weights are stored (in, out), so every
linear layer is `h @ W + b` on (B, T, C) activations.
"""
import math

import torch
import torch.nn.functional as F


class GPTByHand:

    def __init__(self, arrays, n_heads):
        # one leaf tensor per parameter, named as in benchmarks/workloads.py
        self.params = {name: torch.tensor(array, requires_grad=True) for name, array in arrays.items()}
        self.n_heads = n_heads
        self.n_layers = sum(1 for name in arrays if name.endswith(".w_qkv"))

    def parameters(self):
        return list(self.params.values())

    def attention(self, x, p):
        B, T, C = x.shape
        qkv = x @ p["w_qkv"] + p["b_qkv"]  # (B, T, 3C)
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
        v = v.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return y @ p["w_proj"] + p["b_proj"]

    def mlp(self, x, p):
        h = F.gelu(x @ p["w_fc"] + p["b_fc"], approximate="tanh")
        return h @ p["w_fc2"] + p["b_fc2"]

    def __call__(self, idx, targets):
        P = self.params
        B, T = idx.shape
        C = P["wte"].shape[1]
        x = F.embedding(idx, P["wte"]) + P["wpe"][:T]  # (B, T, C)
        for layer in range(self.n_layers):
            p = {name.split(".", 1)[1]: value for name, value in P.items() if name.startswith(f"h{layer}.")}
            x = x + self.attention(F.layer_norm(x, (C,), p["ln1_g"], p["ln1_b"], 1e-5), p)
            x = x + self.mlp(F.layer_norm(x, (C,), p["ln2_g"], p["ln2_b"], 1e-5), p)
        x = F.layer_norm(x, (C,), P["lnf_g"], P["lnf_b"], 1e-5)
        logits = x @ P["w_head"] + P["b_head"]  # (B, T, vocab)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
