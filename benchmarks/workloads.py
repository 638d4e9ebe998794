"""Workload definitions shared by every implementation.

Every implementation of a workload (NumPy by hand, PyTorch, micrograd, tinygrad_attn)
takes its sizes, initial weights and input data from here, so that all of them do
exactly the same arithmetic on exactly the same numbers.

Weight layout convention for W1: a linear layer's weight is stored as (in_features,
out_features), so the forward pass is ``x @ weight + bias``. (PyTorch's ``nn.Linear``
stores the transpose; ``reference_torch`` transposes when loading.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Prepared:
    """What an implementation's factory may return instead of a bare step callable.

    ``step`` does one unit of work per call; ``facts`` are printed next to its timing
    (e.g. the size of a W3 autograd graph).
    """

    step: Callable[[], Any]
    facts: dict[str, Any] = field(default_factory=dict)

# ---------------------------------------------------------------- W0: tiny overhead

W0_SHAPE: tuple[int, int] = (4, 4)


def w0_inputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (4, 4) float32 tensors ``a`` and ``b`` for ``c = a * b + a``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(W0_SHAPE, dtype=np.float32)
    b = rng.standard_normal(W0_SHAPE, dtype=np.float32)
    return a, b


# ---------------------------------------------------------------- W1: GPT train step


@dataclass(frozen=True)
class GPTConfig:
    """Sizes and optimiser settings of the W1 GPT train step."""

    vocab_size: int = 65
    context: int = 64
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    mlp_hidden: int = 256
    batch_size: int = 16
    layernorm_eps: float = 1e-5
    init_std: float = 0.02
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 0.01

    @property
    def head_size(self) -> int:
        """Channels per attention head."""
        return self.d_model // self.n_heads


GPT_CONFIG = GPTConfig()


def gpt_param_shapes(config: GPTConfig = GPT_CONFIG) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of every W1 parameter, in a fixed order.

    Per block ``i``: ``h{i}.ln1_g/ln1_b`` (pre-attention LayerNorm), ``h{i}.w_qkv/b_qkv``
    (fused q|k|v projection; columns are q then k then v, each split head-major into
    ``n_heads`` groups of ``head_size``), ``h{i}.w_proj/b_proj`` (attention output),
    ``h{i}.ln2_g/ln2_b``, ``h{i}.w_fc/b_fc`` (to the MLP hidden size), ``h{i}.w_fc2/b_fc2``.
    """
    c, hidden, vocab = config.d_model, config.mlp_hidden, config.vocab_size
    shapes: list[tuple[str, tuple[int, ...]]] = [
        ("wte", (vocab, c)),
        ("wpe", (config.context, c)),
    ]
    for layer in range(config.n_layers):
        p = f"h{layer}."
        shapes += [
            (p + "ln1_g", (c,)), (p + "ln1_b", (c,)),
            (p + "w_qkv", (c, 3 * c)), (p + "b_qkv", (3 * c,)),
            (p + "w_proj", (c, c)), (p + "b_proj", (c,)),
            (p + "ln2_g", (c,)), (p + "ln2_b", (c,)),
            (p + "w_fc", (c, hidden)), (p + "b_fc", (hidden,)),
            (p + "w_fc2", (hidden, c)), (p + "b_fc2", (c,)),
        ]
    shapes += [
        ("lnf_g", (c,)), ("lnf_b", (c,)),
        ("w_head", (c, vocab)), ("b_head", (vocab,)),
    ]
    return shapes


def gpt_init_params(
    seed: int, config: GPTConfig = GPT_CONFIG, randomize_all: bool = False
) -> dict[str, np.ndarray]:
    """Initial W1 parameters as float32 arrays, keyed by the names of ``gpt_param_shapes``.

    Default: weights ~ N(0, init_std), biases 0, LayerNorm gains 1 (GPT-2 style).
    ``randomize_all`` also gives biases and LayerNorm gains/shifts random values, which makes
    a gradient comparison exercise every term of every backward formula.
    """
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for name, shape in gpt_param_shapes(config):
        leaf = name.split(".")[-1]
        if leaf.endswith("_g"):
            values = np.ones(shape, dtype=np.float32)
            if randomize_all:
                values += rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
        elif leaf.startswith("b") or leaf.endswith("_b"):
            values = np.zeros(shape, dtype=np.float32)
            if randomize_all:
                values += rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
        else:
            values = rng.standard_normal(shape, dtype=np.float32) * np.float32(config.init_std)
        params[name] = values
    return params


def gpt_batch(seed: int, config: GPTConfig = GPT_CONFIG) -> tuple[np.ndarray, np.ndarray]:
    """A batch of token ids ``(batch, context)`` and next-token targets of the same shape (int64)."""
    rng = np.random.default_rng(seed + 1_000_003)
    tokens = rng.integers(0, config.vocab_size, size=(config.batch_size, config.context + 1))
    return tokens[:, :-1].copy(), tokens[:, 1:].copy()


# ---------------------------------------------------------------- W2: causal attention

W2_SHAPE: tuple[int, int, int, int] = (8, 4, 128, 32)  # (batch, heads, time, head_size)


def attention_inputs(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """float32 ``q, k, v`` of shape ``W2_SHAPE`` and the fixed upstream gradient of the output."""
    rng = np.random.default_rng(seed)
    q, k, v, upstream = (rng.standard_normal(W2_SHAPE, dtype=np.float32) for _ in range(4))
    return q, k, v, upstream


# ---------------------------------------------------------------- W3: scalar MLP

W3_LAYER_SIZES: list[int] = [2, 16, 16, 1]
W3_N_POINTS: int = 100
W3_NOISE: float = 0.1
W3_REG_ALPHA: float = 1e-4


def two_moons(
    seed: int, n_points: int = W3_N_POINTS, noise: float = W3_NOISE
) -> tuple[list[list[float]], list[float]]:
    """Two interleaving half circles with Gaussian noise; labels are -1.0 and +1.0.

    Outer moon: (cos t, sin t), inner moon: (1 - cos t, 0.5 - sin t), t evenly spaced in
    [0, pi]. Returned as plain Python floats, as a scalar engine consumes them.
    """
    rng = np.random.default_rng(seed)
    n_outer = n_points // 2
    n_inner = n_points - n_outer
    t_outer = np.linspace(0.0, math.pi, n_outer)
    t_inner = np.linspace(0.0, math.pi, n_inner)
    points = np.concatenate([
        np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
        np.stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)], axis=1),
    ])
    labels = np.concatenate([-np.ones(n_outer), np.ones(n_inner)])
    points += rng.normal(scale=noise, size=points.shape)
    order = rng.permutation(n_points)
    return points[order].tolist(), labels[order].tolist()


def mlp_init_weights(seed: int, layer_sizes: list[int] = W3_LAYER_SIZES) -> list[list[list[float]]]:
    """Initial W3 weights: ``weights[layer][neuron] = [w_1, ..., w_nin, bias]``.

    Weights ~ U(-1, 1) and bias 0, as micrograd's ``Neuron`` initialises them.
    """
    rng = np.random.default_rng(seed)
    weights: list[list[list[float]]] = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        layer = [rng.uniform(-1.0, 1.0, size=n_in).tolist() + [0.0] for _ in range(n_out)]
        weights.append(layer)
    return weights
