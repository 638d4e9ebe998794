"""Tiny data sets generated in code, for training and looking inside attention models.

Everything here is pure NumPy, needs no downloads, and is deterministic: every
generator takes ``seed`` (an int or an ``np.random.Generator``).

Two families of tasks:

* **Sequence tasks** for a small causal GPT (``copy``, ``reverse``, ``sort``,
  ``induction``), framed as next-token prediction where only the answer is
  scored.  See :func:`make_sequence_task` (``sequences.py``).
* **The "bank" sense task** for a one-layer attention classifier: each word
  ``bank`` in a short sentence means *money* or *river*, and only a cue word
  near it (before or after) says which.  See :func:`make_bank_task` (``bank.py``).

Both use ``IGNORE_INDEX`` (-100, as in PyTorch's ``cross_entropy``) in
``targets`` for positions that carry no loss; it and the accuracy helpers
live in ``base.py``.
"""

from __future__ import annotations

from .bank import (
    BANK_VOCAB,
    MONEY_CUES,
    PAD,
    PAD_ID,
    RIVER_CUES,
    SEED_SENTENCE,
    SENSES,
    BankTask,
    bank_task_from_sentences,
    decode,
    encode,
    label_banks,
    make_bank_task,
)
from .base import IGNORE_INDEX, sequence_accuracy, token_accuracy
from .sequences import SEPARATOR, TASK_NAMES, SequenceTask, make_sequence_task

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
