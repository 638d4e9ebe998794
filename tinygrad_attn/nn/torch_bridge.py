"""Graduating to PyTorch: `module.to_torch()` and `nn.Module.from_torch(torch_module)`.

Each of our layers has a torch twin: torch.nn's own Linear, Embedding, LayerNorm, Dropout, GELU,
ReLU, Sequential, ModuleList and ModuleDict, and, for the models torch.nn has no copy of, the
classes below (`TorchMultiHeadAttention`, `TorchMLP`, `TorchTransformerBlock`, `TorchGPT`),
written in plain torch with our attribute names, so a twin's state_dict has exactly our keys.
Converting builds the twin, checks that the two hold the same keys and shapes, and copies every
weight (no memory is shared), with its dtype and `requires_grad`, and each module's training mode.

PyTorch is optional: it is imported when a conversion runs, and a missing torch raises an
ImportError that names `pip install tinygrad_attn[torch]`.
"""
from __future__ import annotations

import functools
import math
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

import numpy as np

from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from .module import Module, ModuleDict, ModuleList, Sequential
from .multihead import MultiHeadAttention
from .transformer import GPT, MLP, TransformerBlock

__all__ = ["to_torch", "from_torch", "import_torch", "torch_classes", "TORCH_CLASS_NAMES"]

TORCH_CLASS_NAMES = ("TorchMultiHeadAttention", "TorchMLP", "TorchTransformerBlock", "TorchGPT")
SUPPORTED = "nn.GPT, TransformerBlock, MultiHeadAttention, MLP, Linear, LayerNorm, Embedding, Dropout, GELU, " \
            "ReLU, Sequential, ModuleList, ModuleDict"


def import_torch(where: str) -> Any:
    try:
        import torch  # optional: only a conversion needs it
    except ModuleNotFoundError:
        raise ImportError(f"{where} needs PyTorch: pip install tinygrad_attn[torch] (or pip install torch)") from None
    return torch


