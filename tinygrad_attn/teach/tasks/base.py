"""What every generated task shares: the "no loss here" target, argument checks, the token
arrays both families hold, and accuracy over the scored positions.

The families (`sequences.py`, `bank.py`) build on this; nothing here knows a task.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IGNORE_INDEX", "token_accuracy", "sequence_accuracy"]

IGNORE_INDEX: int = -100
"""Target value meaning "no loss here" (same convention as PyTorch)."""


# ---------------------------------------------------------------------------
# small argument checks shared by the public functions
# ---------------------------------------------------------------------------


def check_int(fn: str, name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int, or raise a learner-friendly error naming ``fn``."""
    # bool is a subclass of int, but n=True is almost certainly a mistake
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


def as_rng(fn: str, seed: int | np.random.Generator) -> np.random.Generator:
    """Turn an int seed into a Generator; pass a Generator through unchanged."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"{fn}: seed must be an int or np.random.Generator, got {seed!r} ({type(seed).__name__})"
        )
    return np.random.default_rng(int(seed))


def int_array(cls: str, name: str, value: object) -> np.ndarray:
    """Copy ``value`` into a read-only 2-D int64 array, refusing floats and bad shapes."""
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{cls}: {name} must hold integer ids, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{cls}: {name} must be 2-D (N, T), got shape {arr.shape}")
    out = np.array(arr, dtype=np.int64)
    out.flags.writeable = False  # a data set is shared by many cells; nobody should edit it in place
    return out


def split_index(cls: str, n_rows: int, n_train: object) -> int:
    """Validate ``n_train`` for a split that leaves at least one row on each side."""
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
        raise TypeError(f"{cls}.split: n_train must be an int, got {n_train!r}")
    if not 0 < n_train < n_rows:
        raise ValueError(
            f"{cls}.split: n_train must be between 1 and {n_rows - 1} "
            f"(the task has {n_rows} rows), got {n_train}"
        )
    return int(n_train)


def ids_1d(fn: str, ids: object, vocab_size: int, allow_ignore: bool) -> np.ndarray:
    """Check a 1-D sequence of token ids against the vocabulary size."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{fn}: expected a 1-D sequence of ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{fn}: ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    ok = (arr >= 0) & (arr < vocab_size)
    if allow_ignore:
        ok |= arr == IGNORE_INDEX
    if not ok.all():
        bad = arr[~ok][0]
        raise ValueError(f"{fn}: id {bad} is outside the vocabulary (0..{vocab_size - 1})")
    return arr


class TokenArrays:
    """What both kinds of task share: `inputs` (N, T) ids over `vocab`, one row per example."""

    vocab: tuple[str, ...]
    inputs: np.ndarray

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def block_size(self) -> int:
        """Sequence length T the model sees (padded, for sentences): the context size needed."""
        return int(self.inputs.shape[1])

    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids (embedding table rows), PAD included where there is one."""
        return len(self.vocab)


# ---------------------------------------------------------------------------
# accuracy over the scored positions (targets != IGNORE_INDEX)
# ---------------------------------------------------------------------------


def token_accuracy(pred_ids: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of scored positions (targets != IGNORE_INDEX) where the prediction is right.

    Args:
        pred_ids: (N, T) predicted ids, e.g. ``logits.argmax(-1)``.
        targets: (N, T) targets with ``IGNORE_INDEX`` on unscored positions.
    """
    pred, tgt = check_predictions("token_accuracy", pred_ids, targets)
    mask = tgt != IGNORE_INDEX
    return float((pred[mask] == tgt[mask]).mean())


def sequence_accuracy(pred_ids: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose scored positions are *all* right (exact-match accuracy).

    Rows with no scored position are skipped.
    """
    pred, tgt = check_predictions("sequence_accuracy", pred_ids, targets)
    mask = tgt != IGNORE_INDEX
    wrong = (pred != tgt) & mask
    has_score = mask.reshape(len(mask), -1).any(axis=1)
    row_ok = ~wrong.reshape(len(wrong), -1).any(axis=1)
    return float(row_ok[has_score].mean())


def check_predictions(fn: str, pred_ids: object, targets: object) -> tuple[np.ndarray, np.ndarray]:
    """Shared shape / dtype checks for the accuracy helpers."""
    pred, tgt = np.asarray(pred_ids), np.asarray(targets)
    if pred.shape != tgt.shape:
        hint = " (for logits of shape (N, T, V) pass logits.argmax(-1))" if pred.ndim == tgt.ndim + 1 else ""
        raise ValueError(f"{fn}: pred_ids has shape {pred.shape} but targets has shape {tgt.shape}{hint}")
    for label, arr in (("pred_ids", pred), ("targets", tgt)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{fn}: {label} must hold integer ids, got dtype {arr.dtype}")
    if pred.ndim == 0 or not (tgt != IGNORE_INDEX).any():
        raise ValueError(f"{fn}: targets has no scored position (everything is IGNORE_INDEX)")
    return pred, tgt
