"""nanoGPT's names for nn.GPT's weights: `state_dict(style="nanogpt")`, `load_state_dict(d, style="nanogpt")`.

    ours                              nanoGPT
    tok_emb.weight                    transformer.wte.weight
    pos_emb.weight                    transformer.wpe.weight
    blocks.{i}.ln1.weight / .bias     transformer.h.{i}.ln_1.weight / .bias
    blocks.{i}.attn.qkv_proj.*        transformer.h.{i}.attn.c_attn.*      (q | k | v along the output dim)
    blocks.{i}.attn.out_proj.*        transformer.h.{i}.attn.c_proj.*
    blocks.{i}.ln2.*                  transformer.h.{i}.ln_2.*
    blocks.{i}.mlp.fc1.*              transformer.h.{i}.mlp.c_fc.*
    blocks.{i}.mlp.fc2.*              transformer.h.{i}.mlp.c_proj.*
    ln_f.*                            transformer.ln_f.*
    head.weight                       lm_head.weight                        (tied: the same tensor as wte)

Only the names change: both store a Linear's weight as (out, in), as torch.nn.Linear does, and
both lay the fused projection out as q, then k, then v, each split into heads in order, so no
array is transposed or cut. nanoGPT's older causal-mask buffers (`transformer.h.{i}.attn.bias`,
a (1, 1, T, T) tensor of ones and zeros, not `c_attn.bias`) hold no weights and are skipped when
loading, as is the `_orig_mod.` prefix a torch.compile'd model adds. The model must have nanoGPT's
architecture (`nn.GPT.nanogpt(...)`): otherwise the same weights would give other logits.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

__all__ = ["RENAMES", "nanogpt_name", "architecture_differences", "state_tensors", "without_skipped_keys"]

# (our pattern, nanoGPT's replacement), tried in order on each of our keys
RENAMES = (
    (r"^tok_emb\.", "transformer.wte."),
    (r"^pos_emb\.", "transformer.wpe."),
    (r"^blocks\.(\d+)\.ln1\.", r"transformer.h.\1.ln_1."),
    (r"^blocks\.(\d+)\.attn\.qkv_proj\.", r"transformer.h.\1.attn.c_attn."),
    (r"^blocks\.(\d+)\.attn\.out_proj\.", r"transformer.h.\1.attn.c_proj."),
    (r"^blocks\.(\d+)\.ln2\.", r"transformer.h.\1.ln_2."),
    (r"^blocks\.(\d+)\.mlp\.fc1\.", r"transformer.h.\1.mlp.c_fc."),
    (r"^blocks\.(\d+)\.mlp\.fc2\.", r"transformer.h.\1.mlp.c_proj."),
    (r"^ln_f\.", "transformer.ln_f."),
    (r"^head\.", "lm_head."),
)
_MASK_BUFFER = re.compile(r"^transformer\.h\.\d+\.attn\.(bias|masked_bias)$")  # causal masks, not weights
_COMPILED_PREFIX = "_orig_mod."


def nanogpt_name(name: str) -> str:
    """nanoGPT's key for one of nn.GPT's state_dict keys."""
    for pattern, replacement in RENAMES:
        renamed, count = re.subn(pattern, replacement, name)
        if count:
            return renamed
    raise KeyError(f"nanoGPT has no name for nn.GPT's key {name!r}")


def architecture_differences(model: Any) -> list[str]:
    """How `model` (an nn.GPT) differs from nanoGPT's architecture, each with the option that fixes it."""
    found = []
    if model.tok_emb.weight is not model.head.weight:
        found.append("the head is not tied to the token embedding (tie_weights=True)")
    if model.head.bias is not None:
        found.append("the head has a bias (head_bias=False)")
    d_model = model.tok_emb.embedding_dim
    for position, block in enumerate(model.blocks):
        if block.mlp.gelu != "none":
            found.append(f"block {position}'s GELU is the {block.mlp.gelu} form (gelu='none', the exact one)")
        if block.mlp.fc1.out_features != 4 * d_model:
            found.append(f"block {position}'s d_ff is {block.mlp.fc1.out_features}, nanoGPT's is 4·d_model = "
                         f"{4 * d_model}")
        if (block.attn.qkv_proj.bias is None) != (block.ln1.bias is None):
            found.append(f"block {position} has biases in some layers only (nanoGPT's bias= is one switch)")
        if found:
            break  # the blocks are alike: one block's differences say it
    return found


def state_tensors(model: Any, where: str) -> dict[str, Any]:
    """{nanoGPT key: our tensor} for an nn.GPT with nanoGPT's architecture, in state_dict order."""
    differences = architecture_differences(model)
    if differences:
        raise ValueError(f"{where}: style='nanogpt' needs nanoGPT's architecture, but " + "; ".join(differences)
                         + ". Build the model with nn.GPT.nanogpt(vocab_size, block_size, n_layer, n_head, n_embd, "
                           "bias=...)")
    return {nanogpt_name(name): tensor for name, tensor in model._state_tensors().items()}


def without_skipped_keys(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A nanoGPT state dict without its causal-mask buffers and torch.compile's key prefix."""
    if "model" in state_dict and "model_args" in state_dict:
        raise RuntimeError("load_state_dict(style='nanogpt'): this is a whole nanoGPT checkpoint (it has 'model' and "
                           "'model_args'); pass checkpoint['model'] (nn.GPT.nanogpt(**checkpoint['model_args']) "
                           "builds the model it fits)")
    kept = {}
    for name, value in state_dict.items():
        if isinstance(name, str) and name.startswith(_COMPILED_PREFIX):
            name = name[len(_COMPILED_PREFIX):]
        if isinstance(name, str) and _MASK_BUFFER.match(name):
            continue
        kept[name] = value
    return kept
