"""The tensor front end: `Tensor` on NumPy (tensor.py), its methods bound from the op
registry (methods.py: operators; reductions.py; shaping.py: shapes, indexing, joining;
conversion.py: sizes, dtypes, in-place changes), and functions that make tensors (creation.py). The function
`tinygrad_attn.tensor(...)` lives in creation.py; it is not re-exported here, so that
`tinygrad_attn.tensors.tensor` stays the module."""
from .tensor import Tensor
from . import methods, reductions, shaping, conversion  # noqa: F401  (bind the methods onto Tensor)
from .creation import manual_seed, ones, randn, zeros
from .methods import where
from .shaping import cat, concatenate, stack

__all__ = ["Tensor", "zeros", "ones", "randn", "manual_seed", "cat", "concatenate", "stack", "where"]
