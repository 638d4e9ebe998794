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

from . import bank, base, sequences
from .bank import *  # noqa: F401,F403  (each family module lists its public names)
from .base import *  # noqa: F401,F403
from .sequences import *  # noqa: F401,F403

__all__ = base.__all__ + sequences.__all__ + bank.__all__
