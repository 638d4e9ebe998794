"""Speed helpers for the kernels: shared constants, buffer reuse, and an opt-in malloc switch.

- `ones(n, dtype)`: a cached, read-only vector of ones. A row or column sum written as a
  matrix product with it runs in BLAS, several times faster than `ndarray.sum` on short axes.
  At most 64 vectors and `ONES_CACHE_MAX_BYTES` in all are kept, the oldest dropped first.
- `row_dot(a, b)`: Σ a·b over the last axis, row by row (np.vecdot, or einsum on NumPy 1.x).
- `empty(shape, dtype)`: `np.empty`, except that a large array is taken from a pool of earlier
  ones when one of the same shape and dtype is no longer referred to by anything but the pool.
  Why: NumPy takes each large array straight from the operating system, which hands over
  zeroed pages one page fault at a time; freed, the pages go back, and the next step of a
  training loop faults on them again. That costs more than the arithmetic of a small model.
  Reuse is safe because CPython counts references: a buffer is handed out again only when
  the pool's own reference is the last one, so no tensor, gradient, saved value or view
  (a view refers to its base) can still see it. Fused ops write every element of what they
  take. `set_buffer_reuse(False)` turns this off; `release_buffers()` empties the pool.
- `tune_malloc()`: ask glibc to keep freed memory for reuse instead of handing it back to the
  operating system, for every array of the process. Never called by the library: call it
  yourself (once, at start-up) if you want it. The price is that the process keeps up to
  `trim_threshold` bytes of freed memory resident.
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import math
import sys
import threading
from typing import Any

import numpy as np

__all__ = ["ones", "row_dot", "empty", "add", "copy", "set_buffer_reuse", "release_buffers", "release_ones", "pooled_bytes",
           "ones_cache_bytes", "tune_malloc"]


_ONES_CACHE_SIZE = 64  # vectors kept, the oldest dropped first
ONES_CACHE_MAX_BYTES = 16 * 1024 * 1024  # and at most this many bytes in all; a larger vector is made afresh
_ones_cache: "collections.OrderedDict[tuple, np.ndarray]" = collections.OrderedDict()
_ones_lock = threading.Lock()


def ones(n: int, dtype: Any) -> np.ndarray:
    """A read-only vector of `n` ones of `dtype`, shared between calls (it can never go stale)."""
    key = (n, np.dtype(dtype))
    vector = _ones_cache.get(key)  # a dict read needs no lock: the common case, on every call
    if vector is not None:
        return vector
    vector = np.ones(n, dtype=dtype)
    vector.flags.writeable = False
    if vector.nbytes > ONES_CACHE_MAX_BYTES:
        return vector
    with _ones_lock:
        vector = _ones_cache.setdefault(key, vector)
        while len(_ones_cache) > _ONES_CACHE_SIZE or ones_cache_bytes() > ONES_CACHE_MAX_BYTES:
            _ones_cache.popitem(last=False)
    return vector


def ones_cache_bytes() -> int:
    """How many bytes the cached ones-vectors hold now."""
    return sum(vector.nbytes for vector in tuple(_ones_cache.values()))


def release_ones() -> int:
    """Forget the cached ones-vectors; returns the bytes they held."""
    with _ones_lock:
        freed = sum(vector.nbytes for vector in _ones_cache.values())
        _ones_cache.clear()
    return freed


_vecdot = getattr(np, "vecdot", None)  # NumPy >= 2.0


def row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σᵢ aᵢ·bᵢ over the last axis, row by row, without storing a·b."""
    if _vecdot is not None and a.flags.c_contiguous and b.flags.c_contiguous:
        return _vecdot(a, b)  # the faster of the two on contiguous rows
    return np.einsum("...i,...i->...", a, b)  # faster on strided views (heads of a packed array)


# ---- buffer reuse ----
MIN_POOLED_BYTES = 64 * 1024  # smaller arrays come from malloc's free lists, without page faults
DEFAULT_MAX_POOLED_BYTES = 256 * 1024 * 1024


class _Settings:
    enabled: bool = True
    max_bytes: int = DEFAULT_MAX_POOLED_BYTES


_settings = _Settings()
_local = threading.local()  # one pool per thread, so two threads never pick the same free buffer


def _refcount_of_first(buffers: list[np.ndarray]) -> int:
    return sys.getrefcount(buffers[0])  # the same expression as in `_first_unused`, for calibration


def _first_unused(buffers: list[np.ndarray]) -> int:
    """The index of the first buffer nothing else refers to, or -1."""
    for index in range(len(buffers)):
        if sys.getrefcount(buffers[index]) <= _UNUSED_REFCOUNT:  # only the list and this call
            return index
    return -1


def _reference_counts_are_exact() -> bool:
    """Reuse needs CPython's exact counts: not on other interpreters or without the GIL."""
    gil_disabled = hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled()
    return sys.implementation.name == "cpython" and not gil_disabled


_UNUSED_REFCOUNT = _refcount_of_first([np.empty(0)])  # what an unreferenced pooled buffer shows


