"""Tensor methods that change a shape or pick elements, with PyTorch's names and meanings.

    reshape / view / unsqueeze / squeeze / flatten   one `reshape` op
    transpose(dim0, dim1) / permute(*dims) / .T / .mT / t()   one `transpose` op
    expand                                           the `expand` op (no copy)
    x[index] / split / chunk                         the `getitem` op
    cat / concatenate / stack                        the joining ops

The ops' forward and backward are in `ops/movement.py`; here the user's arguments become
checked parameters. `dim` is PyTorch's word for NumPy's `axis`; both are accepted.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ops import movement
from ..ops.shapes import normalize_axis
from .tensor import Tensor, apply, as_tensor

__all__ = ["cat", "concatenate", "stack"]

_INTS = (int, np.integer)


def _sizes(where: str, sizes: tuple, tensor: Tensor) -> tuple[int, ...]:
    """PyTorch's `*sizes` or one sequence, checked to be ints."""
    if len(sizes) == 1 and not isinstance(sizes[0], _INTS):
        sizes = tuple(sizes[0])
    if any(isinstance(n, bool) or not isinstance(n, _INTS) for n in sizes):
        raise TypeError(f"{where}: the new shape must be ints, got {sizes} (tensor of shape {tensor.shape})")
    if where != "expand" and (any(n < -1 for n in sizes) or sum(n == -1 for n in sizes) > 1):  # NumPy takes -2 as -1
        raise ValueError(f"{where}: invalid shape {sizes} for a tensor of shape {tensor.shape}: sizes must be >= 0, "
                         "with at most one -1 (the size worked out from the others)")
    return tuple(int(n) for n in sizes)


def _dim(dim: Any, axis: Any, where: str) -> Any:
    """`dim=` (PyTorch) or `axis=` (NumPy): one of them."""
    if dim is not None and axis is not None:
        raise TypeError(f"{where}: give dim= or axis=, not both")
    return dim if dim is not None else axis


# ---- reshaping ----
def _reshape(self: Tensor, *shape: int | Sequence[int]) -> Tensor:
    return apply(movement.RESHAPE, (self,), _sizes("reshape", shape, self))


