"""Sequence tasks for a small causal GPT: `copy`, `reverse`, `sort` and `induction`.

Each is next-token prediction where only the answer is scored (see `make_sequence_task`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .base import IGNORE_INDEX, TokenArrays, as_rng, check_int, ids_1d, int_array, split_index

__all__ = ["TASK_NAMES", "SEPARATOR", "SequenceTask", "make_sequence_task"]

TASK_NAMES: tuple[str, ...] = ("copy", "reverse", "sort", "induction")
SEPARATOR: str = "|"

# Above this many possible prompts we sample and drop duplicates instead of listing them all.
_ENUMERATE_LIMIT = 200_000


@dataclass(frozen=True, eq=False)
class SequenceTask(TokenArrays):
    """A batch of next-token-prediction examples where only the answer is scored.

    Attributes:
        name: which task made the data (one of ``TASK_NAMES``).
        vocab: token strings; a token's id is its index in this tuple.
        inputs: (N, T) int64, what the model reads.
        targets: (N, T) int64, the next token at each position, or
            ``IGNORE_INDEX`` where the next token is still part of the prompt.

    ``T`` is the GPT block size (``task.block_size``).  Arrays are read-only.
    """

    name: str
    vocab: tuple[str, ...]
    inputs: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        inputs = int_array("SequenceTask", "inputs", self.inputs)
        targets = int_array("SequenceTask", "targets", self.targets)
        if inputs.shape != targets.shape:
            raise ValueError(
                f"SequenceTask: inputs {inputs.shape} and targets {targets.shape} must have the same shape"
            )
        v = len(self.vocab)
        if inputs.size and (inputs.min() < 0 or inputs.max() >= v):
            raise ValueError(f"SequenceTask: inputs hold ids outside the vocabulary 0..{v - 1}")
        scored = targets[targets != IGNORE_INDEX]
        if scored.size and (scored.min() < 0 or scored.max() >= v):
            raise ValueError(f"SequenceTask: targets hold ids outside the vocabulary 0..{v - 1}")
        object.__setattr__(self, "vocab", tuple(self.vocab))
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "targets", targets)

    @property
    def answer_start(self) -> int:
        """First input position whose target is scored (equals the prompt length)."""
        scored_cols = np.flatnonzero((self.targets != IGNORE_INDEX).any(axis=0))
        return int(scored_cols[0]) if scored_cols.size else self.block_size

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Turn a 1-D sequence of ids into space-separated tokens; ``IGNORE_INDEX`` shows as ``_``."""
        arr = ids_1d("SequenceTask.decode", ids, self.vocab_size, allow_ignore=True)
        return " ".join("_" if t == IGNORE_INDEX else self.vocab[t] for t in arr)

    def show(self, i: int) -> str:
        """Two aligned lines (input / target) for example ``i``, handy in a notebook."""
        inp = self.decode(self.inputs[i]).split(" ")
        tgt = self.decode(self.targets[i]).split(" ")
        w = max(len(t) for t in inp + tgt)
        return (
            "input : " + " ".join(t.rjust(w) for t in inp) + "\n"
            "target: " + " ".join(t.rjust(w) for t in tgt)
        )

    def split(self, n_train: int) -> tuple[SequenceTask, SequenceTask]:
        """First ``n_train`` rows for training, the rest held out.

        Prompts inside one task are all distinct, so the two parts never share a prompt.
        """
        k = split_index("SequenceTask", len(self), n_train)
        return (
            SequenceTask(self.name, self.vocab, self.inputs[:k], self.targets[:k]),
            SequenceTask(self.name, self.vocab, self.inputs[k:], self.targets[k:]),
        )


def _count_prompts(length: int, n_symbols: int, distinct: bool) -> int:
    """How many different prompts exist (ordered, with or without repeated symbols)."""
    return math.perm(n_symbols, length) if distinct else n_symbols**length


