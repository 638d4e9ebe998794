"""`Tensor`: a NumPy array in the graph.

This file holds what every tensor has (data, grad, dtype rules, backward, hooks, detach) and
the operator methods, each one line that hands over to the op's module:
`elementwise.py`, `reduce.py`, `movement.py`, `linalg.py`, `softmax.py`. There an op's forward
and backward sit side by side with its formula.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import core, perf
from ..core import Node, Op, Step, _state, next_index

_FLOATS = (np.float16, np.float32, np.float64)
_NUMBERS = (int, float, np.integer, np.floating)  # NumPy scalars are numbers too, as in PyTorch
DEFAULT_FLOAT = np.float32


def _as_array(data: Any, dtype: Any, where: str) -> np.ndarray:
    """Convert user data to an owned array, float32 by default for floats, int64 for ints."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        if dtype is not None:
            return np.array(data, dtype=dtype)
        given_float64 = isinstance(data, (np.ndarray, np.floating)) and data.dtype == np.float64
        array = np.array(data)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: cannot make a tensor from {type(data).__name__} ({error})") from None
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype != np.float64 or not given_float64:
            array = array.astype(DEFAULT_FLOAT, copy=False)
    elif kind in "iu":
        array = array.astype(np.int64, copy=False)
    elif kind != "b":
        raise TypeError(
            f"{where}: expected numbers (float, int or bool), got an array of dtype {array.dtype}"
        )
    return array


