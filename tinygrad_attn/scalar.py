"""`Value`: one Python float in the compute graph.

Its operators run the scalar ops of the registry (`ops/scalar.py`, where each op's forward,
backward and formula sit together). A number on either side of an operator becomes a
constant Value: drawn in the graph, but it needs no gradient and receives none.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Iterator, Sequence, Union

from . import core
from .core import Node, Step, _state, node_constructor, node_made
from .ops import scalar as ops
from .ops.registry import Op, all_ops

Number = Union[int, float]
OPS = ops.OPS


class Value(Node):
    """A scalar in the compute graph: `.data` (float), `.grad` (float), `.name` (`.label` too)."""

    __slots__ = ()
    initial_grad = 0.0
    grad_is_immutable = True
    _retain = True  # the same for every Value, so a class attribute (Tensor keeps a slot)
    retains_grad_by_default = True  # intermediate Values keep their gradient so learners can read it

    def __init__(self, data: Number, name: str = "", *, label: str | None = None, requires_grad: bool = True):
        if type(data) is not float:
            if isinstance(data, bool) or not isinstance(data, numbers.Real):
                raise TypeError(f"Value: expected an int or float, got {type(data).__name__} ({data!r:.40})")
            data = float(data)
        if label is not None:
            name = label
        if not isinstance(name, str):
            raise TypeError(f"Value: name must be a str, got {type(name).__name__}")
        _construct(data, None, (), bool(requires_grad), name, self)

    @property
    def label(self) -> str:
        """The same as `.name` (the name micrograd used)."""
        return self.name or ""

    @label.setter
    def label(self, value: str) -> None:
        self.name = value

    @staticmethod
    def _finite(x: float) -> bool:
        return math.isfinite(x)

    def _accumulate_grad(self, grad: float) -> None:
        self.grad += grad

    def _keep_grad(self, grad: float) -> None:
        self.grad = grad

    def _checked_hook_result(self, result: Any, hook: Any, grad: float) -> float:
        """What a hook returned, as the gradient replacing `grad`: a number or a Value (its data)."""
        if isinstance(result, Value):
            return result.data
        if isinstance(result, bool) or not isinstance(result, numbers.Real):
            raise TypeError(f"backward: {self._hook_description(hook)} returned a {type(result).__name__}; "
                            "a hook on a Value must return None or a number (the replacing gradient)")
        return float(result)

    # The operators (+ - * / ** and unary -) and exp, log, tanh, relu, sigmoid are bound from
    # the scalar ops of the registry below the class.

    # ---- backward ----
    def backward(self, grad: float | None = None, retain_graph: bool = True) -> None:
        """Fill `.grad` of every Value this one depends on with d(self)/d(that Value).

        Leaves accumulate (+=) across calls; intermediate Values hold the gradient of the most
        recent call. This is `backward_steps()` run to the end. A Value graph keeps what its
        ops need (plain floats), so it can always be backpropagated again.
        """
        core.backward(self, self._seed_grad(grad, "backward"), True)

    def backward_steps(self, grad: float | None = None, retain_graph: bool = True) -> Iterator[Step]:
        """The same backward pass, one `Step` per node, for stepping through it."""
        return core.backward_steps(self, self._seed_grad(grad, "backward_steps"), True)

    def _seed_grad(self, grad: float | None, where: str) -> float:
        if not self.requires_grad:
            raise RuntimeError(f"{where}: this Value does not require grad (a constant, or made under no_grad())")
        if grad is None:
            return 1.0
        if isinstance(grad, bool) or not isinstance(grad, numbers.Real):
            raise TypeError(f"{where}: grad must be a number, got {type(grad).__name__}")
        return float(grad)

    def zero_grad(self) -> None:
        """Set this Value's `.grad` back to 0.0."""
        self.grad = 0.0

    def __repr__(self) -> str:
        label = f", label={self.name!r}" if self.name else ""
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g}{label})"


_construct = node_constructor(Value)


