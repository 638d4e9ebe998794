"""embedding: rows of a weight matrix picked by integer ids, as one op. Written out it is
`weight[indices]`; as an op its backward is one scatter-add. The tuned version is in
`kernels/embedding.py`. Also one_hot: the same lookup in the identity matrix, as integers."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import embedding as kernel
from ..ops.registry import define
from ..ops.samples import S
from ..tensors.tensor import Tensor, apply
from .checks import constant_input, float_tensor


# ---- embedding: y = W[ids] ----
def embedding_forward(ctx, indices, weight, padding_idx=None):
    ids = indices.astype(np.int64)  # our own copy: the caller may change theirs before backward
    ctx.save(ids=ids, padding_idx=padding_idx)
    return weight[ids]


def embedding_backward(ctx, upstream_grad):
    grad_weight = np.zeros_like(ctx.inputs[1].data)
    np.add.at(grad_weight, ctx.saved.ids, upstream_grad)  # repeated ids add up
    if ctx.saved.padding_idx is not None:
        grad_weight[ctx.saved.padding_idx] = 0  # the padding row learns nothing
    return (None, grad_weight)  # the indices are an input only so that drawn graphs show them


EMBEDDING = define("embedding", forward=embedding_forward, backward=embedding_backward,
                   formulas=("indices: no gradient",
                             "d(W[ids])/dW: each row of G added into row ids[i] of zeros (repeats add up; "
                             "row padding_idx stays 0)"),
                   kernel=(kernel.embedding_forward, kernel.embedding_backward))


def check_padding_idx(padding_idx: Any, num_embeddings: int, where: str) -> int | None:
    """`padding_idx` as a row in [0, num_embeddings) (a negative one counts from the end), or None."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{where}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{where}: padding_idx must be within num_embeddings: in [{-num_embeddings}, "
                         f"{num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by integer ids `input` of any shape: the
    result is input.shape + (dim,). Row `padding_idx` receives no gradient (as in PyTorch)."""
    weight = float_tensor(weight, "embedding", "weight")
    if weight.data.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got shape {weight.shape}")
    ids = input.data if isinstance(input, Tensor) else np.asarray(input)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {ids.dtype}")
    count = weight.shape[0]
    padding_idx = check_padding_idx(padding_idx, count, "embedding")
    bad = (ids < 0) | (ids >= count)
    if bad.any():
        raise ValueError(f"embedding: indices must be in [0, {count}) for weight {weight.shape}, "
                         f"got {ids[bad][:5].tolist()}")
    return apply(EMBEDDING, (constant_input(input), weight), padding_idx=padding_idx)


def _torch_embedding(torch: Any, w: Any, indices: np.ndarray, padding_idx: int | None = None) -> Any:
    return torch.nn.functional.embedding(torch.as_tensor(indices), w, padding_idx=padding_idx)


_IDS = np.array([[0, 4, 0], [2, 2, 1]])
EMBEDDING.usage("F.embedding", lambda w, indices, **kw: embedding(indices, w, **kw), _torch_embedding,
                S((5, 3), indices=_IDS, note="repeated ids add up"), S((4, 2), indices=np.array(3)),
                S((4, 2), indices=np.zeros(0, dtype=np.int64)),
                S((5, 3), indices=_IDS, padding_idx=0, smooth=False,
                  note="row padding_idx gets no gradient (by design, not the derivative)"),
                S((5, 3), indices=_IDS, padding_idx=-3, smooth=False,
                  note="a negative padding_idx counts from the end"))


# ---- one_hot: ids -> rows of the identity (integers, outside the graph) ----
def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape tensor.shape + (num_classes,), 1 at each id and 0 elsewhere (as
    torch.nn.functional.one_hot). `num_classes=-1` takes max id + 1. It is `embedding` with the
    identity matrix as weight, as integers: it has no gradient."""
    ids = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot: works on integer class indices only, got dtype {ids.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be a non-negative int or -1 (max id + 1), got {num_classes!r}")
    if ids.size and ids.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {ids[ids < 0][:5].tolist()}")
    if num_classes == -1:
        if ids.size == 0:
            raise ValueError(f"one_hot: cannot infer the number of classes from an empty tensor (shape {ids.shape}); "
                             "pass num_classes")
        num_classes = int(ids.max()) + 1
    if ids.size and ids.max() >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes={num_classes}, got "
                         f"{ids[ids >= num_classes][:5].tolist()}")
    return Tensor(np.eye(int(num_classes), dtype=np.int64)[ids.astype(np.int64)])
