"""Ops that move or select elements: reshape, transpose, indexing, masking, joining.

Each backward puts the gradient back where the elements came from: reshaped back, transposed
back, scattered back into zeros, or split back into pieces.
"""
from __future__ import annotations

import numpy as np

from ..kernels.movement import pooled_getitem
from .registry import define
from .samples import S, constant_like, public, reversed_axes, torch_index
from .shapes import sum_to_shape


# ---- reshape / transpose ----
def reshape_forward(ctx, x, shape):
    try:
        return x.reshape(shape)
    except (TypeError, ValueError):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                         f"into {tuple(shape)}") from None


def reshape_backward(ctx, upstream_grad):
    (x,) = ctx.inputs
    return (upstream_grad.reshape(x.data.shape),)


RESHAPE = define("reshape", forward=reshape_forward, backward=reshape_backward,
                 formulas=("d(reshape a)/da: reshape the gradient back to a's shape",))
RESHAPE.usage("reshape", lambda x, shape, one_tuple=False: x.reshape(shape) if one_tuple else x.reshape(*shape),
              lambda torch, x, shape, one_tuple=False: x.reshape(shape),
              S((2, 3), shape=(3, 2)), S((2, 3), shape=(6,), one_tuple=True), S((2, 3), shape=(2, -1, 1)),
              S((2, 3, 4), shape=(4, 6)), S((0, 3), shape=(3, 0)), S((), shape=(1, 1)), S((1, 1), shape=()))


def transpose_forward(ctx, x, axes):
    ctx.save(inverse=tuple(np.argsort(axes)) if axes else ())
    return np.transpose(x, axes)


def transpose_backward(ctx, upstream_grad):
    return (np.transpose(upstream_grad, ctx.saved.inverse),)  # the inverse permutation


TRANSPOSE = define("transpose", forward=transpose_forward, backward=transpose_backward,
                   formulas=("d(transpose a)/da: transpose the gradient back (inverse permutation)",))
TRANSPOSE.usage("permute", lambda x, dims, one_tuple=False: x.permute(dims) if one_tuple else x.permute(*dims),
                lambda torch, x, dims, one_tuple=False: x.permute(dims),
                S((2, 3), dims=(1, 0)), S((2, 3, 4), dims=(1, 0, 2)), S((2, 3, 4), dims=(2, 0, 1), one_tuple=True),
                S((2, 3, 4), dims=(-1, 0, 1)), S((2, 0), dims=(1, 0)), S((3,), dims=(0,)))
TRANSPOSE.usage("transpose", lambda x, dim0, dim1: x.transpose(dim0, dim1),
                lambda torch, x, dim0, dim1: x.transpose(dim0, dim1),
                S((2, 3), dim0=0, dim1=1), S((2, 3, 4, 5), dim0=1, dim1=2), S((2, 3, 4, 5), dim0=-2, dim1=-1),
                S((2, 3, 4), dim0=2, dim1=0), S((2, 3), dim0=1, dim1=1), S((2, 0, 3), dim0=0, dim1=1),
                note="swaps two dims, as torch.transpose (permute(*dims) reorders all of them)")
TRANSPOSE.usage("T", lambda x: x.T, lambda torch, x: x.permute(reversed_axes(x.ndim)),
                S((2, 3)), S((2, 3, 4)), S((3,)), S(()))
TRANSPOSE.usage("mT", lambda x: x.mT, lambda torch, x: x.mT, S((2, 3)), S((2, 3, 4)))
TRANSPOSE.usage("t", lambda x: x.t(), lambda torch, x: x.t(), S((2, 3)), S((3,)), S(()))
TRANSPOSE.usage("swapaxes", lambda x, axis1, axis2: x.swapaxes(axis1, axis2),
                lambda torch, x, axis1, axis2: torch.swapaxes(x, axis1, axis2),
                S((2, 3, 4), axis1=0, axis2=2), S((2, 3, 4), axis1=-1, axis2=0), S((2, 3), axis1=1, axis2=1),
                S((2, 0, 3), axis1=0, axis2=1))
RESHAPE.usage("view", lambda x, shape: x.view(*shape), lambda torch, x, shape: x.view(*shape),
              S((2, 3), shape=(3, 2)), S((2, 3, 4), shape=(2, 3, 2, 2)), S((2, 3), shape=(-1,)))
RESHAPE.usage("unsqueeze", lambda x, dim: x.unsqueeze(dim), lambda torch, x, dim: x.unsqueeze(dim),
              S((2, 3), dim=0), S((2, 3), dim=-1), S((2, 3), dim=1), S((), dim=0))