class Tensor(Node):
    """An n-dimensional array in the compute graph (NumPy underneath).

    `.data` the array, `.grad` an array of the same shape once backward has reached it (None
    before), `.requires_grad`, `.name`.
    """

    __slots__ = ("data", "requires_grad", "name", "_retain")
    __hash__ = object.__hash__  # == is elementwise, so identity hashing must be explicit
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected method

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        array = _as_array(data, dtype, "Tensor")
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only floating-point tensors can require grad, got dtype {array.dtype}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Tensor: name must be a str, got {type(name).__name__}")
        self.data = array
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._retain = False
        self._inputs = ()
        self._op = None
        self._ctx = None
        self._upstream = None
        self._hooks = None
        self._scope = _state.scope
        self._index = next_index()

    # ---- properties ----
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor can be converted, got shape {self.shape}")
        return self.data.item()

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extras = []
        if self.data.dtype != DEFAULT_FLOAT:
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}{', ' if extras else ''}{', '.join(extras)})"

    # ---- graph ----
    @staticmethod
    def _finite(x: np.ndarray) -> bool:
        return bool(np.isfinite(x).all()) if x.dtype.kind == "f" else True

    @staticmethod
    def _add_grads(previous: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """previous + grad, a large sum written into a reused buffer (a fresh one costs page faults)."""
        if previous.nbytes >= perf.MIN_POOLED_BYTES and previous.shape == grad.shape and previous.dtype == grad.dtype:
            return np.add(previous, grad, out=perf.empty(previous.shape, previous.dtype))
        return previous + grad

    def _accumulate_grad(self, grad: np.ndarray) -> None:
        data = self.data
        if grad.dtype != data.dtype or grad.shape != data.shape:
            grad = np.broadcast_to(grad, data.shape).astype(data.dtype)
        if self.grad is not None:
            self.grad = self._add_grads(self.grad, grad)  # a new array: the old one may be held elsewhere
        elif grad.nbytes >= perf.MIN_POOLED_BYTES:  # a large copy goes into a reused buffer: no page faults
            self.grad = perf.empty(data.shape, data.dtype)
            np.copyto(self.grad, grad)  # own copy: the same array may flow to other nodes
        else:
            self.grad = grad.copy()  # own copy: the same array may flow to other nodes

    def _keep_grad(self, grad: np.ndarray) -> None:
        self.grad = np.array(grad, dtype=self.data.dtype)  # own copy: the array may also flow on

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Fill `.grad` of every leaf this tensor depends on (and of tensors that retain grad).

        `grad` is d(something)/d(self); it may be omitted only for a one-element tensor.
        The saved values of the graph are released afterwards unless `retain_graph=True`.
        """
        core.backward(self, self._seed_grad(grad, "backward"), retain_graph)

    def backward_steps(self, grad: Any = None, retain_graph: bool = False) -> Iterator[Step]:
        """The same backward pass, one `Step` per node, for stepping through it."""
        return core.backward_steps(self, self._seed_grad(grad, "backward_steps"), retain_graph)

    def _seed_grad(self, grad: Any, where: str) -> np.ndarray:
        if not self.requires_grad:
            raise RuntimeError(
                f"{where}: this tensor does not require grad (no input of it has requires_grad=True, "
                "or it was made under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"{where}: grad can be omitted only for a one-element tensor, this one has shape "
                    f"{self.shape}; pass grad= with that shape (e.g. ones for the sum)"
                )
            return np.ones_like(self.data)
        seed = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
        data = self.data
        if seed.shape != data.shape:
            raise ValueError(f"{where}: grad has shape {seed.shape} but the tensor has shape {self.shape}")
        return seed if seed.dtype == data.dtype else seed.astype(data.dtype)

    def retain_grad(self) -> "Tensor":
        """Keep `.grad` on this non-leaf after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retain = True
        return self

    def detach(self) -> "Tensor":
        """The same data as a new leaf that does not require grad (shares memory)."""
        out = Tensor.__new__(Tensor)
        _init(out, self.data, (), None, None, False)
        out.name = self.name
        return out

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}")
        if self._op is not None and not requires_grad:
            raise RuntimeError("requires_grad_: only leaf tensors can be switched off; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Forget the gradient (`.grad` becomes None)."""
        self.grad = None

    # ---- arithmetic (forward and backward in elementwise.py / linalg.py) ----
    def __add__(self, other: Any) -> "Tensor":
        return elementwise.add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return elementwise.add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return elementwise.sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return elementwise.div(other, self)

    def __pow__(self, exponent: Any) -> "Tensor":
        return elementwise.pow(self, exponent)

    def __rpow__(self, base: Any) -> "Tensor":
        return elementwise.pow(base, self)

    def __neg__(self) -> "Tensor":
        return elementwise.neg(self)

    def __matmul__(self, other: Any) -> "Tensor":
        return linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return linalg.matmul(other, self)

    def exp(self) -> "Tensor":
        return elementwise.exp(self)

    def log(self) -> "Tensor":
        return elementwise.log(self)

    def sqrt(self) -> "Tensor":
        return elementwise.sqrt(self)

    def tanh(self) -> "Tensor":
        return elementwise.tanh(self)

    def relu(self) -> "Tensor":
        return elementwise.relu(self)

    def sigmoid(self) -> "Tensor":
        return elementwise.sigmoid(self)

    # ---- comparisons: plain boolean tensors, outside the graph ----
    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return elementwise.compare(self, other, np.equal, "==")

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return elementwise.compare(self, other, np.not_equal, "!=")

    def __lt__(self, other: Any) -> "Tensor":
        return elementwise.compare(self, other, np.less, "<")

    def __le__(self, other: Any) -> "Tensor":
        return elementwise.compare(self, other, np.less_equal, "<=")

    def __gt__(self, other: Any) -> "Tensor":
        return elementwise.compare(self, other, np.greater, ">")

    def __ge__(self, other: Any) -> "Tensor":
        return elementwise.compare(self, other, np.greater_equal, ">=")

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; use .all() or .any()")
        return bool(self.data)

    def all(self) -> bool:
        return bool(self.data.all())

    def any(self) -> bool:
        return bool(self.data.any())

    def argmax(self, axis: int | None = None) -> "Tensor":
        return reduce.argmax(self, axis)

    # ---- reductions (reduce.py) ----
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        return reduce.mean(self, axis, keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        return reduce.max(self, axis, keepdims)

    def var(self, axis: int | Sequence[int] | None = None, keepdims: bool = False, correction: int = 1) -> "Tensor":
        return reduce.var(self, axis, keepdims, correction)

    # ---- shape (movement.py) ----
    def reshape(self, *shape: int | Sequence[int]) -> "Tensor":
        return movement.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def transpose(self, *axes: int | Sequence[int]) -> "Tensor":
        return movement.transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes or None)

    @property
    def T(self) -> "Tensor":
        return movement.transpose(self, None)

    def swapaxes(self, axis1: int, axis2: int) -> "Tensor":
        return movement.swapaxes(self, axis1, axis2)

    def __getitem__(self, index: Any) -> "Tensor":
        return movement.getitem(self, index)

    def masked_fill(self, mask: Any, value: float) -> "Tensor":
        return movement.masked_fill(self, mask, value)

    # ---- softmax family (softmax.py) ----
    def softmax(self, axis: int = -1) -> "Tensor":
        return softmax.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        return softmax.log_softmax(self, axis)

    def astype(self, dtype: Any) -> "Tensor":
        return elementwise.astype(self, dtype)


def _init(out: Tensor, data: np.ndarray, inputs: tuple, op: Op | None, ctx: Any, requires_grad: bool) -> None:
    out.data = data
    out.grad = None
    out.requires_grad = requires_grad
    out.name = None
    out._retain = False
    out._inputs = inputs
    out._op = op
    out._ctx = ctx
    out._upstream = None
    out._hooks = None
    out._scope = _state.scope
    out._index = next_index()


def make(data: np.ndarray, inputs: tuple, op: Op, ctx: Any = None) -> Tensor:
    """The result of an op: in the graph if grad mode is on and any input requires grad."""
    recorded = False
    if _state.grad_enabled:
        for inp in inputs:
            if inp.requires_grad:
                recorded = True
                break
    out = _new_tensor(Tensor)  # skips Tensor.__init__, which converts and checks user data
    out.data = data
    out.grad = None
    out.requires_grad = recorded
    out.name = None
    out._retain = False
    out._inputs = inputs if recorded else ()
    out._op = op if recorded else None
    out._ctx = ctx if recorded else None
    out._upstream = None
    out._hooks = None
    out._scope = _state.scope
    out._index = next_index()
    if _state.anomaly and data.dtype.kind == "f" and not np.isfinite(data).all():
        out._op = op  # name the op even when no graph was recorded
        core.check_forward(out, data)
    return out


_new_tensor = object.__new__


def lift(value: Any, like: Tensor, where: str) -> Tensor:
    """Turn a number or array used beside `like` into a constant tensor (numbers keep like's dtype)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _NUMBERS) and not isinstance(value, bool) and like.data.dtype.kind == "f":
        array = np.array(value, dtype=like.data.dtype)
    elif isinstance(value, (int, float, bool, np.ndarray, np.generic, list, tuple)):
        array = _as_array(value, None, where)
    else:
        raise TypeError(f"{where}: cannot combine a Tensor with {type(value).__name__}")
    out = Tensor.__new__(Tensor)
    _init(out, array, (), None, None, False)
    return out


def lift_pair(a: Any, b: Any, where: str) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors: a number or array beside a tensor is lifted."""
    if type(a) is not Tensor:
        a = lift(a, b, where)
    if type(b) is not Tensor:  # not elif: `a` may be a Tensor subclass (nn.Parameter) beside a number
        b = lift(b, a, where)
    return a, b


def as_tensor(value: Any, where: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    out = Tensor.__new__(Tensor)
    _init(out, _as_array(value, None, where), (), None, None, False)
    return out


from . import elementwise, linalg, movement, reduce, softmax  # noqa: E402  (ops need Tensor defined first)
