"""Check the engine's gradients against central finite differences.

    d f / d xᵢ  ≈  (f(x + ε·eᵢ) - f(x - ε·eᵢ)) / 2ε

For a non-scalar output f, the check uses the scalar Σ f ◦ R with a fixed random R, so every
output element takes part.

`gradcheck(fn, inputs)` checks the whole function: each input's gradient against finite
differences of fn. `gradcheck(fn, inputs, per_node=True)` points at the culprit instead: it
runs fn and its backward once, then, in backward order, checks every node on its own:

- what arrived at the node is the sum of what its users sent it (an `=` where the engine
  should `+=` breaks this at a node used twice);
- what the node's op sent each input is its local gradient: with G the gradient that arrived,
  ⟨G, (f(x + εr) - f(x - εr)) / 2ε⟩ = ⟨sent, r⟩ for a random direction r, where f is the op's
  forward run again on the node's own inputs with that one input moved. On a mismatch, the
  elements are checked one by one to name the wrong one.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import numbers
from typing import Any, Callable, Sequence

import numpy as np

from .core import observe, topological_order
from .ops.shapes import sum_to_shape
from .scalar import Value
from .tensors import Tensor

__all__ = ["gradcheck"]

MAX_ELEMENTS_LOCALISED = 1000  # elements of one input checked one by one to name the wrong one


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Value | Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, per_node: bool = False) -> bool:
    """True if every input's gradient matches finite differences, else AssertionError naming
    the input, the element index and both numbers. `inputs` are Values or float64 Tensors.

    With `per_node=True`, every node's own backward is checked instead (see the module
    docstring), and the AssertionError names the first wrong node in backward order: its name
    and scope, its op, the input, the element and both numbers.
    """
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be a function of the inputs, got {type(fn).__name__}")
    if isinstance(inputs, (Value, Tensor)):  # one input given bare would be iterated element by element
        raise TypeError(f"gradcheck: inputs must be a list or tuple of Values/Tensors, got one {type(inputs).__name__}; "
                        "write [x]")
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"gradcheck: inputs must be a list or tuple of Values/Tensors, got {type(inputs).__name__}")
    inputs = list(inputs)
    if not inputs:
        raise ValueError("gradcheck: needs at least one input")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"gradcheck: eps is the finite-difference step and must be a positive number, got {eps!r}")
    for position, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.dtype != np.float64:
                raise TypeError(
                    f"gradcheck: input {position} is {x.dtype}; finite differences need float64 tensors "
                    "(make it with dtype=np.float64)"
                )
        elif not isinstance(x, Value):
            raise TypeError(f"gradcheck: input {position} is a {type(x).__name__}, expected a Value or Tensor")
        if not x.requires_grad:  # a constant: no gradient reaches it, so there is nothing to check
            raise ValueError(f"gradcheck: input {position} does not require grad")

    saved = [(x.grad, _copy(x.data)) for x in inputs]
    try:
        if per_node:
            _check_every_node(fn, inputs, eps, atol, rtol)
            return True
        projection, engine_grads = _engine_gradients(fn, inputs)
        for position, x in enumerate(inputs):
            _compare(fn, inputs, position, x, projection, engine_grads[position], eps, atol, rtol)
    finally:  # also when fn raises half-way: the inputs are as they came
        for x, (grad, data) in zip(inputs, saved):
            x.grad = grad
            if isinstance(x, Tensor):
                x.data[...] = data  # in place: the caller's array stays the caller's array
            else:
                x.data = data
    return True


def _copy(data: Any) -> Any:
    return data.copy() if isinstance(data, np.ndarray) else data


# ---- the whole function ----
def _scalar_output(fn: Callable[..., Any], inputs: list, projection: np.ndarray | None) -> float:
    out = fn(*inputs)
    if isinstance(out, Value):
        return out.data
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Value or Tensor, got {type(out).__name__}")
    return float(np.sum(out.data * projection)) if projection is not None else float(out.data.sum())


def _engine_gradients(fn: Callable[..., Any], inputs: list) -> tuple[np.ndarray | None, list]:
    for x in inputs:
        x.grad = x.initial_grad  # 0.0 for a Value, None for a Tensor
    out = fn(*inputs)
    if isinstance(out, Value):
        out.backward()
        return None, [x.grad for x in inputs]
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Value or Tensor, got {type(out).__name__}")
    projection = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(projection)
    grads = [np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=np.float64) for x in inputs]
    return projection, grads


def _compare(fn: Callable[..., Any], inputs: list, position: int, x: Value | Tensor,
             projection: np.ndarray | None, engine_grad: Any, eps: float, atol: float, rtol: float) -> None:
    name = _name(x, position)
    if isinstance(x, Value):
        original = x.data
        x.data = original + eps
        plus = _scalar_output(fn, inputs, projection)
        x.data = original - eps
        minus = _scalar_output(fn, inputs, projection)
        x.data = original
        _assert_close(name, None, engine_grad, (plus - minus) / (2 * eps), atol, rtol)
        return
    engine_grad = np.asarray(engine_grad)
    for index in np.ndindex(x.shape):  # perturb x.data in place, one element at a time
        original = x.data[index]
        x.data[index] = original + eps
        plus = _scalar_output(fn, inputs, projection)
        x.data[index] = original - eps
        minus = _scalar_output(fn, inputs, projection)
        x.data[index] = original
        _assert_close(name, index, engine_grad[index], (plus - minus) / (2 * eps), atol, rtol)


def _assert_close(name: str, index: tuple | None, engine: float, numeric: float, atol: float, rtol: float) -> None:
    if not _close(engine, numeric, atol, rtol):
        tolerance = atol + rtol * abs(numeric)
        where = f"{name}" + (f" at index {index}" if index is not None else "")
        raise AssertionError(
            f"gradcheck: gradient of {where} differs: engine {engine:.10g}, finite difference "
            f"{numeric:.10g} (|difference| {abs(engine - numeric):.3g} > tolerance {tolerance:.3g})"
        )


def _name(x: Value | Tensor, position: int) -> str:
    return f"input {position} ({x.name!r})" if x.name else f"input {position}"


# ---- node by node ----
class _Visit:
    """One backward step as the checker keeps it: copies, since a later step may reuse a buffer."""

    def __init__(self, step: Any):
        self.index, self.node = step.index, step.node
        self.upstream_grad = _copy(step.grad)
        self.sent = tuple(_copy(g) for g in step.sent)


class _ReplayContext:
    """What an op's forward may use of its node while it runs again: `ctx.inputs` (some
    forwards ask whether an input requires grad) and `ctx.save(...)`, whose values are dropped."""

    def __init__(self, node: Any):
        self.inputs = node.inputs

    def save(self, **named: Any) -> None:
        pass


def _check_every_node(fn: Callable[..., Any], inputs: list, eps: float, atol: float, rtol: float) -> None:
    calls: dict[Any, tuple] = {}  # node -> (args, params) its forward was called with
    with observe(on_call=lambda node, args, params: calls.__setitem__(node, (args, dict(params)))):
        out = fn(*inputs)
    if isinstance(out, Value):
        seed = 1.0
    elif isinstance(out, Tensor):
        seed = np.random.default_rng(0).standard_normal(out.shape)
    else:
        raise TypeError(f"gradcheck: fn must return a Value or Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        raise ValueError("gradcheck: fn's result does not depend on any input that requires grad")
    graph = topological_order(out)
    for node in graph:
        _check_float64(node)
    saved_grads = [(node, node.grad) for node in graph]
    try:
        visits = _record_backward(out, seed)
    finally:  # leave no gradient behind, in the model's parameters either
        for node, grad in saved_grads:
            node.grad = grad

    received: dict[Any, list] = {out: [(None, seed)]}  # node -> [(the node that sent it, what it sent)]
    for visit in visits:
        _check_arrival(visit, received.get(visit.node, []), atol, rtol)
        node = visit.node
        if node.op is None:
            continue
        call = calls.get(node)
        if call is None:
            raise RuntimeError(f"gradcheck: {_describe(node)} was not made inside fn, so its forward cannot be replayed")
        _check_replays(node, call)
        for position, inp in enumerate(node.inputs):
            if inp.requires_grad:
                _check_local_gradient(visit, call, position, eps, atol, rtol)
                if visit.sent[position] is not None:
                    received.setdefault(inp, []).append((node, visit.sent[position]))


def _check_float64(node: Any) -> None:
    if isinstance(node, Tensor) and node.requires_grad and node.dtype != np.float64:
        raise TypeError(f"gradcheck: {_describe(node)} is {node.dtype}; checking every node needs float64 throughout "
                        "(make the inputs float64; a model: model.to(np.float64))")


def _record_backward(out: Any, seed: Any) -> list[_Visit]:
    """Run backward once, keeping each step. Stop right after a step that sent a gradient of the
    wrong shape: the node receiving it would fail, and the sender is the one to name."""
    visits = []
    with contextlib.closing(out.backward_steps(seed)) as steps:
        for step in steps:
            visits.append(_Visit(step))
            if any(_wrong_shape(inp, g) for inp, g in zip(step.node.inputs, step.sent)):
                break
    return visits


def _wrong_shape(inp: Any, grad: Any) -> bool:
    return isinstance(inp, Tensor) and inp.requires_grad and grad is not None and np.shape(grad) != inp.shape


def _check_arrival(visit: _Visit, sends: list, atol: float, rtol: float) -> None:
    """What arrived at the node must be the sum of what its users sent, added up here."""
    node = visit.node
    expected = sends[0][1]
    for _, grad in sends[1:]:
        expected = expected + grad
    arrived = visit.upstream_grad
    difference = np.abs(np.asarray(arrived) - expected)
    wrong = ~(difference <= atol + rtol * np.abs(expected))
    if not wrong.any():
        return
    index = tuple(int(i) for i in np.argwhere(wrong)[0]) if np.ndim(wrong) else None
    at = f" at element {index}" if index else ""

    def number(grad: Any) -> str:
        return f"{_at(grad, index):.6g}"
    if len(sends) == 1:
        user = sends[0][0]
        source = "the seed gradient is" if user is None else f"'{user.op.name}' ({_name_of(user)}) sent"
        raise AssertionError(
            f"gradcheck(per_node=True): at step {visit.index} of backward, the gradient that arrived at "
            f"{_describe(node)} is not what its one user sent it{at}: {source} {number(expected)}, "
            f"but {number(arrived)} arrived (does a hook replace it?)")
    users = ", ".join(f"'{user.op.name}' ({_name_of(user)}) sent {number(grad)}" for user, grad in sends)
    raise AssertionError(
        f"gradcheck(per_node=True): at step {visit.index} of backward, {_describe(node)} is used "
        f"{len(sends)} times; {at.strip() + ': ' if at else ''}{users}; their sum is {number(expected)}, "
        f"but {number(arrived)} arrived: was one gradient overwritten (= instead of +=)?")


def _check_replays(node: Any, call: tuple) -> None:
    """The op's forward, run again on the node's own inputs, must give the node's result."""
    again = _replay(node, call, [inp.data for inp in node.inputs])
    if not np.allclose(again, node.data, rtol=1e-10, atol=1e-12, equal_nan=True):
        raise RuntimeError(
            f"gradcheck: '{node.op.name}' gives a different result when run again on the same inputs "
            f"({_describe(node)}); does it draw random numbers? Check it with per_node=False and a fixed seed")