def __getattr__(name: str) -> Any:
    """The torch twins as attributes of this module (made on first use), so pickle finds them."""
    if name in TORCH_CLASS_NAMES:
        return getattr(torch_classes(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def torch_classes() -> SimpleNamespace:
    """The torch twins of our attention models, defined once torch is imported."""
    torch = import_torch("to_torch")
    tnn = torch.nn

    class TorchMultiHeadAttention(tnn.Module):
        """nn.MultiHeadAttention in torch: forward(x, key_mask=None, attn_mask=None), masks True = allowed."""

        def __init__(self, d_model, n_heads, causal=False, bias=True):
            super().__init__()
            self.d_model, self.n_heads, self.causal = d_model, n_heads, causal
            self.qkv_proj = tnn.Linear(d_model, 3 * d_model, bias=bias)
            self.out_proj = tnn.Linear(d_model, d_model, bias=bias)

        def forward(self, x, key_mask=None, attn_mask=None):
            batch, time, width = x.shape
            d_head = width // self.n_heads
            q, k, v = self.qkv_proj(x).split(width, dim=-1)
            q, k, v = (t.view(batch, time, self.n_heads, d_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
            allowed = torch.ones(time, time, dtype=torch.bool, device=x.device)
            if self.causal:
                allowed = torch.tril(allowed)
            if key_mask is not None:
                allowed = allowed & torch.as_tensor(key_mask, dtype=torch.bool, device=x.device)[:, None, None, :]
            if attn_mask is not None:
                allowed = allowed & torch.as_tensor(attn_mask, dtype=torch.bool, device=x.device)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_head)
            # the lowest finite number, not -inf: a row with no allowed key stays finite, then becomes zeros
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
            weights = torch.softmax(scores, dim=-1) * allowed.any(dim=-1, keepdim=True)
            merged = (weights @ v).transpose(1, 2).reshape(batch, time, width)  # heads side by side again
            return self.out_proj(merged)

    class TorchMLP(tnn.Module):
        """nn.MLP in torch: fc2(gelu(fc1(x)))."""

        def __init__(self, d_model, d_ff, bias=True, gelu="tanh"):
            super().__init__()
            self.gelu = gelu
            self.fc1 = tnn.Linear(d_model, d_ff, bias=bias)
            self.fc2 = tnn.Linear(d_ff, d_model, bias=bias)

        def forward(self, x):
            return self.fc2(tnn.functional.gelu(self.fc1(x), approximate=self.gelu))

    class TorchTransformerBlock(tnn.Module):
        """nn.TransformerBlock in torch: x = x + attn(ln1(x)); x = x + mlp(ln2(x))."""

        def __init__(self, d_model, n_heads, d_ff, causal=True, dropout=0.0, bias=True, gelu="tanh"):
            super().__init__()
            self.ln1 = tnn.LayerNorm(d_model, bias=bias)
            self.attn = TorchMultiHeadAttention(d_model, n_heads, causal=causal, bias=bias)
            self.ln2 = tnn.LayerNorm(d_model, bias=bias)
            self.mlp = TorchMLP(d_model, d_ff, bias=bias, gelu=gelu)
            self.drop = tnn.Dropout(dropout)

        def forward(self, x, key_mask=None):
            x = x + self.drop(self.attn(self.ln1(x), key_mask=key_mask))
            return x + self.drop(self.mlp(self.ln2(x)))

    class TorchGPT(tnn.Module):
        """nn.GPT in torch: forward(idx) -> logits (B, T, vocab_size)."""

        def __init__(self, vocab_size, block_size, d_model, n_heads, n_layers, d_ff, dropout=0.0, bias=True,
                     head_bias=True, tie_weights=False, gelu="tanh"):
            super().__init__()
            self.vocab_size, self.block_size, self.tie_weights = vocab_size, block_size, tie_weights
            self.tok_emb = tnn.Embedding(vocab_size, d_model)
            self.pos_emb = tnn.Embedding(block_size, d_model)
            self.drop = tnn.Dropout(dropout)
            self.blocks = tnn.ModuleList(
                TorchTransformerBlock(d_model, n_heads, d_ff, causal=True, dropout=dropout, bias=bias, gelu=gelu)
                for _ in range(n_layers))
            self.ln_f = tnn.LayerNorm(d_model, bias=bias)
            self.head = tnn.Linear(d_model, vocab_size, bias=head_bias)
            if tie_weights:
                self.tok_emb.weight = self.head.weight

        def forward(self, idx):
            time = idx.shape[1]
            if time > self.block_size:
                raise ValueError(f"TorchGPT: sequence length {time} exceeds block_size {self.block_size}")
            x = self.tok_emb(idx) + self.pos_emb(torch.arange(time, device=idx.device))
            x = self.drop(x)
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    classes = SimpleNamespace(TorchMultiHeadAttention=TorchMultiHeadAttention, TorchMLP=TorchMLP,
                              TorchTransformerBlock=TorchTransformerBlock, TorchGPT=TorchGPT)
    for name in TORCH_CLASS_NAMES:  # importable as tinygrad_attn.nn.torch_bridge.<name>
        getattr(classes, name).__module__ = __name__
        getattr(classes, name).__qualname__ = name
    return classes


def _kind(module: Any, bases: tuple) -> Any:
    """The first of `bases` that `module` is, with that class's forward (a subclass that keeps it counts)."""
    for base in bases:
        if isinstance(module, base) and getattr(type(module), "forward", None) is getattr(base, "forward", None):
            return base
    return None


# ---- ours -> torch ----
_OURS = (GPT, TransformerBlock, MultiHeadAttention, MLP, Linear, Embedding, LayerNorm, Dropout, GELU, ReLU,
         Sequential, ModuleList, ModuleDict)


def _torch_twin(module: Module, torch: Any, path: str) -> Any:
    tnn, twins = torch.nn, torch_classes()
    kind = _kind(module, _OURS)
    children = [(name, child) for name, child in module._modules.items() if child is not None]
    if kind is Linear:
        return tnn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if kind is Embedding:
        return tnn.Embedding(module.num_embeddings, module.embedding_dim, padding_idx=module.padding_idx)
    if kind is LayerNorm:
        return tnn.LayerNorm(module.normalized_shape, eps=module.eps, elementwise_affine=module.elementwise_affine,
                             bias=module.bias is not None)
    if kind is Dropout:
        return tnn.Dropout(module.p)
    if kind is GELU:
        return tnn.GELU(approximate=module.approximate)
    if kind is ReLU:
        return tnn.ReLU()
    if kind is Sequential:
        return tnn.Sequential(OrderedDict((name, _torch_twin(child, torch, f"{path}.{name}")) for name, child in children))
    if kind is ModuleList:
        return tnn.ModuleList(_torch_twin(child, torch, f"{path}.{name}") for name, child in children)
    if kind is ModuleDict:
        return tnn.ModuleDict(OrderedDict((name, _torch_twin(child, torch, f"{path}.{name}")) for name, child in children))
    if kind is MultiHeadAttention:
        return twins.TorchMultiHeadAttention(module.d_model, module.n_heads, causal=module.causal,
                                             bias=module.qkv_proj.bias is not None)
    if kind is MLP:
        return twins.TorchMLP(module.fc1.in_features, module.fc1.out_features, bias=module.fc1.bias is not None,
                              gelu=module.gelu)
    if kind is TransformerBlock:
        return twins.TorchTransformerBlock(module.attn.d_model, module.attn.n_heads, module.mlp.fc1.out_features,
                                           causal=module.attn.causal, dropout=module.drop.p,
                                           bias=module.attn.qkv_proj.bias is not None, gelu=module.mlp.gelu)
    if kind is GPT:
        block = module.blocks[0]
        return twins.TorchGPT(module.vocab_size, module.block_size, module.tok_emb.embedding_dim, block.attn.n_heads,
                              len(module.blocks), block.mlp.fc1.out_features, dropout=module.drop.p,
                              bias=block.attn.qkv_proj.bias is not None, head_bias=module.head.bias is not None,
                              tie_weights=module.tok_emb.weight is module.head.weight, gelu=block.mlp.gelu)
    raise _no_torch_twin(module, path)


def _no_torch_twin(module: Module, path: str) -> TypeError:
    where = f" (at {path})" if path else ""
    return TypeError(f"to_torch: no torch equivalent for {type(module).__name__}{where}; it converts {SUPPORTED} "
                     f"and compositions of them (a subclass that overrides forward is not converted)")


def _same_layout(ours: dict, theirs: dict, where: str) -> None:
    mismatched = sorted(set(ours) ^ set(theirs))
    mismatched += [name for name in ours if name in theirs and tuple(ours[name].shape) != tuple(theirs[name].shape)]
    if mismatched:
        raise TypeError(f"{where}: the converted model would not hold the same weights (keys or shapes differ at "
                        f"{mismatched[:5]}); was a layer inside changed after it was built?")


def to_torch(module: Module) -> Any:
    """An equivalent torch.nn.Module with copies of `module`'s weights (see the module docstring)."""
    torch = import_torch(f"{type(module).__name__}.to_torch")
    for path, part in module.named_modules():  # a custom layer swapped in anywhere would be lost silently
        if _kind(part, _OURS) is None:
            raise _no_torch_twin(part, path)
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave torch's stream where it was
        twin = _torch_twin(module, torch, "")
    ours = module._state_tensors()
    theirs = twin.state_dict(keep_vars=True)
    _same_layout({name: tensor.data for name, tensor in ours.items()}, theirs, "to_torch")
    with torch.no_grad():
        for name, tensor in theirs.items():
            tensor.data = torch.from_numpy(np.array(ours[name].data, copy=True))
    for name, param in twin.named_parameters():
        param.requires_grad_(bool(ours[name].requires_grad))
    modes = {name: part.training for name, part in module.named_modules()}
    for name, part in twin.named_modules():
        part.training = modes.get(name, module.training)
    return twin


# ---- torch -> ours ----
def _nanogpt_shaped(torch_module: Any, tnn: Any) -> bool:
    transformer = getattr(torch_module, "transformer", None)
    return (isinstance(transformer, tnn.ModuleDict) and isinstance(getattr(torch_module, "lm_head", None), tnn.Linear)
            and {"wte", "wpe", "h", "ln_f"} <= set(transformer.keys()))


def _from_nanogpt(torch_module: Any, tnn: Any) -> GPT:
    where = f"nn.Module.from_torch({type(torch_module).__name__})"
    transformer = torch_module.transformer
    first = transformer.h[0]
    config = getattr(torch_module, "config", None)
    n_head = getattr(config, "n_head", None) or getattr(getattr(first, "attn", None), "n_head", None)
    if not isinstance(n_head, int):
        raise TypeError(f"{where}: a nanoGPT-style model, but its number of heads is not in .config.n_head or "
                        f"transformer.h[0].attn.n_head; build nn.GPT.nanogpt(...) and "
                        f"load_state_dict(its state_dict(), style='nanogpt')")
    gelu = getattr(getattr(first, "mlp", None), "gelu", None)
    if getattr(gelu, "approximate", "none") != "none":
        raise TypeError(f"{where}: its MLP uses the {gelu.approximate} GELU; nanoGPT's (and nn.GPT.nanogpt's) is the "
                        f"exact one")
    if torch_module.lm_head.weight is not transformer.wte.weight:
        raise TypeError(f"{where}: its lm_head is not tied to transformer.wte, as nanoGPT's is")
    vocab_size, n_embd = transformer.wte.weight.shape
    model = GPT.nanogpt(vocab_size, transformer.wpe.weight.shape[0], len(transformer.h), n_head, n_embd,
                        bias=first.attn.c_attn.bias is not None, dropout=float(getattr(config, "dropout", 0.0) or 0.0),
                        rng=np.random.default_rng(0))  # a throwaway generator: ta.manual_seed's stream is left alone
    model.to(_dtype_of(torch_module, where))
    model.load_state_dict(torch_module.state_dict(), style="nanogpt")
    model.train(torch_module.training)
    return model


def _dtype_of(torch_module: Any, where: str) -> np.dtype:
    dtypes = {str(param.dtype) for param in torch_module.parameters()}
    if not dtypes:
        return np.dtype(np.float32)
    if len(dtypes) > 1 or not dtypes <= {"torch.float32", "torch.float64"}:
        raise TypeError(f"{where}: the weights must all be float32 or all float64, got {sorted(dtypes)}")
    return np.dtype(np.float64 if dtypes == {"torch.float64"} else np.float32)


def _our_twin(part: Any, torch: Any, rng: np.random.Generator, path: str) -> Module:
    tnn, twins = torch.nn, torch_classes()
    kinds = (twins.TorchGPT, twins.TorchTransformerBlock, twins.TorchMultiHeadAttention, twins.TorchMLP, tnn.Linear,
             tnn.Embedding, tnn.LayerNorm, tnn.Dropout, tnn.GELU, tnn.ReLU, tnn.Sequential, tnn.ModuleList,
             tnn.ModuleDict)
    kind = _kind(part, kinds)
    children = list(part.named_children())
    if kind is tnn.Linear:
        return Linear(part.in_features, part.out_features, bias=part.bias is not None, rng=rng)
    if kind is tnn.Embedding:
        if part.max_norm is not None or part.scale_grad_by_freq or part.sparse:
            raise TypeError(f"from_torch: the Embedding at {path or 'the top'} uses max_norm, scale_grad_by_freq or "
                            f"sparse, which nn.Embedding does not have")
        return Embedding(part.num_embeddings, part.embedding_dim, padding_idx=part.padding_idx, rng=rng)
    if kind is tnn.LayerNorm:
        return LayerNorm(tuple(part.normalized_shape), eps=part.eps, elementwise_affine=part.elementwise_affine,
                         bias=part.bias is not None)
    if kind is tnn.Dropout:
        return Dropout(part.p)
    if kind is tnn.GELU:
        return GELU(approximate=part.approximate)
    if kind is tnn.ReLU:
        return ReLU()
    if kind is tnn.Sequential:
        return Sequential(OrderedDict((name, _our_twin(child, torch, rng, f"{path}.{name}".lstrip(".")))
                                      for name, child in children))
    if kind is tnn.ModuleList:
        return ModuleList(_our_twin(child, torch, rng, f"{path}.{name}".lstrip(".")) for name, child in children)
    if kind is tnn.ModuleDict:
        return ModuleDict(OrderedDict((name, _our_twin(child, torch, rng, f"{path}.{name}".lstrip(".")))
                                      for name, child in children))
    if kind is twins.TorchMultiHeadAttention:
        return MultiHeadAttention(part.d_model, part.n_heads, causal=part.causal, bias=part.qkv_proj.bias is not None,
                                  rng=rng)
    if kind is twins.TorchMLP:
        return MLP(part.fc1.in_features, part.fc1.out_features, rng=rng, bias=part.fc1.bias is not None, gelu=part.gelu)
    if kind is twins.TorchTransformerBlock:
        return TransformerBlock(part.attn.d_model, part.attn.n_heads, part.mlp.fc1.out_features, causal=part.attn.causal,
                                dropout=part.drop.p, rng=rng, bias=part.attn.qkv_proj.bias is not None,
                                gelu=part.mlp.gelu)
    if kind is twins.TorchGPT:
        block = part.blocks[0]
        return GPT(part.vocab_size, part.block_size, part.tok_emb.embedding_dim, block.attn.n_heads, len(part.blocks),
                   block.mlp.fc1.out_features, dropout=part.drop.p, rng=rng, bias=block.attn.qkv_proj.bias is not None,
                   head_bias=part.head.bias is not None, tie_weights=part.tok_emb.weight is part.head.weight,
                   gelu=block.mlp.gelu)
    where = f" (at {path})" if path else ""
    raise TypeError(f"from_torch: no equivalent here for torch's {type(part).__name__}{where}; it converts torch.nn's "
                    f"Linear, LayerNorm, Embedding, Dropout, GELU, ReLU, Sequential, ModuleList, ModuleDict, what "
                    f"to_torch() made, and nanoGPT-style GPTs")


def from_torch(torch_module: Any) -> Module:
    """Our module equivalent to `torch_module`, with copies of its weights (see the module docstring)."""
    torch = import_torch("nn.Module.from_torch")
    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"nn.Module.from_torch: expected a torch.nn.Module, got {type(torch_module).__name__}")
    if _nanogpt_shaped(torch_module, torch.nn):
        return _from_nanogpt(torch_module, torch.nn)
    where = f"nn.Module.from_torch({type(torch_module).__name__})"
    dtype = _dtype_of(torch_module, where)
    module = _our_twin(torch_module, torch, np.random.default_rng(0), "")  # throwaway generator: weights are replaced
    theirs = {name: tensor.detach().cpu() for name, tensor in torch_module.state_dict().items()}
    ours = module._state_tensors()
    _same_layout({name: tensor.data for name, tensor in ours.items()}, theirs, "from_torch")
    module.to(dtype)
    module.load_state_dict(theirs)
    for name, param in torch_module.named_parameters():
        ours[name].requires_grad = bool(param.requires_grad)
    modes = {name: part.training for name, part in torch_module.named_modules()}
    for name, part in module.named_modules():
        object.__setattr__(part, "training", modes.get(name, torch_module.training))
    return module
