"""The tensor front end: `Tensor` on NumPy (tensor.py), its methods bound from the op
registry (methods.py), and functions that make tensors (creation.py). The function
`tinygrad_attn.tensor(...)` lives in creation.py; it is not re-exported here, so that
`tinygrad_attn.tensors.tensor` stays the module."""
from .tensor import Tensor
from . import methods  # noqa: F401  (binds the operators and methods onto Tensor)
from .creation import manual_seed, ones, randn, zeros
from .methods import concatenate, stack, where

__all__ = ["Tensor", "zeros", "ones", "randn", "manual_seed", "concatenate", "stack", "where"]
