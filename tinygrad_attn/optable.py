"""One table of ops with sample inputs: it drives the gradient checks, the PyTorch comparisons
and the op reference in the README, so an op is tested by adding one entry.

An entry (`OpInfo`) says
    name       the `Op.name` of the op row it exercises ("mul" for `MUL`); several entries may
               share a name when the op has several spellings (a * b, 2 * a)
    api        what a user calls: a dunder ("__mul__", "__rmul__"), a method ("sum"), a property
               ("T"), or a module function with its prefix ("ta.where", "F.gelu")
    call       the engine call: `call(*tensors, **kwargs)` returns a Tensor
    reference  the same computation in PyTorch: `reference(torch, *tensors, **kwargs)`, with the
               torch module passed in (this library never imports torch)
    samples    `S(*shapes, **kwargs)`: one shape per tensor input (each becomes a float tensor
               that requires grad) and the keyword arguments passed to both callables; index
               arrays, masks and constants go in the keyword arguments
    note       a behaviour worth stating (e.g. how tied maxima share the gradient), shown in docs
    variant    tells apart two entries with the same api (e.g. `ta.where` with a number for b)

Sample options (keyword-only in `S`):
    domain     how input values are drawn: "real" (standard normal), "positive" (in [0.5, 2]),
               "nonzero" (|x| in [0.5, 2]), "ties" (small integers, so ties happen); one string
               for every input or a tuple with one per input
    values     explicit arrays instead of random ones, one per tensor input (shapes follow)
    smooth     False where the op is not differentiable at the sample (e.g. tied maxima): the
               finite-difference check is skipped there, the PyTorch comparison still runs
    note       why the sample is there (shown when its finite-difference check is skipped)

Registering an entry is one line:

    register("exp", "exp", lambda x: x.exp(), lambda torch, x: x.exp(), S((2, 3)), S(()), S((2, 0)))

The tests (tests/test_tensor_ops.py) then gradcheck every sample in float64, compare values and
gradients with PyTorch in float64 and float32, and fail if an `Op` row of a module in
`OP_MODULES` has no entry. `render_markdown()` turns the table into the op reference.
"""
from __future__ import annotations

import importlib
import pkgutil
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import where as _where, concatenate as _concatenate, stack as _stack
from .core import Op

Shape = tuple[int, ...]

DOMAINS = ("real", "positive", "nonzero", "ties")


@dataclass(frozen=True)
class Sample:
    """One set of inputs for an entry: tensor shapes (or values) and keyword arguments."""

    shapes: tuple[Shape, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    domain: tuple[str, ...] = ()
    values: tuple[np.ndarray, ...] | None = None
    smooth: bool = True
    note: str = ""

    def arrays(self, dtype: Any, seed: int) -> list[np.ndarray]:
        """The input arrays in `dtype`, drawn from each input's domain with a fixed seed."""
        if self.values is not None:
            return [np.array(v, dtype=dtype) for v in self.values]
        rng = np.random.default_rng(seed)
        return [_draw(rng, shape, domain).astype(dtype) for shape, domain in zip(self.shapes, self.domain)]

    def describe(self) -> str:
        """Shapes and keyword arguments in a short form, e.g. `(2, 3), (3,); axis=1`."""
        shapes = ", ".join(str(s) for s in self.shapes) or "no tensors"
        kwargs = "; ".join(f"{key}={_short(value)}" for key, value in self.kwargs.items())
        return f"{shapes}; {kwargs}" if kwargs else shapes


@dataclass(frozen=True)
class OpInfo:
    """An op as the tests and docs see it: the engine call, PyTorch's, and sample inputs."""

    name: str
    api: str
    call: Callable[..., Any]
    reference: Callable[..., Any]
    samples: tuple[Sample, ...]
    note: str = ""
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}[{self.api}{':' + self.variant if self.variant else ''}]"

    def seed(self, sample_index: int) -> int:
        """A seed that depends only on the entry and sample position (stable across runs)."""
        return zlib.crc32(f"{self.id}#{sample_index}".encode())