def _all_prompts(length: int, n_symbols: int, distinct: bool) -> np.ndarray:
    """List every possible prompt as rows of an int64 array (only for small spaces)."""
    if distinct:
        return np.array(list(itertools.permutations(range(n_symbols), length)), dtype=np.int64)
    codes = np.arange(n_symbols**length, dtype=np.int64)
    powers = n_symbols ** np.arange(length - 1, -1, -1, dtype=np.int64)
    return (codes[:, None] // powers) % n_symbols


def _draw_prompts(rng: np.random.Generator, m: int, length: int, n_symbols: int, distinct: bool) -> np.ndarray:
    """Draw ``m`` random prompts, possibly with duplicates between rows."""
    if distinct:
        # argsort of uniform noise is a uniform random permutation; keep its first `length` entries
        return np.argsort(rng.random((m, n_symbols)), axis=1)[:, :length].astype(np.int64)
    return rng.integers(0, n_symbols, size=(m, length), dtype=np.int64)


def _unique_prompts(
    rng: np.random.Generator, n: int, length: int, n_symbols: int, distinct: bool
) -> np.ndarray:
    """Return ``n`` pairwise-different random prompts, shape (n, length)."""
    space = _count_prompts(length, n_symbols, distinct)
    if n > space:
        raise ValueError(
            f"make_sequence_task: n={n} but only {space} different prompts exist for "
            f"length={length}, n_symbols={n_symbols}; lower n or raise length / n_symbols"
        )
    if space <= _ENUMERATE_LIMIT:
        everything = _all_prompts(length, n_symbols, distinct)
        return everything[rng.choice(space, size=n, replace=False)]
    rows = np.empty((0, length), dtype=np.int64)
    while len(rows) < n:
        fresh = _draw_prompts(rng, max(2 * (n - len(rows)), 256), length, n_symbols, distinct)
        rows = np.concatenate([rows, fresh])
        # keep the first copy of each row, in the order drawn, so the result only depends on the seed
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]
    return rows[:n]


def make_sequence_task(
    name: str,
    n: int,
    length: int = 8,
    n_symbols: int = 10,
    seed: int | np.random.Generator = 0,
) -> SequenceTask:
    """Generate ``n`` examples of a sequence task for a causal GPT.

    A prompt of ``length`` random symbols (``"0"``, ``"1"``, ...) is followed by
    its answer, and the model learns to predict each next token:

    ============  ==============================  ==========  ============
    name          full string                     block size  scored
    ============  ==============================  ==========  ============
    ``copy``      ``p | p``                       2L          L tokens
    ``reverse``   ``p | reversed(p)``             2L          L tokens
    ``sort``      ``p | sorted(p)``               2L          L tokens
    ``induction`` ``p p`` (distinct symbols)      2L - 1      L - 1 tokens
    ============  ==============================  ==========  ============

    ``inputs`` is the full string without its last token and ``targets`` is the
    full string shifted left by one.  Targets are ``IGNORE_INDEX`` while the next
    token is still prompt, so the loss only covers the answer.  In every task the
    first scored input position is ``L`` (``task.answer_start``).

    ``induction`` has no separator: the second copy is predictable only by
    finding the earlier occurrence of the current token and copying what came
    after it (an induction head).  Its symbols are distinct so that look-up is
    unambiguous, and the first token of the repeat is not scored because it can
    only be guessed by counting positions, not by looking back.

    All prompts in one task are different, so ``task.split(k)`` gives a
    held-out part that shares no prompt with the training part.

    Args:
        name: one of ``TASK_NAMES``.
        n: number of examples (>= 1).
        length: prompt length L (>= 2; for ``induction`` at most ``n_symbols``).
        n_symbols: size of the symbol alphabet (>= 2).
        seed: int seed or a ``np.random.Generator``.

    Returns:
        A :class:`SequenceTask`; its vocab is the symbols followed by ``"|"``.
    """
    fn = "make_sequence_task"
    if not isinstance(name, str):
        raise TypeError(f"{fn}: name must be a string, one of {TASK_NAMES}, got {name!r}")
    if name not in TASK_NAMES:
        raise ValueError(f"{fn}: unknown task {name!r}; known tasks are {', '.join(TASK_NAMES)}")
    n = check_int(fn, "n", n, 1)
    length = check_int(fn, "length", length, 2)
    n_symbols = check_int(fn, "n_symbols", n_symbols, 2)
    distinct = name == "induction"
    if distinct and length > n_symbols:
        raise ValueError(
            f"{fn}: induction uses distinct symbols, so length={length} cannot exceed n_symbols={n_symbols}"
        )
    rng = as_rng(fn, seed)

    vocab = tuple(str(i) for i in range(n_symbols)) + (SEPARATOR,)
    sep = n_symbols
    prompts = _unique_prompts(rng, n, length, n_symbols, distinct)

    if name == "induction":
        full = np.concatenate([prompts, prompts], axis=1)
    else:
        if name == "copy":
            answers = prompts
        elif name == "reverse":
            answers = prompts[:, ::-1]
        else:
            answers = np.sort(prompts, axis=1)
        full = np.concatenate([prompts, np.full((n, 1), sep, dtype=np.int64), answers], axis=1)

    inputs = full[:, :-1]
    targets = full[:, 1:].copy()
    targets[:, :length] = IGNORE_INDEX  # those next tokens are prompt (or the separator / start of the repeat)
    return SequenceTask(name, vocab, inputs, targets)