RESHAPE.usage("squeeze", lambda x, **kw: x.squeeze(**kw), lambda torch, x, **kw: x.squeeze(**kw),
              S((2, 1, 3, 1)), S((2, 1, 3), dim=1), S((2, 1, 3), dim=0, note="a dim that is not 1 stays"),
              S((1, 1), dim=-1))
RESHAPE.usage("flatten", lambda x, **kw: x.flatten(**kw), lambda torch, x, **kw: x.flatten(**kw),
              S((2, 3, 4)), S((2, 3, 4), start_dim=1), S((2, 3, 4, 5), start_dim=1, end_dim=2), S(()))


# ---- expand: one element read many times, so its gradient sums over the copies ----
def expand_forward(ctx, x, shape):
    return np.broadcast_to(x, shape)  # a read-only view, as torch.expand makes no copy


def expand_backward(ctx, upstream_grad):
    (x,) = ctx.inputs
    return (sum_to_shape(upstream_grad, x.data),)


EXPAND = define("expand", forward=expand_forward, backward=expand_backward,
                formulas=("d(expand a)/da: the gradient summed over the copies",))
EXPAND.usage("expand", lambda x, shape: x.expand(*shape), lambda torch, x, shape: x.expand(*shape),
             S((3, 1), shape=(3, 4)), S((3,), shape=(2, 3)), S((1, 3), shape=(2, -1)), S((), shape=(2, 2)))


# ---- indexing ----
def getitem_forward(ctx, x, index, advanced):
    try:
        data = x[index]
    except IndexError as error:
        raise IndexError(f"getitem: index {_describe(index)} does not fit a tensor of shape {x.shape} "
                         f"({error})") from None
    if not advanced:
        data = data.copy() if isinstance(data, np.ndarray) else np.asarray(data)  # own the data: no view aliasing
    ctx.save(index=index, advanced=advanced)
    return data


def getitem_backward(ctx, upstream_grad):
    (x,) = ctx.inputs
    index, advanced = ctx.saved.index, ctx.saved.advanced
    full = np.zeros(x.data.shape, dtype=upstream_grad.dtype)
    if advanced:
        np.add.at(full, index, upstream_grad)  # repeated indices accumulate
    else:
        full[index] = upstream_grad  # basic indexing selects each element at most once
    return (full,)


def _describe(index):
    parts = index if isinstance(index, tuple) else (index,)
    shown = [f"array{part.shape}" if isinstance(part, np.ndarray) else repr(part) for part in parts]
    return "[" + ", ".join(shown) + "]"


GETITEM = define("getitem", forward=getitem_forward, backward=getitem_backward,
                 formulas=("d(a[i])/da: the gradient scattered back into zeros at i (repeats add up)",),
                 kernel=pooled_getitem(getitem_forward, getitem_backward),
                 note="basic and integer-array indexing as in NumPy; the gradient of repeated indices adds up")
GETITEM.usage("__getitem__", lambda x, index: x[index], lambda torch, x, index: x[torch_index(torch, index)],
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
              S((2, 3, 4), index=(0, slice(None), np.array([0, 1])),
                note="an int beside an index array selects first, as in PyTorch: shape (3, 2)"),
              S((2, 3, 4), index=(np.array([1, 0]), 1, slice(None), ), note="array, int, slice"), note=GETITEM.note)
GETITEM.usage("split", lambda x, size, dim=0, piece=0: x.split(size, dim)[piece],
              lambda torch, x, size, dim=0, piece=0: x.split(size, dim)[piece],
              S((5, 3), size=2, piece=2, note="the last piece is shorter"), S((2, 6), size=3, dim=1, piece=1),
              S((2, 6), size=[1, 5], dim=-1, piece=1))
GETITEM.usage("chunk", lambda x, chunks, dim=0, piece=0: x.chunk(chunks, dim)[piece],
              lambda torch, x, chunks, dim=0, piece=0: x.chunk(chunks, dim)[piece],
              S((6, 2), chunks=3, piece=1), S((2, 5), chunks=2, dim=1, piece=1), S((2, 5), chunks=3, dim=1, piece=2))


# ---- masking and selecting: the mask is an input (so a drawn graph shows it) without gradient ----
def masked_fill_forward(ctx, x, mask, value):
    ctx.save(mask=mask)
    return np.where(mask, np.asarray(value, dtype=x.dtype), x)


def masked_fill_backward(ctx, upstream_grad):
    return np.where(ctx.saved.mask, 0, upstream_grad), None