def _self_test() -> bool:
    """A held buffer, or one a view refers to, must look used and a dropped one unused, or reuse stays off."""
    buffers = [np.empty(4)]
    held = buffers[0]
    looks_used = _first_unused(buffers) == -1
    del held
    view = buffers[0][1:]
    looks_used = looks_used and _first_unused(buffers) == -1
    del view
    return looks_used and _first_unused(buffers) == 0


_settings.enabled = _reference_counts_are_exact() and _self_test()


class _Pool:
    """This thread's reusable buffers: (shape, dtype) -> list of arrays, and their total size."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, list[np.ndarray]] = {}
        self.nbytes = 0

    def take(self, buffers: list[np.ndarray], index: int) -> None:
        """Remove buffers[index] from the pool (by position: `list.remove` would compare arrays)."""
        self.nbytes -= buffers.pop(index).nbytes

    def drop_unused(self) -> None:
        for key in list(self.buffers):
            buffers = self.buffers[key]
            index = _first_unused(buffers)
            while index >= 0:
                self.take(buffers, index)
                index = _first_unused(buffers)
            if not buffers:
                del self.buffers[key]


def _pool() -> _Pool:
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = _Pool()
    return pool


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array, like `np.empty`; a large one may be a reused buffer.

    Only for arrays the caller writes completely before reading them.
    """
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)
    if nbytes < MIN_POOLED_BYTES or not _settings.enabled:
        return np.empty(shape, dtype)
    pool = _pool()
    shape = tuple(shape)
    key = (shape, dtype)
    buffers = pool.buffers.get(key)
    if buffers is None:
        buffers = pool.buffers[key] = []
    index = _first_unused(buffers)
    while index >= 0:
        buffer = buffers[index]
        # a user may have changed its shape, dtype or flags in place while holding it
        if buffer.shape == shape and buffer.dtype == dtype and buffer.flags.writeable and buffer.flags.c_contiguous:
            return buffer
        del buffer
        pool.take(buffers, index)
        index = _first_unused(buffers)
    if pool.nbytes + nbytes > _settings.max_bytes:
        pool.drop_unused()  # forget shapes no longer in use before refusing to grow
        if pool.nbytes + nbytes > _settings.max_bytes:
            return np.empty(shape, dtype)
        buffers = pool.buffers.setdefault(key, buffers)
    buffer = np.empty(shape, dtype)
    buffers.append(buffer)
    pool.nbytes += nbytes
    return buffer


def set_buffer_reuse(enabled: bool, max_bytes: int | None = None) -> None:
    """Turn buffer reuse on or off (it is on where CPython's reference counts allow it), and
    optionally cap the pool's size per thread in bytes. Turning it off empties the pool."""
    if not isinstance(enabled, bool):
        raise TypeError(f"set_buffer_reuse: enabled must be True or False, got {enabled!r}")
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"set_buffer_reuse: max_bytes must be a non-negative int, got {max_bytes!r}")
        _settings.max_bytes = max_bytes
    if enabled and not _reference_counts_are_exact():
        raise RuntimeError("set_buffer_reuse: needs CPython with the GIL (it relies on exact reference counts)")
    _settings.enabled = enabled
    if not enabled:
        release_buffers()


def release_buffers() -> int:
    """Forget this thread's pooled buffers (arrays still in use stay valid; the rest are freed).
    Returns the bytes the pool held."""
    pool = getattr(_local, "pool", None)
    _local.pool = _Pool()
    return 0 if pool is None else pool.nbytes


def pooled_bytes() -> int:
    """How many bytes this thread's pool holds (in use or free)."""
    return _pool().nbytes


# ---- the C allocator (opt-in) ----
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 * 1024 * 1024, trim_threshold: int = 512 * 1024 * 1024) -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if it took effect.

    The same as starting Python with MALLOC_MMAP_THRESHOLD_=33554432 and
    MALLOC_TRIM_THRESHOLD_=536870912 in the environment: arrays up to `mmap_threshold` bytes
    come from the heap, and freed memory is kept until `trim_threshold` bytes are free. Only
    Linux with glibc has `mallopt`; anywhere else (macOS, Windows, musl) this does nothing and
    returns False.
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise ValueError(f"tune_malloc: {name} must be a positive int below 2**31 (bytes), got {value!r}")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # only glibc has it: musl's mallopt is a stub that does nothing
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting the mmap threshold also stops glibc moving it by itself
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


# ---- gradient sums and copies (used by Tensor for gradients meeting at a node) ----
def add(previous: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """previous + grad as a new array; a large one goes into a reused buffer (no page faults)."""
    if previous.nbytes >= MIN_POOLED_BYTES and previous.shape == grad.shape and previous.dtype == grad.dtype:
        return np.add(previous, grad, out=empty(previous.shape, previous.dtype))
    return previous + grad


def copy(array: np.ndarray) -> np.ndarray:
    """A copy of `array`; a large one goes into a reused buffer."""
    if array.nbytes >= MIN_POOLED_BYTES:
        out = empty(array.shape, array.dtype)
        np.copyto(out, array)
        return out
    return array.copy()
