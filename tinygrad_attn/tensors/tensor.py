"""`Tensor`: a NumPy array in the graph.

This file holds what every tensor has (data, grad, dtype rules, backward, hooks, detach) and
`apply(op, inputs, ...)`, which runs a registry op on tensors. The operators and methods are
bound from the registry in `methods.py`; an op's forward, backward and formula sit together
in its module under `tinygrad_attn/ops/`.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .. import core
from ..core import Node, Step, _state, node_constructor, node_made
from ..kernels import pool
from ..ops.registry import Op

_FLOATS = (np.float16, np.float32, np.float64)
_NUMBERS = (int, float, np.integer, np.floating)  # NumPy scalars are numbers too, as in PyTorch
DEFAULT_FLOAT = np.float32
REPR_ELEMENTS = 64  # a bigger tensor prints only its corners, and its shape
REPR_EDGE_ITEMS = 3


_INT64_MAX = np.iinfo(np.int64).max


def _as_array(data: Any, dtype: Any, where: str) -> np.ndarray:
    """Convert user data to an owned array, float32 by default for floats, int64 for ints.

    Only numbers are accepted (float, int, bool): another dtype (complex, object, str) is a
    TypeError, and an unsigned value beyond int64 (which would wrap round) a ValueError."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        if dtype is not None:
            try:
                target = np.dtype(dtype)
            except TypeError:
                target = None
            if target is None or target.kind not in "fiub":
                raise TypeError(f"{where}: dtype must be a float, int or bool dtype, got {dtype!r}") from None
            if target.kind in "iu":
                _check_unsigned_range(np.asarray(data) if isinstance(data, (np.ndarray, np.generic)) else None,
                                      where, target)
            return np.array(data, dtype=target)
        given_float64 = isinstance(data, (np.ndarray, np.floating)) and data.dtype == np.float64
        array = np.array(data)
    except OverflowError:  # a Python int beyond the requested integer dtype, or inf into an int
        raise ValueError(f"{where}: a value does not fit in dtype {np.dtype(dtype)} "
                         f"({_largest_number(data)!r} is beyond its range)") from None
    except (ValueError, TypeError) as error:
        if str(error).startswith(f"{where}:"):
            raise
        raise _bad_data(data, where, dtype) from None
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype != np.float64 or not given_float64:
            array = array.astype(DEFAULT_FLOAT, copy=False)
    elif kind in "iu":
        _check_unsigned_range(array, where, np.dtype(np.int64))
        array = array.astype(np.int64, copy=False)
    elif kind == "O":
        raise _bad_data(data, where, dtype)
    elif kind != "b":
        raise TypeError(
            f"{where}: expected numbers (float, int or bool), got an array of dtype {array.dtype}"
        )
    return array


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple)) or (isinstance(x, (np.ndarray, Tensor)) and np.ndim(x) > 0)


def _leaves(data: Any) -> Iterator[Any]:
    """Every non-sequence item of nested lists, tuples and arrays, in order."""
    stack = [data]
    while stack:
        item = stack.pop()
        if _is_sequence(item):
            stack.extend(reversed(list(item)))
        else:
            yield item


def _largest_number(data: Any) -> Any:
    numbers = [x for x in _leaves(data) if isinstance(x, (int, float, np.number)) and not isinstance(x, bool)]
    return max(numbers, key=lambda x: abs(float(x))) if numbers else data