MASKED_FILL = define("masked_fill", forward=masked_fill_forward, backward=masked_fill_backward,
                     formulas=("d(masked_fill a)/da = 0 where mask else 1", "mask: no gradient"))
MASKED_FILL.usage("masked_fill", lambda x, mask, value: x.masked_fill(mask, value),
                  lambda torch, x, mask, value: x.masked_fill(torch.as_tensor(mask), value),
                  S((2, 3), mask=np.array([[True, False, False], [False, True, True]]), value=0.0),
                  S((2, 3), mask=np.array([[False, True, False]]), value=-1e4, note="mask (1, 3) broadcasts"),
                  S((2, 2, 3), mask=np.array([True, False, True]), value=2.5),
                  S((2, 3), mask=np.zeros((2, 3), dtype=bool), value=-1.0, note="nothing masked"),
                  S((2, 3), mask=np.array(True), value=0.5, note="0-d mask masks everything"))


def where_forward(ctx, condition, a, b):
    try:
        data = np.where(condition, a, b)
    except ValueError:
        raise ValueError(f"where: condition {condition.shape}, a {a.shape} and b {b.shape} cannot be "
                         "broadcast together") from None
    ctx.save(condition=condition)
    return data


def where_backward(ctx, upstream_grad):
    condition = ctx.saved.condition
    return None, np.where(condition, upstream_grad, 0), np.where(condition, 0, upstream_grad)


WHERE = define("where", forward=where_forward, backward=where_backward, unbroadcast=True,
               formulas=("condition: no gradient", "d(where(c, a, b))/da = 1 where c else 0",
                         "d/db = 1 where not c else 0"))


_where = public("tinygrad_attn.where")
WHERE.usage("ta.where", lambda a, b, condition: _where(condition, a, b),
            lambda torch, a, b, condition: torch.where(torch.as_tensor(condition), a, b),
            S((2, 3), (2, 3), condition=np.array([[True, False, True], [False, False, True]])),
            S((2, 1), (3,), condition=np.array([[True, False, True], [False, True, True]]),
              note="a and b broadcast against the condition"),
            S((2, 3), (), condition=np.array([False, True, True])),
            S((0, 3), (3,), condition=np.array([True, False, True])))
WHERE.usage("ta.where", lambda a, condition, other: _where(condition, a, other),
            lambda torch, a, condition, other: torch.where(torch.as_tensor(condition), a,
                                                           constant_like(torch, other, a)),
            S((2, 3), condition=np.array([[True, False, True], [False, False, True]]), other=0.0),
            variant="number for b")


# ---- joining: the gradient is split back into the pieces ----
def concatenate_forward(ctx, *pieces, axis):
    ctx.save(axis=axis, bounds=np.cumsum([p.shape[axis] for p in pieces])[:-1].tolist())
    return np.concatenate(pieces, axis=axis)


def concatenate_backward(ctx, upstream_grad):
    return tuple(np.split(upstream_grad, ctx.saved.bounds, axis=ctx.saved.axis))


CONCATENATE = define("concatenate", forward=concatenate_forward, backward=concatenate_backward,
                     formulas=("d(concat(a, b))/da: the slice of the gradient where a was placed",))


def stack_forward(ctx, *pieces, axis):
    ctx.save(axis=axis)
    return np.stack(pieces, axis=axis)


def stack_backward(ctx, upstream_grad):
    axis = ctx.saved.axis
    return tuple(np.squeeze(piece, axis=axis)
                 for piece in np.split(upstream_grad, upstream_grad.shape[axis], axis=axis))


STACK = define("stack", forward=stack_forward, backward=stack_backward,
               formulas=("d(stack(a, b))/da: the gradient's slice at a's position",))


def _joined(name):
    join = public(f"tinygrad_attn.{name}")
    return lambda *tensors, axis=0: join(list(tensors), axis=axis)


CONCATENATE.usage("ta.concatenate", _joined("concatenate"), lambda torch, *tensors, axis=0: torch.cat(tensors, dim=axis),
                  S((2, 3), (4, 3)), S((2, 3), (2, 1), (2, 4), axis=-1), S((2, 3), (2, 0), axis=1, note="empty piece"),
                  S((1, 2, 3), (1, 2, 3), axis=2), S((3,)))
STACK.usage("ta.stack", _joined("stack"), lambda torch, *tensors, axis=0: torch.stack(tensors, dim=axis),
            S((2, 3), (2, 3)), S((2, 3), (2, 3), (2, 3), axis=1), S((2, 3), (2, 3), axis=-1), S((), (), ()),
            S((0, 2), (0, 2), axis=1))