def S(*shapes: Shape, domain: str | Sequence[str] = "real", values: Sequence[Any] | None = None,
      smooth: bool = True, note: str = "", **kwargs: Any) -> Sample:
    """A sample: one shape per tensor input (or `values=`), and the op's keyword arguments."""
    if values is not None:
        values = tuple(np.asarray(v, dtype=np.float64) for v in values)
        shapes = tuple(v.shape for v in values)
    shapes = tuple(tuple(s) for s in shapes)
    domains = (domain,) * len(shapes) if isinstance(domain, str) else tuple(domain)
    if len(domains) != len(shapes) or any(d not in DOMAINS for d in domains):
        raise ValueError(f"S: domain {domain!r} must be one of {DOMAINS} or one per input ({len(shapes)})")
    return Sample(shapes, dict(kwargs), domains, values, smooth, note)


TABLE: list[OpInfo] = []


def register(name: str, api: str, call: Callable[..., Any], reference: Callable[..., Any],
             *samples: Sample, note: str = "", variant: str = "") -> OpInfo:
    """Add an entry to the table (and return it); `variant` tells apart entries of one api."""
    if not samples:
        raise ValueError(f"register: entry {name}[{api}] needs at least one sample")
    entry = OpInfo(name, api, call, reference, tuple(samples), note, variant)
    if any(existing.id == entry.id for existing in TABLE):
        raise ValueError(f"register: entry {entry.id} is already in the table")
    TABLE.append(entry)
    return entry


# ---- where op rows live (for formulas and the completeness check) ----
_TENSOR_PACKAGE = importlib.import_module("tinygrad_attn.tensor")  # `ta.tensor` names the function
OP_MODULES: list[str] = [
    f"{_TENSOR_PACKAGE.__name__}.{info.name}" for info in pkgutil.iter_modules(_TENSOR_PACKAGE.__path__)
]  # every module of tinygrad_attn/tensor; append other modules that define Op rows


def op_rows() -> dict[str, Op]:
    """Every `Op` row listed in the `OPS` tuple of a module in OP_MODULES, by name."""
    rows: dict[str, Op] = {}
    for module_name in OP_MODULES:
        for op in getattr(importlib.import_module(module_name), "OPS", ()):
            rows[op.name] = op
    return rows