def _bad_data(data: Any, where: str, dtype: Any) -> Exception:
    """Why `data` cannot become a tensor, in our words (NumPy's would speak of 'inhomogeneous
    shapes' and 'object arrays'): a ragged nested list, a non-number inside, a value beyond
    int64, or NaN/infinity bound for an integer dtype."""
    what = type(data).__name__
    if not _is_sequence(data) and not isinstance(data, (int, float, bool, np.number, np.bool_, Tensor)):
        return TypeError(f"{where}: cannot make a tensor from {what} ({data!r:.40}); expected a number, "
                         "a (nested) list of numbers, a NumPy array or a Tensor")
    level, dim = [data], 0
    while level:
        sequences = [_is_sequence(x) for x in level]
        if any(sequences) and not all(sequences):
            return TypeError(f"{where}: cannot make a tensor from {what}: it mixes numbers and lists at dim {dim}, "
                             "so it is not a rectangular array")
        if not any(sequences):
            break
        lengths = [len(x) for x in level]
        odd = next((n for n in lengths if n != lengths[0]), None)
        if odd is not None:
            return TypeError(f"{where}: cannot make a tensor from {what}: it is ragged, expected a sequence "
                             f"of length {lengths[0]} at dim {dim} (got {odd})")
        level, dim = [child for x in level for child in x], dim + 1
    for leaf in level:
        if isinstance(leaf, Tensor) or isinstance(leaf, bool) or isinstance(leaf, (np.bool_, np.number)):
            continue
        if isinstance(leaf, int):
            if not -2 ** 63 <= leaf < 2 ** 63:
                return ValueError(f"{where}: value {leaf} does not fit in int64, the engine's integer dtype "
                                  "(largest 9223372036854775807); convert to float explicitly if you mean it")
            continue
        if isinstance(leaf, float):
            if dtype is not None and not math.isfinite(leaf):
                return ValueError(f"{where}: {leaf} cannot be stored in dtype {np.dtype(dtype)} "
                                  "(integers have no NaN or infinity)")
            continue
        return TypeError(f"{where}: cannot make a tensor from {what}: it holds a {type(leaf).__name__} "
                         f"({leaf!r:.40}); expected numbers (float, int or bool)")
    return TypeError(f"{where}: cannot make a tensor from {what} of dtype {np.asarray(data, dtype=object).dtype}")


def _check_unsigned_range(array: np.ndarray | None, where: str, target: np.dtype) -> None:
    """Refuse unsigned values beyond int64 (or beyond a smaller signed `target`): a cast to a
    signed dtype would wrap them round to negative numbers without a word (uint64 2**63 ->
    -2**63), and the engine's integers are int64, so a uint64 target is refused above it too."""
    if array is None or array.dtype.kind != "u" or target.kind not in "iu" or not array.size:
        return
    limit = min(np.iinfo(target).max, _INT64_MAX) if target.kind == "i" else _INT64_MAX
    largest = int(array.max())
    if largest > limit:
        raise ValueError(
            f"{where}: value {largest} (dtype {array.dtype}) is beyond the range of {target if target.kind == 'i' else 'int64'} "
            f"(largest {limit}); int64 is the engine's integer dtype, so larger unsigned values are "
            "refused rather than wrapped round; convert to float explicitly if you mean it"
        )