def _replay(node: Any, call: tuple, arrays: list) -> Any:
    args, params = call
    result = node.op.forward(_ReplayContext(node), *arrays, *args, **params)
    return np.array(result, dtype=np.float64)  # a copy: a kernel may hand back a buffer it reuses


def _check_local_gradient(visit: _Visit, call: tuple, position: int, eps: float, atol: float, rtol: float) -> None:
    """⟨G, df⟩ along a random direction, then element by element if that differs (every
    element if there are at most MAX_ELEMENTS_LOCALISED: all agreeing, the gradient is right)."""
    inp = visit.node.inputs[position]
    sent = visit.sent[position]
    if sent is None:
        sent = np.zeros(np.shape(inp.data))  # an op that sends nothing says the gradient is zero
    if np.shape(sent) != np.shape(inp.data):
        _raise_wrong_shape(visit, call, position, sent, eps)
    sent = np.asarray(sent, dtype=np.float64)
    direction = np.random.default_rng(visit.index).standard_normal(np.shape(inp.data))
    numeric = _directional(visit, call, position, direction, eps)
    engine = float(np.sum(sent * direction))
    # a sum over many elements: its rounding grows with their number and size, not with the sum
    tolerance = atol * float(np.sqrt(np.sum(direction * direction))) + rtol * float(np.sum(np.abs(sent * direction)))
    if abs(engine - numeric) <= tolerance:
        return
    for index in itertools.islice(np.ndindex(sent.shape), MAX_ELEMENTS_LOCALISED):
        unit = np.zeros(sent.shape)
        unit[index] = 1.0
        numeric_i = _directional(visit, call, position, unit, eps)
        if not _close(float(sent[index]), numeric_i, atol, rtol):
            _raise_local(visit, position, f" at element {index}" if index else "", float(sent[index]), numeric_i,
                         atol + rtol * abs(numeric_i))
    if sent.size > MAX_ELEMENTS_LOCALISED:
        _raise_local(visit, position, " along a random direction (no single element among the first "
                     f"{MAX_ELEMENTS_LOCALISED} checked differs enough alone)", engine, numeric, tolerance)


