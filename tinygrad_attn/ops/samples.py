"""How users call each op, with sample inputs and PyTorch's version: the data that drives the
gradient checks, the PyTorch comparisons and the README's op reference.

A usage (`OpInfo`) says
    name       the name of the op it exercises ("mul"); several usages may share an op when it
               has several spellings (a * b, 2 * a)
    api        what a user calls: a dunder ("__mul__", "__rmul__"), a method ("sum"), a property
               ("T"), or a module function with its prefix ("ta.where", "F.gelu")
    call       the engine call: `call(*tensors, **kwargs)` returns a Tensor
    reference  the same computation in PyTorch: `reference(torch, *tensors, **kwargs)`, with the
               torch module passed in (this library never imports torch)
    samples    `S(*shapes, **kwargs)`: one shape per tensor input (each becomes a float tensor
               that requires grad) and the keyword arguments passed to both callables; index
               arrays, masks and constants go in the keyword arguments
    note       a behaviour worth stating (e.g. how tied maxima share the gradient), shown in docs
    variant    tells apart two usages with the same api (e.g. `ta.where` with a number for b)

Sample options (keyword-only in `S`):
    domain     how input values are drawn: "real" (standard normal), "positive" (in [0.5, 2]),
               "nonzero" (|x| in [0.5, 2]), "ties" (small integers, so ties happen); one string
               for every input or a tuple with one per input
    values     explicit arrays instead of random ones, one per tensor input (shapes follow)
    smooth     False where the op is not differentiable at the sample (e.g. tied maxima): the
               finite-difference check is skipped there, the PyTorch comparison still runs
    note       why the sample is there (shown when its finite-difference check is skipped)

An op declares its usages beside its definition:

    EXP.usage("exp", lambda x: x.exp(), lambda torch, x: x.exp(), S((2, 3)), S(()), S((2, 0)))
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Sample", "S", "OpInfo", "TABLE", "add_usage", "render_markdown", "spelling", "dims", "torch_index",
           "constant_like", "reversed_axes", "public", "all_usages"]

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
    op: Any = None  # the registry Op this usage exercises

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


TABLE: list[OpInfo] = []  # every usage of every op, in the order they were declared


def add_usage(op: Any, api: str, call: Callable[..., Any], reference: Callable[..., Any],
              samples: Sequence[Sample], note: str = "", variant: str = "") -> OpInfo:
    """Record a usage of `op` (called through `Op.usage`)."""
    if not samples:
        raise ValueError(f"usage: {op.name}[{api}] needs at least one sample")
    entry = OpInfo(op.name, api, call, reference, tuple(samples), note, variant, op)
    if any(existing.id == entry.id for existing in TABLE):
        raise ValueError(f"usage: {entry.id} is already declared")
    op.usages.append(entry)
    TABLE.append(entry)
    return entry


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


def dims(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """An engine `axis` as the tuple PyTorch's `dim` takes (None means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def torch_index(torch: Any, index: Any) -> Any:
    """A NumPy-style index with its arrays turned into torch tensors."""
    parts = index if isinstance(index, tuple) else (index,)
    converted = tuple(torch.as_tensor(p) if isinstance(p, np.ndarray) else p for p in parts)
    return converted if isinstance(index, tuple) else converted[0]


def constant_like(torch: Any, value: Any, like: Any) -> Any:
    """A constant operand as a torch tensor of like's dtype."""
    return torch.as_tensor(np.asarray(value), dtype=like.dtype)


def reversed_axes(ndim: int) -> tuple[int, ...]:
    return tuple(reversed(range(ndim)))


# ---- the op reference for the README ----
_SPELLING = {
    "__add__": "a + b", "__radd__": "x + a", "__sub__": "a - b", "__rsub__": "x - a",
    "__mul__": "a * b", "__rmul__": "x * a", "__truediv__": "a / b", "__rtruediv__": "x / a",
    "__pow__": "a ** b", "__rpow__": "x ** a", "__matmul__": "a @ b", "__rmatmul__": "x @ a",
    "__neg__": "-a", "__getitem__": "a[index]", "T": "a.T",
    "exp": "a.exp()", "log": "a.log()", "sqrt": "a.sqrt()", "tanh": "a.tanh()", "relu": "a.relu()",
    "sigmoid": "a.sigmoid()", "astype": "a.astype(dtype)",
    "sum": "a.sum(dim, keepdim)", "mean": "a.mean(dim, keepdim)", "max": "a.max()",
    "amax": "a.amax(dim, keepdim)", "amin": "a.amin(dim, keepdim)", "min": "a.min()",
    "var": "a.var(dim, keepdim, correction=)", "std": "a.std(dim, keepdim, correction=)",
    "reshape": "a.reshape(*shape)", "view": "a.view(*shape)", "unsqueeze": "a.unsqueeze(dim)",
    "squeeze": "a.squeeze(dim)", "flatten": "a.flatten(start_dim, end_dim)", "expand": "a.expand(*sizes)",
    "permute": "a.permute(*dims)", "transpose": "a.transpose(dim0, dim1)", "mT": "a.mT", "t": "a.t()",
    "swapaxes": "a.swapaxes(axis1, axis2)", "split": "a.split(size, dim)[i]", "chunk": "a.chunk(n, dim)[i]",
    "masked_fill": "a.masked_fill(mask, value)", "softmax": "a.softmax(dim)",
    "log_softmax": "a.log_softmax(dim)", "ta.where": "ta.where(condition, a, b)",
    "ta.concatenate": "ta.concatenate(tensors, axis)", "ta.stack": "ta.stack(tensors, dim)",
    "add": "a.add(b)", "sub": "a.sub(b)", "mul": "a.mul(b)", "div": "a.div(b)", "pow": "a.pow(b)",
    "neg": "a.neg()", "matmul": "a.matmul(b)",
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
    lines = ["| op | call | formula | sample shapes | notes |", "|---|---|---|---|---|"]
    for entry in all_usages() if entries is None else entries:
        formula = entry.op.formula if entry.op is not None else ""
        shapes = " · ".join(sample.describe() for sample in entry.samples)
        call = spelling(entry.api) + (f" ({entry.variant})" if entry.variant else "")
        cells = [entry.name, f"`{call}`", formula, shapes, entry.note]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"




def public(path: str) -> Callable[..., Any]:
    """The user-facing function at `path` ("tinygrad_attn.where"), looked up when a test calls
    it: ops sit below the front ends, so a usage names the public function instead of importing it."""
    import importlib

    module_name, _, attribute = path.rpartition(".")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), attribute)(*args, **kwargs)

    call.__name__ = attribute
    return call


def all_usages() -> list[OpInfo]:
    """Every usage of every op: importing the package declares them all (the ops sit in
    ops/, functional/ and attention/, each usage beside its op)."""
    import importlib

    importlib.import_module("tinygrad_attn")
    return TABLE
