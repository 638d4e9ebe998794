"""`Tensor`: a NumPy array in the graph.

This file holds what every tensor has (data, grad, dtype rules, backward, hooks, detach) and
`apply(op, inputs, ...)`, which runs a registry op on tensors. The operators and methods are
bound from the registry in `methods.py`; an op's forward, backward and formula sit together
in its module under `tinygrad_attn/ops/`.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import core
from ..core import Node, Step, _state, node_constructor, node_made
from ..kernels import pool
from ..ops.registry import Op

_FLOATS = (np.float16, np.float32, np.float64)
_NUMBERS = (int, float, np.integer, np.floating)  # NumPy scalars are numbers too, as in PyTorch
DEFAULT_FLOAT = np.float32


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
    except OverflowError as error:  # a Python int beyond the requested integer dtype
        raise ValueError(f"{where}: a value does not fit in dtype {np.dtype(dtype)} ({error})") from None
    except ValueError as error:
        if str(error).startswith(f"{where}:"):
            raise
        raise TypeError(f"{where}: cannot make a tensor from {type(data).__name__} ({error})") from None
    except TypeError as error:
        if str(error).startswith(f"{where}:"):
            raise
        raise TypeError(f"{where}: cannot make a tensor from {type(data).__name__} ({error})") from None
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype != np.float64 or not given_float64:
            array = array.astype(DEFAULT_FLOAT, copy=False)
    elif kind in "iu":
        _check_unsigned_range(array, where, np.dtype(np.int64))
        array = array.astype(np.int64, copy=False)
    elif kind != "b":
        raise TypeError(
            f"{where}: expected numbers (float, int or bool), got an array of dtype {array.dtype}"
        )
    return array


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

    __slots__ = ("_retain",)  # retain_grad() switches it per tensor
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

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extras = []
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
        return _construct(self.data, None, (), False, self.name)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
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
    out.data = op.forward(out, x.data)
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
        if "broadcast" not in str(error) or str(error).startswith(f"{op.name}:"):
            raise  # not NumPy's broadcasting error, or already in the op's words
        raise ValueError(f"{op.name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
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