def _directional(visit: _Visit, call: tuple, position: int, direction: np.ndarray, eps: float) -> float:
    """⟨G, (f(x + ε·direction) - f(x - ε·direction)) / 2ε⟩, only input `position` moved."""
    node = visit.node
    arrays = [inp.data for inp in node.inputs]
    x = arrays[position]
    arrays[position] = _moved(x, eps * direction)
    plus = _replay(node, call, arrays)
    arrays[position] = _moved(x, -eps * direction)
    minus = _replay(node, call, arrays)
    with np.errstate(invalid="ignore"):  # where both are ±inf (a masked score) there is no change
        change = np.where(plus == minus, 0.0, plus - minus)
    return float(np.sum(visit.upstream_grad * change)) / (2 * eps)


def _moved(x: Any, step: np.ndarray) -> Any:
    return x + float(step) if isinstance(x, float) else np.asarray(x + step)


def _close(engine: float, numeric: float, atol: float, rtol: float) -> bool:
    return abs(engine - numeric) <= atol + rtol * abs(numeric)  # False for NaN


def _raise_local(visit: _Visit, position: int, where: str, engine: float, numeric: float, tolerance: float) -> None:
    node = visit.node
    op = node.op
    formula = op.formulas[position] if position < len(op.formulas) else op.formula
    raise AssertionError(
        f"gradcheck(per_node=True): the backward of '{op.name}' is wrong at step {visit.index} of backward, "
        f"at {_describe(node)}: the gradient it sends to input {position}, {_describe(node.inputs[position])},"
        f"{where} is {engine:.10g}, but finite differences of its forward give {numeric:.10g} "
        f"(|difference| {abs(engine - numeric):.3g} > tolerance {tolerance:.3g}). Its rule: {formula}")


