"""The bug zoo: classic autograd and attention bugs, each planted in one piece of a working
engine, for the student to find and fix.

    base.py   Bug: the planted piece, its graph, a NumPy reference per stage, and the checker
              (forward stages, then the per-node gradcheck, then the stage gradients), and
              `stepper()`, the BackwardStepper opened on the broken graph
    bugs.py   the bugs, each `*_buggy` beside its `*_fixed`

    >>> from tinygrad_attn.teach.bugzoo import BUGS
    >>> bug = BUGS["bias_not_summed"]
    >>> print(bug.source())           # read the broken code
    >>> print(bug.check())            # where the graph first goes wrong
    >>> print(bug.check(my_fixed))    # your fix, planted in its place
    >>> bug.stepper()                 # step through backward on the broken graph
"""
from __future__ import annotations

from .base import Bug
from .bugs import BUGS

__all__ = ["BUGS", "Bug", "get", "names"]


def names() -> list[str]:
    return list(BUGS)


def get(name: str) -> Bug:
    try:
        return BUGS[name]
    except KeyError:
        raise KeyError(f"no bug called {name!r} in the zoo; the bugs are: {', '.join(BUGS)}") from None
