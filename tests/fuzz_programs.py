"""Random programs for fuzzing the engine: plain data, one interpreter, several checks.

A program is a dict of JSON data (so a failure can be printed and replayed):

    family   which checks run (see FAMILIES)
    shapes   the input shapes; every input is a leaf that requires grad
    steps    [name, a, b, c, r] each: `name` picks the op (STEP_NAMES), a, b, c pick operands
             from the nodes made so far (modulo their number, so any step list is valid) and
             the op's options; r seeds the step's own random data (masks, targets, shapes)
    seed     the input values and the loss weights
    scale    the inputs are scaled by it (large values for the float32 family)
    retain   a seed choosing which intermediate nodes keep their gradient (retain_grad)

`run(program, backend)` builds the program with one backend, ours (`Ours(dtype, kernels)`) or
PyTorch's (`Torch(dtype)`); every decision reads only shapes and the step's own numbers, so
both backends build the same graph. The loss is Σ over the nodes nobody consumed of
node ⊙ R (or a cross-entropy, for the `ce` step), so every node is on the loss path.

`check(program)` runs the family's checks and returns a list of mismatches (empty: all
agree); `draw(rng, family)` makes a random program with a NumPy generator; the tests draw
the same data with hypothesis. Nothing here imports hypothesis, and torch only when present.
"""
from __future__ import annotations

import contextlib
import json
import math
import warnings
from typing import Callable

import numpy as np

import tinygrad_attn as ta
from tinygrad_attn import functional as F
from tinygrad_attn.core import topological_order
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.ops.samples import all_usages
from tinygrad_attn.scalar import Value, dot, softmax as scalar_softmax, weighted_sum

try:
    import torch
except ImportError:  # the torch comparisons are skipped; every other check still runs
    torch = None

__all__ = ["FAMILIES", "STEP_NAMES", "SHAPES", "USAGES", "SCALAR_OPS", "make_program", "draw", "run", "check",
           "Mismatch", "Ours", "Torch", "replay_command", "signature", "shrink", "step_label"]

SHAPES = [(), (1,), (3,), (1, 3), (2, 1), (2, 3), (3, 2), (4, 2, 3), (2, 1, 3), (4, 1, 1), (2, 3, 4),
          (1, 2, 3, 2), (2, 2, 2, 3)]
# float64 graphs vs torch (and kernels on/off); the same with finite differences; float32 with
# large inputs; Value vs Tensor attention; Value vs Tensor scalar expressions
FAMILIES = ("graph", "fd", "large32", "scalar_attention", "scalar_expr")
NONSMOOTH = {"amax", "relu", "max", "min", "hard_attention"}  # finite differences are wrong at kinks and ties


def make_program(family: str, shapes: list, steps: list, seed: int, scale: float = 1.0, retain: int = 0) -> dict:
    """A program from its parts (normalised to lists and ints, so it round-trips through JSON)."""
    return {"family": family, "shapes": [list(map(int, s)) for s in shapes],
            "steps": [[str(s[0])] + [int(x) for x in s[1:]] for s in steps],
            "seed": int(seed), "scale": float(scale), "retain": int(retain)}


# ---- backends: the same calls on our tensors and on PyTorch's ----
class Ours:
    name = "ours"

    def __init__(self, dtype: str = "float64", kernels: bool = True):
        self.dtype, self.kernels = np.dtype(dtype), kernels
        self.float32 = dtype == "float32"

    def leaf(self, array):
        return ta.tensor(array.astype(self.dtype), requires_grad=True, dtype=self.dtype)

    def const(self, array):
        return ta.tensor(np.asarray(array, dtype=self.dtype), dtype=self.dtype)

    def mask(self, array):
        return np.asarray(array, dtype=bool)

    def index(self, array):
        return np.asarray(array)

    def cat(self, xs, dim):
        return ta.cat(xs, dim)

    def where(self, cond, a, b):
        return ta.where(cond, a, b)

    def sdpa(self, q, k, v, attn_mask, is_causal, scale, return_weights, empty_rows):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale,
                                              return_weights=return_weights)

    def layer_norm(self, x, shape, w, b, eps):
        return F.layer_norm(x, shape, w, b, eps)

    def gelu(self, x, approximate):
        return F.gelu(x, approximate=approximate)

    def cross_entropy(self, logits, targets, reduction, label_smoothing):
        return F.cross_entropy(logits, ta.tensor(targets), reduction=reduction, label_smoothing=label_smoothing)

    def usage(self, entry, tensors, kwargs):
        return entry.call(*tensors, **kwargs)

    def numpy(self, x):
        return np.asarray(x.data)

    def grad(self, x):
        return None if x.grad is None else np.asarray(x.grad)

    def retain(self, x):
        x.retain_grad()

    def is_float_tensor(self, x):
        return isinstance(x, ta.Tensor) and x.data.dtype.kind == "f"

    def rounding(self):
        return contextlib.nullcontext()


class Torch:
    name = "torch"

    def __init__(self, dtype: str = "float64", jitter: int | None = None):
        self.dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
        self.float32 = dtype == "float32"
        self.jitter = None if jitter is None else np.random.default_rng(jitter)
        self.unresolved_attention = False  # set by sdpa: see _score_facts
        self.largest_score = 0.0  # the largest |attention score| seen (float64 runs only)

    def rounding(self):
        """With `jitter`: every op's result times (1 + δ), |δ| <= 2 float32 ulps, a model of
        what a stable float32 computation may do at each op (see _check_large32)."""
        return contextlib.nullcontext() if self.jitter is None else _Jitter(self.jitter)

    def _note_scores(self, facts: tuple) -> None:
        unresolved, largest = facts
        self.unresolved_attention |= unresolved
        self.largest_score = max(self.largest_score, largest)

    def leaf(self, array):
        return torch.tensor(array, dtype=self.dtype, requires_grad=True)

    def const(self, array):
        return torch.tensor(np.asarray(array), dtype=self.dtype)

    def mask(self, array):
        return torch.as_tensor(np.asarray(array, dtype=bool))

    def index(self, array):
        return torch.as_tensor(np.asarray(array))

    def cat(self, xs, dim):
        return torch.cat(xs, dim)

    def where(self, cond, a, b):
        return torch.where(cond, a, b)

    def sdpa(self, q, k, v, attn_mask, is_causal, scale, return_weights, empty_rows):
        """PyTorch's SDPA where its meaning is ours; written out where ours differs on purpose:
        a query with no allowed key gets zeros (PyTorch: NaN), a mask and is_causal together
        both apply (PyTorch refuses the pair), and the weights themselves (PyTorch has no
        return_weights)."""
        Tq, Tk = q.shape[-2], k.shape[-2]
        if attn_mask is not None and attn_mask.ndim < 2:  # the same mask, in the 2-D form PyTorch's SDPA needs
            attn_mask = attn_mask.reshape((1,) * (2 - attn_mask.ndim) + tuple(attn_mask.shape))
        if is_causal:
            causal = torch.as_tensor(np.tri(Tq, Tk, dtype=bool))
            if attn_mask is None:
                attn_mask = causal
            elif attn_mask.dtype == torch.bool:
                attn_mask = attn_mask & causal
            else:
                attn_mask = attn_mask.masked_fill(~causal, float("-inf"))
        if not self.float32:
            self._note_scores(_score_facts(q, k, attn_mask, scale))
        if not (return_weights or empty_rows or self.jitter):  # jitter: every step rounded, weights too
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
        scores = q @ k.transpose(-1, -2) * scale
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        elif attn_mask is not None:
            scores = scores + attn_mask
        alive = torch.isfinite(scores).any(dim=-1, keepdim=True)  # rows with an allowed key
        weights = torch.softmax(torch.where(alive, scores, torch.zeros_like(scores)), dim=-1) * alive
        out = weights @ v
        return (out, weights) if return_weights else out

    def layer_norm(self, x, shape, w, b, eps):
        return torch.nn.functional.layer_norm(x, shape, w, b, eps)

    def gelu(self, x, approximate):
        return torch.nn.functional.gelu(x, approximate=approximate)

    def cross_entropy(self, logits, targets, reduction, label_smoothing):
        return torch.nn.functional.cross_entropy(logits, torch.as_tensor(targets), reduction=reduction,
                                                 label_smoothing=label_smoothing)

    def usage(self, entry, tensors, kwargs):
        if not self.float32:
            self._note_scores(_usage_score_facts(entry, tensors, kwargs))
        return entry.reference(torch, *tensors, **kwargs)

    def numpy(self, x):
        return x.detach().numpy()

    def grad(self, x):
        return None if x.grad is None else x.grad.numpy()

    def retain(self, x):
        x.retain_grad()

    def is_float_tensor(self, x):
        return isinstance(x, torch.Tensor) and x.is_floating_point()


