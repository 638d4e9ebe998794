"""Which keys each query may attend to.

A mask is a boolean NumPy array, True where a query may attend to a key (PyTorch's bool
`attn_mask`), broadcastable to the scores (..., Tq, Tk). `is_causal` adds "query t sees keys
0..t". Masks never need gradients, so they stay NumPy arrays, and `&`, `|`, `~` combine them.
A disallowed score becomes -inf before the softmax, so its weight is exactly 0.

`scaled_dot_product_attention` also takes a floating-point `attn_mask`, as PyTorch does: a
bias added to the scores (-inf where a key is not allowed, any other number to favour or
disfavour it); `check_attn_mask` tells the two kinds apart.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensors.tensor import Tensor, _as_array as as_array

__all__ = ["causal_mask", "check_mask", "check_attn_mask", "allowed_keys", "mask_scores"]


def causal_mask(T: int, num_keys: int | None = None) -> np.ndarray:
    """Boolean (T, T) mask, True on and below the diagonal: query t sees keys 0..t.

    With `num_keys` it is (T, num_keys), aligned top-left as PyTorch's `is_causal` (query t
    sees keys 0..t whatever the number of keys). A NumPy array: masks never need gradients,
    and `&`, `|`, `~` combine them.
    """
    num_keys = T if num_keys is None else num_keys
    for name, size in (("T", T), ("num_keys", num_keys)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"causal_mask: {name} must be a non-negative int, got {size!r}")
    return np.tri(int(T), int(num_keys), dtype=bool)


def check_mask(mask: Any, scores_shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """`mask` as a boolean array that broadcasts to the scores without enlarging them (None: no mask)."""
    if mask is None:
        return None
    allowed = _mask_array(mask, where)
    if allowed.dtype != np.bool_:
        raise TypeError(f"{where}: mask must be boolean (True where attention is allowed), got dtype "
                        f"{allowed.dtype}; for a float mask use mask == 0 or a comparison")
    try:
        fits = np.broadcast_shapes(allowed.shape, scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{where}: mask of shape {allowed.shape} does not broadcast to the scores' "
                         f"shape {scores_shape} (..., Tq, Tk)")
    return allowed


def _mask_array(mask: Any, where: str) -> np.ndarray:
    """The mask's array; a list goes through the tensor conversion, so a ragged one is refused in words."""
    if isinstance(mask, Tensor):
        return mask.data
    if isinstance(mask, (np.ndarray, np.generic)):
        return np.asarray(mask)
    return as_array(mask, None, f"{where}: mask")


def _fits(shape: tuple[int, ...], scores_shape: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, scores_shape) == scores_shape
    except ValueError:
        return False


def check_attn_mask(attn_mask: Any, scores_shape: tuple[int, ...], dtype: np.dtype, where: str
                    ) -> tuple[np.ndarray | None, Tensor | None]:
    """PyTorch's `attn_mask`: (allowed, None) for a boolean mask (True where attention is
    allowed), (None, bias) for a floating-point one (added to the scores, in the inputs' dtype;
    a Tensor that requires grad gets its gradient), (None, None) for no mask. Either broadcasts
    to the scores (..., Tq, Tk) without enlarging them."""
    if attn_mask is None:
        return None, None
    array = _mask_array(attn_mask, where)
    if array.dtype == np.bool_:
        return check_mask(attn_mask, scores_shape, where), None
    if array.dtype.kind != "f":
        raise TypeError(f"{where}: attn_mask must be boolean (True where attention is allowed) or floating point "
                        f"(added to the scores), got dtype {array.dtype}")
    if not _fits(array.shape, scores_shape):
        raise ValueError(f"{where}: attn_mask of shape {array.shape} does not broadcast to the scores' "
                         f"shape {scores_shape} (..., Tq, Tk)")
    if isinstance(attn_mask, Tensor):
        bias = attn_mask if array.dtype == dtype else attn_mask.astype(dtype)
    else:
        bias = Tensor(array, dtype=dtype)
    return None, bias


def allowed_keys(mask: np.ndarray | None, is_causal: bool, queries: int, keys: int) -> np.ndarray | None:
    """Where attention is allowed: the mask, "and" the causal mask when `is_causal` (None: everywhere)."""
    if not is_causal:
        return mask
    causal = causal_mask(queries, keys)
    return causal if mask is None else mask & causal


def mask_scores(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """The scores with -inf where attention is not allowed (softmax then gives those keys weight 0)."""
    return scores if allowed is None else np.where(allowed, scores, -np.inf)