def _binary(op: Op, name: str) -> Any:
    """The operator method for a two-input op: a number on either side becomes a constant."""
    state = _state  # read for every node made: closure variables are the cheapest lookups
    construct = _construct

    # two bodies rather than one with a branch: this runs for every node of a scalar graph
    if name.startswith("__r"):  # __rmul__: the Value is the right operand
        def method(self: Value, other: Number) -> Value:
            other = _constant(other, op.name)
            out = construct(None, op, (other, self))
            out.data = op.forward(out, other.data, self.data)
            if state.watching:
                node_made(out, op)
            return out
    else:
        def method(self: Value, other: "Value | Number") -> Value:
            if type(other) is not Value and not isinstance(other, Value):  # the type test is cheaper
                other = _constant(other, op.name)
            out = construct(None, op, (self, other))
            out.data = op.forward(out, self.data, other.data)
            if state.watching:
                node_made(out, op)
            return out

    method.__name__ = name
    method.__doc__ = f"{op.name}: {op.formula}"
    return method


def _unary(op: Op, name: str) -> Any:
    state, construct = _state, _construct

    def method(self: Value) -> Value:
        out = construct(None, op, (self,))
        out.data = op.forward(out, self.data)
        if state.watching:
            node_made(out, op)
        return out

    method.__doc__ = f"{op.name}: {op.formula}"
    return method


for _op in all_ops("scalar"):  # each op's declared methods: one input unary, two binary
    for _name in _op.methods:
        setattr(Value, _name, (_unary if len(_op.formulas) == 1 else _binary)(_op, _name))


def _constant(number: object, symbol: str) -> Value:
    """A number used in an op, as a constant leaf Value (so the graph shows it; no gradient)."""
    kind = type(number)
    if kind is not float and kind is not int:
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise TypeError(f"'{symbol}': cannot combine a Value with {kind.__name__} ({number!r:.40})")
    return _construct(float(number), None, ())


def _as_value(x: object, op_name: str) -> Value:
    return x if isinstance(x, Value) else _constant(x, op_name)


# ---- helpers for the worked attention example ----
def dot(xs: Sequence[Value | Number], ys: Sequence[Value | Number]) -> Value:
    """Σ xᵢ·yᵢ over two equally long lists, one mul and one add node per term."""
    if len(xs) != len(ys):
        raise ValueError(f"dot: lengths differ ({len(xs)} and {len(ys)})")
    if not xs:
        raise ValueError("dot: needs at least one element on each side")
    terms = [_as_value(x, "dot") * _as_value(y, "dot") for x, y in zip(xs, ys)]
    return sum_values(terms)


def sum_values(values: Iterable[Value]) -> Value:
    """Left-to-right sum of Values (a chain of add nodes)."""
    values = list(values)
    if not values:
        raise ValueError("sum_values: needs at least one Value")
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def softmax(values: Sequence[Value]) -> list[Value]:
    """exp(xᵢ - m) / Σⱼ exp(xⱼ - m) with m = max(x) as a constant: the shift cancels, so the
    gradient is unchanged and no exp can overflow."""
    if not values:
        raise ValueError("softmax: needs at least one Value")
    values = [_as_value(v, "softmax") for v in values]
    shift = max(v.data for v in values)
    exps = [(v - shift).exp() for v in values]
    total = sum_values(exps)
    return [e / total for e in exps]


def weighted_sum(weights: Sequence[Value], vectors: Sequence[Sequence[Value | Number]]) -> list[Value]:
    """Σᵢ weightᵢ · vectorᵢ, elementwise: the output of one attention step."""
    if len(weights) != len(vectors):
        raise ValueError(f"weighted_sum: {len(weights)} weights for {len(vectors)} vectors")
    sizes = {len(v) for v in vectors}
    if len(sizes) != 1:
        raise ValueError(f"weighted_sum: vectors have different lengths {sorted(sizes)}")
    size = sizes.pop()
    return [dot(weights, [vector[i] for vector in vectors]) for i in range(size)]
