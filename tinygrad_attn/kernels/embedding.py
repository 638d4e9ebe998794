"""Embedding kernel: the rows taken into a reused buffer, and the gradient's repeated ids summed
by sorting them and adding each run in one `reduceat` (faster than `np.add.at`).

The same saved names as the reference (`functional/embeddings.py`): ids, padding_idx.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import pool


def embedding_forward(ctx: Any, indices: np.ndarray, weight: np.ndarray, padding_idx: int | None = None
                      ) -> np.ndarray:
    ids = indices.astype(np.int64, copy=True)  # our own copy: the caller may change theirs before backward
    rows = pool.empty(ids.shape + weight.shape[1:], weight.dtype)
    np.take(weight, ids, axis=0, out=rows, mode="clip")  # "clip" never clips here: ids were checked
    ctx.save(ids=ids, padding_idx=padding_idx)
    return rows


def embedding_backward(ctx: Any, upstream_grad: np.ndarray) -> tuple:
    ids = ctx.saved.ids.reshape(-1)
    weight = ctx.inputs[1].data
    grad_rows = upstream_grad.reshape(ids.size, weight.shape[1])
    grad_weight = np.zeros_like(weight)
    if ids.size:
        # repeated ids add up: sort them, sum each run of equal ids in one reduceat
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        run_starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        grad_weight[sorted_ids[run_starts]] = np.add.reduceat(grad_rows[order], run_starts, axis=0)
    if ctx.saved.padding_idx is not None:
        grad_weight[ctx.saved.padding_idx] = 0  # the padding row learns nothing
    return (None, grad_weight)  # the indices are an input only so that drawn graphs show them
