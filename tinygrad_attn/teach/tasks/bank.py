"""The "bank" sense task for a one-layer attention classifier.

Each word ``bank`` in a short sentence means *money* or *river*, and only a cue word near it
(before or after) says which (see `make_bank_task` and `label_banks`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .base import IGNORE_INDEX, TokenArrays, as_rng, check_int, ids_1d, int_array, split_index

__all__ = [
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
    arr = ids_1d("decode", ids, len(BANK_VOCAB), allow_ignore=False)
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
class BankTask(TokenArrays):
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
        inputs = int_array("BankTask", "inputs", self.inputs)
        targets = int_array("BankTask", "targets", self.targets)
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
        k = split_index("BankTask", len(self), n_train)
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
    max_len = check_int(fn, "max_len", max_len, 1)
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
    n = check_int(fn, "n", n, 1)
    max_len = check_int(fn, "max_len", max_len, 1)
    max_gap = check_int(fn, "max_gap", max_gap, 0)
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
    rng = as_rng(fn, seed)

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
