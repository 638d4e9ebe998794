"""Functions on tensors, imported as `F`: activations, softmax, losses, normalisation,
embedding, dropout, linear layers and attention (names and conventions as in PyTorch).

Ops that pay for it are fused: one op whose backward is derived by hand and reads like its
formula (erf, gelu, gelu_tanh, cross_entropy, nll_loss, layer_norm, linear, embedding, dropout; softmax
and log_softmax are tensor primitives in ops/softmax.py, attention is in attention/). Each
module holds its ops as one unit each: a NumPy reference forward and backward, the `define`,
the public function, its usages. The tuned versions (buffer reuse, in-place arithmetic, BLAS
row sums) live in `tinygrad_attn/kernels/` and run by default; `ta.use_kernels(False)` runs the
reference code instead, with the same numbers.

gelu, softmax, log_softmax, cross_entropy, layer_norm and linear have a `*_composed` twin built
from primitive Tensor ops only (attention has `attention_steps`): the same values and gradients
through a longer graph, for seeing every step.

    checks.py          argument checks shared by the modules
    activations.py     relu, erf, gelu (both forms), softmax, log_softmax
    losses.py          cross_entropy, nll_loss
    norm.py            layer_norm
    affine.py          linear (x·Wᵀ + b)
    embeddings.py      embedding, one_hot
    regularization.py  dropout

(Module names differ from the functions they hold, so `F.linear` is the function, not a module.)
"""
from __future__ import annotations

from ..attention import attention_steps, attention_weights, causal_mask, scaled_dot_product_attention
from .activations import (ERF, GELU, GELU_TANH, erf, gelu, gelu_composed, log_softmax, log_softmax_composed, relu,
                          softmax, softmax_composed)
from .regularization import DROPOUT, dropout
from .embeddings import EMBEDDING, embedding, one_hot
from .affine import LINEAR, linear, linear_composed
from .losses import CROSS_ENTROPY, NLL_LOSS, cross_entropy, cross_entropy_composed, nll_loss
from .norm import LAYER_NORM, layer_norm, layer_norm_composed

__all__ = [
    "relu", "gelu", "erf", "softmax", "log_softmax", "cross_entropy", "layer_norm", "embedding",
    "dropout", "linear", "causal_mask", "scaled_dot_product_attention", "attention_weights",
    "attention_steps", "gelu_composed", "softmax_composed", "log_softmax_composed",
    "cross_entropy_composed", "layer_norm_composed", "linear_composed", "nll_loss", "one_hot",
]

OPS = (ERF, GELU, GELU_TANH, CROSS_ENTROPY, NLL_LOSS, LAYER_NORM, LINEAR, EMBEDDING, DROPOUT)  # the fused ops defined here
