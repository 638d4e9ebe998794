"""Exercises that check themselves: each a statement, a starter, a reference solution in plain
float64 NumPy, and `check(fn)`, which runs the student's own function on several cases (edge
cases included) and explains the first failure in terms of the math, naming the place.

    base.py             Exercise, Case, Hint, Result; the comparison that names the place
    softmax_family.py   softmax, softmax_backward (no Jacobian), cross_entropy
    attention_family.py attention, attention_backward, causal_softmax, masked_softmax,
                        split_heads, merge_heads, grad_w_q
    layers.py           linear_backward (a broadcast bias), layer_norm_backward
    scalar_engine.py    tanh_backward: a Value op's rule, run inside the engine
    notebooks.py        the exercise notebooks (nbgrader markers) and their student versions
    cli.py              `python -m tinygrad_attn.exercises list | show | starter | check | make-student`

    >>> from tinygrad_attn.teach.exercises import check
    >>> check("softmax", my_softmax)        # a Result: true when it passes, its text says why not
"""
from __future__ import annotations

from .attention_family import (ATTENTION, ATTENTION_BACKWARD, CAUSAL_SOFTMAX, GRAD_W_Q, MASKED_SOFTMAX,
                               MERGE_HEADS, SPLIT_HEADS)
from .base import Case, Exercise, Hint, Result
from .layers import LAYER_NORM_BACKWARD, LINEAR_BACKWARD
from .scalar_engine import TANH_BACKWARD
from .softmax_family import CROSS_ENTROPY, SOFTMAX, SOFTMAX_BACKWARD

__all__ = ["EXERCISES", "Case", "Exercise", "Hint", "Result", "check", "get", "names"]

# In teaching order: each builds on the ones before it.
EXERCISES: dict[str, Exercise] = {e.name: e for e in [
    SOFTMAX, SOFTMAX_BACKWARD, CROSS_ENTROPY, ATTENTION, CAUSAL_SOFTMAX, MASKED_SOFTMAX, SPLIT_HEADS,
    MERGE_HEADS, ATTENTION_BACKWARD, GRAD_W_Q, LINEAR_BACKWARD, LAYER_NORM_BACKWARD, TANH_BACKWARD]}


def names() -> list[str]:
    return list(EXERCISES)


def get(name: str) -> Exercise:
    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise called {name!r}; the exercises are: {', '.join(EXERCISES)}") from None


def check(name: str, fn) -> Result:
    """Check the student's function `fn` against exercise `name`; print the result to read why."""
    return get(name).check(fn)
