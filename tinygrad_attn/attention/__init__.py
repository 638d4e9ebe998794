"""Scaled dot-product attention: one op, packed for many heads, or step by step.

    weights = softmax over keys of (q @ kᵀ / √d, with disallowed keys at -inf)
    output  = weights @ v

    masks.py   causal_mask, and how a mask is checked and combined (the only mask logic)
    sdpa.py    scaled_dot_product_attention and attention_weights: readable reference ops
    packed.py  packed_attention: multi-head attention of one packed q | k | v projection
    steps.py   attention_steps: the same from primitive Tensor ops, every stage named
    hard.py    hard_attention: argmax one-hot weights, for comparing with soft attention

Masks are boolean and True where a query may attend to a key (PyTorch's bool `attn_mask`).
The tuned versions of the three ops live in `kernels/attention.py` and run by default;
`ta.use_kernels(False)` runs the reference code here instead (the same numbers).
"""
from .masks import causal_mask
from .packed import PACKED_ATTENTION, packed_attention
from .sdpa import ATTENTION_WEIGHTS, SDPA, attention_weights, scaled_dot_product_attention
from .steps import AttentionSteps, attention_steps
from .hard import HARD_ATTENTION, hard_attention

OPS = (SDPA, PACKED_ATTENTION, ATTENTION_WEIGHTS, HARD_ATTENTION)

__all__ = ["scaled_dot_product_attention", "packed_attention", "attention_weights", "attention_steps",
           "AttentionSteps", "causal_mask", "hard_attention"]
