"""The tensor front end: `Tensor` on NumPy, its ops, and functions that make tensors."""
from .creation import manual_seed, ones, randn, tensor, zeros
from .movement import concatenate, stack, where
from .tensor import Tensor

__all__ = ["Tensor", "tensor", "zeros", "ones", "randn", "manual_seed", "concatenate", "stack", "where"]