if torch is not None:
    class _Jitter(torch.overrides.TorchFunctionMode):
        """Every floating-point result of a torch function, and the gradient reaching it, times
        (1 + δ) with δ uniform in ±2 float32 ulps (property reads such as .grad and in-place
        methods are left alone). Where an op sums terms that may cancel (a matrix product, forward
        and backward; softmax's backward row sum), δ is taken of the terms' magnitudes instead:
        that is how far a float32 sum may be off however small it comes out."""

        def __init__(self, rng: np.random.Generator):
            super().__init__()
            self.rng = rng

        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = getattr(func, "__name__", "")
            if not isinstance(out, torch.Tensor) or not out.is_floating_point() or name == "__get__" \
                    or name.endswith("_") or out.numel() == 0:
                return out
            if name == "softmax" and out.requires_grad and args[0].requires_grad:
                dim = (kwargs or {}).get("dim", args[1] if len(args) > 1 else None)
                self._round_softmax_backward(args[0], out, dim)
            if name in ("matmul", "__matmul__") and len(args) == 2 and all(
                    isinstance(x, torch.Tensor) and x.ndim >= 2 for x in args):
                out = self._round_matmul(*args, out)
            out = out * self._factor(out)
            if out.requires_grad:  # backward rounds too: the gradient arriving here, moved the same way
                out.register_hook(lambda grad: grad * self._factor(grad))
            return out

        def _round_matmul(self, a, b, out):
            """A product's entries are sums that may cancel: in float32 they are rounded by ulps of
            Σₖ |aᵢₖ bₖⱼ|, and so are the gradients, G·bᵀ and aᵀ·G, by ulps of |G|·|b|ᵀ and |a|ᵀ·|G|."""
            with torch.no_grad():
                out_error = a.abs() @ b.abs()
            out = out + out_error * (self._factor(out) - 1.0)
            for x, error_of in ((a, lambda g: (g.abs() @ b.detach().abs().mT).sum_to_size(a.shape)),
                                (b, lambda g: (a.detach().abs().mT @ g.abs()).sum_to_size(b.shape))):
                if x.requires_grad and out.requires_grad:
                    self._add_error_to_gradient(out, x, error_of)
            return out

        def _add_error_to_gradient(self, out, x, error_of):
            """x's gradient gets error_of(gradient of out) · δ, |δ| <= 2 float32 ulps."""
            size = []
            out.register_hook(lambda grad: size.append(error_of(grad.detach())))
            x.register_hook(lambda grad: (grad + size.pop() * (self._factor(grad) - 1.0)) if size else grad)

        def _round_softmax_backward(self, scores, weights, dim):
            """Softmax backward, dsᵢ = wᵢ(gᵢ − Σⱼ wⱼgⱼ), cancels inside one op: in float32 the row sum
            is rounded by ulps of Σⱼ |wⱼgⱼ|, however small dsᵢ comes out. The gradient reaching the
            scores gets that error: wᵢ · (|gᵢ| + Σⱼ |wⱼgⱼ|) · δ, |δ| <= 2 float32 ulps."""
            w = weights.detach()
            self._add_error_to_gradient(weights, scores, lambda g: w * (g.abs() + (w * g).abs().sum(dim, keepdim=True)))

        def _factor(self, x):
            eps = float(np.finfo(np.float32).eps)
            return torch.as_tensor(1.0 + eps * self.rng.uniform(-2.0, 2.0, tuple(x.shape)), dtype=x.dtype)


def _score_facts(q, k, attn_mask, scale) -> tuple[bool, float]:
    """(unresolved, largest |score|). Unresolved: does a query weigh two or more keys (the second weight ≥ 1e-3 of the first) whose scores
    float32 cannot tell apart? Scores are rounded to float32 before the softmax, by up to 64 ulps
    of the row's largest |score| after a few ops; where that exceeds 1, every float32 engine
    picks its own weights (keys tied at a score of 1.5e8, told apart by a bias of 0.01 only in
    float64), and the gradients follow the weights. Like a layer_norm row below float32
    resolution (_below_float32_resolution), the comparison would measure the input's rounding.
    The largest |score| sets float64's own tolerance (see SCORE_ULPS64)."""
    with torch.no_grad():
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
        scores = (q @ k.transpose(-1, -2) * scale).double()
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        elif attn_mask is not None:
            scores = scores + attn_mask.double()
        scores = scores.numpy()
    finite = np.where(np.isfinite(scores), scores, np.nan)
    if scores.size == 0 or np.all(np.isnan(finite)):
        return False, 0.0
    with warnings.catch_warnings():  # rows with no allowed key are all NaN here, and count as resolved
        warnings.simplefilter("ignore", RuntimeWarning)
        top = np.nanmax(finite, axis=-1, keepdims=True)
        gaps = np.sort(np.nan_to_num(top - finite, nan=np.inf), axis=-1)
        resolution = 64 * float(np.finfo(np.float32).eps) * np.nanmax(np.abs(finite), axis=-1)
    second_close = gaps[..., 1] < -math.log(1e-3) if scores.shape[-1] > 1 else np.zeros(gaps.shape[:-1], bool)
    return bool(np.any(second_close & (resolution > 1.0))), float(np.nanmax(np.abs(finite)))


def _usage_score_facts(entry, tensors, kwargs) -> tuple[bool, float]:
    """_score_facts for the registry's attention usages: q and k first, or split from
    packed attention's one (B, T, 3·d) input; a bool mask and is_causal applied, a float one added."""
    if "attention" not in entry.name:
        return False, 0.0
    if entry.name == "packed_attention":
        batch, time, _ = tensors[0].shape
        q, k, _ = (part.reshape(batch, time, kwargs["n_heads"], -1).transpose(1, 2)
                   for part in tensors[0].chunk(3, dim=-1))
    else:
        q, k = tensors[0], tensors[1]
    mask = kwargs.get("mask", kwargs.get("attn_mask"))
    if entry.name == "biased_attention_weights":
        mask = tensors[3]
    elif mask is not None:
        mask = torch.as_tensor(np.asarray(mask, dtype=bool))
    if kwargs.get("is_causal"):
        causal = torch.as_tensor(np.tri(q.shape[-2], k.shape[-2], dtype=bool))
        mask = causal if mask is None else (mask & causal if mask.dtype == torch.bool
                                            else mask.masked_fill(~causal, float("-inf")))
    return _score_facts(q, k, mask, kwargs.get("scale"))


