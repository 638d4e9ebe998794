"""PyTorch eager references for W0, W1 and W2 (CPU, float32).

Importing this module never fails: without PyTorch, ``TORCH_AVAILABLE`` is False and the
entry points raise ``ImportError`` when called, which the runner reports as skipped.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from benchmarks.workloads import (
    GPT_CONFIG,
    GPTConfig,
    attention_inputs,
    gpt_batch,
    gpt_init_params,
    w0_inputs,
)

try:
    import torch
    import torch.nn.functional as F
    from torch import nn

    TORCH_AVAILABLE = True
    TORCH_IMPORT_ERROR = ""
except ImportError as error:  # pragma: no cover - depends on the machine
    torch = None  # type: ignore[assignment]
    TORCH_AVAILABLE = False
    TORCH_IMPORT_ERROR = str(error)


def require_torch() -> None:
    """Raise ImportError with a clear message when PyTorch is missing."""
    if not TORCH_AVAILABLE:
        raise ImportError(f"PyTorch not installed: {TORCH_IMPORT_ERROR}")


# ------------------------------------------------------------------- causal attention


def attention_sdpa(q: Any, k: Any, v: Any) -> Any:
    """Causal attention with PyTorch's fused ``scaled_dot_product_attention``."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


_causal_mask_cache: dict[int, Any] = {}


def attention_written(q: Any, k: Any, v: Any) -> Any:
    """Causal attention written out: softmax(q k^T / sqrt(d) + mask) v."""
    seq_len = q.shape[-2]
    mask = _causal_mask_cache.get(seq_len)
    if mask is None:
        mask = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)
        _causal_mask_cache[seq_len] = mask
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


ATTENTION_VARIANTS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "sdpa": attention_sdpa,
    "written": attention_written,
}


# ------------------------------------------------------------------- GPT


