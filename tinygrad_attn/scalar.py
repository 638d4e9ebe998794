"""`Value`: one Python float in the graph, and its op table.

Each op below is one table row: its name, the local rule as learners see it, and the backward
that implements that rule. Forward lives in the `Value` method of the same name.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Iterator, Sequence, Union

from . import core
from .core import Node, Op, Step, _state, next_index

Number = Union[int, float]


# ---- the op table: name, formula, backward(node, upstream_grad) -> one gradient per input ----
OPS: dict[str, Op] = {op.name: op for op in (
    Op("add", "d(a+b)/da = 1,  d(a+b)/db = 1",
       lambda n, g: (g, g)),
    Op("sub", "d(a-b)/da = 1,  d(a-b)/db = -1",
       lambda n, g: (g, -g)),
    Op("mul", "d(a*b)/da = b,  d(a*b)/db = a",
       lambda n, g: (g * n._inputs[1].data, g * n._inputs[0].data)),
    Op("div", "d(a/b)/da = 1/b,  d(a/b)/db = -a/b²",
       lambda n, g: (g / n._inputs[1].data, -g * n.data / n._inputs[1].data)),
    Op("neg", "d(-a)/da = -1",
       lambda n, g: (-g,)),
    Op("pow", "d(aⁿ)/da = n·aⁿ⁻¹  (n a constant)",
       lambda n, g: (g * n._ctx * n._inputs[0].data ** (n._ctx - 1),)),
    Op("powv", "d(aᵇ)/da = b·aᵇ⁻¹,  d(aᵇ)/db = aᵇ·ln a",
       lambda n, g: (g * n._inputs[1].data * n._inputs[0].data ** (n._inputs[1].data - 1), g * n.data * n._ctx)),
    Op("exp", "d(eᵃ)/da = eᵃ",
       lambda n, g: (g * n.data,)),
    Op("log", "d(ln a)/da = 1/a",
       lambda n, g: (g / n._inputs[0].data,)),
    Op("tanh", "d(tanh a)/da = 1 - tanh²a",
       lambda n, g: (g * (1.0 - n.data * n.data),)),
    Op("relu", "d(relu a)/da = 1 if a > 0 else 0",
       lambda n, g: (g if n.data > 0.0 else 0.0,)),
    Op("sigmoid", "d(σ(a))/da = σ(a)·(1 - σ(a))",
       lambda n, g: (g * n.data * (1.0 - n.data),)),
)}
_ADD, _SUB, _MUL, _DIV, _NEG = OPS["add"], OPS["sub"], OPS["mul"], OPS["div"], OPS["neg"]
_POW, _POWV, _EXP, _LOG = OPS["pow"], OPS["powv"], OPS["exp"], OPS["log"]
_TANH, _RELU, _SIGMOID = OPS["tanh"], OPS["relu"], OPS["sigmoid"]

_EXP_LIMIT = math.log(1.7976931348623157e308)  # largest x with finite exp(x), about 709.78


class Value(Node):
    """A scalar in the compute graph: `.data` (float), `.grad` (float), `.label`."""

    __slots__ = ("data", "label")
    requires_grad = True  # every Value takes part in backward
    _retain = True  # intermediate Values keep their gradient so learners can read it

    def __init__(self, data: Number, label: str = ""):
        if type(data) is not float:
            if isinstance(data, bool) or not isinstance(data, numbers.Real):
                raise TypeError(f"Value: expected an int or float, got {type(data).__name__} ({data!r:.40})")
            data = float(data)
        if not isinstance(label, str):
            raise TypeError(f"Value: label must be a str, got {type(label).__name__}")
        self.data = data
        self.grad = 0.0
        self.label = label
        self._inputs = ()
        self._op = None
        self._ctx = None
        self._upstream = None
        self._hooks = None
        self._scope = _state.scope
        self._index = next_index()

    @staticmethod
    def _finite(x: float) -> bool:
        return math.isfinite(x)

    def _accumulate_grad(self, grad: float) -> None:
        self.grad += grad

    def _keep_grad(self, grad: float) -> None:
        self.grad = grad

    # ---- arithmetic: numbers on either side become constant leaves ----
    def __add__(self, other: "Value | Number") -> "Value":
        other = other if isinstance(other, Value) else _constant(other, "+")
        return _make(self.data + other.data, (self, other), _ADD)

    def __radd__(self, other: Number) -> "Value":
        other = _constant(other, "+")
        return _make(other.data + self.data, (other, self), _ADD)

    def __sub__(self, other: "Value | Number") -> "Value":
        other = other if isinstance(other, Value) else _constant(other, "-")
        return _make(self.data - other.data, (self, other), _SUB)

    def __rsub__(self, other: Number) -> "Value":
        other = _constant(other, "-")
        return _make(other.data - self.data, (other, self), _SUB)

    def __mul__(self, other: "Value | Number") -> "Value":
        other = other if isinstance(other, Value) else _constant(other, "*")
        return _make(self.data * other.data, (self, other), _MUL)

    def __rmul__(self, other: Number) -> "Value":
        other = _constant(other, "*")
        return _make(other.data * self.data, (other, self), _MUL)

    def __truediv__(self, other: "Value | Number") -> "Value":
        other = other if isinstance(other, Value) else _constant(other, "/")
        return _divide(self, other)

    def __rtruediv__(self, other: Number) -> "Value":
        return _divide(_constant(other, "/"), self)

    def __neg__(self) -> "Value":
        return _make(-self.data, (self,), _NEG)

    def __pow__(self, exponent: "Value | Number") -> "Value":
        if isinstance(exponent, Value):
            return _power_of_values(self, exponent)
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            raise TypeError(f"pow: exponent must be a number or a Value, got {type(exponent).__name__}")
        exponent = float(exponent)
        base = self.data
        if base == 0.0 and exponent < 0:
            raise ValueError(f"pow: 0.0 ** {exponent} is undefined (division by zero)")
        if base < 0.0 and not exponent.is_integer():
            raise ValueError(f"pow: negative base {base} ** non-integer {exponent} is not a real number")
        return _make(base ** exponent, (self,), _POW, exponent)

    def __rpow__(self, base: Number) -> "Value":
        return _power_of_values(_constant(base, "**"), self)

    # ---- elementwise functions ----
    def exp(self) -> "Value":
        if self.data > _EXP_LIMIT:
            raise OverflowError(f"exp: exp({self.data}) overflows a float (largest input is {_EXP_LIMIT:.2f})")
        return _make(math.exp(self.data), (self,), _EXP)

    def log(self) -> "Value":
        if not self.data > 0.0:
            raise ValueError(f"log: input must be > 0, got {self.data}{_named(self)}")
        return _make(math.log(self.data), (self,), _LOG)

    def tanh(self) -> "Value":
        return _make(math.tanh(self.data), (self,), _TANH)

    def relu(self) -> "Value":
        return _make(self.data if self.data > 0.0 else 0.0, (self,), _RELU)

    def sigmoid(self) -> "Value":
        x = self.data
        if x >= 0.0:  # two branches so exp never overflows
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (1.0 + e)
        return _make(s, (self,), _SIGMOID)

    # ---- backward ----
    def backward(self) -> None:
        """Fill `.grad` of every Value this one depends on with d(self)/d(that Value).

        Leaves accumulate (+=) across calls; intermediate Values hold the gradient of the most
        recent call. This is `backward_steps()` run to the end.
        """
        core.backward(self, 1.0, True)

    def backward_steps(self) -> Iterator[Step]:
        """The same backward pass, one `Step` per node, for stepping through it."""
        return core.backward_steps(self, 1.0, True)

    def zero_grad(self) -> None:
        """Set this Value's `.grad` back to 0.0."""
        self.grad = 0.0

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g}{label})"


