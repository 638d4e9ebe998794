"""`tinygrad_attn.exercises`: the exercises and their checks (they live in `teach/exercises/`;
this entry point gives them a short import and `python -m tinygrad_attn.exercises`).

    from tinygrad_attn.exercises import check
    check("softmax", softmax)          # a Result: true when it passes; print it to read why not
"""
from __future__ import annotations

from ..teach.exercises import EXERCISES, Result, check, get, names

__all__ = ["EXERCISES", "Result", "check", "get", "names"]
