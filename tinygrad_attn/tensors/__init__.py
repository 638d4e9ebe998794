"""The tensor front end: `Tensor` on NumPy (tensor.py), its methods bound from the op
registry (methods.py: operators; reductions.py; shaping.py: shapes, indexing, joining;
conversion.py: sizes, dtypes, in-place changes), and functions that make tensors with
PyTorch's signatures (creation.py; random.py and the generators in generator.py; tril, triu
and topk in selection.py; dtype names and `device` in dtypes.py). The function
`tinygrad_attn.tensor(...)` lives in creation.py; it is not re-exported here, so that
`tinygrad_attn.tensors.tensor` stays the module."""
from .tensor import Tensor
from . import methods, reductions, shaping, conversion  # noqa: F401  (bind the methods onto Tensor)
from .creation import (arange, empty, empty_like, full, full_like, ones, ones_like, zeros,
                       zeros_like)
from .dtypes import bool, device, double, float16, float32, float64, half, int32, int64, long  # noqa: A004
from .generator import Generator, default_generator, initial_seed, manual_seed, seed
from .functions import exp, log, log_softmax, matmul, pow, relu, sigmoid, softmax, sqrt, tanh  # noqa: A004
from .methods import where
from .random import multinomial, rand, rand_like, randint, randn, randn_like
from .selection import topk, tril, triu
from .shaping import cat, concatenate, stack

__all__ = ["Tensor", "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
           "arange", "randn", "rand", "randint", "randn_like", "rand_like", "multinomial", "tril", "triu",
           "topk", "manual_seed", "initial_seed", "seed", "Generator", "default_generator", "device",
           "float16", "half", "float32", "float64", "double", "int32", "int64", "long",
           "cat", "concatenate", "stack", "where", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "pow",
           "matmul", "softmax", "log_softmax"]  # not "bool": `import *` would shadow the builtin
