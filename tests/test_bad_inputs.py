"""The bad-input catalogue: every public function given what it cannot use.

Each entry is (category, a bad call, the exception type, a regex the message must match). The
regex names the op and the shapes or values at fault, so a learner reading the error knows
which call, what it expected and what came. Entries whose `error` is None are the documented
non-error results (PyTorch's answer, e.g. NaN in, NaN out). An entry with `state` also proves
that the failed call changed nothing. Expected behaviour is PyTorch 2.13's or API.md's; the
stateful half (backward, hooks, in-place writes, optimizers, CLI) is in
test_bad_inputs_state.py, and `test_every_public_callable_has_an_entry` walks the public surface
of both files.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value, nn, optim
from tinygrad_attn import functional as F
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.scalar import dot, softmax as scalar_softmax, weighted_sum


class Entry(NamedTuple):
    category: str
    name: str
    call: Callable[..., Any]
    error: type | tuple | None  # None: a documented non-error result, checked by `check`
    match: str = ""
    covers: tuple = ()  # the public callables this entry exercises ("Tensor.sum", "F.linear")
    state: Callable[[], Any] | None = None  # makes what `call` gets; it must be unchanged afterwards
    check: Callable[[Any], Any] | None = None
    xfail: str | None = None


def bad(category, name, call, error, match, *covers, state=None, xfail=None):
    return Entry(category, name, call, error, match, covers, state, None, xfail)


def ok(category, name, call, check, *covers):
    return Entry(category, name, call, None, "", covers, None, check)


def leaf(*shape, dtype=np.float64):
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=True)


def ints(*values):
    return ta.tensor(np.array(values, dtype=np.int64))


def nan_at(position):
    return lambda out: np.isnan(np.asarray(out.data if isinstance(out, Tensor) else out)).ravel()[position]


Q = lambda: leaf(2, 4, 3)  # noqa: E731  (batch 2, Tq 4, d 3)
sdpa = F.scaled_dot_product_attention

# ---- shapes ----
SHAPES = [
    bad("shapes", "matmul inner sizes", lambda: leaf(2, 3) @ leaf(4, 5), ValueError,
        r"matmul: shapes \(2, 3\) and \(4, 5\) do not align \(3 != 4\)", "Tensor.matmul", "ta.matmul"),
    bad("shapes", "add broadcast", lambda: leaf(2, 3).add(leaf(4)), ValueError,
        r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast", "Tensor.add"),
    bad("shapes", "sub broadcast", lambda: leaf(2, 3).sub(leaf(4)), ValueError, r"sub: shapes \(2, 3\) and \(4,\)",
        "Tensor.sub"),
    bad("shapes", "mul broadcast", lambda: leaf(2, 3).mul(leaf(4)), ValueError, r"mul: shapes \(2, 3\) and \(4,\)",
        "Tensor.mul"),
    bad("shapes", "div broadcast", lambda: leaf(2, 3).div(leaf(4)), ValueError, r"div: shapes \(2, 3\) and \(4,\)",
        "Tensor.div"),
    bad("shapes", "pow broadcast", lambda: ta.pow(leaf(2, 3), leaf(4)), ValueError, r"pow: shapes \(2, 3\) and \(4,\)",
        "Tensor.pow", "ta.pow"),
    bad("shapes", "floordiv broadcast", lambda: ta.tensor([1.0, 2.0]) // ta.tensor([1.0, 2.0, 3.0]), ValueError,
        r"floordiv: shapes \(2,\) and \(3,\) cannot be broadcast"),
    bad("shapes", "== broadcast", lambda: ta.tensor([1.0, 2.0]) == ta.tensor([1.0, 2.0, 3.0]), ValueError,
        r"'==': shapes \(2,\) and \(3,\)"),
    bad("shapes", "reshape size", lambda: leaf(2, 3).reshape(4, 2), ValueError, r"reshape: .*\(2, 3\).*\(4, 2\)",
        "Tensor.reshape"),
    bad("shapes", "reshape -2 (NumPy would read it as -1)", lambda: leaf(6).reshape(-2, 3), ValueError,
        r"reshape: invalid shape \(-2, 3\) for a tensor of shape \(6,\)"),
    bad("shapes", "reshape two -1", lambda: leaf(2, 3).reshape(-1, -1), ValueError, r"reshape: .*\(-1, -1\).*\(2, 3\)"),
    bad("shapes", "view size", lambda: leaf(2, 3).view(4), ValueError, r"(view|reshape): .*\(2, 3\).*\(4,\)", "Tensor.view"),
    bad("shapes", "expand non-1 dim", lambda: leaf(2, 3).expand(4, 3), ValueError,
        r"expand: cannot expand shape \(2, 3\) to \(4, 3\)", "Tensor.expand"),
    bad("shapes", "permute duplicate", lambda: leaf(2, 3).permute(0, 0), ValueError,
        r"permute: dims \(0, 0\) .*shape \(2, 3\)", "Tensor.permute"),
    bad("shapes", "t of 3-d", lambda: leaf(2, 2, 2).t(), ValueError, r"t: .*shape \(2, 2, 2\)", "Tensor.t"),
    bad("shapes", "mT of 1-d", lambda: leaf(2).mT, ValueError, r"mT: .*shape \(2,\)"),
    bad("shapes", "split sizes", lambda: leaf(2, 3).split([1, 1], dim=1), ValueError,
        r"split: sizes \[1, 1\] do not add up to 3.*\(2, 3\)", "Tensor.split"),
    bad("shapes", "cat other dims", lambda: ta.cat([leaf(2, 3), leaf(3, 4)]), ValueError, r"cat: .*\(2, 3\).*\(3, 4\)",
        "ta.cat", "ta.concatenate"),
    bad("shapes", "cat of 0-d", lambda: ta.cat([ta.tensor(1.0), ta.tensor(2.0)]), ValueError, r"cat: .*\(\), \(\)"),
    bad("shapes", "stack shapes", lambda: ta.stack([leaf(2, 3), leaf(3, 2)]), ValueError, r"stack: .*\(2, 3\).*\(3, 2\)",
        "ta.stack"),
    bad("shapes", "where three shapes", lambda: ta.where(np.ones(5, dtype=bool), leaf(2, 3), leaf(2, 3)), ValueError,
        r"where: .*\(5,\).*\(2, 3\)", "ta.where"),
    bad("shapes", "tril of 1-d", lambda: ta.tril(leaf(3)), ValueError, r"tril: .*shape \(3,\)", "ta.tril", "Tensor.tril"),
    bad("shapes", "triu of 1-d", lambda: ta.triu(leaf(3)), ValueError, r"triu: .*shape \(3,\)", "ta.triu", "Tensor.triu"),
    bad("shapes", "multinomial 3-d", lambda: ta.multinomial(leaf(2, 2, 2), 1), ValueError,
        r"multinomial: .*shape \(2, 2, 2\)", "ta.multinomial"),
    bad("shapes", "linear in_features", lambda: F.linear(leaf(2, 3), leaf(4, 5)), ValueError,
        r"linear: input \(2, 3\) must end in in_features = 5 \(weight \(4, 5\)", "F.linear", "F.linear_composed"),
    bad("shapes", "linear bias", lambda: F.linear(leaf(2, 3), leaf(4, 3), leaf(3)), ValueError,
        r"linear: bias must have shape \(4,\) .*got \(3,\)"),
    bad("shapes", "layer_norm shape", lambda: F.layer_norm(leaf(2, 3), (4,)), ValueError,
        r"layer_norm: normalized_shape \(4,\) .*\(2, 3\)", "F.layer_norm", "F.layer_norm_composed"),
    bad("shapes", "embedding weight 1-d", lambda: F.embedding(ints(0), leaf(3)), ValueError,
        r"embedding: weight must be \(num_embeddings, dim\), got shape \(3,\)", "F.embedding"),
    bad("shapes", "cross_entropy target shape", lambda: F.cross_entropy(leaf(2, 3), ints(0, 1, 1)), ValueError,
        r"cross_entropy: target must have shape \(2,\) .*\(2, 3\).*\(3,\)", "F.cross_entropy", "F.cross_entropy_composed"),
    bad("shapes", "nll_loss target shape", lambda: F.nll_loss(leaf(2, 3), ints(0, 1, 1)), ValueError,
        r"nll_loss: .*\(2, 3\).*\(3,\)", "F.nll_loss"),
    bad("shapes", "sdpa feature size", lambda: sdpa(leaf(2, 4, 3), leaf(2, 4, 5), leaf(2, 4, 3)), ValueError,
        r"scaled_dot_product_attention: q \(2, 4, 3\) and k \(2, 4, 5\) need the same feature size d \(3 != 5\)",
        "F.scaled_dot_product_attention"),
    bad("shapes", "sdpa keys", lambda: sdpa(leaf(2, 4, 3), leaf(2, 5, 3), leaf(2, 4, 3)), ValueError,
        r"scaled_dot_product_attention: k \(2, 5, 3\) and v \(2, 4, 3\) need the same number of keys Tk \(5 != 4\)"),
    bad("shapes", "sdpa 1-d", lambda: sdpa(leaf(3), leaf(3), leaf(3)), ValueError,
        r"scaled_dot_product_attention: q must be \(\.\.\., Tq, d\) .*shape \(3,\)"),
    bad("shapes", "sdpa batch dims", lambda: sdpa(leaf(2, 4, 3), leaf(3, 4, 3), leaf(3, 4, 3)), ValueError,
        r"scaled_dot_product_attention: batch dims of q \(2, 4, 3\), k \(3, 4, 3\)"),
    bad("shapes", "attention_weights d", lambda: F.attention_weights(leaf(2, 3), leaf(2, 4)), ValueError,
        r"attention_weights: q \(2, 3\) and k \(2, 4\)", "F.attention_weights"),
    bad("shapes", "attention_steps d", lambda: F.attention_steps(leaf(2, 3), leaf(2, 4), leaf(2, 3)), ValueError,
        r"attention_steps: q \(2, 3\) and k \(2, 4\)", "F.attention_steps"),
    bad("shapes", "scalar dot lengths", lambda: dot([Value(1.0)], [1.0, 2.0]), ValueError, r"dot: lengths differ \(1 and 2\)",
        "scalar.dot"),
    bad("shapes", "scalar weighted_sum", lambda: weighted_sum([Value(1.0)], [[1.0], [2.0]]), ValueError,
        r"weighted_sum: 1 weights for 2 vectors", "scalar.weighted_sum"),
    bad("shapes", "nn.Linear input", lambda: nn.Linear(3, 4)(leaf(2, 5, dtype=np.float32)), ValueError,
        r"linear: input \(2, 5\) must end in in_features = 3", "nn.Linear"),
    bad("shapes", "nn.LayerNorm input", lambda: nn.LayerNorm(4)(leaf(2, 3, dtype=np.float32)), ValueError,
        r"layer_norm: normalized_shape \(4,\) .*\(2, 3\)", "nn.LayerNorm"),
    bad("shapes", "nn.MultiHeadAttention width", lambda: nn.MultiHeadAttention(8, 2)(leaf(2, 3, 5, dtype=np.float32)),
        ValueError, r"MultiHeadAttention: .*8.*\(2, 3, 5\)", "nn.MultiHeadAttention"),
    bad("shapes", "nn.MultiHeadAttention heads", lambda: nn.MultiHeadAttention(8, 3), ValueError,
        r"MultiHeadAttention: d_model=8 is not divisible by n_heads=3"),
    bad("shapes", "nn.TransformerBlock width", lambda: nn.TransformerBlock(8, 2, 16)(leaf(2, 3, 5, dtype=np.float32)),
        ValueError, r"\(2, 3, 5\)", "nn.TransformerBlock"),
    bad("shapes", "nn.GPT too long", lambda: nn.GPT(10, 4, 8, 2, 1, 16)(ta.zeros(1, 5, dtype=ta.long)), ValueError,
        r"GPT: sequence length 5 exceeds block_size 4", "nn.GPT"),
    bad("shapes", "nn.Sequential passes the bad shape on", lambda: nn.Sequential(nn.Linear(3, 4))(leaf(2, 5, dtype=np.float32)),
        ValueError, r"linear: input \(2, 5\)", "nn.Sequential"),
]

# ---- axes and dims ----
AXES = [
    bad("axes", f"{name} dim 5", (lambda call: lambda: call(leaf(2, 3)))(call), ValueError,
        rf"{op}: axis 5 is out of range for a tensor of shape \(2, 3\)", f"Tensor.{name}")
    for name, op, call in [
        ("sum", "sum", lambda x: x.sum(dim=5)), ("mean", "mean", lambda x: x.mean(5)), ("var", "var", lambda x: x.var(5)),
        ("std", "std", lambda x: x.std(5)), ("max", "max", lambda x: x.max(dim=5)), ("min", "min", lambda x: x.min(dim=5)),
        ("amax", "amax", lambda x: x.amax(5)), ("amin", "amin", lambda x: x.amin(5)),
        ("argmax", "argmax", lambda x: x.argmax(5)), ("argmin", "argmin", lambda x: x.argmin(5)),
        ("softmax", "softmax", lambda x: x.softmax(5)), ("log_softmax", "log_softmax", lambda x: x.log_softmax(5)),
        ("transpose", "transpose", lambda x: x.transpose(0, 5)), ("swapaxes", "swapaxes", lambda x: x.swapaxes(0, 5)),
        ("squeeze", "squeeze", lambda x: x.squeeze(5)), ("flatten", "flatten", lambda x: x.flatten(0, 5)),
        ("chunk", "chunk", lambda x: x.chunk(2, dim=5)),
        ("topk", "topk", lambda x: x.topk(1, dim=5)),
    ]
] + [
    bad("axes", "size dim 5 is an IndexError, as in PyTorch", lambda: leaf(2, 3).size(5), IndexError,
        r"size: dim 5 is out of range for a tensor of shape \(2, 3\)", "Tensor.size"),
    bad("axes", "unsqueeze dim 3", lambda: leaf(2, 3).unsqueeze(3), ValueError, r"unsqueeze: axis 3 .*\(2, 3, 1\)",
        "Tensor.unsqueeze"),
    bad("axes", "sum repeated dim", lambda: leaf(2, 3).sum(dim=(0, 0)), ValueError, r"sum: axis \(0, 0\) repeats"),
    bad("axes", "sum float dim", lambda: leaf(2, 3).sum(dim=1.0), (TypeError, ValueError), r"sum: .*1\.0"),
    bad("axes", "sum keepdim str", lambda: leaf(2, 3).sum(0, keepdim="yes"), TypeError,
        r"sum: keepdim must be True or False, got 'yes'"),
    bad("axes", "dim and axis", lambda: leaf(2, 3).sum(dim=0, axis=0), TypeError, r"sum: give dim= or axis=, not both"),
    bad("axes", "cat dim 1 of 1-d", lambda: ta.cat([leaf(2), leaf(2)], dim=1), ValueError, r"cat: axis 1 .*\(2,\)"),
    bad("axes", "stack dim 3", lambda: ta.stack([leaf(2)], dim=3), ValueError, r"stack: axis 3 .*out of range"),
    bad("axes", "split dim 5", lambda: leaf(2, 3).split(1, dim=5), ValueError, r"split: axis 5 .*\(2, 3\)"),
    bad("axes", "F.softmax dim 2", lambda: F.softmax(leaf(2, 3), dim=2), ValueError, r"softmax: axis 2 .*\(2, 3\)",
        "F.softmax", "F.softmax_composed", "ta.softmax"),
    bad("axes", "F.log_softmax dim 2", lambda: F.log_softmax(leaf(2, 3), dim=2), ValueError, r"log_softmax: axis 2 .*\(2, 3\)",
        "F.log_softmax", "F.log_softmax_composed", "ta.log_softmax"),
    bad("axes", "transpose three dims", lambda: leaf(2, 3).transpose(0, 1, 0), TypeError, r"transpose: takes two dims"),
    bad("axes", "permute too few", lambda: leaf(2, 3).permute(0), ValueError, r"permute: dims \(0,\) .*\(2, 3\)"),
    bad("axes", "flatten start after end", lambda: leaf(2, 3, 4).flatten(2, 1), ValueError,
        r"flatten: start_dim 2 comes after end_dim 1 \(shape \(2, 3, 4\)\)"),
    bad("axes", "getitem out of range", lambda: leaf(2, 3)[5], IndexError, r"getitem: .*\(2, 3\)"),
    bad("axes", "getitem too many", lambda: leaf(2, 3)[0, 0, 0], IndexError, r"getitem: .*\(2, 3\)"),
    bad("axes", "getitem float index", lambda: leaf(2, 3)[ta.tensor([0.0])], IndexError,
        r"getitem: index arrays must hold integers or booleans, got dtype float32"),
    ok("axes", "getitem with an empty list selects no rows (PyTorch: shape (0, 3))", lambda: leaf(2, 3)[[]],
       lambda out: out.shape == (0, 3)),
    bad("axes", "topk k too big", lambda: ta.topk(leaf(3), 5), ValueError, r"topk: k=5 is out of range .*size 3 \(shape \(3,\)\)",
        "ta.topk"),
    bad("axes", "topk k negative", lambda: ta.topk(leaf(3), -1), ValueError, r"topk: k=-1"),
]

# ---- dtypes: bool, int where a float is needed, object, complex, str ----
DTYPES = [
    bad("dtypes", f"{name} of an int tensor", call, TypeError, rf"{op}: input must be floating point, got dtype int64",
        *covers)
    for name, op, call, covers in [
        ("F.relu", "relu", lambda: F.relu(ints(1, -2)), ("F.relu",)),
        ("F.gelu", "gelu", lambda: F.gelu(ints(1, 2)), ("F.gelu", "F.gelu_composed")),
        ("F.erf", "erf", lambda: F.erf(ints(1, 2)), ("F.erf",)),
        ("F.softmax", "softmax", lambda: F.softmax(ints(1, 2), dim=0), ()),
        ("Tensor.softmax", "softmax", lambda: ints(1, 2).softmax(0), ()),  # NumPy would overflow to an int
        ("Tensor.log_softmax", "log_softmax", lambda: ints(1, 2).log_softmax(0), ()),
        ("F.log_softmax", "log_softmax", lambda: F.log_softmax(ints(1, 2), dim=0), ()),
        ("F.layer_norm", "layer_norm", lambda: F.layer_norm(ints(1, 2), (2,)), ()),
        ("F.dropout", "dropout", lambda: F.dropout(ints(1, 2), 0.5), ("F.dropout",)),
        ("F.linear", "linear", lambda: F.linear(ta.tensor([[1, 2, 3]]), leaf(4, 3)), ()),
        ("nn.Linear", "linear", lambda: nn.Linear(3, 4)(ta.tensor([[1, 2, 3]])), ()),
        ("F.cross_entropy", "cross_entropy", lambda: F.cross_entropy(ta.tensor([[1, 2]]), ints(0)), ()),
    ]
] + [
    bad("dtypes", "bool tensor relu", lambda: F.relu(ta.tensor([True])), TypeError, r"relu: .*bool"),
    bad("dtypes", "negating a bool tensor", lambda: -ta.tensor([True]), TypeError,
        r"neg: not defined for a tensor of dtype bool \(shape \(1,\)\)", "Tensor.neg"),
    bad("dtypes", "subtracting bool tensors", lambda: ta.tensor([True]) - ta.tensor([True]), TypeError,
        r"sub: not defined for tensors of dtype bool and bool \(shapes \(1,\) and \(1,\)\)"),
    bad("dtypes", "int to a negative int power", lambda: ints(2) ** -1, ValueError,
        r"pow: an integer tensor cannot be raised to a negative integer power \(shapes \(1,\) and \(\)\)"),
    bad("dtypes", "integer floor division by zero", lambda: ints(1) // ints(0), RuntimeError,
        r"floordiv: integer division by zero"),
    bad("dtypes", "int tensor requires grad", lambda: ta.tensor([1, 2], requires_grad=True), TypeError,
        r"tensor: only floating-point tensors can require grad, got dtype int64", "ta.tensor"),
    bad("dtypes", "Tensor of complex", lambda: Tensor([1j]), TypeError, r"Tensor: expected numbers .*complex128", "ta.Tensor"),
    bad("dtypes", "tensor of str", lambda: ta.tensor(["a"]), TypeError, r"tensor: expected numbers .*<U1"),
    bad("dtypes", "tensor of object (None)", lambda: ta.tensor([1, None]), TypeError,
        r"tensor: cannot make a tensor from list: it holds a NoneType"),
    bad("dtypes", "tensor of None", lambda: ta.tensor(None), TypeError, r"tensor: cannot make a tensor from NoneType"),
    bad("dtypes", "tensor of a dict", lambda: ta.tensor({1: 2}), TypeError, r"tensor: cannot make a tensor from dict"),
    bad("dtypes", "tensor of a generator", lambda: ta.tensor(x for x in [1]), TypeError,
        r"tensor: cannot make a tensor from generator"),
    bad("dtypes", "tensor int beyond int64", lambda: ta.tensor([2 ** 70]), ValueError,
        r"tensor: value 1180591620717411303424 does not fit in int64"),
    bad("dtypes", "tensor NaN as int64", lambda: ta.tensor([float("nan")], dtype=ta.long), ValueError,
        r"tensor: nan cannot be stored in dtype int64"),
    bad("dtypes", "dtype complex", lambda: ta.ones(2, dtype=np.complex64), TypeError, r"ones: dtype must be a float, int or bool",
        "ta.ones"),
    bad("dtypes", "zeros dtype object", lambda: ta.zeros(2, dtype=object), TypeError, r"zeros: dtype", "ta.zeros"),
    bad("dtypes", "empty dtype str", lambda: ta.empty(2, dtype=str), TypeError, r"empty: dtype", "ta.empty"),
    bad("dtypes", "full str value", lambda: ta.full((2,), "a"), TypeError, r"full: fill_value must be a number, got 'a'",
        "ta.full"),
    bad("dtypes", "full NaN as int", lambda: ta.full((2,), float("nan"), dtype=ta.long), ValueError,
        r"full: cannot fill a int64 tensor with nan"),
    bad("dtypes", "astype complex", lambda: ta.tensor([1.0]).astype(np.complex64), TypeError, r"astype: dtype must be",
        "Tensor.astype"),
    bad("dtypes", "astype object", lambda: ta.tensor([1.0]).astype(object), TypeError, r"astype: dtype must be"),
    bad("dtypes", "to(3)", lambda: ta.tensor([1.0]).to(3), TypeError, r"to: dtype must be .* got 3", "Tensor.to"),
    bad("dtypes", "to a GPU", lambda: ta.tensor([1.0]).to("cuda"), ValueError, r"to: this engine runs on the CPU only"),
    bad("dtypes", "type_as an array", lambda: ta.tensor([1.0]).type_as(np.ones(1)), TypeError,
        r"type_as: expected a Tensor whose dtype to take, got ndarray", "Tensor.type_as"),
    bad("dtypes", "add a str", lambda: leaf(2) + "a", TypeError, r"add: cannot combine a Tensor with str"),
    bad("dtypes", "mul a complex", lambda: leaf(2) * 1j, TypeError, r"mul: cannot combine a Tensor with complex"),
    bad("dtypes", "mul an object array", lambda: leaf(2) * np.array([object(), object()]), TypeError,
        r"mul: .*object"),
    bad("dtypes", "ta.exp of str", lambda: ta.exp("a"), TypeError, r"exp: expected numbers", "ta.exp"),
    bad("dtypes", "ta.log of a dict", lambda: ta.log({}), TypeError, r"log: cannot make a tensor from dict", "ta.log"),
    bad("dtypes", "ta.sqrt of None", lambda: ta.sqrt(None), TypeError, r"sqrt: cannot make a tensor from NoneType", "ta.sqrt"),
    bad("dtypes", "ta.tanh of str", lambda: ta.tanh("x"), TypeError, r"tanh: expected numbers", "ta.tanh"),
    bad("dtypes", "ta.sigmoid of complex", lambda: ta.sigmoid(np.array([1j])), TypeError, r"sigmoid: expected numbers",
        "ta.sigmoid"),
    bad("dtypes", "ta.relu of object", lambda: ta.relu(np.array([None])), TypeError, r"relu: cannot make a tensor",
        "ta.relu"),
    bad("dtypes", "where int condition", lambda: ta.where(ints(1, 0), leaf(2), leaf(2)), TypeError,
        r"where: mask must be boolean, got dtype int64"),
    bad("dtypes", "multinomial int", lambda: ta.multinomial(ints(1, 2), 1), TypeError,
        r"multinomial: probabilities must be floating point, got dtype int64"),
    bad("dtypes", "multinomial float count", lambda: ta.multinomial(ta.tensor([1.0, 1.0]), 1.5), TypeError,
        r"multinomial: num_samples must be an int, got 1.5"),
    bad("dtypes", "sdpa int q", lambda: sdpa(*[ta.tensor(np.ones((2, 2), np.int64))] * 3), TypeError,
        r"scaled_dot_product_attention: q must be floating point, got dtype int64"),
    bad("dtypes", "sdpa mixed dtypes", lambda: sdpa(ta.tensor(np.ones((2, 2), np.float32)), leaf(2, 2), leaf(2, 2)),
        TypeError, r"scaled_dot_product_attention: q, k, v need one dtype, got float32, float64, float64"),
    bad("dtypes", "linear weight dtype", lambda: F.linear(leaf(2, 3), leaf(4, 3, dtype=np.float32)), TypeError,
        r"linear: weight has dtype float32 but the input has float64"),
    bad("dtypes", "randn dtype int", lambda: ta.randn(2, dtype=ta.long), TypeError, r"randn: dtype must be a floating-point",
        "ta.randn"),
    bad("dtypes", "rand dtype int", lambda: ta.rand(2, dtype=ta.long), TypeError, r"rand: dtype must be a floating-point",
        "ta.rand"),
    bad("dtypes", "randn_like of int", lambda: ta.randn_like(ints(1, 2)), TypeError, r"randn_like: dtype", "ta.randn_like"),
    bad("dtypes", "rand_like of int", lambda: ta.rand_like(ints(1, 2)), TypeError, r"rand_like: dtype", "ta.rand_like"),
    bad("dtypes", "randint float high", lambda: ta.randint(2.5, (3,)), TypeError, r"randint: high must be an int, got 2.5",
        "ta.randint"),
    bad("dtypes", "tril float diagonal", lambda: ta.tril(leaf(2, 2), 0.5), TypeError, r"tril: diagonal must be an int, got 0.5"),
    bad("dtypes", "arange str", lambda: ta.arange("3"), TypeError, r"arange: .*must be a number, got '3'", "ta.arange"),
    bad("dtypes", "manual_seed str", lambda: ta.manual_seed("a"), TypeError, r"manual_seed: seed must be an int, got 'a'",
        "ta.manual_seed"),
    bad("dtypes", "Generator seed str", lambda: ta.Generator().manual_seed("a"), TypeError, r"manual_seed: seed must be an int",
        "ta.Generator"),
    bad("dtypes", "device int", lambda: ta.device(3), TypeError, r"device: expected a string such as 'cpu', got 3", "ta.device"),
    bad("dtypes", "device gpu", lambda: ta.device("gpu"), ValueError, r"device: unknown device 'gpu'"),
    bad("dtypes", "requires_grad_ str", lambda: ta.tensor([1.0]).requires_grad_("no"), TypeError,
        r"requires_grad_: expected True or False, got 'no'", "Tensor.requires_grad_"),
    bad("dtypes", "Tensor name int", lambda: Tensor([1.0], name=3), TypeError, r"Tensor: name must be a str, got int"),
    bad("dtypes", "Value of str", lambda: Value("a"), TypeError, r"Value: expected an int or float, got str", "ta.Value"),
    bad("dtypes", "Value + Tensor", lambda: Value(1.0) + ta.tensor([1.0]), TypeError, r"'add': cannot combine a Value with Tensor"),
    bad("dtypes", "use_kernels str", lambda: ta.use_kernels("yes"), TypeError, r"use_kernels: expected True or False, got 'yes'",
        "ta.use_kernels"),
    bad("dtypes", "observe non-callable", lambda: ta.observe(on_node=3), TypeError, r"observe: on_node must be callable, got int",
        "ta.observe"),
    bad("dtypes", "scope int", lambda: ta.scope(3), ValueError, r"scope: name must be a non-empty string", "ta.scope"),
    bad("dtypes", "sdpa scale str", lambda: sdpa(Q(), Q(), Q(), scale="a"), ValueError,
        r"scaled_dot_product_attention: scale must be a finite number or None .*'a'"),
    bad("dtypes", "gelu approximate", lambda: F.gelu(leaf(3), approximate="fast"), ValueError,
        r"gelu: approximate must be 'none' or 'tanh', got 'fast'"),
    bad("dtypes", "gradcheck of float32", lambda: gradcheck(lambda x: x.sum(), [leaf(1, dtype=np.float32)]), TypeError,
        r"gradcheck: input 0 is float32", "gradcheck"),
    bad("dtypes", "gradcheck of a non-callable", lambda: gradcheck(3, [leaf(1)]), TypeError,
        r"gradcheck: fn must be a function of the inputs, got int"),
    bad("dtypes", "gradcheck of one tensor, not a list", lambda: gradcheck(lambda x: x.sum(), leaf(1)), TypeError,
        r"gradcheck: inputs must be a list or tuple of Values/Tensors, got one Tensor; write \[x\]"),
]

# ---- empty arrays ----
EMPTY = [
    ok("empty", "sum of nothing is 0 (PyTorch: 0.)", lambda: ta.zeros(0).sum(), lambda out: out.item() == 0.0),
    ok("empty", "softmax of no rows keeps the shape", lambda: ta.ones(0, 3).softmax(-1), lambda out: out.shape == (0, 3)),
    ok("empty", "softmax over an empty dim keeps the shape", lambda: ta.ones(2, 0).softmax(-1), lambda out: out.shape == (2, 0)),
    ok("empty", "matmul with empty inner dim gives zeros (PyTorch)", lambda: ta.ones(2, 0) @ ta.ones(0, 3),
       lambda out: out.shape == (2, 3) and not out.data.any()),
    ok("empty", "linear of no rows", lambda: F.linear(ta.ones(0, 4), ta.ones(3, 4)), lambda out: out.shape == (0, 3)),
    ok("empty", "embedding of no ids", lambda: F.embedding(ta.zeros(0, dtype=ta.long), ta.ones(4, 2)),
       lambda out: out.shape == (0, 2)),
    bad("empty", "max of nothing", lambda: ta.ones(0, 3).max(), ValueError, r"max: cannot take the maximum of an empty axis \(shape \(0, 3\)"),
    bad("empty", "max(dim) over an empty dim", lambda: ta.ones(0, 3).max(dim=0), ValueError,
        r"max: cannot take max over dim 0 of a tensor of shape \(0, 3\): it is empty"),
    bad("empty", "argmax over an empty dim", lambda: ta.ones(0, 3).argmax(dim=0), ValueError,
        r"argmax: cannot take argmax over dim 0 of a tensor of shape \(0, 3\)"),
    bad("empty", "argmax of nothing", lambda: ta.ones(0).argmax(), ValueError, r"argmax: .*whole tensor of a tensor of shape \(0,\)"),
    bad("empty", "min(dim) over an empty dim", lambda: ta.ones(0, 3).min(dim=0), ValueError, r"min: .*dim 0 .*\(0, 3\)"),
    bad("empty", "argmin of nothing", lambda: ta.ones(0).argmin(), ValueError, r"argmin: .*\(0,\)"),
    bad("empty", "amax over an empty dim", lambda: ta.ones(0, 3).amax(dim=0), ValueError, r"max: .*empty axis \(shape \(0, 3\)"),
    bad("empty", "mean of nothing (PyTorch: nan; API: no NaN from finite inputs)", lambda: ta.ones(0).mean(), ValueError,
        r"mean: cannot average over an empty axis \(shape \(0,\)"),
    bad("empty", "var of one element with correction 1 (PyTorch: nan)", lambda: ta.tensor([1.0]).var(), ValueError,
        r"var: 1 element\(s\) along axes \(0,\) of shape \(1,\)"),
    bad("empty", "cat of nothing", lambda: ta.cat([]), ValueError, r"cat: needs at least one tensor"),
    bad("empty", "stack of nothing", lambda: ta.stack([]), ValueError, r"stack: needs at least one tensor"),
    bad("empty", "one_hot of nothing, classes unknown", lambda: F.one_hot(ta.zeros(0, dtype=ta.long)), ValueError,
        r"one_hot: cannot infer the number of classes from an empty tensor \(shape \(0,\)\)"),
    bad("empty", "item of nothing", lambda: ta.ones(0).item(), ValueError, r"item: .*shape \(0,\)", "Tensor.item"),
    bad("empty", "sdpa without keys", lambda: sdpa(leaf(2, 4, 3), leaf(2, 0, 3), leaf(2, 0, 3)), ValueError,
        r"scaled_dot_product_attention: needs d >= 1 and at least one key, got q \(2, 4, 3\) and k \(2, 0, 3\)"),
    bad("empty", "multinomial of an all-zero row", lambda: ta.multinomial(ta.tensor([0.0, 0.0]), 1), ValueError,
        r"multinomial: row 0 sums to 0"),
    bad("empty", "scalar softmax of nothing", lambda: scalar_softmax([]), ValueError, r"softmax: needs at least one Value",
        "scalar.softmax"),
    bad("empty", "gradcheck without inputs", lambda: gradcheck(lambda: ta.tensor(1.0), []), ValueError,
        r"gradcheck: needs at least one input"),
    bad("empty", "a size below 0", lambda: ta.zeros(2, -1), ValueError, r"zeros: size must be non-negative, got \(2, -1\)"),
    bad("empty", "split size 0", lambda: leaf(2, 3).split(0), ValueError, r"split: split_size must be positive, got 0"),
    bad("empty", "chunk 0", lambda: leaf(2, 3).chunk(0), ValueError, r"chunk: chunks must be a positive int, got 0", "Tensor.chunk"),
]

# ---- NaN and infinity in: PyTorch's answer (mostly NaN out), never an error ----
NAN, INF = float("nan"), float("inf")
NANS = [
    ok("nan", "exp(nan) is nan", lambda: ta.tensor([NAN]).exp(), nan_at(0), "Tensor.exp"),
    ok("nan", "log(nan) is nan", lambda: ta.tensor([NAN]).log(), nan_at(0), "Tensor.log"),
    ok("nan", "log(inf) is inf", lambda: ta.tensor([INF]).log(), lambda out: out.data[0] == INF),
    ok("nan", "sqrt(nan) is nan", lambda: ta.tensor([NAN]).sqrt(), nan_at(0), "Tensor.sqrt"),
    ok("nan", "tanh(±inf) is ±1", lambda: ta.tensor([INF, -INF]).tanh(), lambda out: out.data.tolist() == [1.0, -1.0],
       "Tensor.tanh"),
    ok("nan", "sigmoid(nan) is nan", lambda: ta.tensor([NAN]).sigmoid(), nan_at(0), "Tensor.sigmoid"),
    ok("nan", "relu(nan) is nan", lambda: ta.tensor([NAN]).relu(), nan_at(0), "Tensor.relu"),
    ok("nan", "softmax with a nan gives nan", lambda: ta.tensor([NAN, 1.0]).softmax(-1), nan_at(1)),
    ok("nan", "softmax with +inf gives nan (inf - inf)", lambda: ta.tensor([INF, 1.0]).softmax(-1), nan_at(0)),
    ok("nan", "gelu(nan) is nan", lambda: F.gelu(ta.tensor([NAN, 1.0])), nan_at(0)),
    ok("nan", "max of a nan is nan", lambda: ta.tensor([NAN, 1.0]).max(), nan_at(0)),
    ok("nan", "1/0 is inf", lambda: ta.tensor([1.0]) / ta.tensor([0.0]), lambda out: out.data[0] == INF, "Tensor.div"),
    ok("nan", "inf * 0 is nan", lambda: ta.tensor([INF]) * 0, nan_at(0)),
    ok("nan", "matmul with a nan is nan", lambda: ta.tensor([[NAN]]) @ ta.tensor([[1.0]]), nan_at(0)),
    ok("nan", "cross_entropy of nan logits is nan", lambda: F.cross_entropy(ta.tensor([[NAN, 1.0]]), ints(0)), nan_at(0)),
    ok("nan", "layer_norm of a row with nan is nan", lambda: F.layer_norm(ta.tensor([[NAN, 1.0]]), (2,)), nan_at(0)),
    ok("nan", "sdpa with a nan query is nan", lambda: sdpa(ta.tensor(np.full((1, 2, 2), NAN)), leaf(1, 2, 2), leaf(1, 2, 2)),
       nan_at(0)),
    ok("nan", "masked_fill with nan writes nan", lambda: ta.ones(2).masked_fill(np.array([True, False]), NAN), nan_at(0),
       "Tensor.masked_fill"),
    ok("nan", "topk keeps nan as the largest", lambda: ta.topk(ta.tensor([1.0, NAN, 2.0]), 1).values, nan_at(0),
       "Tensor.topk"),
    ok("nan", "where passes nan through", lambda: ta.where(ta.tensor([True]), ta.tensor([NAN]), ta.tensor([1.0])), nan_at(0)),
    ok("nan", "Value(nan) holds nan", lambda: Value(NAN).data, lambda out: np.isnan(out)),
    # outside an op's domain the engine refuses (API: no NaN from finite inputs where PyTorch gives a number)
    bad("nan", "log of -inf", lambda: ta.tensor([-INF]).log(), ValueError, r"log: input has 1 negative element\(s\) \(shape \(1,\)\)"),
    bad("nan", "sqrt of -inf", lambda: ta.tensor([-INF]).sqrt(), ValueError, r"sqrt: input has 1 negative element\(s\) \(shape \(1,\)\)"),
    bad("nan", "sdpa scale nan", lambda: sdpa(Q(), Q(), Q(), scale=NAN), ValueError, r"scaled_dot_product_attention: scale .*nan"),
    bad("nan", "multinomial of nan", lambda: ta.multinomial(ta.tensor([0.5, NAN]), 1), ValueError,
        r"multinomial: probabilities must be finite and >= 0, got nan in row 0"),
    bad("nan", "arange to inf", lambda: ta.arange(0, INF), ValueError, r"arange: end must be finite, got inf"),
    bad("nan", "Value log 0", lambda: Value(0.0).log(), ValueError, r"log: input must be > 0, got 0.0"),
]

# ---- ragged and mixed lists ----
RAGGED = [
    bad("ragged", "tensor of a ragged list", lambda: ta.tensor([[1, 2], [3]]), TypeError,
        r"tensor: cannot make a tensor from list: it is ragged, expected a sequence of length 2 at dim 1 \(got 1\)"),
    bad("ragged", "Tensor of a ragged list", lambda: Tensor([[1.0], [2.0, 3.0]]), TypeError,
        r"Tensor: cannot make a tensor from list: it is ragged, expected a sequence of length 1 at dim 1 \(got 2\)"),
    bad("ragged", "numbers beside lists", lambda: ta.tensor([[1, 2], 3]), TypeError,
        r"tensor: cannot make a tensor from list: it mixes numbers and lists at dim 1"),
    bad("ragged", "a ragged list beside a tensor", lambda: leaf(2) + [[1], [1, 2]], TypeError,
        r"add: cannot make a tensor from list: it is ragged"),
    bad("ragged", "mixed str and numbers", lambda: ta.tensor([1, "a"]), TypeError, r"tensor: expected numbers .*<U"),
    bad("ragged", "zeros_like of a ragged list", lambda: ta.zeros_like([[1.0], [1.0, 2.0]]), TypeError,
        r"zeros_like: cannot make a tensor from list: it is ragged", "ta.zeros_like"),
    bad("ragged", "ones_like of a str", lambda: ta.ones_like("ab"), TypeError, r"ones_like: expected numbers", "ta.ones_like"),
    bad("ragged", "empty_like of None", lambda: ta.empty_like(None), TypeError, r"empty_like: cannot make a tensor from NoneType",
        "ta.empty_like"),
    bad("ragged", "full_like of a ragged list", lambda: ta.full_like([[1.0], [1.0, 2.0]], 0.0), TypeError,
        r"full_like: cannot make a tensor from list: it is ragged", "ta.full_like"),
    bad("ragged", "cat of a number", lambda: ta.cat([leaf(2), 3.0]), ValueError, r"cat: .*\(2,\), \(\)"),
    bad("ragged", "stack of a tensor, not a list", lambda: ta.stack(leaf(2)), TypeError,
        r"stack: expected a list or tuple of tensors, got Tensor"),
    bad("ragged", "sdpa mask ragged list", lambda: sdpa(Q(), Q(), Q(), attn_mask=[[True], [True, False]]), TypeError,
        r"scaled_dot_product_attention: mask: cannot make a tensor from list: it is ragged"),
    ok("ragged", "a list of 0-d tensors becomes a tensor (PyTorch)", lambda: ta.tensor([ta.tensor(1.0), ta.tensor(2.0)]),
       lambda out: out.data.tolist() == [1.0, 2.0]),
    ok("ragged", "a list of 1-d tensors stacks (PyTorch)", lambda: ta.tensor([ta.tensor([1.0, 2.0]), ta.tensor([3.0, 4.0])]),
       lambda out: out.shape == (2, 2)),
    ok("ragged", "bools and floats mix to float32 (PyTorch)", lambda: ta.tensor([True, 1.5]),
       lambda out: out.dtype == np.float32 and out.data.tolist() == [1.0, 1.5]),
    bad("ragged", "scalar weighted_sum ragged", lambda: weighted_sum([Value(0.5), Value(0.5)], [[1.0], [2.0, 3.0]]),
        ValueError, r"weighted_sum: vectors have different lengths \[1, 2\]"),
]

# ---- masks: wrong shape, wrong dtype, fully masked rows ----
MASKS = [
    bad("masks", "sdpa mask shape", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.ones((3, 3), bool)), ValueError,
        r"scaled_dot_product_attention: mask of shape \(3, 3\) does not broadcast to the scores' shape \(2, 4, 4\)"),
    bad("masks", "sdpa float mask shape", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.zeros((3, 3))), ValueError,
        r"scaled_dot_product_attention: attn_mask of shape \(3, 3\) does not broadcast .*\(2, 4, 4\)"),
    bad("masks", "sdpa mask that would grow the scores", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.ones((3, 2, 4, 4), bool)),
        ValueError, r"scaled_dot_product_attention: mask of shape \(3, 2, 4, 4\)"),
    bad("masks", "sdpa int mask", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.ones((4, 4), np.int64)), TypeError,
        r"scaled_dot_product_attention: attn_mask must be boolean .* or floating point .*got dtype int64"),
    bad("masks", "sdpa str mask", lambda: sdpa(Q(), Q(), Q(), attn_mask="causal"), TypeError,
        r"scaled_dot_product_attention: mask: expected numbers"),
    bad("masks", "sdpa mask and its alias", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.ones((4, 4), bool), mask=np.ones((4, 4), bool)),
        TypeError, r"scaled_dot_product_attention: got both attn_mask and mask"),
    bad("masks", "sdpa dropout_p 2", lambda: sdpa(Q(), Q(), Q(), dropout_p=2.0), ValueError,
        r"scaled_dot_product_attention: dropout_p must be a probability in \[0, 1\], got 2.0"),
    bad("masks", "attention_weights mask shape", lambda: F.attention_weights(Q(), Q(), attn_mask=np.ones((3, 3), bool)),
        ValueError, r"attention_weights: mask of shape \(3, 3\) .*\(2, 4, 4\)"),
    bad("masks", "masked_fill mask shape", lambda: leaf(2, 3).masked_fill(np.ones((3, 2, 3), bool), 0.0), ValueError,
        r"masked_fill: mask of shape \(3, 2, 3\) does not broadcast to the tensor's shape \(2, 3\)"),
    bad("masks", "masked_fill float mask", lambda: leaf(2, 3).masked_fill(ta.ones(2, 3), 0.0), TypeError,
        r"masked_fill: mask must be boolean, got dtype float32"),
    bad("masks", "masked_fill value tensor of many", lambda: leaf(2, 3).masked_fill(np.ones((2, 3), bool), ta.ones(2)),
        TypeError, r"masked_fill: value must be a number, got Tensor \(tensor of shape \(2, 3\)\)"),
    bad("masks", "MultiHeadAttention attn_mask shape",
        lambda: nn.MultiHeadAttention(8, 2)(leaf(2, 3, 8, dtype=np.float32), attn_mask=np.ones((4, 4), bool)),
        ValueError, r"\(4, 4\)"),
    bad("masks", "causal_mask of a float", lambda: F.causal_mask(2.5), ValueError,
        r"causal_mask: T must be a non-negative int, got 2.5", "F.causal_mask"),
    bad("masks", "causal_mask of -1", lambda: F.causal_mask(-1), ValueError, r"causal_mask: T must be a non-negative int, got -1"),
    # API.md: "a row with nothing allowed gives zeros, not NaN" (PyTorch 2.13 also gives zeros here)
    ok("masks", "sdpa fully masked rows give zeros", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.zeros((4, 4), bool)),
       lambda out: out.shape == (2, 4, 3) and not out.data.any()),
    ok("masks", "sdpa float mask of -inf gives zeros", lambda: sdpa(Q(), Q(), Q(), attn_mask=np.full((4, 4), -INF)),
       lambda out: not out.data.any()),
    ok("masks", "attention_weights of a fully masked row are zeros",
       lambda: F.attention_weights(Q(), Q(), attn_mask=np.zeros((4, 4), bool)), lambda out: not out.data.any()),
    ok("masks", "a masked key gets exactly zero weight", lambda: F.attention_weights(
        Q(), Q(), attn_mask=np.array([True, False, True, True])), lambda out: (out.data[..., 1] == 0).all()),
]

# ---- targets and indices: out of range, wrong dtype ----
TARGETS = [
    bad("targets", "cross_entropy target too big", lambda: F.cross_entropy(leaf(2, 3), ints(0, 5)), ValueError,
        r"cross_entropy: target values must be in \[0, 3\) for input \(2, 3\).*got \[5\]"),
    bad("targets", "cross_entropy negative target", lambda: F.cross_entropy(leaf(2, 3), ints(0, -2)), ValueError,
        r"cross_entropy: target values must be in \[0, 3\).*got \[-2\]"),
    bad("targets", "cross_entropy float target", lambda: F.cross_entropy(leaf(2, 3), ta.tensor([0.0, 1.0])), TypeError,
        r"cross_entropy: target must hold integer class indices, got dtype float32"),
    bad("targets", "cross_entropy bool target", lambda: F.cross_entropy(leaf(2, 3), ta.tensor([True, False])), TypeError,
        r"cross_entropy: target must hold integer class indices, got dtype bool"),
    bad("targets", "cross_entropy reduction", lambda: F.cross_entropy(leaf(2, 3), ints(0, 1), reduction="avg"), ValueError,
        r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    bad("targets", "cross_entropy label_smoothing", lambda: F.cross_entropy(leaf(2, 3), ints(0, 1), label_smoothing=2.0),
        ValueError, r"cross_entropy: label_smoothing must be a number in \[0, 1\], got 2.0"),
    bad("targets", "nll_loss target too big", lambda: F.nll_loss(leaf(2, 3), ints(0, 3)), ValueError,
        r"nll_loss: target values must be in \[0, 3\) for input \(2, 3\).*got \[3\]"),
    bad("targets", "one_hot float", lambda: F.one_hot(ta.tensor([0.0, 1.0])), TypeError,
        r"one_hot: works on integer class indices only, got dtype float32", "F.one_hot"),
    bad("targets", "one_hot too big", lambda: F.one_hot(ints(0, 3), 3), ValueError,
        r"one_hot: class values must be smaller than num_classes=3, got \[3\]"),
    bad("targets", "one_hot negative", lambda: F.one_hot(ints(0, -1), 3), ValueError,
        r"one_hot: class values must be non-negative, got \[-1\]"),
    bad("targets", "embedding id too big", lambda: F.embedding(ints(0, 5), leaf(3, 2)), ValueError,
        r"embedding: indices must be in \[0, 3\) for weight \(3, 2\), got \[5\]"),
    bad("targets", "embedding float ids", lambda: F.embedding(ta.tensor([0.0, 1.0]), leaf(3, 2)), TypeError,
        r"embedding: indices must be integers, got dtype float32"),
    bad("targets", "embedding padding_idx", lambda: F.embedding(ints(0), leaf(3, 2), padding_idx=3), ValueError,
        r"embedding: padding_idx must be within num_embeddings: in \[-3, 3\), got 3"),
    bad("targets", "nn.Embedding id too big", lambda: nn.Embedding(3, 2)(ints(3)), ValueError,
        r"embedding: indices must be in \[0, 3\) for weight \(3, 2\), got \[3\]", "nn.Embedding"),
    bad("targets", "nn.Embedding float ids", lambda: nn.Embedding(3, 2)(ta.tensor([1.0])), TypeError,
        r"embedding: indices must be integers, got dtype float32"),
    bad("targets", "nn.GPT float ids", lambda: nn.GPT(10, 4, 8, 2, 1, 16)(ta.ones(1, 3)), TypeError,
        r"GPT: token ids must be integers, got dtype float32"),
    bad("targets", "nn.GPT id too big", lambda: nn.GPT(10, 4, 8, 2, 1, 16)(ints(11).reshape(1, 1)), ValueError,
        r"embedding: indices must be in \[0, 10\) for weight \(10, 8\), got \[11\]"),
    bad("targets", "multinomial negative probability", lambda: ta.multinomial(ta.tensor([0.5, -0.1]), 1), ValueError,
        r"multinomial: probabilities must be finite and >= 0"),
    bad("targets", "randint low above high", lambda: ta.randint(5, 2, (3,)), ValueError,
        r"randint: low must be below high .*low=5, high=2"),
    bad("targets", "dropout p 1.5", lambda: F.dropout(leaf(3), 1.5), ValueError, r"dropout: p must be a probability in \[0, 1\], got 1.5"),
    bad("targets", "nn.Dropout p 2", lambda: nn.Dropout(2.0), ValueError, r"Dropout: p must be a probability", "nn.Dropout"),
    # documented non-error results
    ok("targets", "every target ignored: 0, not NaN (API: no NaN from finite inputs)",
       lambda: F.cross_entropy(leaf(2, 3), ints(-100, -100)), lambda out: out.item() == 0.0),
]

# ---- protocols: NumPy and Python, as PyTorch answers them ----
PROTOCOLS = [
    ok("protocols", "float of a 0-d tensor", lambda: float(ta.tensor(2.5)), lambda out: out == 2.5 and type(out) is float),
    ok("protocols", "float of a one-element tensor", lambda: float(ta.tensor([2.5])), lambda out: out == 2.5),
    bad("protocols", "float of many elements", lambda: float(ta.ones(3)), ValueError,
        r"float\(\): only a one-element tensor can be converted to a Python number, got shape \(3,\)"),
    ok("protocols", "int of a 0-d float tensor truncates (PyTorch)", lambda: int(ta.tensor(2.7)), lambda out: out == 2),
    bad("protocols", "int of many elements", lambda: int(ta.ones(3)), ValueError, r"int\(\): only a one-element tensor .*\(3,\)"),
    ok("protocols", "bool of a 0-d zero", lambda: bool(ta.tensor(0.0)), lambda out: out is False),
    bad("protocols", "bool of many elements (PyTorch: ambiguous)", lambda: bool(ta.tensor([1.0, -1.0]) > 0), RuntimeError,
        r"bool\(\): the truth value of a tensor with 2 values \(shape \(2,\)\) is ambiguous"),
    bad("protocols", "bool of no elements", lambda: bool(ta.ones(0)), RuntimeError,
        r"bool\(\): the truth value of a tensor with no values \(shape \(0,\)\)"),
    ok("protocols", 'f"{loss:.3f}" of a 0-d tensor', lambda: f"{ta.tensor(2.5):.3f}", lambda out: out == "2.500"),
    ok("protocols", 'f"{t}" of many elements is str(t)', lambda: f"{ta.ones(2)}", lambda out: out == str(ta.ones(2))),
    bad("protocols", 'f"{t:.3f}" of many elements', lambda: f"{ta.ones(3):.3f}", TypeError,
        r"format: the format '\.3f' needs a 0-d tensor \(one number\), got shape \(3,\)"),
    bad("protocols", "len of a 0-d tensor", lambda: len(ta.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    bad("protocols", "iterating a 0-d tensor", lambda: list(ta.tensor(1.0)), TypeError, r"iteration over a 0-d tensor"),
    ok("protocols", "iterating a 1-d tensor gives 0-d tensors", lambda: list(ta.tensor([1.0, 2.0])),
       lambda out: [t.shape for t in out] == [(), ()] and [t.item() for t in out] == [1.0, 2.0]),
    ok("protocols", "sorted() of a 1-d tensor", lambda: sorted(ta.tensor([3.0, 1.0])), lambda out: [t.item() for t in out] == [1.0, 3.0]),
    bad("protocols", "item of many elements", lambda: ta.ones(3).item(), ValueError,
        r"item: only a one-element tensor can be converted, got shape \(3,\)"),
    ok("protocols", "np.asarray gives the data, not Tensor objects", lambda: np.asarray(ta.tensor([1.0, 2.0])),
       lambda out: out.dtype == np.float32 and out.tolist() == [1.0, 2.0]),
    ok("protocols", "np.asarray with a dtype", lambda: np.asarray(ta.tensor([1.0, 2.0]), dtype=np.float64),
       lambda out: out.dtype == np.float64),
    ok("protocols", "np.allclose on tensors", lambda: np.allclose(ta.tensor([1.0]), ta.tensor([1.0])), lambda out: out is True or out == True),  # noqa: E712
    ok("protocols", "an int tensor as an index", lambda: [10, 20, 30][ta.tensor(1)], lambda out: out == 20),
    ok("protocols", "range(int tensor)", lambda: list(range(ta.tensor(3))), lambda out: out == [0, 1, 2]),
    bad("protocols", "a float tensor as an index", lambda: [1, 2][ta.tensor(1.0)], TypeError,
        r"index: only an integer tensor of one element can be used as an index, got dtype float32 and shape \(\)"),
    ok("protocols", "== None is False (PyTorch)", lambda: ta.tensor([1.0]) == None, lambda out: out is False),  # noqa: E711
    ok("protocols", "== 'a' is False (PyTorch)", lambda: ta.tensor([1.0]) == "a", lambda out: out is False),
    bad("protocols", "< None is a TypeError", lambda: ta.tensor([1.0]) < None, TypeError, r"<: cannot combine a Tensor with NoneType"),
    ok("protocols", "== is elementwise", lambda: ta.tensor([1.0, 2.0]) == ta.tensor([1.0, 3.0]),
       lambda out: out.data.tolist() == [True, False]),
    ok("protocols", "hash is identity, so tensors go in sets", lambda: len({ta.ones(2), ta.ones(2)}), lambda out: out == 2),
    ok("protocols", "x in t asks for any equal element (PyTorch)", lambda: 2.0 in ta.tensor([[1.0, 2.0]]), lambda out: out is True),
    bad("protocols", "'a' in t", lambda: "a" in ta.ones(2), TypeError, r"in: a tensor can only be searched for a number or a Tensor, got str"),
    ok("protocols", "float() of a Value's data", lambda: Value(2.0).data, lambda out: out == 2.0),
]

CATALOGUE = SHAPES + AXES + DTYPES + EMPTY + NANS + RAGGED + MASKS + TARGETS + PROTOCOLS


# ---- running an entry ----
def _snapshot(obj: Any) -> list:
    """Every array reachable from what an entry's `state` made (tensors, modules, optimizers)."""
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    arrays = []
    for item in items:
        if isinstance(item, Tensor):
            arrays += [item.data.copy(), None if item.grad is None else np.array(item.grad, copy=True),
                       item.requires_grad]
        elif isinstance(item, nn.Module):
            arrays += [p.data.copy() for p in item.parameters()]
        elif isinstance(item, optim.Optimizer):
            arrays += [p.data.copy() for p in item.params]
            arrays += [repr(sorted((k, str(v)) for k, v in state.items())) for state in item.state.values()]
    return arrays