def _make(data: float, inputs: tuple, op: Op | None, ctx: object = None) -> Value:
    """A new node holding `data`, made by `op` from `inputs` (no checks: the op has done them)."""
    out = _new_value(Value)  # skips Value.__init__, which checks user input
    out.data = data
    out.grad = 0.0
    out.label = ""
    out._inputs = inputs
    out._op = op
    out._ctx = ctx
    out._upstream = None
    out._hooks = None
    out._scope = _state.scope
    out._index = next_index()
    if _state.anomaly and op is not None and not math.isfinite(data):
        core.check_forward(out, data)
    return out


_new_value = object.__new__


def _constant(number: object, symbol: str) -> Value:
    """A number used in an op, as a leaf Value (so the graph shows it)."""
    kind = type(number)
    if kind is not float and kind is not int:
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise TypeError(f"'{symbol}': cannot combine a Value with {kind.__name__} ({number!r:.40})")
    return _make(float(number), (), None)


def _as_value(x: object, op_name: str) -> Value:
    return x if isinstance(x, Value) else _constant(x, op_name)


def _named(value: Value) -> str:
    return f" (Value {value.label!r})" if value.label else ""


def _divide(numerator: Value, denominator: Value) -> Value:
    if denominator.data == 0.0:
        raise ZeroDivisionError(f"div: {numerator.data} / 0.0: the denominator{_named(denominator)} is zero")
    return _make(numerator.data / denominator.data, (numerator, denominator), _DIV)


def _power_of_values(base: Value, exponent: Value) -> Value:
    if not base.data > 0.0:
        raise ValueError(
            f"pow: Value ** Value needs a positive base (it is computed as exp(b·ln a)), got base {base.data}"
        )
    log_base = math.log(base.data)
    return _make(base.data ** exponent.data, (base, exponent), _POWV, log_base)


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
