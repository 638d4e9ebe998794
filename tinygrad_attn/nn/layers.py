"""Basic layers: `Linear`, `Embedding`, `LayerNorm`, `Dropout`, `GELU`, `ReLU`.

Initialisation follows PyTorch's defaults, drawn from `rng` (default: the generator that
`ta.manual_seed` sets), so a seeded model is the same every run.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..functional.embeddings import check_padding_idx
from ..functional.norm import check_normalized_shape
from ..tensors import Tensor
from ..tensors.tensor import DEFAULT_FLOAT
from .module import Module, Parameter, as_generator, check_size

__all__ = ["Linear", "Embedding", "LayerNorm", "Dropout", "GELU", "ReLU"]


class Linear(Module):
    """y = x @ weightᵀ + bias, with weight (out_features, in_features) as in PyTorch.

    Weight and bias start uniform in [-1/√in_features, 1/√in_features] (PyTorch's default).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: int | np.random.Generator | None = None):
        super().__init__()
        self.in_features = check_size("Linear", "in_features", in_features)
        self.out_features = check_size("Linear", "out_features", out_features)
        generator = as_generator(rng, "Linear")
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(generator.uniform(-bound, bound, (self.out_features, self.in_features)).astype(DEFAULT_FLOAT))
        self.bias = Parameter(generator.uniform(-bound, bound, self.out_features).astype(DEFAULT_FLOAT)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of `weight` (num_embeddings, embedding_dim) is the vector of id i.

    Rows start as standard normal samples (PyTorch's default). With `padding_idx`, that row
    starts at zeros and never receives a gradient, so it stays what it is (e.g. a padding
    token's vector); a negative `padding_idx` counts from the end, as in PyTorch.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *,
                 rng: int | np.random.Generator | None = None):
        super().__init__()
        self.num_embeddings = check_size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = check_size("Embedding", "embedding_dim", embedding_dim)
        self.padding_idx = check_padding_idx(padding_idx, self.num_embeddings, "Embedding")
        generator = as_generator(rng, "Embedding")
        weight = generator.standard_normal((self.num_embeddings, self.embedding_dim)).astype(DEFAULT_FLOAT)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        self.weight = Parameter(weight)

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


class LayerNorm(Module):
    """Normalise the last len(normalized_shape) dims to mean 0 and variance 1, then scale by
    `weight` and shift by `bias` (both of shape normalized_shape).

    `normalized_shape` is an int (the last dim) or a tuple of the trailing dims, as in
    PyTorch. weight starts at ones and bias at zeros, so at first the layer only normalises;
    `elementwise_affine=False` has neither, `bias=False` has no bias.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        self.normalized_shape = check_normalized_shape(normalized_shape, "LayerNorm")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"LayerNorm: eps must be a positive number, got {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=DEFAULT_FLOAT))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=DEFAULT_FLOAT)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class Dropout(Module):
    """In training mode, zero each element with probability p and scale the rest by 1/(1-p).

    In eval mode (or with p = 0) it passes its input through untouched and adds no node.
    """

    def __init__(self, p: float = 0.5, rng: int | np.random.Generator | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = None if rng is None else as_generator(rng, "Dropout")  # None: ta.manual_seed's generator

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        return F.dropout(x, self.p, training=True, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GELU(Module):
    """GELU activation: exact x·Φ(x) (`approximate="none"`, the default, as in PyTorch) or the
    tanh form (`approximate="tanh"`, as in GPT-2)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)
