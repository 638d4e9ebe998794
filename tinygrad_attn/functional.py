"""Functions on tensors, imported as `F`: activations, softmax, losses, normalisation,
embedding, dropout, linear layers and attention (names and conventions as in PyTorch).

Ops that pay for it are fused: one `Op` row whose backward is derived by hand and written as
a formula beside it (gelu, erf, layer_norm, cross_entropy, linear, embedding, dropout; softmax
and log_softmax live in tensor/softmax.py, attention in attention.py). gelu, softmax,
log_softmax, cross_entropy, layer_norm and linear have a `*_composed` twin built from primitive
Tensor ops only (attention has `attention_steps`): the same values and the same gradients
through a longer graph, for seeing every step. Written out, embedding is `weight[indices]` and
dropout is `x * keep / (1 - p)`.

For speed, the fused ops write large results into arrays from `perf.empty` (a buffer no longer
referred to by anything is reused, so no page faults) with NumPy's `out=`, do the arithmetic in
place in buffers they own, and sum rows with a matrix product by ones (BLAS). The formulas are
unchanged; see perf.py.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import perf
from .attention import attention_steps, attention_weights, causal_mask, scaled_dot_product_attention
from .core import Op
from .tensor.creation import default_rng
from .tensor.tensor import Tensor, as_tensor, make

__all__ = [
    "relu", "gelu", "erf", "softmax", "log_softmax", "cross_entropy", "layer_norm", "embedding",
    "dropout", "linear", "causal_mask", "scaled_dot_product_attention", "attention_weights",
    "attention_steps", "gelu_composed", "softmax_composed", "log_softmax_composed",
    "cross_entropy_composed", "layer_norm_composed", "linear_composed",
]


def _float_tensor(x: Any, where: str, name: str = "input") -> Tensor:
    x = x if isinstance(x, Tensor) else as_tensor(x, where)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be floating point, got dtype {x.dtype}")
    return x


def _constant_input(value: Any) -> Tensor:
    """Integer targets or indices as a graph input without gradient (checked by the caller)."""
    return value if isinstance(value, Tensor) else as_tensor(np.asarray(value), "input")


def _same_dtype(where: str, x: Tensor, *others: tuple[str, Tensor | None]) -> None:
    for name, other in others:
        if other is not None and other.data.dtype != x.data.dtype:
            raise TypeError(f"{where}: {name} has dtype {other.dtype} but the input has {x.dtype}; "
                            "convert one with .astype(...)")


# ---- activations ----
def relu(x: Any) -> Tensor:
    """max(x, 0) elementwise (the gradient at exactly 0 is 0, as in PyTorch)."""
    return _float_tensor(x, "relu").relu()


def _erf_values(values: np.ndarray) -> np.ndarray:
    """erf element by element: NumPy has no erf, and math.erf is exact to double precision."""
    flat = np.fromiter(map(math.erf, values.ravel().tolist()), dtype=np.float64, count=values.size)
    return flat.reshape(values.shape).astype(values.dtype, copy=False)


ERF = Op("erf", "d(erf x)/dx = 2/√π · exp(-x²)",
         lambda n, g: (g * (n.data.dtype.type(2 / math.sqrt(math.pi)) * np.exp(-np.square(n._inputs[0].data))),))


def erf(x: Any) -> Tensor:
    """The error function erf(x) = 2/√π ∫₀ˣ exp(-t²) dt, elementwise (as torch.erf)."""
    x = _float_tensor(x, "erf")
    return make(_erf_values(x.data), (x,), ERF)


_GELU_C = math.sqrt(2 / math.pi)  # the tanh form's constants, as in PyTorch and GPT-2
_GELU_K = 0.044715


def _gelu_tanh_backward(node: Tensor, grad: np.ndarray) -> tuple:
    x = node._inputs[0].data
    gate, x_squared = node._ctx  # s = ½(1 + t), so the formula's ½(1+t) is s and ½(1-t²) is 2s(1-s)
    # the formula regrouped: s · (1 + 2c·x·(1-s)·(1+3κx²)), written in place into one buffer
    local = np.multiply(x_squared, 6 * _GELU_C * _GELU_K, out=perf.empty(x.shape, x.dtype))
    local += 2 * _GELU_C
    local *= x
    local *= np.subtract(1, gate, out=perf.empty(x.shape, x.dtype))
    local += 1
    local *= gate
    local *= grad
    return (local,)


def _gelu_exact_backward(node: Tensor, grad: np.ndarray) -> tuple:
    x = node._inputs[0].data
    cdf = node._ctx
    density = np.exp(x * x * x.dtype.type(-0.5)) * x.dtype.type(1 / math.sqrt(2 * math.pi))
    return (grad * (cdf + x * density),)


GELU_TANH = Op("gelu_tanh", "d(gelu)/dx = ½(1+t) + ½x·(1-t²)·c·(1+3κx²),  t = tanh(c·(x+κx³))",
               _gelu_tanh_backward)
GELU = Op("gelu", "d(x·Φ(x))/dx = Φ(x) + x·φ(x)  (Φ, φ: normal cdf, density)", _gelu_exact_backward)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """GELU: x·Φ(x) with Φ the standard normal cdf ("none", PyTorch's default), or
    ½x·(1 + tanh(√(2/π)·(x + 0.044715x³))) ("tanh", as in GPT-2). The exact form calls
    math.erf per element (NumPy has no erf), so it is the slower of the two."""
    x = _float_tensor(x, "gelu")
    data = x.data
    if approximate == "tanh":
        # the gate s = ½(1 + tanh(c·(x + κx³))), built in place in one buffer
        x_squared = np.multiply(data, data, out=perf.empty(data.shape, data.dtype))  # kept: backward needs it too
        gate = np.multiply(x_squared, _GELU_C * _GELU_K, out=perf.empty(data.shape, data.dtype))
        gate += _GELU_C
        gate *= data
        np.tanh(gate, out=gate)
        gate *= 0.5
        gate += 0.5
        out = np.multiply(data, gate, out=perf.empty(data.shape, data.dtype))  # x·s
        return make(out, (x,), GELU_TANH, (gate, x_squared))
    if approximate == "none":
        cdf = data.dtype.type(0.5) * (1 + _erf_values(data * data.dtype.type(1 / math.sqrt(2))))
        return make(data * cdf, (x,), GELU, cdf)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu_composed(x: Tensor, approximate: str = "none") -> Tensor:
    """`gelu` from primitive ops (erf counts as one for the exact form)."""
    if approximate == "tanh":
        return 0.5 * x * (1 + (_GELU_C * (x + _GELU_K * x * x * x)).tanh())
    if approximate == "none":
        return x * (0.5 * (1 + erf(x * (1 / math.sqrt(2)))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


# ---- softmax family (fused ops in tensor/softmax.py) ----
def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / Σ exp(x) along `axis`, stable for logits of any size."""
    return _float_tensor(x, "softmax").softmax(axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - log Σ exp(x) along `axis`, stable for logits of any size."""
    return _float_tensor(x, "log_softmax").log_softmax(axis)


def softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """`softmax` from primitive ops; the max is a constant shift (it cancels in the ratio)."""
    exps = (x - x.max(axis=axis, keepdims=True).detach()).exp()
    return exps / exps.sum(axis=axis, keepdims=True)


def log_softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """`log_softmax` from primitive ops."""
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


# ---- cross-entropy: log_softmax and the negative log-likelihood in one op ----
def _class_targets(logits: Any, targets: Any, ignore_index: int | None, where: str
                   ) -> tuple[Tensor, np.ndarray, np.ndarray, int]:
    """Checked logits, targets as int64 (ignored rows set to 0), which rows count, how many."""
    logits = _float_tensor(logits, where, "logits")
    target_array = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if logits.data.ndim != 2:
        hint = (f"; for (N, T, C) logits and (N, T) targets pass logits.reshape(-1, {logits.shape[-1]}) "
                "and targets.reshape(-1)" if logits.data.ndim == 3 else "")
        raise ValueError(f"{where}: logits must be (N, C), got shape {logits.shape}{hint}")
    if target_array.dtype.kind not in "iu":
        raise TypeError(f"{where}: targets must be integer class indices, got dtype {target_array.dtype} "
                        "(class probabilities are not supported)")
    count_rows, classes = logits.shape
    if target_array.shape != (count_rows,):
        raise ValueError(f"{where}: targets must be (N,) = ({count_rows},) for logits {logits.shape}, "
                         f"got shape {target_array.shape}")
    if classes == 0:
        raise ValueError(f"{where}: logits {logits.shape} have no classes")
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))):
        raise TypeError(f"{where}: ignore_index must be an int or None, got {ignore_index!r}")
    if ignore_index is None:
        counted = np.ones(count_rows, dtype=bool)
        in_range = count_rows == 0 or (target_array.min() >= 0 and target_array.max() < classes)
        if in_range:  # the usual case, checked with two reductions instead of four passes
            return logits, target_array.astype(np.int64), counted, count_rows  # a copy: the caller may reuse theirs
    else:
        counted = target_array != ignore_index
    bad = counted & ((target_array < 0) | (target_array >= classes))
    if bad.any():
        shown = target_array[bad][:5].tolist()
        raise ValueError(f"{where}: targets must be in [0, {classes}) for logits {logits.shape}"
                         f"{' (or equal ignore_index)' if ignore_index is not None else ''}; "
                         f"got {shown} at rows {np.flatnonzero(bad)[:5].tolist()}")
    safe_targets = np.where(counted, target_array, 0).astype(np.int64, copy=False)
    return logits, safe_targets, counted, int(counted.sum())


def _cross_entropy_backward(node: Tensor, grad: np.ndarray) -> tuple:
    probs, targets, counted, count = node._ctx
    if count == 0:
        return (np.zeros_like(probs), None)
    grad_logits = perf.empty(probs.shape, probs.dtype)
    np.copyto(grad_logits, probs)  # a copy: with retain_graph, backward may run again on probs
    grad_logits[np.arange(len(targets)), targets] -= 1
    if count < len(targets):
        grad_logits[~counted] = 0
    grad_logits *= grad / probs.dtype.type(count)
    return (grad_logits, None)  # targets are an input only so that drawn graphs show them


CROSS_ENTROPY = Op("cross_entropy", "d(mean CE)/dz = (softmax(z) - onehot(y)) / N  (0 on ignored rows)",
                   _cross_entropy_backward)


def cross_entropy(logits: Any, targets: Any, ignore_index: int | None = None) -> Tensor:
    """Mean over rows of -log softmax(logits)[target]: logits (N, C), integer targets (N,).

    Rows whose target equals `ignore_index` are left out of the mean. If no row counts (every
    target ignored, or N = 0) the loss is 0 with zero gradients (PyTorch gives NaN there).
    (N, T, C) logits are refused: reshape them to (N·T, C) and the targets to (N·T,).
    """
    targets_given = targets
    logits, targets, counted, count = _class_targets(logits, targets, ignore_index, "cross_entropy")
    targets_node = _constant_input(targets_given)
    data = logits.data
    row_max = np.max(data, axis=1, keepdims=True)  # subtracted: stable for logits of any size
    shifted = np.subtract(data, row_max, out=perf.empty(data.shape, data.dtype))
    picked = shifted[np.arange(len(targets)), targets]
    probs = np.exp(shifted, out=shifted)  # in place: shifted is ours and not needed after the pick
    totals = np.matmul(probs, perf.ones(data.shape[1], data.dtype))  # row sums in BLAS
    per_row = np.log(totals) - picked
    loss = np.sum(per_row[counted] if count < len(targets) else per_row) / data.dtype.type(max(count, 1))
    probs *= np.reciprocal(totals, out=totals)[:, None]
    return make(np.asarray(loss, dtype=data.dtype), (logits, targets_node), CROSS_ENTROPY,
                (probs, targets, counted, count))


def cross_entropy_composed(logits: Tensor, targets: Any, ignore_index: int | None = None) -> Tensor:
    """`cross_entropy` from primitive ops: log_softmax, pick each row's target, weighted sum."""
    logits, targets, counted, count = _class_targets(logits, targets, ignore_index, "cross_entropy")
    picked = logits.log_softmax(axis=-1)[np.arange(len(targets)), targets]
    row_weights = counted.astype(logits.data.dtype) / max(count, 1)  # 1/count per counted row, else 0
    return -(picked * row_weights).sum()


# ---- layer norm ----
def _layer_norm_backward(node: Tensor, grad: np.ndarray) -> tuple:
    x_hat, inv_std, has_weight, has_bias = node._ctx  # x_hat (rows, C), inv_std (rows, 1)
    inputs = node._inputs
    weight = inputs[1] if has_weight else None
    rows, width = x_hat.shape
    grad_rows = grad.reshape(rows, width)
    sent = [None]
    if has_weight:
        # Σ over rows of g·x̂ in one einsum: no (rows, C) product is stored
        sent.append(np.einsum("ij,ij->j", grad_rows, x_hat) if weight.requires_grad else None)
    if has_bias:
        sent.append(np.matmul(perf.ones(rows, grad.dtype), grad_rows) if inputs[-1].requires_grad else None)
    if inputs[0].requires_grad:
        grad_x = perf.empty(grad_rows.shape, grad.dtype)  # never in place on `grad`: others may hold it
        if has_weight:
            np.multiply(grad_rows, weight.data, out=grad_x)
        else:
            np.copyto(grad_x, grad_rows)
        mean_grad = np.matmul(grad_x, perf.ones(width, grad.dtype))  # row sums in BLAS
        mean_grad *= 1 / width
        mean_grad_x_hat = perf.row_dot(grad_x, x_hat)
        mean_grad_x_hat *= 1 / width
        correction = np.multiply(x_hat, mean_grad_x_hat[:, None], out=perf.empty(x_hat.shape, grad.dtype))
        correction += mean_grad[:, None]
        grad_x -= correction
        grad_x *= inv_std
        sent[0] = grad_x.reshape(grad.shape)
    return tuple(sent)


LAYER_NORM = Op("layer_norm",
                "d(layer_norm)/dx = (g·w - mean(g·w) - x̂·mean(g·w·x̂)) / σ,  dw = Σ g·x̂,  db = Σ g",
                _layer_norm_backward)


def _check_layer_norm(x: Any, weight: Any, bias: Any, eps: float, where: str
                      ) -> tuple[Tensor, Tensor | None, Tensor | None]:
    x = _float_tensor(x, where)
    if x.data.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{where}: needs a last axis with at least one element, got shape {x.shape}")
    weight = None if weight is None else _float_tensor(weight, where, "weight")
    bias = None if bias is None else _float_tensor(bias, where, "bias")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != x.shape[-1:]:
            raise ValueError(f"{where}: {name} must have shape {x.shape[-1:]} (the last axis of the input "
                             f"{x.shape}), got {param.shape}")
    _same_dtype(where, x, ("weight", weight), ("bias", bias))
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < math.inf:
        raise ValueError(f"{where}: eps must be a positive number (it keeps 1/√(var + eps) finite), got {eps!r}")
    return x, weight, bias


def layer_norm(x: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / √(var + eps) over the last axis (biased variance), then · weight + bias.

    weight and bias, when given, have the shape of the last axis.
    """
    x, weight, bias = _check_layer_norm(x, weight, bias, eps, "layer_norm")
    data = x.data
    width = data.shape[-1]
    rows = data.reshape(-1, width)  # every leading axis is a row: 2-D, so BLAS does the row sums
    ones = perf.ones(width, data.dtype)
    mean = np.matmul(rows, ones)
    mean *= 1 / width
    x_hat = np.subtract(rows, mean[:, None], out=perf.empty(rows.shape, rows.dtype))  # scaled in place below
    variance = perf.row_dot(x_hat, x_hat)  # Σ (x - mean)² without storing the squares
    variance *= 1 / width  # biased, as in PyTorch
    variance += eps
    inv_std = np.reciprocal(np.sqrt(variance, out=variance), out=variance)[:, None]
    x_hat *= inv_std
    out = perf.empty(x_hat.shape, x_hat.dtype)  # never x_hat itself: backward needs it unchanged
    if weight is not None:
        np.multiply(x_hat, weight.data, out=out)
        if bias is not None:
            out += bias.data
    elif bias is not None:
        np.add(x_hat, bias.data, out=out)
    else:
        np.copyto(out, x_hat)
    inputs = (x,) + ((weight,) if weight is not None else ()) + ((bias,) if bias is not None else ())
    return make(out.reshape(data.shape), inputs, LAYER_NORM, (x_hat, inv_std, weight is not None, bias is not None))


def layer_norm_composed(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
                        eps: float = 1e-5) -> Tensor:
    """`layer_norm` from primitive ops: mean, var (biased), sqrt, divide, scale and shift."""
    x, weight, bias = _check_layer_norm(x, weight, bias, eps, "layer_norm")
    centered = x - x.mean(axis=-1, keepdims=True)
    out = centered / (x.var(axis=-1, keepdims=True, correction=0) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


# ---- linear ----
def _linear_backward(node: Tensor, grad: np.ndarray) -> tuple:
    inputs = node._inputs
    x, weight = inputs[0], inputs[1]
    out_features, in_features = weight.data.shape
    row_count = math.prod(x.data.shape[:-1])
    grad_rows = grad.reshape(row_count, out_features)
    grad_x = None
    if x.requires_grad:
        grad_x = np.matmul(grad_rows, weight.data, out=perf.empty((row_count, in_features), grad.dtype))
        grad_x = grad_x.reshape(x.data.shape)
    grad_weight = None
    if weight.requires_grad:
        grad_weight = np.matmul(grad_rows.T, x.data.reshape(row_count, in_features),
                                out=perf.empty((out_features, in_features), grad.dtype))
    sent = (grad_x, grad_weight)
    if len(inputs) == 3:
        sent += (np.matmul(perf.ones(row_count, grad.dtype), grad_rows) if inputs[2].requires_grad else None,)
    return sent


LINEAR = Op("linear", "d(x·Wᵀ+b)/dx = G·W,  dW = Gᵀ·x,  db = Σ G", _linear_backward)


def _check_linear(x: Any, weight: Any, bias: Any, where: str) -> tuple[Tensor, Tensor, Tensor | None]:
    x = _float_tensor(x, where)
    weight = _float_tensor(weight, where, "weight")
    bias = None if bias is None else _float_tensor(bias, where, "bias")
    if weight.data.ndim != 2:
        raise ValueError(f"{where}: weight must be (out_features, in_features), got shape {weight.shape}")
    if x.data.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{where}: input {x.shape} must end in in_features = {weight.shape[1]} "
                         f"(weight {weight.shape} is (out, in))")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{where}: bias must have shape ({weight.shape[0]},) for weight {weight.shape}, "
                         f"got {bias.shape}")
    _same_dtype(where, x, ("weight", weight), ("bias", bias))
    return x, weight, bias


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weightᵀ + bias with weight (out_features, in_features), as in PyTorch.

    x is (..., in_features); every leading axis is a row of one matrix product.
    """
    x, weight, bias = _check_linear(x, weight, bias, "linear")
    out_features, in_features = weight.shape
    row_count = math.prod(x.shape[:-1])
    rows = np.matmul(x.data.reshape(row_count, in_features), weight.data.T,
                     out=perf.empty((row_count, out_features), x.data.dtype))
    if bias is not None:
        rows += bias.data
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return make(rows.reshape(x.shape[:-1] + (out_features,)), inputs, LINEAR)


def linear_composed(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`linear` from primitive ops: a transpose, a matmul and a broadcast add."""
    x, weight, bias = _check_linear(x, weight, bias, "linear")
    out = x @ weight.T
    return out if bias is None else out + bias


# ---- embedding ----
def _embedding_backward(node: Tensor, grad: np.ndarray) -> tuple:
    ids = node._ctx.reshape(-1)
    weight = node._inputs[1].data
    grad_rows = grad.reshape(-1, weight.shape[1])
    grad_weight = np.zeros_like(weight)
    if ids.size:
        # repeated ids add up: sort them, sum each run of equal ids in one reduceat (np.add.at is slower)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        run_starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        grad_weight[sorted_ids[run_starts]] = np.add.reduceat(grad_rows[order], run_starts, axis=0)
    return (None, grad_weight)  # the indices are an input only so that drawn graphs show them


EMBEDDING = Op("embedding", "d(W[ids])/dW: each row of G added into row ids[i] of zeros (repeats add up)",
               _embedding_backward)


def embedding(indices: Any, weight: Any) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by integer `indices` of any shape:
    the result is indices.shape + (dim,)."""
    weight = _float_tensor(weight, "embedding", "weight")
    if weight.data.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got shape {weight.shape}")
    ids = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {ids.dtype}")
    count = weight.shape[0]
    bad = (ids < 0) | (ids >= count)
    if bad.any():
        raise ValueError(f"embedding: indices must be in [0, {count}) for weight {weight.shape}, "
                         f"got {ids[bad][:5].tolist()}")
    indices_node = _constant_input(indices)
    ids = ids.astype(np.int64, copy=True)  # our own copy: the caller may change theirs before backward
    rows = perf.empty(ids.shape + weight.shape[1:], weight.data.dtype)
    np.take(weight.data, ids, axis=0, out=rows, mode="clip")  # "clip" never clips here: ids were checked
    return make(rows, (indices_node, weight), EMBEDDING, ids)


# ---- dropout ----
DROPOUT = Op("dropout", "d(dropout)/dx = keep / (1 - p)  (0 where dropped)", lambda n, g: (g * n._ctx,))


def dropout(x: Any, p: float = 0.5, training: bool = True,
            rng: int | np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 - p) (inverted dropout),
    so the expected value is unchanged and evaluation needs no rescaling.

    Not training, or p = 0: x itself. p = 1: zeros. `rng` is a NumPy Generator (each call
    draws a new mask), an int seed (the same mask every call), or None for the generator that
    `ta.manual_seed` sets.
    """
    x = _float_tensor(x, "dropout")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    if rng is None:
        rng = default_rng()
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout: rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")
    dtype = x.data.dtype
    if p == 1:
        keep_scaled = np.zeros(x.shape, dtype=dtype)
    else:
        keep_scaled = (rng.random(x.shape) >= p) * dtype.type(1 / (1 - p))
    return make(x.data * keep_scaled, (x,), DROPOUT, keep_scaled)


OPS = (ERF, GELU, GELU_TANH, CROSS_ENTROPY, LAYER_NORM, LINEAR, EMBEDDING, DROPOUT)