# ---- shape helpers (NumPy only, so both backends decide alike) ----
def _broadcast_partner(shape: tuple, rng: np.random.Generator) -> tuple:
    """A shape that broadcasts with `shape` without changing it: some dims set to 1, some
    leading dims dropped."""
    dims = [1 if rng.random() < 0.4 else n for n in shape]
    return tuple(dims[int(rng.integers(0, len(dims) + 1)):]) if dims else ()


def _adapt(B, x, shape: tuple):
    """A node of `shape` made from x: flattened, repeated (x consumed several times) and cut."""
    need = int(np.prod(shape, dtype=int))
    have = int(np.prod(tuple(x.shape), dtype=int))
    if have == 0 or need == 0:
        return None
    if tuple(x.shape) == tuple(shape):
        return x
    flat = x.reshape(-1)
    if have < need:
        flat = B.cat([flat] * math.ceil(need / have), 0)
    return flat[:need].reshape(*shape) if shape else flat[0]


def _in_domain(B, x, domain: str, rng: np.random.Generator):
    """x moved into an op's domain: (0.5, 2) for "positive", ±(0.5, 2) for "nonzero"."""
    if domain in ("positive", "nonzero"):
        x = x.sigmoid() * 1.5 + 0.5
        if domain == "nonzero":
            x = x * B.const(rng.choice([-1.0, 1.0], tuple(x.shape)))
    return x


def _spread(B, x):
    """x plus distinct constants: a std of equal entries (copies made by _adapt, say) sits on
    sqrt's kink at 0, where rounding noise decides the gradient."""
    return x + B.const(np.linspace(-2.0, 2.0, int(np.prod(tuple(x.shape), dtype=int))).reshape(tuple(x.shape)))


def _axes(ndim: int, a: int, b: int) -> tuple:
    """A non-empty set of axes of an ndim array, from two numbers."""
    picked = sorted({a % ndim, b % ndim}) if b % 3 else [a % ndim]
    return tuple(picked)


# ---- the steps: each takes (B, operands, a, b, c, rng), returns a node, a tuple of nodes, or None ----
BINARY = ("add", "sub", "mul", "div")
UNARY = ("tanh", "sigmoid", "exp_of_tanh", "square", "neg", "relu", "log_of_positive", "sqrt_of_positive")