if TORCH_AVAILABLE:

    class Block(nn.Module):
        """Pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

        def __init__(self, config: GPTConfig, attention: Callable[[Any, Any, Any], Any]) -> None:
            super().__init__()
            c = config.d_model
            self.n_heads, self.attention = config.n_heads, attention
            self.ln1 = nn.LayerNorm(c, eps=config.layernorm_eps)
            self.qkv = nn.Linear(c, 3 * c)
            self.proj = nn.Linear(c, c)
            self.ln2 = nn.LayerNorm(c, eps=config.layernorm_eps)
            self.fc = nn.Linear(c, config.mlp_hidden)
            self.fc2 = nn.Linear(config.mlp_hidden, c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch, seq_len, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=-1)
            q, k, v = (t.view(batch, seq_len, self.n_heads, c // self.n_heads).transpose(1, 2) for t in (q, k, v))
            y = self.attention(q, k, v).transpose(1, 2).reshape(batch, seq_len, c)
            x = x + self.proj(y)
            return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        """The W1 GPT: token + position embeddings, blocks, final LayerNorm, untied head."""

        def __init__(self, config: GPTConfig, attention: Callable[[Any, Any, Any], Any]) -> None:
            super().__init__()
            self.wte = nn.Embedding(config.vocab_size, config.d_model)
            self.wpe = nn.Embedding(config.context, config.d_model)
            self.blocks = nn.ModuleList(Block(config, attention) for _ in range(config.n_layers))
            self.lnf = nn.LayerNorm(config.d_model, eps=config.layernorm_eps)
            self.head = nn.Linear(config.d_model, config.vocab_size)

        def forward(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(tokens.shape[1])
            x = self.wte(tokens) + self.wpe(positions)
            for block in self.blocks:
                x = block(x)
            logits = self.head(self.lnf(x))
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def torch_param_map(model: Any, config: GPTConfig = GPT_CONFIG) -> dict[str, tuple[Any, bool]]:
    """Shared parameter name -> (torch parameter, stored transposed?) for the W1 GPT."""
    mapping: dict[str, tuple[Any, bool]] = {
        "wte": (model.wte.weight, False), "wpe": (model.wpe.weight, False),
        "lnf_g": (model.lnf.weight, False), "lnf_b": (model.lnf.bias, False),
        "w_head": (model.head.weight, True), "b_head": (model.head.bias, False),
    }
    for layer, block in enumerate(model.blocks):
        pre = f"h{layer}."
        for short, module in (("ln1", block.ln1), ("ln2", block.ln2)):
            mapping[pre + short + "_g"] = (module.weight, False)
            mapping[pre + short + "_b"] = (module.bias, False)
        for short, module in (("qkv", block.qkv), ("proj", block.proj), ("fc", block.fc), ("fc2", block.fc2)):
            mapping[pre + "w_" + short] = (module.weight, True)
            mapping[pre + "b_" + short] = (module.bias, False)
    return mapping


def load_params(model: Any, params: dict[str, np.ndarray]) -> None:
    """Copy shared-layout NumPy parameters into the torch model (transposing linear weights)."""
    with torch.no_grad():
        for name, (tensor, transposed) in torch_param_map(model).items():
            values = params[name].T if transposed else params[name]
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(values)))


def export_arrays(model: Any, use_grad: bool) -> dict[str, np.ndarray]:
    """Parameters (or their gradients) in the shared NumPy layout."""
    arrays: dict[str, np.ndarray] = {}
    for name, (tensor, transposed) in torch_param_map(model).items():
        source = tensor.grad if use_grad else tensor
        values = source.detach().numpy()
        arrays[name] = (values.T if transposed else values).copy()
    return arrays


def make_gpt(seed: int, attention: str, config: GPTConfig = GPT_CONFIG,
             randomize_all: bool = False) -> tuple[Any, Any]:
    """Model (with the shared initial weights) and its AdamW optimiser."""
    require_torch()
    model = GPT(config, ATTENTION_VARIANTS[attention])
    load_params(model, gpt_init_params(seed, config, randomize_all=randomize_all))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                                  eps=config.adam_eps, weight_decay=config.weight_decay)
    return model, optimizer


def gpt_train_step(model: Any, optimizer: Any, tokens: Any, targets: Any) -> float:
    """W1: forward + backward + AdamW update; returns the loss before the update."""
    optimizer.zero_grad(set_to_none=True)
    loss = model(tokens, targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def attention_fwd_bwd(q: Any, k: Any, v: Any, grad_out: Any, attention: str) -> tuple[Any, Any, Any, Any]:
    """W2: causal attention forward, then backward of ``sum(out * grad_out)``; returns (out, dq, dk, dv)."""
    q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
    out = ATTENTION_VARIANTS[attention](q, k, v)
    out.backward(grad_out)
    return out.detach(), q.grad, k.grad, v.grad


# ------------------------------------------------------------------- runner entry points


def w0_torch(seed: int) -> Callable[[], tuple[Any, Any, Any]]:
    """W0: ``c = a * b + a`` with autograd, backward with an all-ones upstream gradient; returns (c, da, db)."""
    require_torch()
    a_np, b_np = w0_inputs(seed)
    a = torch.from_numpy(a_np).requires_grad_(True)
    b = torch.from_numpy(b_np).requires_grad_(True)
    upstream = torch.ones_like(a)

    def step() -> tuple[Any, Any, Any]:
        a.grad = None
        b.grad = None
        c = a * b + a
        c.backward(upstream)
        return c.detach(), a.grad, b.grad

    return step


def _w1(seed: int, attention: str) -> Callable[[], float]:
    model, optimizer = make_gpt(seed, attention)
    tokens, targets = (torch.from_numpy(t) for t in gpt_batch(seed))

    def step() -> float:
        return gpt_train_step(model, optimizer, tokens, targets)

    return step


def w1_torch_sdpa(seed: int) -> Callable[[], float]:
    """W1 train step, attention via ``F.scaled_dot_product_attention(is_causal=True)``."""
    return _w1(seed, "sdpa")


def w1_torch_written(seed: int) -> Callable[[], float]:
    """W1 train step, attention written out with matmul, masked_fill and softmax."""
    return _w1(seed, "written")


def _w2(seed: int, attention: str) -> Callable[[], tuple[Any, Any, Any, Any]]:
    require_torch()
    q, k, v, upstream = (torch.from_numpy(t) for t in attention_inputs(seed))

    def step() -> tuple[Any, Any, Any, Any]:
        return attention_fwd_bwd(q, k, v, upstream, attention)

    return step


def w2_torch_sdpa(seed: int) -> Callable[[], tuple[Any, Any, Any, Any]]:
    """W2 with ``F.scaled_dot_product_attention(is_causal=True)``."""
    return _w2(seed, "sdpa")


def w2_torch_written(seed: int) -> Callable[[], tuple[Any, Any, Any, Any]]:
    """W2 with attention written out."""
    return _w2(seed, "written")


def w4_torch(seed: int) -> Callable[[], tuple[Any, Any, Any]]:
    """W4 in PyTorch eager: `((a * w + w).relu()).sum()` with w (4,) broadcast, and its backward."""
    require_torch()
    a_np, b_np = w0_inputs(seed)
    a = torch.tensor(a_np, requires_grad=True)
    w = torch.tensor(b_np[0].copy(), requires_grad=True)

    def step() -> tuple[Any, Any, Any]:
        a.grad = None
        w.grad = None
        c = (a * w + w).relu().sum()
        c.backward()
        return c.detach(), a.grad, w.grad

    return step
