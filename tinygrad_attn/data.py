"""Tiny data sets generated in code, for training and looking inside attention models.

Everything here is pure NumPy, needs no downloads, and is deterministic: every
generator takes ``seed`` (an int or an ``np.random.Generator``).

Two families of tasks:

* **Sequence tasks** for a small causal GPT (``copy``, ``reverse``, ``sort``,
  ``induction``), framed as next-token prediction where only the answer is
  scored.  See :func:`make_sequence_task`.
* **The "bank" sense task** for a one-layer attention classifier: each word
  ``bank`` in a short sentence means *money* or *river*, and only a cue word
  near it (before or after) says which.  See :func:`make_bank_task`.

Both use ``IGNORE_INDEX`` (-100, as in PyTorch's ``cross_entropy``) in
``targets`` for positions that carry no loss.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "IGNORE_INDEX",
    "TASK_NAMES",
    "SEPARATOR",
    "SequenceTask",
    "make_sequence_task",
    "token_accuracy",
    "sequence_accuracy",
    "SENSES",
    "MONEY_CUES",
    "RIVER_CUES",
    "BANK_VOCAB",
    "PAD",
    "PAD_ID",
    "SEED_SENTENCE",
    "BankTask",
    "encode",
    "decode",
    "label_banks",
    "bank_task_from_sentences",
    "make_bank_task",
]

IGNORE_INDEX: int = -100
"""Target value meaning "no loss here" (same convention as PyTorch)."""

TASK_NAMES: tuple[str, ...] = ("copy", "reverse", "sort", "induction")
SEPARATOR: str = "|"

# Above this many possible prompts we sample and drop duplicates instead of listing them all.
_ENUMERATE_LIMIT = 200_000


# ---------------------------------------------------------------------------
# small argument checks shared by the public functions
# ---------------------------------------------------------------------------


def _check_int(fn: str, name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int, or raise a learner-friendly error naming ``fn``."""
    # bool is a subclass of int, but n=True is almost certainly a mistake
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _as_rng(fn: str, seed: int | np.random.Generator) -> np.random.Generator:
    """Turn an int seed into a Generator; pass a Generator through unchanged."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"{fn}: seed must be an int or np.random.Generator, got {seed!r} ({type(seed).__name__})"
        )
    return np.random.default_rng(int(seed))


def _int_array(cls: str, name: str, value: object) -> np.ndarray:
    """Copy ``value`` into a read-only 2-D int64 array, refusing floats and bad shapes."""
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{cls}: {name} must hold integer ids, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{cls}: {name} must be 2-D (N, T), got shape {arr.shape}")
    out = np.array(arr, dtype=np.int64)
    out.flags.writeable = False  # a data set is shared by many cells; nobody should edit it in place
    return out


def _split_index(cls: str, n_rows: int, n_train: object) -> int:
    """Validate ``n_train`` for a split that leaves at least one row on each side."""
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
        raise TypeError(f"{cls}.split: n_train must be an int, got {n_train!r}")
    if not 0 < n_train < n_rows:
        raise ValueError(
            f"{cls}.split: n_train must be between 1 and {n_rows - 1} "
            f"(the task has {n_rows} rows), got {n_train}"
        )
    return int(n_train)


def _ids_1d(fn: str, ids: object, vocab_size: int, allow_ignore: bool) -> np.ndarray:
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


# ---------------------------------------------------------------------------
# 1. sequence tasks for a causal GPT
# ---------------------------------------------------------------------------


class _TokenArrays:
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


@dataclass(frozen=True, eq=False)
class SequenceTask(_TokenArrays):
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
        inputs = _int_array("SequenceTask", "inputs", self.inputs)
        targets = _int_array("SequenceTask", "targets", self.targets)
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
        arr = _ids_1d("SequenceTask.decode", ids, self.vocab_size, allow_ignore=True)
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
        k = _split_index("SequenceTask", len(self), n_train)
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
    n = _check_int(fn, "n", n, 1)
    length = _check_int(fn, "length", length, 2)
    n_symbols = _check_int(fn, "n_symbols", n_symbols, 2)
    distinct = name == "induction"
    if distinct and length > n_symbols:
        raise ValueError(
            f"{fn}: induction uses distinct symbols, so length={length} cannot exceed n_symbols={n_symbols}"
        )
    rng = _as_rng(fn, seed)

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


def token_accuracy(pred_ids: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of scored positions (targets != IGNORE_INDEX) where the prediction is right.

    Args:
        pred_ids: (N, T) predicted ids, e.g. ``logits.argmax(-1)``.
        targets: (N, T) targets with ``IGNORE_INDEX`` on unscored positions.
    """
    pred, tgt = _check_predictions("token_accuracy", pred_ids, targets)
    mask = tgt != IGNORE_INDEX
    return float((pred[mask] == tgt[mask]).mean())