def _same(before: list, after: list) -> bool:
    def equal(a: Any, b: Any) -> bool:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and \
                np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        return a == b

    return len(before) == len(after) and all(equal(a, b) for a, b in zip(before, after))


def run_entry(entry: Entry) -> None:
    target = entry.state() if entry.state is not None else None
    before = _snapshot(target) if target is not None else None
    call = (lambda: entry.call(target)) if entry.state is not None else entry.call
    if entry.error is None:
        out = call()
        assert entry.check(out), f"{entry.name}: unexpected result {out!r:.200}"
    else:
        with pytest.raises(entry.error) as caught:
            call()
        message = str(caught.value)
        assert re.search(entry.match, message), f"{entry.name}: {message!r} does not match {entry.match!r}"
        assert "Traceback" not in message
    if target is not None:
        assert _same(before, _snapshot(target)), f"{entry.name}: the failed call changed the state"


def params(entries):
    return [pytest.param(e, id=f"{e.category}: {e.name}",
                         marks=[pytest.mark.xfail(strict=True, reason=e.xfail)] if e.xfail else [])
            for e in entries]


@pytest.mark.parametrize("entry", params(CATALOGUE))
def test_bad_input(entry):
    run_entry(entry)


# ---- every public callable has an entry ----
# Where no bad input exists (no arguments, or any value is fine), the name is allowed here, with why.
NO_BAD_INPUT = {
    "ta.is_grad_enabled", "ta.initial_seed", "ta.seed", "ta.release_memory",  # take no arguments
    "ta.no_grad", "ta.enable_grad", "ta.detect_anomaly",  # context managers without arguments
    "Tensor.numpy", "Tensor.tolist", "Tensor.detach", "Tensor.contiguous", "Tensor.dim", "Tensor.numel", "Tensor.is_floating_point",
    "Tensor.float", "Tensor.double", "Tensor.half", "Tensor.long", "Tensor.int", "Tensor.bool",  # no arguments
    "Tensor.zero_grad", "Tensor.save",  # any value is accepted (set_to_none is truthiness; save is the op's own)
    "nn.GELU", "nn.ReLU",  # their forwards are F.gelu / F.relu, catalogued above
    "nn.Module", "nn.ModuleList", "nn.ModuleDict", "nn.Parameter", "nn.MLP", "nn.AttentionClassifier",  # nn is being reworked: state_dict/load entries belong to that work
    "scalar.Value",  # catalogued as ta.Value
}
PROTOCOL_DUNDERS = ("__bool__", "__float__", "__int__", "__index__", "__format__", "__iter__", "__len__",
                    "__array__", "__contains__", "__eq__", "__setitem__", "__getitem__", "__iadd__")


