"""The op registry: every op of both engines, each declared once, in one place.

An op is one `define(...)` call beside its forward and backward:

    name       what graphs, steps and errors call it ("mul")
    forward    forward(ctx, *input_arrays, **params) -> result; `ctx.save(x_hat=...)` keeps
               what backward needs, by name
    backward   backward(ctx, upstream_grad) -> one gradient per input (None where none);
               `ctx.inputs` are the input nodes, `ctx.data` the result, `ctx.saved.x_hat`
    formulas   one line per input, the rule a learner reads (shown by the stepper, the graph
               and the README's op reference)
    engine     "tensor" (NumPy arrays) or "scalar" (Python floats, for `Value`)
    unbroadcast  True for elementwise ops: the registry sums each gradient back to its input's
               shape (broadcasting undone once, here, so no rule repeats it)
    kernel     an optional (forward, backward) pair from `tinygrad_attn.kernels`: the same op
               tuned for speed, used while `use_kernels()` is on (the default)
    methods    names the front end binds to this op as plain methods ("exp", "__mul__"; a
               reflected "__rmul__" swaps the operands), so a new elementwise op is one file

Each op also lists how a user calls it, with sample inputs and PyTorch's spelling
(`op.usage(...)`, see `samples.py`); the tests run gradcheck, PyTorch comparisons and the
completeness check from those, and `python -m tinygrad_attn.ops` prints the op reference.

`patched(name, backward=..., unbroadcast=...)` swaps an op's rule for a block (the bug zoo plants
bugs with it).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

from .samples import add_usage
from .shapes import sum_to_shape

__all__ = ["Op", "define", "get", "all_ops", "patched", "use_kernels", "kernels_enabled"]

Forward = Callable[..., Any]
Backward = Callable[[Any, Any], Sequence[Any]]


class _KernelSwitch:
    enabled = True


_switch = _KernelSwitch()


def _refresh_active() -> None:
    """Point every op's `active` at what runs now (read once per op call, so kept precomputed)."""
    for op in _REGISTRY.values():
        op.active = op.kernel if op.kernel is not None and _switch.enabled and not op._patched else op


class use_kernels:
    """`ta.use_kernels(False)` runs the readable reference ops instead of the tuned kernels;
    `with ta.use_kernels(False): ...` does so for a block. Both give the same numbers."""

    def __init__(self, enabled: bool = True):
        if not isinstance(enabled, bool):
            raise TypeError(f"use_kernels: expected True or False, got {enabled!r}")
        self._previous = _switch.enabled
        _switch.enabled = enabled
        _refresh_active()

    def __enter__(self) -> "use_kernels":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _switch.enabled = self._previous
        _refresh_active()


def kernels_enabled() -> bool:
    return _switch.enabled


class Op:
    """One operation: name, forward, backward, a formula per input, and how users call it."""

    __slots__ = ("name", "engine", "forward", "backward", "rule", "formulas", "unbroadcast",
                 "kernel", "reference_op", "usages", "note", "methods", "active", "_patched")

    def __init__(self, name: str, forward: Forward, backward: Backward, formulas: Sequence[str],
                 engine: str = "tensor", unbroadcast: bool = False, note: str = "",
                 methods: Sequence[str] = ()):
        self.name = name
        self.engine = engine
        self.forward = forward
        self.rule = backward  # the backward as written; `backward` adds the un-broadcasting
        self.backward = _unbroadcasting(backward) if unbroadcast else backward
        self.formulas = tuple(formulas)
        self.unbroadcast = unbroadcast
        self.kernel: Op | None = None  # the tuned twin, when there is one
        self.reference_op: Op | None = None  # on a kernel: the reference op it stands in for
        self.usages: list[Any] = []
        self.note = note
        self.methods = tuple(methods)
        self._patched = False
        self.active: Op = self  # the op to run now: its kernel while kernels are on (see use_kernels)

    @property
    def formula(self) -> str:
        """All input formulas on one line."""
        return ",  ".join(self.formulas)

    @property
    def is_kernel(self) -> bool:
        return self.reference_op is not None

    def usage(self, api: str, call: Callable[..., Any], reference: Callable[..., Any], *samples: Any,
              note: str = "", variant: str = "") -> "Op":
        """Add a way users call this op, with samples and PyTorch's version (see samples.py)."""
        add_usage(self, api, call, reference, samples, note, variant)
        return self

    def __repr__(self) -> str:
        kind = " kernel" if self.is_kernel else ""
        return f"Op({self.name!r}{kind})"


