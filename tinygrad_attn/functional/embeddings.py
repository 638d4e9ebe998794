"""embedding: rows of a weight matrix picked by integer ids, as one op. Written out it is
`weight[indices]`; as an op its backward is one scatter-add. The tuned version is in
`kernels/embedding.py`."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import embedding as kernel
from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply
from .checks import constant_input, float_tensor


# ---- embedding: y = W[ids] ----
def embedding_forward(ctx, indices, weight):
    ids = indices.astype(np.int64)  # our own copy: the caller may change theirs before backward
    ctx.save(ids=ids)
    return weight[ids]


def embedding_backward(ctx, upstream_grad):
    grad_weight = np.zeros_like(ctx.inputs[1].data)
    np.add.at(grad_weight, ctx.saved.ids, upstream_grad)  # repeated ids add up
    return (None, grad_weight)  # the indices are an input only so that drawn graphs show them


EMBEDDING = define("embedding", forward=embedding_forward, backward=embedding_backward,
                   formulas=("indices: no gradient",
                             "d(W[ids])/dW: each row of G added into row ids[i] of zeros (repeats add up)"),
                   kernel=(kernel.embedding_forward, kernel.embedding_backward))


def embedding(indices: Any, weight: Any) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by integer `indices` of any shape:
    the result is indices.shape + (dim,)."""
    weight = float_tensor(weight, "embedding", "weight")
    if weight.data.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got shape {weight.shape}")
    ids = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {ids.dtype}")
    count = weight.shape[0]
    bad = (ids < 0) | (ids >= count)
    if bad.any():
        raise ValueError(f"embedding: indices must be in [0, {count}) for weight {weight.shape}, "
                         f"got {ids[bad][:5].tolist()}")
    return apply(EMBEDDING, (constant_input(indices), weight))


_IDS = np.array([[0, 4, 0], [2, 2, 1]])
EMBEDDING.usage("F.embedding", lambda w, indices: embedding(indices, w),
                lambda torch, w, indices: torch.nn.functional.embedding(torch.as_tensor(indices), w),
                S((5, 3), indices=_IDS, note="repeated ids add up"), S((4, 2), indices=np.array(3)),
                S((4, 2), indices=np.zeros(0, dtype=np.int64)))