def public_callables() -> set[str]:
    names = {f"ta.{n}" for n in dir(ta) if not n.startswith("_") and callable(getattr(ta, n))
             and not inspect.ismodule(getattr(ta, n))}
    names |= {f"Tensor.{n}" for n, v in vars(Tensor).items() if not n.startswith("_") and callable(v)}
    names |= {f"Tensor.{n}" for n in dir(Tensor) if not n.startswith("_") and inspect.isfunction(getattr(Tensor, n))}
    names |= {f"F.{n}" for n in F.__all__}
    names |= {f"nn.{n}" for n in dir(nn) if isinstance(getattr(nn, n), type)}
    names |= {f"optim.{n}" for n in optim.__all__ if n != "Optimizer"}
    names |= {"gradcheck", "scalar.dot", "scalar.softmax", "scalar.weighted_sum"}
    return names


def covered() -> set[str]:
    from test_bad_inputs_state import STATE_CATALOGUE

    names = set()
    for entry in CATALOGUE + STATE_CATALOGUE:
        names.update(entry.covers)
    return names


def test_every_public_callable_has_an_entry():
    missing = sorted(public_callables() - covered() - NO_BAD_INPUT)
    assert not missing, f"public callables without a bad-input entry: {missing}"


def test_every_protocol_has_an_entry():
    for dunder in PROTOCOL_DUNDERS:
        assert dunder in vars(Tensor), f"Tensor defines no {dunder}: Python's fallback would answer instead"


def test_the_allow_list_names_only_real_callables():
    assert NO_BAD_INPUT - public_callables() <= {"scalar.Value"}, NO_BAD_INPUT - public_callables()
