"""Attention built from primitive Tensor ops, every stage a named tensor in the graph.

The same arguments and results as `scaled_dot_product_attention`; its backward is the chain
of the primitive ops' rules (matmul, mul, where, softmax), so a graph or the stepper shows
each stage: scores, scaled_scores, masked_scores, weights, output. Its constants carry names a
drawing shows: the scale ("1/√d = 0.5"), the mask ("causal mask (True = may attend)", the sense
of SDPA's own argument) and the -inf a disallowed score becomes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tensors.methods import where as select
from ..tensors.tensor import Tensor
from .masks import allowed_keys, check_mask
from .sdpa import check_inputs, check_scale

__all__ = ["attention_steps", "AttentionSteps"]


@dataclass
class AttentionSteps:
    """Every stage of attention as a tensor in the graph, named after its field.

    `masked_scores` is `scaled_scores` itself when nothing is masked.
    """

    scores: Tensor         # q @ kᵀ                    (..., Tq, Tk)
    scaled_scores: Tensor  # scores · scale (1/√d)
    masked_scores: Tensor  # -inf where attention is not allowed
    weights: Tensor        # softmax over keys
    output: Tensor         # weights @ v                (..., Tq, dv)


def attention_steps(q: Any, k: Any, v: Any, mask: Any = None, is_causal: bool = False,
                    scale: float | None = None) -> AttentionSteps:
    """`scaled_dot_product_attention` built from primitive ops, keeping every intermediate.

    Same arguments and results as the fused op (the backward is the chain of the primitive
    ops' rules). The disallowed scores are -inf, so inside `detect_anomaly()` the where step
    is reported as non-finite; the fused op has no such step.
    """
    where = "attention_steps"
    q, k, v, scores_shape = check_inputs(where, q, k, v)
    allowed = allowed_keys(check_mask(mask, scores_shape, where), bool(is_causal), *scores_shape[-2:])
    scale = check_scale(scale, q.shape[-1], q.data.dtype, where)
    dtype = q.data.dtype
    scores = q @ k.swapaxes(-1, -2)
    default = math.isclose(float(scale), 1 / math.sqrt(q.shape[-1]), rel_tol=1e-6)
    scale_name = f"1/√d = {float(scale):.4g}" if default else f"scale = {float(scale):.4g}"
    scaled_scores = scores * Tensor(np.asarray(scale, dtype=dtype), name=scale_name)
    if allowed is None:
        masked_scores = scaled_scores
    else:
        kind = "causal mask" if is_causal and mask is None else "attention mask"
        allowed_node = Tensor(allowed, name=f"{kind} (True = may attend)")
        no_attention = Tensor(np.asarray(-np.inf, dtype=dtype), name="-inf (no attention)")
        masked_scores = select(allowed_node, scaled_scores, no_attention)
    weights = masked_scores.softmax(axis=-1)
    output = weights @ v
    steps = AttentionSteps(scores, scaled_scores, masked_scores, weights, output)
    for name in ("scores", "scaled_scores", "masked_scores", "weights", "output"):
        tensor = getattr(steps, name)
        if tensor.name is None:
            tensor.name = name
    return steps