class Tensor(Node):
    """An n-dimensional array in the compute graph (NumPy underneath).

    `.data` the array, `.grad` an array of the same shape once backward has reached it (None
    before), `.requires_grad`, `.name`.
    """

    # `_retain`: retain_grad() switches it per tensor. `_written`: (node counter, method) of the
    # last in-place write, set only by in-place methods (never at construction, so it costs no op
    # anything); backward refuses a graph whose ops ran before a write to a tensor they use.
    __slots__ = ("_retain", "_written")
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
        _construct(array, None, (), bool(requires_grad), name, self)

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

    def tolist(self) -> Any:
        """The numbers as (nested) Python lists, or one Python number for a 0-d tensor, as in PyTorch."""
        return self.data.tolist()

    # ---- Python and NumPy protocols, as PyTorch answers them ----
    def _one_number(self, where: str) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"{where}: only a one-element tensor can be converted to a Python number, got shape "
                             f"{self.shape} ({self.data.size} elements); pick one element first, e.g. t[0]")
        return self.data.item()

    def __float__(self) -> float:
        return float(self._one_number("float()"))

    def __int__(self) -> int:
        return int(self._one_number("int()"))

    def __index__(self) -> int:
        """An integer tensor of one element used as an index (`items[t.argmax()]`, `range(t)`)."""
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"index: only an integer tensor of one element can be used as an index, got dtype "
                            f"{self.dtype} and shape {self.shape}")
        return int(self.data.item())

    def __bool__(self) -> bool:
        """`if t:` for one element; several are ambiguous (any? all?), as in PyTorch. Without this,
        Python would fall back to len() and call every non-empty tensor True."""
        if self.data.size != 1:
            many = "no values" if self.data.size == 0 else f"{self.data.size} values"
            raise RuntimeError(f"bool(): the truth value of a tensor with {many} (shape {self.shape}) is "
                               "ambiguous; reduce it to one element first, e.g. (t > 0).sum() > 0 for 'any'")
        return bool(self.data.item())

    def __format__(self, spec: str) -> str:
        """f"{loss:.3f}" formats the number of a 0-d tensor; other tensors only as str(t)."""
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        if not spec:
            return str(self)
        raise TypeError(f"format: the format '{spec}' needs a 0-d tensor (one number), got shape {self.shape}; "
                        f"format one element, e.g. f\"{{t[0].item():{spec}}}\"")

    def __iter__(self) -> Iterator["Tensor"]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor (it holds one number: use .item())")
        for position in range(len(self.data)):
            yield self[position]

    def __contains__(self, element: Any) -> bool:
        """`x in t`: does any element of t equal x (PyTorch's meaning, not 'is x one of t's rows')."""
        if isinstance(element, Tensor):
            element = element.data
        elif isinstance(element, bool) or not isinstance(element, _NUMBERS):
            raise TypeError(f"in: a tensor can only be searched for a number or a Tensor, got "
                            f"{type(element).__name__}")
        return bool(np.any(self.data == element))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(t)`: the tensor's array (as `.numpy()`), never an array of Tensor objects."""
        array = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return array.copy() if copy and array is self.data else array

    def __repr__(self) -> str:
        # Past REPR_ELEMENTS numbers only the corners are printed (PyTorch's "..." style, at a
        # lower threshold than its 1000 so a notebook cell stays a few lines), and the shape is said.
        big = self.data.size > REPR_ELEMENTS
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(",
                               threshold=REPR_ELEMENTS, edgeitems=REPR_EDGE_ITEMS)
        extras = [f"shape={tuple(self.shape)}"] if big else []
        if self.data.dtype != DEFAULT_FLOAT:
            extras.append(f"dtype={self.data.dtype}")
        if self.op is not None:
            extras.append(f"op={self.op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}{', ' if extras else ''}{', '.join(extras)})"

    # ---- graph ----
    @staticmethod
    def _finite(x: np.ndarray) -> bool:
        return bool(np.isfinite(x).all()) if x.dtype.kind == "f" else True

    # previous + grad; a large sum goes into a reused buffer (kernels/pool.py)
    _add_grads = staticmethod(pool.add)

    def _accumulate_grad(self, grad: np.ndarray) -> None:
        data = self.data
        if grad.dtype != data.dtype or grad.shape != data.shape:
            grad = np.broadcast_to(grad, data.shape).astype(data.dtype)
        if self.grad is not None:
            self.grad = pool.add(self.grad, grad)  # a new array: the old one may be held elsewhere
        else:
            self.grad = pool.copy(grad)  # own copy: the same array may flow to other nodes

    def _checked_hook_result(self, result: Any, hook: Any, grad: np.ndarray) -> np.ndarray:
        """What a hook returned, as the gradient replacing `grad`: a Tensor (its data) or a NumPy
        array of grad's shape with a floating dtype (cast to grad's). Anything else is refused,
        as PyTorch refuses it, instead of being broadcast or summed into place."""
        array = result.data if isinstance(result, Tensor) else result
        if not isinstance(array, (np.ndarray, np.generic)):
            raise TypeError(
                f"backward: {self._hook_description(hook)} returned a {type(result).__name__}; a hook must "
                f"return None or a Tensor / NumPy array of the gradient's shape {grad.shape}"
            )
        if isinstance(array, np.generic):
            array = np.asarray(array)
        if array.shape != grad.shape:
            raise RuntimeError(
                f"backward: {self._hook_description(hook)} returned a gradient of shape {array.shape}, but "
                f"the gradient has shape {grad.shape}; a hook must keep the shape"
            )
        if array.dtype.kind != "f":
            raise TypeError(
                f"backward: {self._hook_description(hook)} returned a gradient of dtype {array.dtype}, but "
                f"the gradient has dtype {grad.dtype}; a hook must return floating-point values"
            )
        return array if array.dtype == grad.dtype else array.astype(grad.dtype)

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
            seed = np.empty(self.data.shape, self.data.dtype)  # one element: np.ones_like's wrapper costs more
            seed.fill(1)
            return seed
        data = self.data
        if type(grad) is np.ndarray and grad.dtype.kind == "f" and grad.shape == data.shape:
            return grad.astype(data.dtype)  # the usual call, short: the copy `_as_array` would make, in data's dtype
        if isinstance(grad, Tensor):
            seed = grad.data
        elif isinstance(grad, (str, bytes)) or not isinstance(grad, (np.ndarray, np.generic, list, tuple, *_NUMBERS)):
            raise TypeError(f"{where}: grad must be a Tensor, a NumPy array or a number of the tensor's shape "
                            f"{self.shape}, got {type(grad).__name__}")
        else:
            seed = _as_array(grad, None, f"{where}: grad")
        if seed.dtype.kind not in "fiub":
            raise TypeError(f"{where}: grad must hold real numbers, got dtype {seed.dtype} (tensor of dtype {self.dtype})")
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
        return _construct(self.data, None, (), False, self.name)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad_: expected True or False, got {requires_grad!r}")
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}")
        if self.op is not None and not requires_grad:
            raise RuntimeError("requires_grad_: only leaf tensors can be switched off; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradient: `.grad` becomes None (as PyTorch's optimizers do by default), or
        with `set_to_none=False` an array of zeros (filled in place when it can be)."""
        if set_to_none or self.grad is None:
            self.grad = None
        elif self.grad.flags.writeable:
            self.grad.fill(0)
        else:
            self.grad = np.zeros_like(self.grad)

    # The operators and methods (+, *, @, .sum(), .reshape(), ...) are bound from the op
    # registry by `methods.py`.


_construct = node_constructor(Tensor)


def apply(op: Op, inputs: tuple, *args: Any, **params: Any) -> Tensor:
    """Run registry op `op` on tensors: a new node, filled by the op's forward on the inputs' arrays.

    Extra positional and keyword arguments go to forward as they are (axes, a mask, a value).
    While kernels are on, a fused op runs its tuned kernel (`op.active`).
    """
    op = op.active
    out = _construct(None, op, inputs)
    out.data = op.forward(out, *[x.data for x in inputs], *args, **params)
    if _state.watching:
        node_made(out, op, args, params)
    return out


def apply_unary(op: Op, x: Tensor) -> Tensor:
    """`apply` for one input and no parameters (the common case, kept short)."""
    op = op.active
    out = _construct(None, op, (x,))
    try:
        out.data = op.forward(out, x.data)
    except TypeError as error:  # NumPy refuses e.g. -bool
        if str(error).startswith(f"{op.name}:"):
            raise
        raise TypeError(f"{op.name}: not defined for a tensor of dtype {x.dtype} (shape {x.shape}); "
                        "convert with .float() or .long() first") from None
    if _state.watching:
        node_made(out, op)
    return out


def apply_binary(op: Op, a: Tensor, b: Tensor) -> Tensor:
    """`apply` for two tensors, with NumPy's broadcasting error in the op's words."""
    op = op.active
    out = _construct(None, op, (a, b))
    try:
        out.data = op.forward(out, a.data, b.data)
    except ValueError as error:
        message = str(error)
        if message.startswith(f"{op.name}:"):
            raise  # already in the op's words
        if "negative integer powers" in message:
            raise ValueError(f"{op.name}: an integer tensor cannot be raised to a negative integer power (shapes "
                             f"{a.shape} and {b.shape}); use a float base, e.g. x.float() ** -1") from None
        if "broadcast" not in message:
            raise
        raise ValueError(f"{op.name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    except TypeError as error:  # NumPy refuses e.g. bool - bool
        if str(error).startswith(f"{op.name}:"):
            raise
        raise TypeError(f"{op.name}: not defined for tensors of dtype {a.dtype} and {b.dtype} (shapes {a.shape} "
                        f"and {b.shape}); convert with .float() or .long() first") from None
    if _state.watching:
        node_made(out, op)
    return out


def constant(array: np.ndarray, name: str | None = None) -> Tensor:
    """A leaf tensor that needs no gradient (a number or mask used in an op)."""
    return _construct(array, None, (), False, name)




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
    return constant(array)


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
    return constant(_as_array(value, None, where))