def _unbroadcasting(rule: Backward) -> Backward:
    """Wrap an elementwise rule so each gradient is summed back to its input's shape."""

    def backward(ctx: Any, upstream_grad: Any) -> tuple:
        grads = rule(ctx, upstream_grad)
        inputs = ctx._inputs
        if len(inputs) == 2:  # the common case, written out: a generator costs more than the sums
            (grad_a, grad_b), (a, b) = grads, inputs
            return (_summed(grad_a, a), _summed(grad_b, b))
        return tuple(_summed(g, x) for g, x in zip(grads, inputs))

    backward.__wrapped__ = rule  # type: ignore[attr-defined]
    return backward


def _summed(grad: Any, x: Any) -> Any:
    """`grad` summed to the shape of input `x`, or None where x needs no gradient."""
    if grad is None or not x.requires_grad:
        return None
    data = x.data
    if grad.shape == data.shape and grad.dtype == data.dtype:
        return grad  # nothing was broadcast (the common case): no call
    return sum_to_shape(grad, data)


_REGISTRY: dict[tuple[str, str], Op] = {}


def define(name: str, *, forward: Forward, backward: Backward, formulas: Sequence[str],
           engine: str = "tensor", unbroadcast: bool = False,
           kernel: tuple[Forward, Backward] | None = None, note: str = "",
           methods: Sequence[str] = ()) -> Op:
    """Register an op (see the module docstring for the fields) and return it."""
    if engine not in ("tensor", "scalar"):
        raise ValueError(f"define: engine must be 'tensor' or 'scalar', got {engine!r}")
    if (engine, name) in _REGISTRY:
        raise ValueError(f"define: a {engine} op named {name!r} is already registered")
    if isinstance(formulas, str):
        formulas = (formulas,)
    op = Op(name, forward, backward, formulas, engine, unbroadcast, note, methods)
    if kernel is not None:
        kernel_forward, kernel_backward = kernel
        twin = Op(name, kernel_forward, kernel_backward, formulas, engine, unbroadcast, note)
        twin.reference_op = op
        op.kernel = twin
    _REGISTRY[(engine, name)] = op
    _refresh_active()
    return op


def get(name: str, engine: str = "tensor") -> Op:
    try:
        return _REGISTRY[(engine, name)]
    except KeyError:
        known = ", ".join(sorted(n for e, n in _REGISTRY if e == engine))
        raise KeyError(f"registry: no {engine} op named {name!r}; known: {known}") from None


def all_ops(engine: str | None = None) -> list[Op]:
    """Every registered op (of one engine, or all), in the order they were defined."""
    return [op for (e, _), op in _REGISTRY.items() if engine is None or e == engine]


@contextlib.contextmanager
def patched(name: str, *, forward: Forward | None = None, backward: Backward | None = None,
            engine: str = "tensor", unbroadcast: bool | None = None) -> Iterator[Op]:
    """Within the block, op `name` runs the given forward and/or backward (its kernel is
    bypassed, so the patch is what runs). For planting a bug and watching a checker find it.
    `unbroadcast=False` runs the patched backward without the registry's un-broadcasting, so a
    rule that forgets to sum a broadcast input's gradient really sends it unsummed."""
    op = get(name, engine)
    saved = (op.forward, op.backward, op.rule, op.unbroadcast, op._patched)
    try:
        if forward is not None:
            op.forward = forward
        if unbroadcast is not None:
            op.unbroadcast = unbroadcast
        if backward is not None or unbroadcast is not None:
            rule = op.rule if backward is None else backward
            op.rule = rule
            op.backward = _unbroadcasting(rule) if op.unbroadcast else rule
        op._patched = True
        _refresh_active()
        yield op
    finally:
        op.forward, op.backward, op.rule, op.unbroadcast, op._patched = saved
        _refresh_active()