def _binary(B, x, y, a, b, c, rng):
    try:
        np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
    except ValueError:
        y = _adapt(B, y, _broadcast_partner(tuple(x.shape), rng))
        if y is None:
            return None
    op = BINARY[a % len(BINARY)]
    if op == "div":
        return x / (y * y + 1.0)  # a denominator that is never near 0
    return {"add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y}[op]()


def _unary(B, x, a, b, c, rng):
    op = UNARY[a % len(UNARY)]
    return {"tanh": lambda: x.tanh(), "sigmoid": lambda: x.sigmoid(), "exp_of_tanh": lambda: x.tanh().exp(),
            "square": lambda: x * x, "neg": lambda: -x, "relu": lambda: x.relu(),
            "log_of_positive": lambda: (x * x + 0.5).log(), "sqrt_of_positive": lambda: (x * x + 0.25).sqrt()}[op]()


def _reduce(B, x, a, b, c, rng):
    if x.ndim == 0:
        return None
    axes = _axes(x.ndim, a, b)
    op = ("sum", "mean", "amax", "var", "std")[c % 5]
    keepdim = bool((a + b) % 2)
    if op == "amax":
        x = _spread(B, x)  # no ties: entries equal in exact arithmetic may differ by an ulp in one engine
    if op in ("var", "std"):
        if int(np.prod([x.shape[d] for d in axes])) < 2:
            return None  # one element: its unbiased variance is 0/0 in both engines
        return getattr(_spread(B, x), op)(dim=axes, keepdim=keepdim)
    return getattr(x, op)(dim=axes, keepdim=keepdim)


def _softmax(B, x, a, b, c, rng):
    if x.ndim == 0:
        return None
    return (x.softmax if b % 2 else x.log_softmax)(a % x.ndim)


def _matmul(B, x, y, a, b, c, rng):
    """x @ y, y made to fit: a vector, a matrix, or a batch of matrices whose batch dims
    broadcast against x's (some set to 1, some dropped, or one more in front)."""
    if x.ndim == 0:
        return None
    inner, n = x.shape[-1], 1 + a % 3
    if x.ndim == 1 or b % 4 == 0:
        shape = (inner,) if c % 2 else (inner, n)
    else:
        batch = _broadcast_partner(tuple(x.shape[:-2]), rng)
        if c % 3 == 0:
            batch = (2,) + (1,) * (x.ndim - 2)  # a new leading batch dim, the others broadcast
        shape = batch + (inner, n)
    y = _adapt(B, y, shape)
    if y is None:
        return None
    if c % 5 == 0 and y.ndim >= 2 and x.ndim >= 2:
        return y.mT @ x.mT  # the same product transposed: strided operands
    return x @ y


def _movement(B, x, a, b, c, rng):
    kind = ("transpose", "reshape", "expand", "unsqueeze", "getitem", "permute")[c % 6]
    shape = tuple(x.shape)
    if kind == "transpose":
        if x.ndim < 2:
            return None
        return x.transpose(a % x.ndim, b % x.ndim)
    if kind == "permute":
        if x.ndim == 0:
            return None  # PyTorch's permute needs at least one dim
        return x.permute(*[int(d) for d in rng.permutation(x.ndim)])
    if kind == "reshape":
        n = int(np.prod(shape, dtype=int))
        factors = [f for f in range(1, n + 1) if n % f == 0]
        first = factors[a % len(factors)]
        new = (first, n // first) if b % 2 else (n // first, 1, first)
        return x.reshape(*new) if b % 3 else x.reshape(-1, first) if n else None
    if kind == "expand":
        at = a % (x.ndim + 1)
        return x.unsqueeze(at).expand(*shape[:at], 1 + b % 3, *shape[at:])
    if kind == "unsqueeze":
        return x.unsqueeze(a % (x.ndim + 1) - (x.ndim + 1) * (b % 2))
    if x.ndim == 0:
        return None
    index = []
    for n in shape:  # a random basic index per dim
        pick = rng.integers(0, 4)
        if pick == 0 and n > 0:
            index.append(int(rng.integers(-n, n)))
        elif pick == 1:  # a non-empty slice
            start, stop = sorted(int(i) for i in rng.integers(0, n + 1, 2))
            start = min(start, n - 1)
            index.append(slice(start, max(stop, start + 1), int(rng.integers(1, 3))))
        else:
            index.append(slice(None))
    if b % 4 == 0:  # integer-array indexing on dim 0, with repeats (their gradients add up)
        return x[B.index(rng.integers(0, shape[0], 1 + a % 4))]
    if b % 4 == 1:
        index.insert(int(rng.integers(0, len(index) + 1)), None)
    return x[tuple(index)]


def _masked(B, x, y, a, b, c, rng):
    mask_shape = _broadcast_partner(tuple(x.shape), rng)
    mask = rng.random(mask_shape) < 0.5
    if a % 2:
        value = (0.0, -3.0, 2.5, 1e4)[b % 4]
        return x.masked_fill(B.mask(mask), value)
    y = _adapt(B, y, _broadcast_partner(tuple(x.shape), rng)) if c % 3 else None
    return B.where(B.mask(mask), x, y if y is not None else B.const(0.5)) if b % 2 else \
        B.where(B.mask(mask), y if y is not None else B.const(-1.0), x)


def _attention(B, x, y, z, a, b, c, rng):
    """F.scaled_dot_product_attention with random batch shapes, masks, is_causal, scale and
    return_weights (the weights go on as a node of their own)."""
    if x.ndim < 2:
        x = _adapt(B, x, (1 + a % 3, 1 + b % 3))
        if x is None:
            return None
    shape = tuple(x.shape)
    batch, Tq, d = shape[:-2], shape[-2], shape[-1]
    Tk, dv = 1 + int(rng.integers(0, 4)), 1 + int(rng.integers(0, 3))
    k = _adapt(B, y, _broadcast_partner(batch, rng) + (Tk, d))
    v = _adapt(B, z, _broadcast_partner(batch, rng) + (Tk, dv))
    if k is None or v is None:
        return None
    scores_batch = np.broadcast_shapes(batch, tuple(k.shape[:-2]))
    options = int(rng.integers(0, 1 << 10))
    is_causal = bool(options & 1)
    return_weights = bool(options & 2)
    scale = None if options & 4 else float(rng.choice([0.3, 1.0, 2.0]))
    kind = (options >> 3) % 4  # none, bool, float constant, float node
    mask = None
    empty_rows = False
    mask_shape = _broadcast_partner(scores_batch + (Tq, Tk), rng)
    if kind == 1:
        allowed = rng.random(mask_shape) < 0.7
        if options & 32 and mask_shape:  # key 0 always allowed: no empty rows
            allowed[..., 0] = True
        full = np.broadcast_to(allowed, scores_batch + (Tq, Tk))
        if is_causal:
            full = full & np.tri(Tq, Tk, dtype=bool)
        empty_rows = bool((~full.any(axis=-1)).any())
        mask = B.mask(allowed)
    elif kind >= 2:
        bias = rng.standard_normal(mask_shape)
        if options & 64 and mask_shape:  # some keys excluded by -inf, never key 0
            bias[rng.random(mask_shape) < 0.3] = -np.inf
            bias[..., 0] = 0.0
        mask = B.const(bias)
        if kind == 3:  # a float mask computed in the graph: its gradient is checked too
            finite = np.where(np.isfinite(bias), 0.0, bias)
            node = _adapt(B, x, mask_shape)
            mask = node + B.const(finite) if node is not None else mask
    return B.sdpa(x, k, v, mask, is_causal, scale, return_weights, empty_rows)


def _layer_norm(B, x, y, a, b, c, rng):
    if x.ndim == 0:
        return None
    count = 1 + (a % 2 if x.ndim >= 2 else 0)
    shape = tuple(x.shape[-count:])
    w = _adapt(B, y, shape) if b % 3 else None
    bias = _adapt(B, y.tanh(), shape) if b % 2 else None
    return B.layer_norm(x, shape, w, bias, (1e-5, 1e-3)[c % 2])


def _gelu(B, x, a, b, c, rng):
    return B.gelu(x, ("none", "tanh")[a % 2])


def _join(B, x, y, a, b, c, rng):
    if x.ndim == 0:
        return None
    dim = a % x.ndim
    shape = list(x.shape)
    shape[dim] = 1 + b % 3
    y = _adapt(B, y, tuple(shape))
    return None if y is None else B.cat([x, y, x][: 2 + c % 2], dim)


def _fits(sample) -> bool:
    # samples with fixed values test one point (0⁰, ties): random inputs would miss it
    return bool(sample.shapes) and sample.values is None and all(0 not in shape for shape in sample.shapes)


USAGES = [entry for entry in all_usages() if any(_fits(s) for s in entry.samples)]  # every op, by its usages


def _usage_sample(a: int, b: int):
    entry = USAGES[a % len(USAGES)]
    samples = [s for s in entry.samples if _fits(s)]
    return entry, samples[b % len(samples)]


def _usage(B, operands, a, b, c, rng):
    """One usage of the op registry, on one of its samples' shapes and options, with inputs
    made from random nodes (kept in the sample's domain)."""
    entry, sample = _usage_sample(a, b)
    tensors = []
    for x, shape, domain in zip(operands, sample.shapes, sample.domain):
        x = _adapt(B, x, shape)
        if x is None:
            return None
        tensors.append(_spread(B, x) if entry.api == "std" or entry.name in NONSMOOTH else _in_domain(B, x, domain, rng))
    out = B.usage(entry, tensors, dict(sample.kwargs))
    return out if B.is_float_tensor(out) else None


# name -> (number of operands, function); the registry's own usages come in through "usage"
STEPS: dict[str, tuple[int, Callable]] = {
    "binary": (2, _binary), "unary": (1, _unary), "reduce": (1, _reduce), "softmax": (1, _softmax),
    "matmul": (2, _matmul), "movement": (1, _movement), "masked": (2, _masked), "attention": (3, _attention),
    "layer_norm": (2, _layer_norm), "gelu": (1, _gelu), "join": (2, _join), "usage": (None, _usage),
}
STEP_NAMES = tuple(STEPS) + ("ce",)  # "ce": the loss is a cross-entropy of the last node


def step_label(step: list) -> str:
    """What a step does, for signatures: "binary:mul", "usage:pow[__pow__]", "attention"."""
    name, a = step[0], step[1]
    if name == "usage":
        return f"usage:{USAGES[a % len(USAGES)].id}"
    if name == "binary":
        return f"binary:{BINARY[a % len(BINARY)]}"
    if name == "unary":
        return f"unary:{UNARY[a % len(UNARY)]}"
    if name == "reduce":
        return f"reduce:{('sum', 'mean', 'amax', 'var', 'std')[step[3] % 5]}"
    return name


# ---- the interpreter ----
class Built:
    """What one backend built: the leaves, every node (label, tensor), which nodes kept their
    gradient, and the loss."""

    def __init__(self, leaves, nodes, retained, loss, reads=()):
        self.leaves, self.nodes, self.retained, self.loss = leaves, nodes, retained, loss
        self.reads = list(reads)  # per node: the nodes its step read


def input_arrays(program: dict) -> list[np.ndarray]:
    rng = np.random.default_rng(program["seed"])
    arrays = [rng.standard_normal(tuple(s)) * program["scale"] for s in program["shapes"]]
    if program.get("family") == "large32":  # both engines start from the same float32 numbers
        arrays = [a.astype(np.float32).astype(np.float64) for a in arrays]
    return arrays


def run(program: dict, B, leaves: list | None = None, backward: bool = True) -> Built:
    """Build `program` with backend B (from fresh leaves, or the given ones) and backpropagate its loss."""
    if leaves is None:
        leaves = [B.leaf(a) for a in input_arrays(program)]
    nodes = [("input", x) for x in leaves]
    consumed = [False] * len(nodes)
    reads = [()] * len(nodes)
    loss_kind = None
    for step in program["steps"]:
        name, a, b, c, r = step
        if name == "ce":
            loss_kind = (a, b, c, r)
            continue
        arity, fn = STEPS[name]
        if arity is None:  # a usage takes as many operands as its sample has tensors
            entry, sample = _usage_sample(a, b)
            if entry.name == "astype" and program["family"] == "large32":
                continue  # float64 meeting float32 later: PyTorch's matmul refuses the pair, ours promotes
            arity = len(sample.shapes)
        # the first operand counts back from the newest node, the others anywhere: reuse is common
        picks = [(len(nodes) - 1 - a % 3) % len(nodes)] + [(a + b * k + c) % len(nodes) for k in range(1, arity)]
        operands = [nodes[p][1] for p in picks]
        rng = np.random.default_rng(r)
        with B.rounding():
            result = fn(B, operands, a, b, c, rng) if name == "usage" else fn(B, *operands, a, b, c, rng)
        if result is None:
            continue
        for p in picks:
            consumed[p] = True
        label = step_label(step)
        for part, x in enumerate(result if isinstance(result, tuple) else (result,)):
            nodes.append((label if part == 0 else label + ".weights", x))
            consumed.append(False)
            reads.append(tuple(picks))
    with B.rounding():
        loss = _loss(program, B, nodes, consumed, reads, loss_kind)
    retained = []
    if backward:
        retain_rng = np.random.default_rng(program["retain"])
        for i, (label, x) in enumerate(nodes):
            if program["retain"] and i >= len(leaves) and retain_rng.random() < 0.5 and x.requires_grad:
                B.retain(x)
                retained.append(i)
        loss.backward()
    return Built(leaves, nodes, retained, loss, reads)


def _loss(program, B, nodes, consumed, reads, loss_kind):
    rng = np.random.default_rng(program["seed"] + 1)
    sinks = [x for (label, x), used in zip(nodes, consumed) if not used]
    total = None
    for x in sinks:
        term = (x * B.const(rng.standard_normal(tuple(x.shape)))).sum()
        total = term if total is None else total + term
    if loss_kind is not None:
        a, b, c, r = loss_kind
        ce_rng = np.random.default_rng(r)
        classes = 2 + a % 4
        shape = (1 + b % 4, classes) + ((1 + c % 3,) if c % 2 else ())
        logits = _adapt(B, nodes[-1][1], shape)
        targets = ce_rng.integers(0, classes, (shape[0],) + shape[2:])
        targets[ce_rng.random(targets.shape) < 0.2] = -100
        targets.flat[0] = 0  # at least one counted position: a mean over none is 0/0 in PyTorch too
        reduction = ("mean", "sum", "none")[r % 3]
        ce = B.cross_entropy(logits, targets, reduction, (0.0, 0.1)[b % 2])
        if reduction == "none":
            ce = (ce * B.const(ce_rng.standard_normal(tuple(ce.shape)))).sum()
        nodes.append(("ce", ce))
        reads.append((len(nodes) - 2,))
        total = ce if total is None else total + ce
    return total


# ---- the checks ----
class Mismatch:
    """One disagreement: which check, at which node, and by how much."""

    def __init__(self, check: str, where: str, detail: str):
        self.check, self.where, self.detail = check, where, detail

    def __repr__(self) -> str:
        return f"{self.check} at {self.where}: {self.detail}"


def _far(got, want, rtol, atol) -> str | None:
    """None if got ≈ want elementwise (|got - want| <= atol + rtol·|want|, NaN only where
    want is NaN), else the largest difference."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    both_nan = np.isnan(got) & np.isnan(want)
    same_inf = np.isinf(want) & (got == want)
    bad = ~(both_nan | same_inf | (np.abs(got - want) <= atol + rtol * np.abs(want)))
    if not bad.any():
        return None
    i = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(np.abs(got - want), nan=np.inf), -1)), bad.shape)
    return f"max diff at {tuple(int(n) for n in i)}: {got[i]!r} vs {want[i]!r}"


def _grads(built: Built, B) -> list:
    """(label, gradient or None) of every input, then of every node that kept its gradient."""
    out = [(f"grad of input {i}", B.grad(x)) for i, x in enumerate(built.leaves)]
    out += [(f"grad of node {i} ({built.nodes[i][0]})", B.grad(built.nodes[i][1])) for i in built.retained]
    return out


def _compare(check: str, a: Built, Ba, b: Built, Bb, rtol: float, atol: float, scale_by_max: bool,
             grad_floor: float = 0.0) -> list:
    """Every node's value and every gradient of a against b; tolerance atol·(1 + max|b|) if
    scale_by_max, and at least `grad_floor` for gradients."""
    found = []
    if len(a.nodes) != len(b.nodes):
        return [Mismatch(check, "graph", f"{len(a.nodes)} nodes vs {len(b.nodes)}")]
    pairs = [(f"value of node {i} ({label})", Ba.numpy(x), Bb.numpy(y))
             for i, ((label, x), (_, y)) in enumerate(zip(a.nodes, b.nodes))]
    for (where, ga), (_, gb) in zip(_grads(a, Ba), _grads(b, Bb)):
        if ga is None and gb is None:
            continue
        shape = np.shape(gb if ga is None else ga)
        pairs.append((where, np.zeros(shape) if ga is None else ga, np.zeros(shape) if gb is None else gb))
    for where, got, want in pairs:
        finite = np.asarray(want, dtype=np.float64)[np.isfinite(want)]
        tol = atol * (1.0 + (np.abs(finite).max() if scale_by_max and finite.size else 0.0))
        if where.startswith("grad"):
            tol = max(tol, grad_floor)
        problem = _far(got, want, rtol, tol)
        if problem:
            found.append(Mismatch(check, where, problem))
            break  # the first node that disagrees is the one to look at
    return found


# float64: the engines round differently (summation order, a max shift skipped), each within a
# few ulps per op; a few hundred ulps of the node's largest entry leaves room for 20 ops of growth
RTOL64, ATOL64 = 1e-9, 1e-10
SCORE_ULPS64 = 64  # float64 ulps of the largest attention score: the relative tolerance after attention
# A gradient is a sum of contributions, one per use of the input, which may cancel: layer_norm's
# dx sums to 0 over a row, so 1e4 · Σ dx is rounding alone. Its error is then set by the largest
# contribution, not by its own size: 1000 float64 ulps of _gradient_scale.
GRAD_ULPS64 = 1000


def _gradient_scale(program: dict) -> float:
    """The largest gradient contribution in the graph: max over every node of the engine's graph
    (the reshapes and concatenations that build operands too) of |dL/dnode| times the largest
    |value| among the node's inputs (what a consumer multiplies that gradient by), at least 1."""
    B = Ours("float64")
    built = run(program, B, backward=False)
    nodes = topological_order(built.loss)
    for node in nodes:
        if node._op is not None:
            node.retain_grad()
    built.loss.backward()
    scale = 0.0
    for node in nodes:
        if node.grad is None:
            continue
        read = [np.max(np.abs(x.data), initial=0.0) for x in node._inputs if x.data.dtype.kind == "f"]
        with np.errstate(invalid="ignore", over="ignore"):  # an inf value or gradient: no finite scale
            contribution = float(np.max(np.abs(node.grad), initial=0.0)) * max([1.0] + read)
        if np.isfinite(contribution):
            scale = max(scale, contribution)
    return scale


def check(program: dict) -> list:
    """Run the family's checks; the list of mismatches (empty when everything agrees)."""
    family = program["family"]
    if family == "scalar_attention":
        return _check_scalar_attention(program)
    if family == "scalar_expr":
        return _check_scalar_expr(program)
    dtype = "float32" if family == "large32" else "float64"
    found = []
    try:
        on = run(program, Ours(dtype, True))
        with ta.use_kernels(False):
            off = run(program, Ours(dtype, False))
    except Exception as error:  # a refusal is fine where PyTorch refuses too, or answers NaN
        if torch is not None:
            try:
                theirs = run(program, Torch(dtype))
            except Exception:
                return []
            if any(np.isnan(v).any() for v in _value_table(theirs, Torch(dtype)).values()):
                return []  # ours refuses, by design, what PyTorch turns into NaN (a mean over no elements)
        return [Mismatch("ours raised", "build", f"{type(error).__name__}: {error}")]
    if family == "large32":
        return _check_large32(program, on, off)
    floor = GRAD_ULPS64 * float(np.finfo(np.float64).eps) * _gradient_scale(program)
    want, largest_score, built_by_torch = None, 0.0, None
    if torch is not None:
        theirs = Torch("float64")
        try:
            want = run(program, theirs)
            largest_score = theirs.largest_score
        except Exception as error:
            built_by_torch = error
    # a score s is known to an ulp of s, and the weights to that, relatively: scores of 1e8 leave
    # 2e-8 in every value and gradient after them, in any float64 engine
    rtol = max(RTOL64, SCORE_ULPS64 * float(np.finfo(np.float64).eps) * largest_score)
    atol = max(ATOL64, rtol / 10)
    found += _compare("kernels on vs off", on, Ours(dtype), off, Ours(dtype), rtol, atol, True, floor)
    if built_by_torch is not None:
        return found + [Mismatch("torch raised", "build", f"{type(built_by_torch).__name__}: {built_by_torch}")]
    if want is not None:
        against_torch = _compare("vs torch float64", on, Ours(dtype), want, Torch("float64"), rtol, atol, True, floor)
        found += [m for m in against_torch if not _finite_differences_side_with_ours(program, m, on, want)]
    if family == "fd":
        found += _check_finite_differences(program)
    return found


def _finite_differences_side_with_ours(program: dict, mismatch: Mismatch, ours: Built, theirs: Built) -> bool:
    """Where ours and PyTorch (both float64) disagree on an input's gradient, central differences
    of the loss at two step sizes decide: PyTorch's fused kernels round too (its layer_norm
    computes x·(w/σ) − mean·(w/σ), which leaves x̂ ≈ 1e-6 for a lone entry of 3e7 where x̂ is
    exactly 0). True if the differences agree with each other and with ours, and PyTorch is
    10 times further from them than ours."""
    if not mismatch.where.startswith("grad of input"):
        return False
    i = int(mismatch.where.split()[-1])
    B = Ours("float64")
    arrays = input_arrays(program)
    got = np.asarray(B.grad(ours.leaves[i]) if B.grad(ours.leaves[i]) is not None else 0.0, dtype=np.float64)
    want = theirs.leaves[i].grad
    want = np.zeros_like(got) if want is None else want.numpy()

    def loss(array):
        leaves = [B.leaf(a) for a in arrays[:i] + [array] + arrays[i + 1:]]
        return float(B.numpy(run(program, B, leaves, backward=False).loss))

    estimates = []
    for relative_step in (1e-4, 1e-5):
        estimate = np.zeros(arrays[i].shape)
        for index in np.ndindex(arrays[i].shape):
            h = relative_step * max(1.0, abs(float(arrays[i][index])))
            up, down = arrays[i].copy(), arrays[i].copy()
            up[index] += h
            down[index] -= h
            estimate[index] = (loss(up) - loss(down)) / (2 * h)
        estimates.append(estimate)
    spread = np.max(np.abs(estimates[0] - estimates[1]), initial=0.0)
    ours_off = np.max(np.abs(got - estimates[1]), initial=0.0)
    theirs_off = np.max(np.abs(want - estimates[1]), initial=0.0)
    return ours_off <= 2 * spread + 1e-9 * (1 + np.max(np.abs(got), initial=0.0)) and theirs_off > 10 * max(ours_off, spread)


def _smooth(step: list) -> bool:
    if step[0] == "usage":
        entry, sample = _usage_sample(step[1], step[2])
        return sample.smooth and entry.name not in NONSMOOTH
    return step_label(step).split(":")[-1] not in NONSMOOTH


FD_LARGEST_VALUE = 1e3  # the finite-difference check runs on graphs whose values stay within this


def _check_finite_differences(program: dict) -> list:
    if any(not _smooth(step) for step in program["steps"]):
        return []  # a kink, a tie or a gradient that is not the derivative by design
    B = Ours("float64")
    leaves = [B.leaf(a) for a in input_arrays(program)]
    # Central differences at h = 1e-6 are only as good as the graph is tame: with values of 1e4
    # (masked_fill's 1e4, say) a softmax of scores ~1e4·x has a third derivative ~1e12, so the
    # h²·f⁽³⁾/6 error is ~1; values of 1e8 in the loss round every difference quotient by 1e-2.
    # Such graphs are left to the PyTorch float64 comparison, which has no step to choose.
    built = run(program, B, leaves, backward=False)
    largest = max([np.max(np.abs(B.numpy(x)), initial=0.0) for _, x in built.nodes if B.is_float_tensor(x)],
                  default=0.0)
    if not largest <= FD_LARGEST_VALUE:
        return []
    try:
        gradcheck(lambda *xs: run(program, B, list(xs), backward=False).loss, leaves, eps=1e-6, atol=1e-5, rtol=1e-3)
    except AssertionError as error:
        return [Mismatch("vs finite differences", "gradient", str(error).splitlines()[0])]
    return []


# A float32 gradient goes through ops whose sensitivity grows with |x| / spread(x) (the mean
# inside std or layer_norm rounds by ulp(|x|); a bias below ulp(score) vanishes from scores of
# 1e8), which neither measurement sees inside one fused op: gradients get 1e-3 of the graph's
# gradient scale. A wrong rule is off by O(1) of that scale, far above it.
GRAD_FLOOR32 = 1e-3


def _check_large32(program: dict, on: Built, off: Built) -> list:
    """float32 with large inputs, against float64. Rounding errors in float32 scale with the
    values and with each op's conditioning (scores of 1e7 are only known to a few units, and
    softmax turns that into any weights), so a fixed tolerance is either blind or flaky.
    Two measurements of what float32 can do on this very graph set the budget: PyTorch's own
    float32 run, and a float64 run with every op's result and the gradient reaching it moved by
    ±2 float32 ulps (what a stable float32 algorithm may do at each op). Ours may be 8× further from the float64 truth than
    the larger of the two, plus 64 ulps of the node's largest value (and of its operands',
    where a sum cancels; GRAD_FLOOR32 of the gradient scale for gradients), plus a few subnormals."""
    if torch is None:
        return _compare("kernels on vs off (float32)", on, Ours("float32"), off, Ours("float32"), 1e-4, 1e-4, True)
    try:
        truth_backend = Torch("float64")
        truth, t32 = run(program, truth_backend), run(program, Torch("float32"))
        jittered = run(program, Torch("float64", jitter=program["seed"]))
    except Exception as error:
        return [Mismatch("torch raised", "build", f"{type(error).__name__}: {error}")]
    t32_values = _value_table(t32, Torch("float32"))
    if any(not np.all(np.isfinite(v)) for v in t32_values.values()):
        return []  # float32 overflows on this graph: no finite answer to compare with
    truth_values = _value_table(truth, Torch("float64"))
    if _below_float32_resolution(truth, truth_values) or truth_backend.unresolved_attention:
        return []  # no float32 program can say what this graph computes (see the functions)
    jitter_values = _value_table(jittered, Torch("float64"))
    scales = _operand_scales(truth, truth_values)
    ancestors = _ancestor_scales(truth, truth_values)
    # a gradient sums its consumers' contributions, which may cancel: its floor is set by the
    # largest gradient of the graph, and at least by the loss weights (~1) where backward starts
    largest_grad = max([np.max(np.abs(v), initial=1.0) for k, v in truth_values.items() if k.startswith("grad")],
                       default=1.0)
    eps, tiny = float(np.finfo(np.float32).eps), float(np.finfo(np.float32).smallest_normal)
    eps64 = float(np.finfo(np.float64).eps)
    # and where the inputs' gradients are small differences of far larger gradients inside the graph
    # (layer_norm's dx of a constant row, ±4e9, sums to 0 through a later matmul), they are known
    # only to a few float32 ulps of those: every float32 program rounds the ±4e9 by ±256
    largest_grad = max(largest_grad, GRAD_FLOOR_ULPS32 * eps * _largest_node_gradient(program) / GRAD_FLOOR32)
    scales.update({k: largest_grad for k in truth_values if k.startswith("grad")})
    found = []
    for check_name, built in (("float32 kernels on vs torch float64", on), ("float32 kernels off vs torch float64", off)):
        ours = _value_table(built, Ours("float32"))
        if ours.keys() != truth_values.keys():
            return [Mismatch(check_name, "graph", "different nodes")]
        for where, want in truth_values.items():
            measured = max(np.max(np.abs(t32_values[where] - want), initial=0.0),
                           np.max(np.abs(jitter_values[where] - want), initial=0.0))
            floor = (GRAD_FLOOR32 if where.startswith("grad") else 64 * eps) * scales[where]
            # the float64 truth is rounded too: PyTorch's gelu is x·½(1 + erf(x/√2)), 0 below
            # x ≈ -8 where the true value is ~1e-16·|x|; a few float64 ulps of the scale cover it
            allowed = 8 * measured + floor + 8 * eps64 * ancestors.get(where, scales[where]) + 4 * tiny
            got = ours[where]
            error = np.max(np.abs(got - want), initial=0.0) if np.all(np.isfinite(got)) else np.inf
            if not error <= allowed:
                found.append(Mismatch(check_name, where, f"error {error:.3g} > allowed {allowed:.3g} "
                                                         f"(float32 measured {measured:.3g})"))
                break
    return found


GRAD_FLOOR_ULPS32 = 8  # float32 ulps of the graph's largest gradient: the floor of every gradient's error


def _largest_node_gradient(program: dict) -> float:
    """max |dL/dnode| over every node of the graph, in PyTorch float64."""
    B = Torch("float64")
    built = run(program, B, backward=False)
    for _, x in built.nodes[len(built.leaves):]:
        if B.is_float_tensor(x) and x.requires_grad:
            B.retain(x)
    built.loss.backward()
    grads = [B.grad(x) for _, x in built.nodes if B.is_float_tensor(x)]
    largest = max([float(np.max(np.abs(g), initial=0.0)) for g in grads if g is not None], default=0.0)
    return largest if np.isfinite(largest) else 0.0


def _below_float32_resolution(built: Built, values: dict) -> bool:
    """Does a layer_norm normalise a row whose spread float32 cannot hold? Its rows' σ is below
    64 float32 ulps of their largest |x| (rows such as [1.8e8, 1.8e8 + 1, ...]): in float32 the
    row is constant, x̂ = 0 and dx = (g − mean g)/√eps, while in float64 x̂ is O(1) and dx ~ 1/σ.
    Both are right for their own inputs; the condition number max|x|/σ exceeds 1/ulp, so the
    comparison measures the input's rounding, not the op."""
    names = list(values)[:len(built.nodes)]
    eps32 = float(np.finfo(np.float32).eps)
    for i, (label, _) in enumerate(built.nodes):
        if label != "layer_norm" or i >= len(built.reads) or not built.reads[i]:
            continue
        rows = values[names[built.reads[i][0]]]
        if rows.ndim == 0 or rows.shape[-1] < 2:
            continue
        spread = rows.std(axis=-1)
        top = np.max(np.abs(rows), axis=-1)
        if np.any(spread < 64 * eps32 * top):
            return True
    return False


def _operand_scales(built: Built, values: dict) -> dict:
    """Each node's largest magnitude, also over the nodes its step read (where a sum cancels)."""
    names = list(values)[:len(built.nodes)]
    scales = {}
    for i, name in enumerate(names):
        reads = built.reads[i] if i < len(built.reads) else ()
        scales[name] = max([np.max(np.abs(values[name]), initial=0.0)] +
                           [np.max(np.abs(values[names[j]]), initial=0.0) for j in reads])
    return scales


def _ancestor_scales(built: Built, values: dict) -> dict:
    """Each node's largest magnitude over itself and every node it was computed from."""
    names = list(values)[:len(built.nodes)]
    scales: dict = {}
    for i, name in enumerate(names):
        reads = built.reads[i] if i < len(built.reads) else ()
        scales[name] = max([np.max(np.abs(values[name]), initial=0.0)] + [scales[names[j]] for j in reads])
    return scales


def _value_table(built: Built, B) -> dict:
    """Every node's value and every kept gradient, as float64 arrays by name (no gradient: zeros)."""
    table = {f"value of node {i} ({label})": B.numpy(x).astype(np.float64) for i, (label, x) in enumerate(built.nodes)}
    shapes = [tuple(x.shape) for x in built.leaves] + [tuple(built.nodes[i][1].shape) for i in built.retained]
    for (where, g), shape in zip(_grads(built, B), shapes):
        table[where] = np.zeros(shape) if g is None else np.asarray(g, dtype=np.float64)
    return table


# ---- Value vs Tensor ----
def _scalar_attention_data(program: dict):
    rng = np.random.default_rng(program["seed"])
    a, b, c, r = program["steps"][0][1:] if program["steps"] else (0, 0, 0, 0)
    Tq, Tk, d, dv = 1 + a % 3, 1 + b % 3, 1 + c % 3, 1 + r % 3
    q, k, v = rng.standard_normal((Tq, d)), rng.standard_normal((Tk, d)), rng.standard_normal((Tk, dv))
    causal = bool(r % 2)
    allowed = rng.random((Tq, Tk)) < 0.7 if (r // 2) % 2 else np.ones((Tq, Tk), dtype=bool)
    R = rng.standard_normal((Tq, dv))
    return q, k, v, causal, allowed, R


def _check_scalar_attention(program: dict) -> list:
    """The same small attention as Values (every multiply and add its own node) and as one
    Tensor op, kernels on and off: the output and every input's gradient agree."""
    q, k, v, causal, allowed, R = _scalar_attention_data(program)
    Tq, d = q.shape
    scale = 1.0 / math.sqrt(d)
    full = allowed & np.tri(*allowed.shape, dtype=bool) if causal else allowed
    vq = [[Value(float(x)) for x in row] for row in q]
    vk = [[Value(float(x)) for x in row] for row in k]
    vv = [[Value(float(x)) for x in row] for row in v]
    outputs = []
    for i in range(Tq):
        keys = [j for j in range(len(vk)) if full[i, j]]
        if not keys:
            outputs.append([Value(0.0, requires_grad=False) for _ in range(v.shape[1])])
            continue
        weights = scalar_softmax([dot(vq[i], vk[j]) * scale for j in keys])
        outputs.append(weighted_sum(weights, [vv[j] for j in keys]))
    loss = sum((o * float(w) for row, rrow in zip(outputs, R) for o, w in zip(row, rrow)), Value(0.0))
    loss.backward()
    scalar = {"output": np.array([[o.data for o in row] for row in outputs]),
              "grad q": np.array([[x.grad for x in row] for row in vq]),
              "grad k": np.array([[x.grad for x in row] for row in vk]),
              "grad v": np.array([[x.grad for x in row] for row in vv])}
    found = []
    for kernels in (True, False):
        with ta.use_kernels(kernels):
            tq, tk, tv = (ta.tensor(x, requires_grad=True, dtype=np.float64) for x in (q, k, v))
            mask = None if allowed.all() else allowed
            out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, is_causal=causal)
            (out * ta.tensor(R, dtype=np.float64)).sum().backward()
        tensor = {"output": out.data, "grad q": tq.grad, "grad k": tk.grad, "grad v": tv.grad}
        for where in scalar:
            problem = _far(tensor[where], scalar[where], 1e-10, 1e-12)
            if problem:
                found.append(Mismatch(f"Value vs Tensor (kernels {'on' if kernels else 'off'})", where, problem))
                break
    return found


SCALAR_OPS = [op.name for op in ta.ops.all_ops("scalar")]  # drawn from the registry: a new scalar op joins


def _scalar_expr(program: dict, make, const, funcs):
    """A random expression over the scalar ops, from leaves made by `make` (a Value or a 0-d
    Tensor): the same code for both engines. Arguments are kept in each op's domain."""
    leaves = [make(float(x)) for x in input_arrays(program)[0].reshape(-1)] if program["shapes"] else []
    nodes = list(leaves) or [make(0.5)]
    leaves = leaves or nodes
    for name, a, b, c, r in program["steps"]:
        op = SCALAR_OPS[a % len(SCALAR_OPS)]
        x, y = nodes[(len(nodes) - 1 - b) % len(nodes)], nodes[c % len(nodes)]
        number = (0.5, -1.5, 2.0, 3.0)[r % 4]
        if op in ("add", "sub", "mul"):
            left = r % 3 == 0  # a number on the left: the reflected operator
            z = {"add": (lambda: number + x) if left else (lambda: x + y),
                 "sub": (lambda: number - x) if left else (lambda: x - y),
                 "mul": (lambda: number * x) if left else (lambda: x * y)}[op]()
        elif op == "div":
            z = number / (y * y + 1.0) if r % 3 == 0 else x / (y * y + 1.0)
        elif op == "pow":
            base = x * x + 0.5  # a positive base: every real exponent is allowed
            z = base ** (number if r % 2 else funcs["tanh"](y)) if r % 3 else 1.5 ** funcs["tanh"](y)
        elif op == "neg":
            z = -x
        elif op == "log":
            z = funcs["log"](x * x + 0.5)
        elif op == "exp":
            z = funcs["exp"](funcs["tanh"](x))
        else:
            z = funcs[op](x)
        nodes.append(z)
    total = nodes[-1]
    for extra in nodes[len(leaves):-1][::3]:  # some other nodes on the loss path too: several consumers
        total = total + extra * const(0.25)
    return leaves, total


def _check_scalar_expr(program: dict) -> list:
    values_leaves, value_loss = _scalar_expr(program, lambda x: Value(x), lambda x: x,
                                             {n: (lambda name: lambda v: getattr(v, name)())(n)
                                              for n in ("exp", "log", "tanh", "relu", "sigmoid")})
    value_loss.backward()
    found = []
    for kernels in (True, False):
        with ta.use_kernels(kernels):
            tensor_leaves, tensor_loss = _scalar_expr(
                program, lambda x: ta.tensor(x, requires_grad=True, dtype=np.float64), lambda x: x,
                {n: (lambda name: lambda t: getattr(t, name)())(n) for n in ("exp", "log", "tanh", "relu", "sigmoid")})
            tensor_loss.backward()
        where_label = f"Value vs Tensor expression (kernels {'on' if kernels else 'off'})"
        problem = _far(float(tensor_loss.data), value_loss.data, 1e-12, 1e-12)
        if problem:
            found.append(Mismatch(where_label, "value", problem))
            continue
        for i, (v, t) in enumerate(zip(values_leaves, tensor_leaves)):
            problem = _far(0.0 if t.grad is None else float(t.grad), v.grad, 1e-10, 1e-12)
            if problem:
                found.append(Mismatch(where_label, f"grad of input {i}", problem))
                break
    return found


# ---- drawing programs with NumPy (the script; the tests use hypothesis for the same data) ----
def draw(rng: np.random.Generator, family: str) -> dict:
    """A random program of `family`."""
    seed = int(rng.integers(0, 2**31 - 1))
    if family in ("scalar_attention", "scalar_expr"):
        n_steps = 1 if family == "scalar_attention" else int(rng.integers(1, 12))
        steps = [["scalar"] + [int(x) for x in rng.integers(0, 1000, 4)] for _ in range(n_steps)]
        shapes = [(int(rng.integers(1, 4)),)]
        return make_program(family, shapes, steps, seed)
    n_inputs = int(rng.integers(1, 4))
    shapes = [SHAPES[int(i)] for i in rng.integers(0, len(SHAPES), n_inputs)]
    max_steps = 5 if family == "fd" else 9
    names = list(STEP_NAMES)
    weights = np.array([3 if n in ("attention", "usage") else 1 for n in names], dtype=float)
    picked = rng.choice(len(names), int(rng.integers(1, max_steps)), p=weights / weights.sum())
    steps = [[names[int(i)]] + [int(x) for x in rng.integers(0, 1000, 4)] for i in picked]
    scale = float(rng.choice([30.0, 300.0, 1e4])) if family == "large32" else 1.0
    retain = int(rng.integers(0, 1000)) if rng.random() < 0.5 else 0
    return make_program(family, shapes, steps, seed, scale, retain)


# ---- reporting: signatures, shrinking, replay ----
def signature(program: dict, mismatch: Mismatch) -> str:
    """What kind of failure this is: the family, the check, and the kind of node it hit."""
    where = mismatch.where.split("(")[-1].rstrip(")") if "(" in mismatch.where else mismatch.where.split(" ")[0]
    return f"{program['family']} | {mismatch.check} | {where}"


def shrink(program: dict, still_fails: Callable[[dict], bool], budget: int = 400) -> dict:
    """Greedily drop steps, inputs and options while `still_fails(program)` stays True."""
    best = json.loads(json.dumps(program))
    changed = True
    while changed and budget > 0:
        changed = False
        candidates = []
        for i in range(len(best["steps"])):
            candidates.append({**best, "steps": best["steps"][:i] + best["steps"][i + 1:]})
        for i in range(len(best["shapes"])):
            if len(best["shapes"]) > 1:
                candidates.append({**best, "shapes": best["shapes"][:i] + best["shapes"][i + 1:]})
            for j in range(len(best["shapes"][i])):
                smaller = [list(s) for s in best["shapes"]]
                if smaller[i][j] > 1:
                    smaller[i][j] -= 1
                    candidates.append({**best, "shapes": smaller})
        if best["retain"]:
            candidates.append({**best, "retain": 0})
        for candidate in candidates:
            budget -= 1
            if budget <= 0:
                break
            if candidate["steps"] and still_fails(candidate):
                best, changed = candidate, True
                break
    return best


def replay_command(program: dict) -> str:
    return f"python scripts/fuzz_graphs.py --replay '{json.dumps(program, separators=(',', ':'))}'"
