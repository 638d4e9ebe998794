"""Hard attention: each query takes the value of its one best key (argmax, one-hot weights).

    scores  = q @ kᵀ · scale                 (scale = 1/√d unless given), disallowed keys excluded
    weights = one_hot(argmax over keys)      exactly 1 on the best key, exactly 0 on every other
    output  = weights @ v                    the best key's value, nothing of the others

Backward, with G = dL/doutput and W the saved one-hot weights (`ctx.saved.attn_weights`):

    dV = Wᵀ G      only the chosen key's value learns
    dQ = 0         argmax is flat: nudging any score does not change which key wins,
    dK = 0         so no gradient reaches the scores, the query or any key

Compare soft attention (sdpa.py), where dS = W ◦ (dW − rowsum(dW ◦ W)) is nonzero for every
key with a nonzero weight: "even if the attention is very low, there's at least a small
sliver", so every key can learn. `tinygrad_attn.teach.soft_hard` shows the two side by side.
Tied best scores go to the first of them (as `torch.argmax`); a query with no allowed key
takes nothing (zero output).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply
from .masks import allowed_keys, check_mask, mask_scores
from .sdpa import KEY_PADDING, check_inputs, check_scale

__all__ = ["hard_attention", "HARD_ATTENTION", "hard_weights"]


def hard_weights(q: np.ndarray, k: np.ndarray, allowed: np.ndarray | None, scale: np.floating) -> np.ndarray:
    """One-hot weights (..., Tq, Tk): 1 at the allowed key with the highest score q·k·scale."""
    scores = mask_scores(q @ np.swapaxes(k, -1, -2) * scale, allowed)
    best = np.argmax(scores, axis=-1)  # the first of tied maxima, as torch.argmax
    weights = (np.arange(scores.shape[-1]) == best[..., None]).astype(q.dtype)
    # a query with no allowed key (its argmax landed on a masked one) takes nothing
    return weights if allowed is None else weights * allowed


# ---- hard_attention: q, k, v -> one_hot(argmax(q kᵀ · scale)) @ v ----
def hard_forward(ctx, q, k, v, mask, is_causal, scale):
    weights = hard_weights(q, k, allowed_keys(mask, is_causal, q.shape[-2], k.shape[-2]), scale)
    ctx.save(attn_weights=weights, scale=scale, mask=mask, is_causal=is_causal)
    return weights @ v


def hard_backward(ctx, upstream_grad):
    q, k, _ = (x.data for x in ctx.inputs)
    W = ctx.saved.attn_weights
    dV = np.swapaxes(W, -1, -2) @ upstream_grad
    return np.zeros_like(q), np.zeros_like(k), dV  # exact zeros, not "no gradient": a learner can read them


HARD_ATTENTION = define(
    "hard_attention", forward=hard_forward, backward=hard_backward, unbroadcast=True,
    formulas=("dQ = 0 (argmax is flat: no gradient reaches the scores)", "dK = 0",
              "dV = Wᵀ·G with W one-hot (only the chosen key's value)"))


def hard_attention(q: Any, k: Any, v: Any, mask: Any = None, is_causal: bool = False,
                   scale: float | None = None) -> Tensor:
    """Each query gets the value of its highest-scoring allowed key: one_hot(argmax(q kᵀ · scale)) @ v.

    The same arguments as `scaled_dot_product_attention` (q (..., Tq, d), k (..., Tk, d),
    v (..., Tk, dv), `mask` True where allowed, `is_causal`, `scale` replacing 1/√d), the
    same output shape; but the gradient reaching q and k is exactly zero (see the module doc).
    """
    where = "hard_attention"
    q, k, v, scores_shape = check_inputs(where, q, k, v)
    scale = check_scale(scale, q.shape[-1], q.data.dtype, where)
    mask = check_mask(mask, scores_shape, where)
    return apply(HARD_ATTENTION, (q, k, v), mask=mask, is_causal=bool(is_causal), scale=scale)


# ---- usage: sample inputs and PyTorch's version ----
def _torch_hard_attention(torch: Any, q: Any, k: Any, v: Any, mask: np.ndarray | None = None,
                          is_causal: bool = False) -> Any:
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    allowed = np.ones(tuple(scores.shape[-2:]), dtype=bool) if mask is None else mask
    if is_causal:
        allowed = allowed & np.tri(*scores.shape[-2:], dtype=bool)
    allowed = torch.as_tensor(allowed)
    best = scores.masked_fill(~allowed, float("-inf")).argmax(dim=-1)
    weights = torch.nn.functional.one_hot(best, scores.shape[-1]).to(v.dtype) * allowed
    return weights @ v


HARD_ATTENTION.usage(
    "ta.attention.hard_attention", lambda q, k, v, **kw: hard_attention(q, k, v, **kw), _torch_hard_attention,
    S((2, 4, 3), (2, 5, 3), (2, 5, 2)), S((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3), is_causal=True),
    S((2, 4, 3), (2, 4, 3), (2, 4, 3), mask=KEY_PADDING, note="padding keys masked"),
    note="argmax one-hot weights; the gradient to q and k is exactly 0, only the chosen value learns")