# ---- helpers for samples and references ----
def _draw(rng: np.random.Generator, shape: Shape, domain: str) -> np.ndarray:
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "ties":
        return rng.integers(0, 3, shape).astype(np.float64)
    return rng.standard_normal(shape)


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return f"bool{value.shape}"
        return repr(value.tolist()) if value.size <= 6 else f"{value.dtype}{value.shape}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, slice):
        parts = ("" if part is None else str(part) for part in (value.start, value.stop, value.step))
        return ":".join(parts).rstrip(":") or ":"
    if value is Ellipsis:
        return "..."
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _dims(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """An engine `axis` as the tuple PyTorch's `dim` takes (None means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _torch_index(torch: Any, index: Any) -> Any:
    """A NumPy-style index with its arrays turned into torch tensors."""
    parts = index if isinstance(index, tuple) else (index,)
    converted = tuple(torch.as_tensor(p) if isinstance(p, np.ndarray) else p for p in parts)
    return converted if isinstance(index, tuple) else converted[0]


def _constant(torch: Any, value: Any, like: Any) -> Any:
    """A constant operand as a torch tensor of like's dtype."""
    return torch.as_tensor(np.asarray(value), dtype=like.dtype)


def _reversed_axes(ndim: int) -> tuple[int, ...]:
    return tuple(reversed(range(ndim)))


# Constants for the reflected forms: dyadic numbers, exact in float32 and float64.
_LEFT_ROWS = [[0.5], [-1.5]]  # (2, 1): broadcasts against a (2, 3) tensor
_LEFT_MATRIX = np.array([[0.5, -1.0, 2.0], [1.25, 0.0, -0.75]])  # (2, 3) @ (3, k)

# ---- elementwise: binary ----
register("add", "__add__", lambda a, b: a + b, lambda torch, a, b: a + b,
         S((2, 3), (2, 3)), S((2, 3), (3,)), S((4, 1), (1, 5)), S((2, 1, 3), (4, 1)), S((), (2,)),
         S((0, 3), (3,)))
register("add", "__radd__", lambda a, left: left + a, lambda torch, a, left: _constant(torch, left, a) + a,
         S((2, 3), left=2.5), S((2, 3), left=_LEFT_ROWS))
register("sub", "__sub__", lambda a, b: a - b, lambda torch, a, b: a - b,
         S((2, 3), (2, 3)), S((3,), (2, 3)), S((4, 1), (1, 5)), S((2, 0), (1, 1)))
register("sub", "__rsub__", lambda a, left: left - a, lambda torch, a, left: _constant(torch, left, a) - a,
         S((2, 3), left=1.5), S((2, 3), left=_LEFT_ROWS))
register("mul", "__mul__", lambda a, b: a * b, lambda torch, a, b: a * b,
         S((2, 3), (2, 3)), S((2, 3), (3,)), S((4, 1), (1, 5)), S((2, 1, 3), (4, 1)), S((), (2, 3)),
         S((0, 3), (1, 3)))
register("mul", "__rmul__", lambda a, left: left * a, lambda torch, a, left: _constant(torch, left, a) * a,
         S((2, 3), left=-2.0), S((2, 3), left=_LEFT_ROWS))
register("div", "__truediv__", lambda a, b: a / b, lambda torch, a, b: a / b,
         S((2, 3), (2, 3), domain=("real", "nonzero")), S((2, 3), (3,), domain=("real", "nonzero")),
         S((4, 1), (1, 5), domain=("real", "nonzero")), S((), (2,), domain=("real", "nonzero")),
         S((0, 2), (2,), domain=("real", "nonzero")))
register("div", "__rtruediv__", lambda a, left: left / a, lambda torch, a, left: _constant(torch, left, a) / a,
         S((2, 3), domain="nonzero", left=3.0), S((2, 3), domain="nonzero", left=_LEFT_ROWS))
register("pow", "__pow__", lambda a, b=None, exponent=None: a ** (b if b is not None else exponent),
         lambda torch, a, b=None, exponent=None: a ** (b if b is not None else exponent),
         S((2, 3), (2, 3), domain=("positive", "real")), S((2, 3), (3,), domain=("positive", "real")),
         S((4, 1), (1, 3), domain=("positive", "real")),
         S((2, 3), exponent=2.0, note="negative bases with an integer exponent"),
         S((2, 3), exponent=3, note="an int exponent keeps the float dtype"),
         S((2, 3), domain="positive", exponent=0.5), S((2, 3), domain="positive", exponent=-1.5),
         S((2, 3), exponent=0.0, note="a⁰ = 1, so the gradient is 0 (also at a = 0)"),
         S((0, 3), domain="positive", exponent=2.0),
         note="a negative base needs an integer exponent; a⁰ has gradient 0, also at a = 0")
register("pow", "__rpow__", lambda a, base: base ** a, lambda torch, a, base: _constant(torch, base, a) ** a,
         S((2, 3), base=2.0), S((2, 3), base=0.5), S((2, 3), base=[[1.5], [3.0]]))
register("matmul", "__matmul__", lambda a, b: a @ b, lambda torch, a, b: a @ b,
         S((3,), (3,), note="1-D · 1-D: a scalar"), S((3,), (3, 4)), S((2, 3), (3,)), S((2, 3), (3, 4)),
         S((1, 3), (3, 1)), S((2, 1, 3, 4), (5, 4, 2), note="batch dims (2, 1) and (5,) broadcast"),
         S((4,), (2, 4, 3)), S((2, 3, 4), (4,)), S((3, 2, 4), (4, 5)),
         S((0, 3), (3, 2)), S((2, 0), (0, 3), note="empty inner dim: zeros"),
         note="1-D operands act as a row (left) or a column (right), as in NumPy; batch dims broadcast")
register("matmul", "__rmatmul__", lambda b, left: np.asarray(left, dtype=b.dtype) @ b,
         lambda torch, b, left: _constant(torch, left, b) @ b,
         S((3, 4), left=_LEFT_MATRIX, note="ndarray @ Tensor"), S((2, 3, 2), left=_LEFT_MATRIX))

# ---- elementwise: unary ----
register("neg", "__neg__", lambda a: -a, lambda torch, a: -a, S((2, 3)), S(()), S((0, 2)))
register("exp", "exp", lambda x: x.exp(), lambda torch, x: x.exp(), S((2, 3)), S(()), S((2, 0)))
register("log", "log", lambda x: x.log(), lambda torch, x: x.log(),
         S((2, 3), domain="positive"), S((), domain="positive"), S((0, 3), domain="positive"))
register("sqrt", "sqrt", lambda x: x.sqrt(), lambda torch, x: x.sqrt(),
         S((2, 3), domain="positive"), S((4,), domain="positive"), S((2, 0), domain="positive"))
register("tanh", "tanh", lambda x: x.tanh(), lambda torch, x: x.tanh(),
         S((2, 3)), S(values=[[-20.0, -3.0, 0.0, 3.0, 20.0]]), S((0,)))
register("relu", "relu", lambda x: x.relu(), lambda torch, x: x.relu(),
         S((2, 3)), S((4,)), S(values=[[-1.0, 0.0, 0.0, 2.0]], smooth=False,
                                 note="the gradient at exactly 0 is 0, as in PyTorch"))
register("sigmoid", "sigmoid", lambda x: x.sigmoid(), lambda torch, x: x.sigmoid(),
         S((2, 3)), S(values=[[-40.0, -5.0, 0.0, 5.0, 40.0]], note="large |x| saturates without overflow"),
         S((0, 2)))
register("astype", "astype", lambda x, dtype: x.astype(dtype),
         lambda torch, x, dtype: x.to(getattr(torch, np.dtype(dtype).name)),
         S((2, 3), dtype=np.float64), S((), dtype=np.float64))

# ---- reductions ----
register("sum", "sum", lambda x, **kw: x.sum(**kw),
         lambda torch, x, axis=None, keepdims=False: torch.sum(x, dim=_dims(axis, x.ndim), keepdim=keepdims),
         S((2, 3)), S((2, 3), axis=1), S((2, 3), axis=-1, keepdims=True), S((2, 3, 4), axis=(0, 2)),
         S((2, 3, 4), axis=(-1, 0), keepdims=True), S((1, 3), axis=0), S((2, 3), keepdims=True),
         S((2, 0), axis=1, note="empty axis: sums are 0"), S((2, 0), axis=0), S(()))
register("mean", "mean", lambda x, **kw: x.mean(**kw),
         lambda torch, x, axis=None, keepdims=False: torch.mean(x, dim=_dims(axis, x.ndim), keepdim=keepdims),
         S((2, 3)), S((2, 3), axis=0), S((2, 3), axis=-1, keepdims=True), S((2, 3, 4), axis=(0, 2)),
         S((1, 4), axis=0), S((3, 0), axis=0))
register("max", "max", lambda x, **kw: x.max(**kw),
         lambda torch, x, axis=None, keepdims=False: torch.amax(x, dim=_dims(axis, x.ndim), keepdim=keepdims),
         S((2, 3)), S((2, 3), axis=1), S((2, 3), axis=-2, keepdims=True), S((2, 3, 4), axis=(0, 2)),
         S((3, 0), axis=0), S((4, 1), axis=1),
         S(values=[[[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, -1.0, 0.0]]], axis=1, smooth=False,
           note="ties: three-way and two-way"),
         S(values=[[[1.0, 3.0], [3.0, 0.0]]], smooth=False, note="tie across rows, all axes"),
         S((3, 4), domain="ties", axis=0, smooth=False, note="random ties"),
         note="tied maxima share the gradient evenly (1/k each), as torch.amax; finite differences "
              "cannot check a tie (max is not differentiable there), so tie samples are compared with "
              "PyTorch only")
register("var", "var", lambda x, **kw: x.var(**kw),
         lambda torch, x, axis=None, keepdims=False, correction=1:
             torch.var(x, dim=_dims(axis, x.ndim), correction=correction, keepdim=keepdims),
         S((2, 3)), S((2, 3), axis=1), S((2, 3), axis=0, keepdims=True), S((2, 3, 4), axis=(0, 2)),
         S((4, 3), axis=-2, correction=0), S((1, 5), axis=1), S((3, 1), axis=0))

# ---- shape ----
register("reshape", "reshape",
         lambda x, shape, one_tuple=False: x.reshape(shape) if one_tuple else x.reshape(*shape),
         lambda torch, x, shape, one_tuple=False: x.reshape(shape),
         S((2, 3), shape=(3, 2)), S((2, 3), shape=(6,), one_tuple=True), S((2, 3), shape=(2, -1, 1)),
         S((2, 3, 4), shape=(4, 6)), S((0, 3), shape=(3, 0)), S((), shape=(1, 1)), S((1, 1), shape=()))
register("transpose", "transpose",
         lambda x, axes=None, one_tuple=False: (x.transpose() if axes is None else
                                                x.transpose(axes) if one_tuple else x.transpose(*axes)),
         lambda torch, x, axes=None, one_tuple=False: x.permute(_reversed_axes(x.ndim) if axes is None else axes),
         S((2, 3, 4), note="no axes: reverse"), S((2, 3)), S((2, 3, 4), axes=(1, 0, 2)),
         S((2, 3, 4), axes=(2, 0, 1), one_tuple=True), S((2, 3, 4), axes=(-1, 0, 1)), S((2, 0)), S((3,)))
register("transpose", "T", lambda x: x.T, lambda torch, x: x.permute(_reversed_axes(x.ndim)),
         S((2, 3)), S((2, 3, 4)), S((3,)), S(()))
register("transpose", "swapaxes", lambda x, axis1, axis2: x.swapaxes(axis1, axis2),
         lambda torch, x, axis1, axis2: torch.swapaxes(x, axis1, axis2),
         S((2, 3, 4), axis1=0, axis2=2), S((2, 3, 4), axis1=-1, axis2=0), S((2, 3), axis1=1, axis2=1),
         S((2, 0, 3), axis1=0, axis2=1))
register("getitem", "__getitem__", lambda x, index: x[index],
         lambda torch, x, index: x[_torch_index(torch, index)],
         S((4, 3), index=1), S((4, 3), index=-1), S((4, 3), index=(1, 2)),
         S((4, 3), index=slice(1, 3)), S((4, 3), index=(slice(None), slice(0, 3, 2))),
         S((4, 3), index=slice(2, 2), note="empty slice"),
         S((2, 3, 4), index=(None, 1, slice(None, None, 2))), S((2, 3, 4), index=(Ellipsis, 0)),
         S((2, 3, 4), index=(0, Ellipsis, None)),
         S((4, 3), index=np.array([0, 2, 0, 0]), note="repeated indices accumulate"),
         S((4, 3), index=[3, 3, 1], note="a list is an index array"),
         S((4, 3), index=np.array([[0, 1], [1, 1]]), note="2-D index array with repeats"),
         S((4, 3), index=(np.array([1, 1, 2]), slice(1, 3)), note="mixed: array and slice"),
         S((2, 3, 4), index=(np.array([0, 1, 1]), slice(None), np.array([2, 2, 0])),
           note="mixed: arrays split by a slice"),
         S((2, 3, 4), index=(Ellipsis, np.array([3, 3]))),
         S((2, 3), index=np.array([True, False]), note="boolean index"),
         S((3, 2), index=np.array([[True, False], [False, False], [True, True]])),
         note="basic and integer-array indexing as in NumPy; the gradient of repeated indices adds up")
register("masked_fill", "masked_fill", lambda x, mask, value: x.masked_fill(mask, value),
         lambda torch, x, mask, value: x.masked_fill(torch.as_tensor(mask), value),
         S((2, 3), mask=np.array([[True, False, False], [False, True, True]]), value=0.0),
         S((2, 3), mask=np.array([[False, True, False]]), value=-1e4, note="mask (1, 3) broadcasts"),
         S((2, 2, 3), mask=np.array([True, False, True]), value=2.5),
         S((2, 3), mask=np.zeros((2, 3), dtype=bool), value=-1.0, note="nothing masked"),
         S((2, 3), mask=np.array(True), value=0.5, note="0-d mask masks everything"))
register("where", "ta.where", lambda a, b, condition: _where(condition, a, b),
         lambda torch, a, b, condition: torch.where(torch.as_tensor(condition), a, b),
         S((2, 3), (2, 3), condition=np.array([[True, False, True], [False, False, True]])),
         S((2, 1), (3,), condition=np.array([[True, False, True], [False, True, True]]),
           note="a and b broadcast against the condition"),
         S((2, 3), (), condition=np.array([False, True, True])),
         S((0, 3), (3,), condition=np.array([True, False, True])))
register("where", "ta.where", lambda a, condition, other: _where(condition, a, other),
         lambda torch, a, condition, other: torch.where(torch.as_tensor(condition), a, _constant(torch, other, a)),
         S((2, 3), condition=np.array([[True, False, True], [False, False, True]]), other=0.0),
         variant="number for b")

# ---- joining ----
register("concatenate", "ta.concatenate", lambda *tensors, axis=0: _concatenate(list(tensors), axis=axis),
         lambda torch, *tensors, axis=0: torch.cat(tensors, dim=axis),
         S((2, 3), (4, 3)), S((2, 3), (2, 1), (2, 4), axis=-1), S((2, 3), (2, 0), axis=1, note="empty piece"),
         S((1, 2, 3), (1, 2, 3), axis=2), S((3,)))
register("stack", "ta.stack", lambda *tensors, axis=0: _stack(list(tensors), axis=axis),
         lambda torch, *tensors, axis=0: torch.stack(tensors, dim=axis),
         S((2, 3), (2, 3)), S((2, 3), (2, 3), (2, 3), axis=1), S((2, 3), (2, 3), axis=-1), S((), (), ()),
         S((0, 2), (0, 2), axis=1))

# ---- softmax family ----
_HUGE_LOGITS = [[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, -3.0]]
register("softmax", "softmax", lambda x, **kw: x.softmax(**kw),
         lambda torch, x, axis=-1: torch.softmax(x, dim=axis),
         S((2, 3)), S((2, 3), axis=0), S((4,)), S((2, 3, 4), axis=1), S((3, 1)),
         S(values=[_HUGE_LOGITS], note="huge logits stay finite"), S((2, 0)), S((0, 3), axis=0),
         note="stable for logits of any size; a row that is all -inf gives zeros, not NaN")
register("log_softmax", "log_softmax", lambda x, **kw: x.log_softmax(**kw),
         lambda torch, x, axis=-1: torch.log_softmax(x, dim=axis),
         S((2, 3)), S((2, 3), axis=0), S((4,)), S((2, 3, 4), axis=-2), S((3, 1)),
         S(values=[_HUGE_LOGITS], note="huge logits stay finite"), S((2, 0)),
         note="stable for logits of any size; a row that is all -inf gives -inf, not NaN")


# ---- functional and attention ops ----
# Entries for tinygrad_attn/functional.py (and attention.py) go here. Also append each module to
# OP_MODULES, e.g. OP_MODULES.append("tinygrad_attn.functional"), so that the completeness test
# asks for an entry per Op row there and the reference shows their formulas.
OP_MODULES.extend(["tinygrad_attn.functional", "tinygrad_attn.attention"])
from . import functional as _F  # noqa: E402  (functional builds on everything above)
from . import attention as _attention  # noqa: E402


def _tf(torch: Any) -> Any:
    return torch.nn.functional


def _torch_cross_entropy(torch: Any, logits: Any, targets: np.ndarray, ignore_index: int | None = None) -> Any:
    return _tf(torch).cross_entropy(logits, torch.as_tensor(targets),
                                    ignore_index=-100 if ignore_index is None else ignore_index)


def _torch_dropout(torch: Any, x: Any, p: float, rng: int) -> Any:
    """The engine's mask drawn again from the same seed (torch's own generator differs), then scaled."""
    keep = np.random.default_rng(rng).random(tuple(x.shape)) >= p
    return x * torch.as_tensor(keep, dtype=x.dtype) / (1 - p)


def _torch_mask(torch: Any, mask: np.ndarray | None) -> Any:
    return None if mask is None else torch.as_tensor(mask)


def _torch_attention(torch: Any, q: Any, k: Any, v: Any, mask: np.ndarray | None = None, is_causal: bool = False) -> Any:
    return _tf(torch).scaled_dot_product_attention(q, k, v, attn_mask=_torch_mask(torch, mask), is_causal=is_causal)


def _torch_packed_attention(torch: Any, qkv: Any, n_heads: int, mask: np.ndarray | None = None,
                            is_causal: bool = False) -> Any:
    batch, time, width = qkv.shape
    q, k, v = (part.reshape(batch, time, n_heads, -1).transpose(1, 2) for part in qkv.chunk(3, dim=-1))
    merged = _torch_attention(torch, q, k, v, mask, is_causal).transpose(1, 2)
    return merged.reshape(batch, time, width // 3)


def _torch_attention_weights(torch: Any, q: Any, k: Any, mask: np.ndarray | None = None, is_causal: bool = False) -> Any:
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    allowed = np.ones(tuple(scores.shape[-2:]), dtype=bool) if mask is None else mask
    if is_causal:
        allowed = allowed & np.tri(*scores.shape[-2:], dtype=bool)
    return torch.softmax(scores.masked_fill(~torch.as_tensor(allowed), float("-inf")), dim=-1)


_IDS = np.array([[0, 4, 0], [2, 2, 1]])
_KEY_PADDING = np.array([[True, True, False, False], [True, True, True, True]])[:, None, :]  # (2, 1, 4)
_ATTENTION_SAMPLES = (
    S((2, 4, 3), (2, 5, 3), (2, 5, 2)),
    S((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 3), is_causal=True),
    S((3, 3), (5, 3), (5, 4), is_causal=True, note="Tq < Tk: causal is aligned top-left, as in PyTorch"),
    S((2, 4, 3), (2, 4, 3), (2, 4, 3), mask=_KEY_PADDING, note="padding keys masked"),
    S((2, 1, 4, 3), (3, 4, 3), (3, 4, 2), note="batch dims broadcast"),
)

register("relu", "F.relu", lambda x: _F.relu(x), lambda torch, x: _tf(torch).relu(x), S((2, 3)))
register("erf", "F.erf", lambda x: _F.erf(x), lambda torch, x: torch.erf(x),
         S((2, 3)), S(values=[[-6.0, -0.5, 0.0, 0.5, 6.0]]), S((0,)))
register("gelu", "F.gelu", lambda x, **kw: _F.gelu(x, **kw), lambda torch, x, **kw: _tf(torch).gelu(x, **kw),
         S((2, 3)), S((4,), approximate="none"), S(values=[[-8.0, -1.0, 0.0, 1.0, 8.0]]), S((0, 2)),
         note="exact form x·Φ(x) (PyTorch's default)")
register("gelu_tanh", "F.gelu", lambda x, **kw: _F.gelu(x, **kw), lambda torch, x, **kw: _tf(torch).gelu(x, **kw),
         S((2, 3), approximate="tanh"), S(values=[[-8.0, -1.0, 0.0, 1.0, 8.0]], approximate="tanh"),
         variant="tanh")
register("softmax", "F.softmax", lambda x, **kw: _F.softmax(x, **kw),
         lambda torch, x, axis=-1: torch.softmax(x, dim=axis), S((2, 3)), S((2, 3), axis=0))
register("log_softmax", "F.log_softmax", lambda x, **kw: _F.log_softmax(x, **kw),
         lambda torch, x, axis=-1: torch.log_softmax(x, dim=axis), S((2, 3)), S((2, 3), axis=0))
register("cross_entropy", "F.cross_entropy", lambda z, **kw: _F.cross_entropy(z, **kw), _torch_cross_entropy,
         S((4, 5), targets=np.array([1, 0, 4, 4])), S((1, 3), targets=np.array([2])),
         S((4, 5), targets=np.array([1, -100, 4, -100]), ignore_index=-100, note="ignored rows take no part"),
         S((4, 5), targets=np.array([1, 0, 4, 4]), ignore_index=4, note="a class index can be the one ignored"),
         S(values=[[[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]]], targets=np.array([1, 2]), note="huge logits stay finite"),
         note="logits (N, C), integer targets (N,); mean over the rows not ignored")
register("layer_norm", "F.layer_norm", lambda x, *params, eps=1e-5: _F.layer_norm(x, *params, eps=eps),
         lambda torch, x, *params, eps=1e-5: _tf(torch).layer_norm(x, x.shape[-1:], *params, eps=eps),
         S((2, 3, 5), (5,), (5,)), S((3, 4)), S((3, 4), (4,)), S((2, 4), (4,), (4,), eps=1e-2),
         S((0, 3), (3,), (3,)), note="over the last axis; weight and bias optional")
register("linear", "F.linear", lambda x, w, *b: _F.linear(x, w, *b), lambda torch, x, w, *b: _tf(torch).linear(x, w, *b),
         S((3, 4), (5, 4), (5,)), S((2, 3, 4), (5, 4)), S((4,), (2, 4), (2,)), S((0, 4), (3, 4), (3,)),
         note="weight (out_features, in_features), as in PyTorch")
register("embedding", "F.embedding", lambda w, indices: _F.embedding(indices, w),
         lambda torch, w, indices: _tf(torch).embedding(torch.as_tensor(indices), w),
         S((5, 3), indices=_IDS, note="repeated ids add up"), S((4, 2), indices=np.array(3)),
         S((4, 2), indices=np.zeros(0, dtype=np.int64)))
register("dropout", "F.dropout", lambda x, **kw: _F.dropout(x, **kw), _torch_dropout,
         S((3, 4), p=0.3, rng=0), S((2, 5), p=0.5, rng=7),
         note="an int rng seeds the mask; the reference draws the same mask from the seed")
register("scaled_dot_product_attention", "F.scaled_dot_product_attention",
         lambda q, k, v, **kw: _F.scaled_dot_product_attention(q, k, v, **kw), _torch_attention,
         *_ATTENTION_SAMPLES, note="one fused op; mask True where attention is allowed")
register("packed_attention", "ta.attention.packed_attention",
         lambda qkv, **kw: _attention.packed_attention(qkv, **kw), _torch_packed_attention,
         S((2, 4, 12), n_heads=2, is_causal=True), S((1, 3, 9), n_heads=1),
         S((2, 4, 6), n_heads=2, mask=_KEY_PADDING[:, None], note="padding keys masked"),
         note="q, k, v are column blocks of one (B, T, 3·d) input, split into heads; output (B, T, d) "
              "with the heads merged (what nn.MultiHeadAttention uses)")
register("attention_weights", "F.scaled_dot_product_attention",
         lambda q, k, v, **kw: _F.scaled_dot_product_attention(q, k, v, return_weights=True, **kw)[0],
         _torch_attention, *_ATTENTION_SAMPLES, variant="return_weights",
         note="two ops, attention_weights then matmul, so the weights are on the loss path")
register("attention_weights", "F.attention_weights", lambda q, k, **kw: _F.attention_weights(q, k, **kw),
         _torch_attention_weights, S((2, 4, 3), (2, 5, 3)), S((2, 4, 3), (2, 4, 3), is_causal=True),
         S((2, 4, 3), (2, 4, 3), mask=_KEY_PADDING))


# ---- the op reference for the README ----
_SPELLING = {
    "__add__": "a + b", "__radd__": "x + a", "__sub__": "a - b", "__rsub__": "x - a",
    "__mul__": "a * b", "__rmul__": "x * a", "__truediv__": "a / b", "__rtruediv__": "x / a",
    "__pow__": "a ** b", "__rpow__": "x ** a", "__matmul__": "a @ b", "__rmatmul__": "x @ a",
    "__neg__": "-a", "__getitem__": "a[index]", "T": "a.T",
    "exp": "a.exp()", "log": "a.log()", "sqrt": "a.sqrt()", "tanh": "a.tanh()", "relu": "a.relu()",
    "sigmoid": "a.sigmoid()", "astype": "a.astype(dtype)",
    "sum": "a.sum(axis, keepdims)", "mean": "a.mean(axis, keepdims)", "max": "a.max(axis, keepdims)",
    "var": "a.var(axis, keepdims, correction)", "reshape": "a.reshape(*shape)",
    "transpose": "a.transpose(*axes)", "swapaxes": "a.swapaxes(axis1, axis2)",
    "masked_fill": "a.masked_fill(mask, value)", "softmax": "a.softmax(axis)",
    "log_softmax": "a.log_softmax(axis)", "ta.where": "ta.where(condition, a, b)",
    "ta.concatenate": "ta.concatenate(tensors, axis)", "ta.stack": "ta.stack(tensors, axis)",
}


def spelling(api: str) -> str:
    """How a user writes the call: `a + b`, `a.sum(...)`, `ta.where(...)` (x is a number/array)."""
    if api in _SPELLING:
        return _SPELLING[api]
    if "(" in api:
        return api
    return f"{api}(...)" if "." in api else f"a.{api}(...)"


def render_markdown(entries: Sequence[OpInfo] | None = None) -> str:
    """The op reference as a Markdown table: op, call, formula (from the Op row), sample shapes, notes."""
    rows = op_rows()
    lines = ["| op | call | formula | sample shapes | notes |", "|---|---|---|---|---|"]
    for entry in TABLE if entries is None else entries:
        op = rows.get(entry.name)
        formula = op.formula if op is not None else ""
        shapes = " · ".join(sample.describe() for sample in entry.samples)
        call = spelling(entry.api) + (f" ({entry.variant})" if entry.variant else "")
        cells = [entry.name, f"`{call}`", formula, shapes, entry.note]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