def _raise_wrong_shape(visit: _Visit, call: tuple, position: int, sent: Any, eps: float) -> None:
    node, inp = visit.node, visit.node.inputs[position]
    message = (
        f"gradcheck(per_node=True): the backward of '{node.op.name}' is wrong at step {visit.index} of backward, "
        f"at {_describe(node)}: the gradient it sends to input {position}, {_describe(inp)}, has shape "
        f"{np.shape(sent)}, but that input has shape {inp.shape}; a gradient has the shape of its input")
    try:
        broadcast = np.broadcast_shapes(inp.shape, np.shape(sent)) == np.shape(sent)
    except ValueError:
        broadcast = False
    if broadcast and inp.size:  # the input was broadcast to the gradient's shape: show the sum it lacks
        first = (0,) * inp.ndim
        unit = np.zeros(inp.shape)
        unit[first] = 1.0
        numeric = _directional(visit, call, position, unit, eps)
        summed = sum_to_shape(np.asarray(sent, dtype=np.float64), inp.data)
        message += (f". Summed over the axes the input was broadcast along, it would be {summed[first]:.10g} "
                    f"at element {first}, where finite differences give {numeric:.10g}: was the broadcast "
                    "gradient not summed?")
    raise AssertionError(message)


def _at(grad: Any, index: tuple | None) -> float:
    return float(np.asarray(grad)[index]) if index else float(np.asarray(grad))


def _name_of(node: Any) -> str:
    return f"node '{node.name}'" if node.name else f"node #{node.id}"


def _describe(node: Any) -> str:
    """node 'h' (made by 'mul', scope 'block0/attn', shape (2, 3)); node #17 (a leaf) for an unnamed one."""
    made = "a leaf" if node.op is None else f"made by '{node.op.name}'"
    scope = f", scope '{node.scope}'" if node.scope else ""
    shape = f", shape {node.shape}" if isinstance(node, Tensor) else ""
    return f"{_name_of(node)} ({made}{scope}{shape})"