def _view(self: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """The same elements in a new shape (a copy-free reshape here, as every array is contiguous)."""
    return apply(movement.RESHAPE, (self,), _sizes("view", shape, self))


def _unsqueeze(self: Tensor, dim: int) -> Tensor:
    position = normalize_axis(dim, self.data.shape + (1,), "unsqueeze")
    shape = self.data.shape
    return apply(movement.RESHAPE, (self,), shape[:position] + (1,) + shape[position:])


def _squeeze(self: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Drop dims of size 1 (all of them, or those in `dim`; a named dim that is not 1 stays)."""
    shape = self.data.shape
    if dim is None:
        chosen = set(range(len(shape)))
    else:
        dims = (dim,) if isinstance(dim, _INTS) else tuple(dim)
        chosen = {normalize_axis(d, shape or (1,), "squeeze") for d in dims}
    return apply(movement.RESHAPE, (self,), tuple(n for i, n in enumerate(shape) if not (i in chosen and n == 1)))


def _flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = self.data.shape
    if not shape:
        return apply(movement.RESHAPE, (self,), (1,))
    start = normalize_axis(start_dim, shape, "flatten")
    end = normalize_axis(end_dim, shape, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {self.shape})")
    merged = int(np.prod(shape[start:end + 1]))
    return apply(movement.RESHAPE, (self,), shape[:start] + (merged,) + shape[end + 1:])


def _expand(self: Tensor, *sizes: int | Sequence[int]) -> Tensor:
    """The tensor repeated along dims of size 1 without copying (-1 keeps a dim)."""
    sizes = _sizes("expand", sizes, self)
    shape = self.data.shape
    if len(sizes) < len(shape):
        raise ValueError(f"expand: {sizes} has fewer dims than the tensor's shape {self.shape}")
    padded = (1,) * (len(sizes) - len(shape)) + shape
    target = tuple(old if new == -1 else new for old, new in zip(padded, sizes))
    if any(old != 1 and old != new for old, new in zip(padded, target)):
        raise ValueError(f"expand: cannot expand shape {self.shape} to {sizes} (only dims of size 1 can grow)")
    return apply(movement.EXPAND, (self,), target)


def _contiguous(self: Tensor) -> Tensor:
    """The tensor itself: NumPy arrays here need no contiguous copy before `view`."""
    return self


# ---- transposing ----
def _permutation(self: Tensor, dims: Sequence[int], where: str) -> tuple[int, ...]:
    ndim = self.data.ndim
    given = tuple(dims)
    checked = tuple(normalize_axis(d, self.data.shape or (1,), where) for d in given) if ndim else given
    if sorted(checked) != list(range(ndim)):
        raise ValueError(f"{where}: dims {given} are not a permutation of the {ndim} dims of shape {self.shape}")
    return checked


def _permute(self: Tensor, *dims: int | Sequence[int]) -> Tensor:
    """Reorder all dims: `x.permute(0, 2, 1, 3)`."""
    dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], _INTS) else dims
    return apply(movement.TRANSPOSE, (self,), _permutation(self, dims, "permute"))


def _swapped(self: Tensor, dim0: int, dim1: int, where: str) -> Tensor:
    shape = self.data.shape
    first, second = normalize_axis(dim0, shape, where), normalize_axis(dim1, shape, where)
    dims = list(range(len(shape)))
    dims[first], dims[second] = dims[second], dims[first]
    return apply(movement.TRANSPOSE, (self,), tuple(dims))


def _transpose(self: Tensor, dim0: int, dim1: int, *more: int) -> Tensor:
    """Swap two dims, as `torch.transpose` (use `permute` to reorder several)."""
    if more:
        raise TypeError(f"transpose: takes two dims to swap, got {(dim0, dim1) + more}; "
                        f"to reorder all dims use permute{(dim0, dim1) + more}")
    return _swapped(self, dim0, dim1, "transpose")


def _swapaxes(self: Tensor, axis1: int, axis2: int) -> Tensor:
    return _swapped(self, axis1, axis2, "swapaxes")


def _t(self: Tensor) -> Tensor:
    """The transpose of a matrix (a tensor of at most 2 dims), as `torch.t`."""
    if self.data.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dims, got shape {self.shape}; use transpose(dim0, dim1)")
    return apply(movement.TRANSPOSE, (self,), tuple(reversed(range(self.data.ndim))))


def _matrix_transpose(self: Tensor) -> Tensor:
    if self.data.ndim < 2:
        raise ValueError(f"mT: needs at least 2 dims, got shape {self.shape}")
    return _swapped(self, -2, -1, "mT")


Tensor.reshape, Tensor.view, Tensor.unsqueeze, Tensor.squeeze = _reshape, _view, _unsqueeze, _squeeze
Tensor.flatten, Tensor.expand, Tensor.contiguous = _flatten, _expand, _contiguous
Tensor.permute, Tensor.transpose, Tensor.swapaxes, Tensor.t = _permute, _transpose, _swapaxes, _t
Tensor.T = property(lambda self: apply(movement.TRANSPOSE, (self,), tuple(reversed(range(self.data.ndim)))),
                    doc="The tensor with its dims reversed.")
Tensor.mT = property(_matrix_transpose, doc="The last two dims swapped (a batch of matrices transposed).")


# ---- indexing ----
def _plain_index(index: Any) -> tuple[Any, bool]:
    """Tensors in the index become arrays; also tell whether it uses integer/boolean arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    plain, advanced = [], False
    for part in parts:
        if isinstance(part, Tensor):
            part = part.data
        if isinstance(part, (list, np.ndarray)):
            part = np.asarray(part) if not isinstance(part, list) or part else np.zeros(0, dtype=np.int64)  # x[[]]: no rows
            if part.dtype.kind not in "iub":
                raise IndexError(f"getitem: index arrays must hold integers or booleans, got dtype {part.dtype}")
            if part.ndim == 0 and part.dtype.kind in "iu":
                part = int(part)  # a 0-d index tensor selects like an int, as in PyTorch
            else:
                advanced = True
        plain.append(part)
    return (tuple(plain) if isinstance(index, tuple) else plain[0]), advanced


def _is_int(part: Any) -> bool:
    return isinstance(part, _INTS) and not isinstance(part, bool)


def _getitem(self: Tensor, index: Any) -> Tensor:
    """NumPy's indexing with PyTorch's one difference: beside index arrays, an int selects first.

    (NumPy counts an int as an index array, so `x[0, :, [0, 1]]` on shape (2, 3, 4) gives
    (2, 3) there and (3, 2) in PyTorch; here it is (3, 2), as in PyTorch.)
    """
    index, advanced = _plain_index(index)
    if advanced and isinstance(index, tuple) and any(_is_int(p) for p in index):
        ints_first = tuple(slice(None) if isinstance(p, np.ndarray) else p for p in index)
        rest = tuple(slice(None) if p is None else p for p in index if not _is_int(p))
        return apply(movement.GETITEM, (apply(movement.GETITEM, (self,), ints_first, False),), rest, True)
    return apply(movement.GETITEM, (self,), index, advanced)


def _split(self: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of `split_size` along `dim` (the last may be shorter), or pieces of the listed sizes."""
    axis = normalize_axis(dim, self.data.shape, "split")
    length = self.data.shape[axis]
    if isinstance(split_size_or_sections, _INTS):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, length - start) for start in range(0, length, size)] or [0]
    else:
        sizes = [int(n) for n in split_size_or_sections]
        if sum(sizes) != length or any(n < 0 for n in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to {length}, the length of dim {dim} "
                             f"(shape {self.shape})")
    pieces, start = [], 0
    for n in sizes:
        where = (slice(None),) * axis + (slice(start, start + n),)
        pieces.append(apply(movement.GETITEM, (self,), where, False))
        start += n
    return tuple(pieces)


def _chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of equal size ceil(length / chunks) along `dim`, as torch.chunk."""
    if isinstance(chunks, bool) or not isinstance(chunks, _INTS) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    length = self.data.shape[normalize_axis(dim, self.data.shape, "chunk")]
    return _split(self, max(1, -(-length // chunks)), dim)


Tensor.__getitem__, Tensor.split, Tensor.chunk = _getitem, _split, _chunk


# ---- joining ----
def _tensors(tensors: Sequence[Any], where: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{where}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{where}: needs at least one tensor")
    return [t if isinstance(t, Tensor) else as_tensor(t, where) for t in tensors]


def _joined(tensors: Sequence[Any], dim: int | None, axis: int | None, where: str) -> Tensor:
    dim = _dim(dim, axis, where)
    tensors = _tensors(tensors, where)
    first = tensors[0].data.shape
    if any(t.data.ndim != len(first) for t in tensors) or not first:
        raise ValueError(f"{where}: tensors need the same number (>= 1) of dims, got shapes {[t.shape for t in tensors]}")
    dim = normalize_axis(0 if dim is None else dim, first, where)
    for t in tensors:
        if t.data.shape[:dim] + t.data.shape[dim + 1:] != first[:dim] + first[dim + 1:]:
            raise ValueError(f"{where}: shapes {[t.shape for t in tensors]} differ outside axis {dim}")
    return apply(movement.CONCATENATE, tuple(tensors), axis=dim)


def cat(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim, as `torch.cat`."""
    return _joined(tensors, dim, axis, "cat")


def concatenate(tensors: Sequence[Any], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """`cat` under NumPy's name."""
    return _joined(tensors, dim, axis, "concatenate")


def stack(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors of one shape along a new dim."""
    dim = _dim(dim, axis, "stack")
    tensors = _tensors(tensors, "stack")
    shapes = {t.data.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    dim = normalize_axis(0 if dim is None else dim, (1,) + tensors[0].data.shape, "stack")
    return apply(movement.STACK, tuple(tensors), axis=dim)