def sequence_accuracy(pred_ids: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose scored positions are *all* right (exact-match accuracy).

    Rows with no scored position are skipped.
    """
    pred, tgt = _check_predictions("sequence_accuracy", pred_ids, targets)
    mask = tgt != IGNORE_INDEX
    wrong = (pred != tgt) & mask
    has_score = mask.reshape(len(mask), -1).any(axis=1)
    row_ok = ~wrong.reshape(len(wrong), -1).any(axis=1)
    return float(row_ok[has_score].mean())


def _check_predictions(fn: str, pred_ids: object, targets: object) -> tuple[np.ndarray, np.ndarray]:
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


# ---------------------------------------------------------------------------
# 2. the "bank" sense task
# ---------------------------------------------------------------------------

SENSES: tuple[str, ...] = ("money", "river")
"""Label names: target 0 means money, 1 means river."""

MONEY_CUES: tuple[str, ...] = ("account", "money", "deposit", "loan", "cash", "teller", "savings", "coins")
RIVER_CUES: tuple[str, ...] = ("river", "water", "fish", "mud", "shore", "boat", "stream", "ducks")

PAD: str = "<pad>"
PAD_ID: int = 0

_SUBJECTS = ("i", "we", "she", "he", "they")
_MOTIONS = ("went", "walked", "ran")
_FILLERS = ("today", "again", "later", "early", "slowly", "alone")  # neutral words that only change distances
_JOINERS = ("so", "and", "then", "but")
_SUFFIXES: tuple[tuple[str, ...], ...] = ((), ("and", "cried"), ("and", "smiled"), ("again",))
_OTHER_WORDS = ("to", "the", "a", "my", "bank", "noticed", "saw", "for", "near", "with", "was", "empty")


def _build_vocab() -> tuple[str, ...]:
    """PAD first, then every word the generator can emit, each once."""
    words: list[str] = [PAD]
    for group in (_SUBJECTS, _MOTIONS, _OTHER_WORDS, _JOINERS, _FILLERS, ("cried", "smiled"), MONEY_CUES, RIVER_CUES):
        for w in group:
            if w not in words:
                words.append(w)
    return tuple(words)


BANK_VOCAB: tuple[str, ...] = _build_vocab()
_WORD_TO_ID = {w: i for i, w in enumerate(BANK_VOCAB)}
_BANK_ID = _WORD_TO_ID["bank"]
_CUE_SENSE = {**{w: 0 for w in MONEY_CUES}, **{w: 1 for w in RIVER_CUES}}

SEED_SENTENCE: str = (
    "I went to the bank and noticed my account was empty, so I went to a river bank and cried."
)
"""First "bank" is money (cue "account" comes after it), second is river (cue "river" comes before it)."""

# Clause templates. Slots: S subject, M motion verb, G 0..max_gap fillers, X the cue word,
# ART a/the, POSS my/the, TAIL optional "was empty". Every clause has one "bank" and one X.
_CUE_AFTER: tuple[tuple[str, ...], ...] = (
    ("S", "M", "to", "the", "bank", "G", "and", "noticed", "POSS", "X", "TAIL"),
    ("S", "M", "to", "the", "bank", "G", "for", "the", "X"),
    ("S", "M", "to", "the", "bank", "G", "with", "X"),
)
_CUE_BEFORE: tuple[tuple[str, ...], ...] = (
    ("S", "M", "to", "ART", "X", "bank"),
    ("S", "saw", "the", "X", "G", "near", "the", "bank"),
    ("with", "my", "X", "S", "M", "G", "to", "the", "bank"),
)
_TEMPLATES = _CUE_AFTER + _CUE_BEFORE
_MIN_ONE_BANK = 6  # shortest clause: "i went to a river bank"
_MIN_TWO_BANKS = 2 * _MIN_ONE_BANK + 1  # two shortest clauses and a joiner
_MAX_MISSES = 5000  # this many useless draws in a row means the sentence space is used up


def _tokenize(fn: str, sentence: str) -> list[str]:
    """Lower-case, drop punctuation, split on whitespace."""
    if not isinstance(sentence, str):
        raise TypeError(f"{fn}: sentence must be a string, got {sentence!r} ({type(sentence).__name__})")
    return re.sub(r"[^a-z\s]", " ", sentence.lower()).split()


def encode(sentence: str) -> np.ndarray:
    """Sentence -> 1-D int64 ids over ``BANK_VOCAB`` (no padding).

    Text is lower-cased and punctuation is dropped, so ``"I went to the bank."``
    becomes ``i went to the bank``.  Unknown words raise a ValueError naming them.
    """
    words = _tokenize("encode", sentence)
    if not words:
        raise ValueError(f"encode: sentence {sentence!r} has no words")
    unknown = sorted({w for w in words if w not in _WORD_TO_ID})
    if unknown:
        raise ValueError(
            f"encode: word(s) {unknown} are not in the bank vocabulary ({len(BANK_VOCAB)} words, see BANK_VOCAB)"
        )
    return np.array([_WORD_TO_ID[w] for w in words], dtype=np.int64)


def decode(ids: Sequence[int] | np.ndarray) -> str:
    """1-D ids over ``BANK_VOCAB`` -> sentence (padding dropped)."""
    arr = _ids_1d("decode", ids, len(BANK_VOCAB), allow_ignore=False)
    return " ".join(BANK_VOCAB[t] for t in arr if t != PAD_ID)


def _nearest_cue_labels(fn: str, words: Sequence[str]) -> list[int]:
    """Sense id for each "bank": the sense of the nearest cue word, either side."""
    cues = [(i, _CUE_SENSE[w]) for i, w in enumerate(words) if w in _CUE_SENSE]
    labels = []
    for b, w in enumerate(words):
        if w != "bank":
            continue
        if not cues:
            raise ValueError(f"{fn}: the 'bank' at word {b} has no cue word in the sentence, so its sense is unknown")
        best = min(abs(i - b) for i, _ in cues)
        senses = {s for i, s in cues if abs(i - b) == best}
        if len(senses) > 1:
            raise ValueError(f"{fn}: the 'bank' at word {b} has money and river cues at the same distance {best}")
        labels.append(senses.pop())
    return labels


def label_banks(sentence: str) -> tuple[str, ...]:
    """Sense of each "bank" in ``sentence``, left to right, by the labelling rule of this task.

    Rule: a "bank" takes the sense of the nearest cue word (``MONEY_CUES`` or
    ``RIVER_CUES``), whether it comes before or after.  The generator only
    makes sentences where this nearest cue is unique and is the one the
    template attached to that "bank".

    >>> label_banks(SEED_SENTENCE)
    ('money', 'river')
    """
    encode(sentence)  # same vocabulary check and error as encode
    return tuple(SENSES[s] for s in _nearest_cue_labels("label_banks", _tokenize("label_banks", sentence)))


@dataclass(frozen=True, eq=False)
class BankTask(_TokenArrays):
    """Padded sentences with a money/river label on every "bank".

    Attributes:
        vocab: ``BANK_VOCAB``; a word's id is its index.
        inputs: (N, T) int64 word ids, right-padded with ``PAD_ID``.
        targets: (N, T) int64, 0 = money and 1 = river at "bank" positions,
            ``IGNORE_INDEX`` everywhere else.
        mask: (N, T) bool, True where a real word is (False on padding).

    Arrays are read-only.
    """

    vocab: tuple[str, ...]
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        inputs = _int_array("BankTask", "inputs", self.inputs)
        targets = _int_array("BankTask", "targets", self.targets)
        mask = np.array(self.mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"BankTask: mask must be a bool array, got dtype {mask.dtype}")
        if not inputs.shape == targets.shape == mask.shape:
            raise ValueError(
                f"BankTask: inputs {inputs.shape}, targets {targets.shape} and mask {mask.shape} must match"
            )
        if not np.isin(targets, (0, 1, IGNORE_INDEX)).all():
            raise ValueError("BankTask: targets may only hold 0 (money), 1 (river) or IGNORE_INDEX")
        if not np.array_equal(mask, inputs != PAD_ID):
            raise ValueError("BankTask: mask must be True exactly where inputs is not PAD_ID")
        mask.flags.writeable = False
        object.__setattr__(self, "vocab", tuple(self.vocab))
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "mask", mask)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """1-D ids -> sentence with padding dropped."""
        return decode(ids)

    def show(self, i: int) -> str:
        """Sentence ``i`` with each "bank" tagged by its label, e.g. ``bank[money]``."""
        words = []
        for t, y in zip(self.inputs[i], self.targets[i]):
            if t == PAD_ID:
                continue
            words.append(self.vocab[t] + (f"[{SENSES[y]}]" if y != IGNORE_INDEX else ""))
        return " ".join(words)

    def split(self, n_train: int) -> tuple[BankTask, BankTask]:
        """First ``n_train`` rows for training, the rest held out.

        Sentences from :func:`make_bank_task` are all distinct, so no sentence is in both parts.
        """
        k = _split_index("BankTask", len(self), n_train)
        return (
            BankTask(self.vocab, self.inputs[:k], self.targets[:k], self.mask[:k]),
            BankTask(self.vocab, self.inputs[k:], self.targets[k:], self.mask[k:]),
        )


def _pack(rows: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], max_len: int) -> BankTask:
    """Pad id rows to ``max_len`` and put each label at its "bank" position."""
    n = len(rows)
    inputs = np.full((n, max_len), PAD_ID, dtype=np.int64)
    targets = np.full((n, max_len), IGNORE_INDEX, dtype=np.int64)
    for r, (ids, ys) in enumerate(zip(rows, labels)):
        inputs[r, : len(ids)] = ids
        targets[r, np.flatnonzero(np.asarray(ids) == _BANK_ID)] = ys
    return BankTask(BANK_VOCAB, inputs, targets, inputs != PAD_ID)


def bank_task_from_sentences(sentences: Iterable[str], max_len: int | None = None) -> BankTask:
    """Encode your own sentences (e.g. ``[SEED_SENTENCE]``) and label them with :func:`label_banks`.

    Args:
        sentences: strings over the bank vocabulary; each needs a cue for every "bank".
        max_len: pad to this length (default: the longest sentence).
    """
    fn = "bank_task_from_sentences"
    if isinstance(sentences, str):
        raise TypeError(f"{fn}: pass a list of sentences, not a single string (wrap it: [sentence])")
    sentences = list(sentences)
    if not sentences:
        raise ValueError(f"{fn}: sentences is empty")
    rows = [encode(s) for s in sentences]
    labels = [_nearest_cue_labels(fn, _tokenize(fn, s)) for s in sentences]
    longest = max(len(r) for r in rows)
    if max_len is None:
        max_len = longest
    max_len = _check_int(fn, "max_len", max_len, 1)
    if longest > max_len:
        raise ValueError(f"{fn}: a sentence has {longest} words but max_len={max_len}")
    return _pack(rows, labels, max_len)


def _sample_clause(rng: np.random.Generator, slot: str, max_gap: int) -> list[str]:
    """Fill one clause template; the cue is left as the placeholder ``slot``."""
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    words: list[str] = []
    for part in template:
        if part == "S":
            words.append(_SUBJECTS[rng.integers(len(_SUBJECTS))])
        elif part == "M":
            words.append(_MOTIONS[rng.integers(len(_MOTIONS))])
        elif part == "G":
            g = int(rng.integers(max_gap + 1))
            words.extend(str(w) for w in rng.choice(_FILLERS, size=g, replace=False))
        elif part == "ART":
            words.append(("a", "the")[rng.integers(2)])
        elif part == "POSS":
            words.append(("my", "the")[rng.integers(2)])
        elif part == "TAIL":
            if rng.integers(2):
                words.extend(("was", "empty"))
        elif part == "X":
            words.append(slot)
        else:
            words.append(part)
    return words


def _sample_structure(rng: np.random.Generator, two_banks: bool, max_gap: int) -> list[str]:
    """A sentence skeleton whose k-th "bank" has its cue at placeholder ``@k``."""
    words: list[str] = []
    if rng.integers(2):
        words.append(_FILLERS[rng.integers(len(_FILLERS))])  # optional opener shifts every position
    words += _sample_clause(rng, "@0", max_gap)
    if two_banks:
        words.append(_JOINERS[rng.integers(len(_JOINERS))])
        words += _sample_clause(rng, "@1", max_gap)
    words += _SUFFIXES[rng.integers(len(_SUFFIXES))]
    return words


def _own_cue_is_nearest(words: Sequence[str]) -> bool:
    """True if each "bank" is strictly closer to its own cue slot than to any other cue slot."""
    banks = [i for i, w in enumerate(words) if w == "bank"]
    slots = [words.index(f"@{k}") for k in range(len(banks))]
    for k, b in enumerate(banks):
        own = abs(slots[k] - b)
        if any(abs(s - b) <= own for j, s in enumerate(slots) if j != k):
            return False
    return True


def _fill(rng: np.random.Generator, words: Sequence[str], senses: Sequence[int]) -> tuple[int, ...]:
    """Replace each ``@k`` with a random cue of sense ``senses[k]`` and return the ids."""
    out = []
    for w in words:
        if w.startswith("@"):
            cues = (MONEY_CUES, RIVER_CUES)[senses[int(w[1:])]]
            w = cues[rng.integers(len(cues))]
        out.append(_WORD_TO_ID[w])
    return tuple(out)


def make_bank_task(
    n: int,
    seed: int | np.random.Generator = 0,
    max_len: int = 32,
    p_two_banks: float = 0.3,
    max_gap: int = 3,
) -> BankTask:
    """Generate ``n`` toy sentences where each "bank" is labelled money (0) or river (1).

    Sentences come from clause templates (toy English: readable, not always
    sensible).  Every clause holds one "bank" and one cue word, before it
    (``... a river bank``, ``saw the cash ... near the bank``) or after it
    (``the bank ... and noticed my account``), with 0..``max_gap`` neutral
    filler words changing the distance.  With probability ``p_two_banks`` a
    sentence joins two clauses (``... so ...``), each "bank" with its own cue;
    the two senses are drawn independently, so they often differ.

    Label rule: a "bank" means what its nearest cue word means (see
    :func:`label_banks`); the generator only keeps sentences where that cue is
    unique and is the one belonging to the bank's own clause.

    No shortcut: sentences are made in *minimal pairs* - the same words with
    every cue swapped for a cue of the other sense, so every label flips.
    Position, length, template and filler words therefore say nothing about
    the label; a model that ignores the cue words scores exactly 50%.  (With
    odd ``n`` one pair is cut in half.)  Rows are shuffled, and all sentences
    are distinct, so ``task.split(k)`` gives a disjoint held-out part.

    Args:
        n: number of sentences (>= 1).
        seed: int seed or a ``np.random.Generator``.
        max_len: padded length T; longer sentences are not generated.
            The default 32 fits every template (and ``SEED_SENTENCE``, 20 words).
        p_two_banks: probability in [0, 1] of drawing a two-"bank" sentence; the
            share you get is a bit lower (0.3 gives about 0.21) because drafts
            where a bank's nearest cue is the other clause's cue are dropped.
            Set it to 0 for a task that attention can solve by content alone.
        max_gap: most filler words between a "bank" and its cue (0..6).
    """
    fn = "make_bank_task"
    n = _check_int(fn, "n", n, 1)
    max_len = _check_int(fn, "max_len", max_len, 1)
    max_gap = _check_int(fn, "max_gap", max_gap, 0)
    if max_gap > len(_FILLERS):
        raise ValueError(f"{fn}: max_gap must be <= {len(_FILLERS)} (number of filler words), got {max_gap}")
    if isinstance(p_two_banks, bool) or not isinstance(p_two_banks, (int, float, np.floating, np.integer)):
        raise TypeError(f"{fn}: p_two_banks must be a number in [0, 1], got {p_two_banks!r}")
    if not 0.0 <= float(p_two_banks) <= 1.0:
        raise ValueError(f"{fn}: p_two_banks must be in [0, 1], got {p_two_banks}")
    if max_len < _MIN_ONE_BANK:
        raise ValueError(f"{fn}: max_len={max_len} is too short; the shortest sentence has {_MIN_ONE_BANK} words")
    if p_two_banks > 0 and max_len < _MIN_TWO_BANKS:
        raise ValueError(
            f"{fn}: max_len={max_len} is too short for two-bank sentences (need >= {_MIN_TWO_BANKS}); "
            f"raise max_len or set p_two_banks=0"
        )
    rng = _as_rng(fn, seed)

    n_pairs = (n + 1) // 2
    seen: set[tuple[int, ...]] = set()
    rows: list[tuple[int, ...]] = []
    labels: list[tuple[int, ...]] = []
    misses = 0
    while len(rows) < 2 * n_pairs:
        misses += 1
        if misses > _MAX_MISSES:
            raise ValueError(
                f"{fn}: could only make {len(rows)} distinct sentences, n={n} asked; "
                f"lower n or raise max_len / max_gap"
            )
        two = bool(rng.random() < p_two_banks)
        words = _sample_structure(rng, two, max_gap)
        # both checks look only at the skeleton, never at the senses, so they cannot bias the labels
        fillers = [w for w in words if w in _FILLERS]
        if len(words) > max_len or not _own_cue_is_nearest(words) or len(set(fillers)) < len(fillers):
            continue  # too long, ambiguous cue, or a filler word repeated ("later ... later")
        senses = tuple(int(s) for s in rng.integers(0, 2, size=2 if two else 1))
        flipped = tuple(1 - s for s in senses)
        a, b = _fill(rng, words, senses), _fill(rng, words, flipped)
        if a in seen or b in seen:
            continue
        seen.update((a, b))
        misses = 0
        rows += [a, b]
        labels += [senses, flipped]

    order = rng.permutation(len(rows))[:n]
    return _pack([rows[i] for i in order], [labels[i] for i in order], max_len)
