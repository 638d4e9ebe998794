"""What every exercise shares: the Exercise itself, its cases, the verdict, and the comparison
that turns a wrong array into a sentence about the math and the place.

An exercise is a reference solution (plain float64 NumPy, written apart from the engine), the
cases it is checked on, and the mistakes students are known to make, each with what to say.
`check(fn)` runs the student's own function on every case, in order, and stops at the first
case it gets wrong: the verdict names the case, the quantity (dL/dscores, the weights), the
place (row 2, column 0; head 1, token 3), both numbers, and, when the wrong answer matches a
known mistake computed on the same inputs, the mistake in terms of the formula.
"""
from __future__ import annotations

import ast
import copy
import inspect
import textwrap
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Case", "Exercise", "Hint", "Result", "compare_array", "place", "axes_for", "sentence"]

ATOL, RTOL = 1e-6, 1e-5  # a right float64 answer differs from the reference by rounding only


@dataclass
class Case:
    """One set of inputs: `label` says in words what makes it a case ("large logits")."""

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Hint:
    """A known mistake: `matches(got)` is True when the student's answer is that mistake."""

    text: str
    matches: Callable[[Any], bool]


class Result:
    """The verdict of a check: true when every case passes; `message` says why not."""

    def __init__(self, exercise: str, passed: bool, message: str, case: str | None = None):
        self.exercise, self.passed, self.message, self.case = exercise, passed, message, case

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:  # in a notebook: the message, marked as pass or not yet
        mark = "✅" if self.passed else "❌"
        return f"{mark} " + self.message.replace("\n", "  \n")

    def raise_for_failure(self) -> "Result":
        """Raise AssertionError(message) unless passed (for graders: `check(...).raise_for_failure()`)."""
        if not self.passed:
            raise AssertionError(self.message)
        return self


class Exercise:
    """A statement, a reference solution, the cases, and how to judge an answer.

    name        what `check NAME` and the notebook call it
    title       one line
    statement   what to write, in Markdown (the math the student needs)
    reference   the solution, a plain NumPy function; its signature and docstring are the
                starter's, its body is the solution the student file never shows
    cases       () -> [Case]: the inputs, simple first, edge cases after
    judge       (case, got, expected) -> message or None: compares one answer
    """

    def __init__(self, name: str, title: str, statement: str, reference: Callable[..., Any],
                 cases: Callable[[], list[Case]], judge: Callable[[Case, Any, Any], str | None],
                 run: Callable[[Callable[..., Any], Case], Any] | None = None):
        self.name, self.title, self.statement = name, title, textwrap.dedent(statement).strip()
        self.reference, self._cases, self._judge = reference, cases, judge
        self._run = run or (lambda fn, case: fn(*case.args, **case.kwargs))
        self.function = reference.__name__

    def __repr__(self) -> str:
        return f"Exercise({self.name!r}: {self.title})"

    def cases(self) -> list[Case]:
        return self._cases()

    # ---- the student's function on every case ----
    def check(self, fn: Any) -> Result:
        """Run `fn` on every case and compare it with the reference; the first failure explains."""
        if not callable(fn):
            return self._fail(f"check needs your function itself, e.g. check({self.name!r}, {self.function}); "
                              f"got {type(fn).__name__}.")
        cases = self.cases()
        for number, case in enumerate(cases, 1):
            where = f"case {number} of {len(cases)} ({case.label})"
            given = copy.deepcopy(case)
            try:
                got = self._run(fn, given)
            except NotImplementedError as error:
                return self._fail(f"{self.function} is not written yet: it still raises NotImplementedError"
                                  f"{_line_in(fn, error)}. Replace that line with your code and check again.",
                                  case.label)
            except Exception as error:  # the student's code failed: say where, in their code
                return self._fail(f"on {where}, your {self.function} raised {type(error).__name__}: {error}"
                                  f"{_line_in(fn, error)}{_error_hint(error)}", case.label)
            changed = _changed_input(case, given, list(inspect.signature(self.reference).parameters))
            if changed:
                return self._fail(f"on {where}, your {self.function} changed its input `{changed}` in place. "
                                  "Work on a copy (or build new arrays): the caller still needs its numbers.",
                                  case.label)
            expected = self._run(self.reference, copy.deepcopy(case))
            try:
                verdict = self._judge(given, got, expected)
            except Exception as error:  # an answer too far off to compare: say so, never crash
                verdict = (f"your answer could not be compared with the right one ({type(error).__name__}: {error}); "
                           f"is it what {self.function} should return, with the right shape?")
            if verdict:
                return self._fail(f"on {where}, {verdict}", case.label)
        labels = "; ".join(case.label for case in cases)
        return Result(self.name, True, f"{self.function} passes all {len(cases)} cases ({labels}). Well done.")

    def _fail(self, message: str, case: str | None = None) -> Result:
        return Result(self.name, False, f"Not yet: {message}", case)

    # ---- the source: starter and solution come from the one reference ----
    def source_parts(self) -> tuple[str, str]:
        """(the `def` line(s) and docstring, the body): the starter is the first part alone."""
        source = textwrap.dedent(inspect.getsource(self.reference))
        tree = ast.parse(source).body[0]
        lines = source.splitlines()
        body = tree.body
        first = body[1] if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                                         ast.Constant) else body[0]
        head = "\n".join(lines[:first.lineno - 1])
        return head, "\n".join(lines[first.lineno - 1:])

    def starter(self) -> str:
        head, _ = self.source_parts()
        return f"{head}\n    raise NotImplementedError()\n"

    def solution(self) -> str:
        head, body = self.source_parts()
        return f"{head}\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION\n"


def _line_in(fn: Callable[..., Any], error: Exception) -> str:
    """' (line 4 of your code: `...`)' for the deepest frame in the student's own file."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == code.co_filename]
    if not frames:
        return ""
    frame = frames[-1]
    text = f": `{frame.line.strip()}`" if frame.line else ""
    return f" (in {frame.name}, line {frame.lineno}{text})"


def _error_hint(error: Exception) -> str:
    text = str(error)
    if "could not be broadcast" in text:
        return (". A sum or max over an axis drops that axis; keep it with keepdims=True so the result "
                "lines up with the rows it came from.")
    if "matmul" in text and "mismatch" in text:
        return ". In a @ b the last axis of a must match the second-to-last of b: is one of them transposed?"
    return ""


def _changed_input(case: Case, given: Case, names: list[str]) -> str | None:
    names = names + [f"argument {i + 1}" for i in range(len(names), len(case.args))]
    for name, before, after in zip(names, case.args, given.args):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
            return name
    return None


# ---- places ----
def axes_for(ndim: int, last: Sequence[str]) -> tuple[str, ...]:
    """Names for ndim axes: the given last ones, leading axes called batch (then batch 2, ...)."""
    last = tuple(last)[-ndim:] if ndim else ()
    lead = ndim - len(last)
    return tuple("batch" if i == 0 else f"batch axis {i}" for i in range(lead)) + last


def place(index: tuple, axes: Sequence[str]) -> str:
    """'row 2, column 0' for index (2, 0) and axes ('row', 'column')."""
    if not index:
        return "the single number"
    return ", ".join(f"{name} {i}" for name, i in zip(axes, index))


def _number(x: float) -> str:
    return f"{x:.6g}"


def close(a: Any, b: Any, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """True when a has b's shape and every entry is within tolerance (NaN only matches NaN)."""
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True))


def as_array(got: Any, what: str) -> tuple[np.ndarray | None, str | None]:
    """The student's answer as a float64 array, or a message saying why it is not one."""
    if got is None:
        return None, f"your {what} came back as None: did the function end without `return`?"
    if isinstance(got, (tuple, list)) and any(isinstance(x, (np.ndarray, tuple)) for x in got):
        return None, f"your {what} is a {type(got).__name__} of {len(got)} things, expected one array."
    try:
        return np.asarray(got, dtype=np.float64), None
    except (TypeError, ValueError):
        return None, f"your {what} is a {type(got).__name__}, which is not an array of numbers."


def compare_array(what: str, got: Any, expected: np.ndarray, axes: Sequence[str],
                  hints: Sequence[Hint] = (), shape_note: str = "", atol: float = ATOL, rtol: float = RTOL,
                  patterns: bool = True) -> str | None:
    """None if `got` equals `expected`, else a sentence: the first wrong place and both numbers,
    then the first known mistake that `got` matches (or a pattern seen across all of it)."""
    expected = np.asarray(expected, dtype=np.float64)
    array, problem = as_array(got, what)
    if problem:
        return problem
    axes = tuple(axes)
    if array.shape != expected.shape:
        named = f" ({', '.join(axes)})" if len(axes) == expected.ndim and axes else ""
        message = f"your {what} {_verb(what, 'has')} shape {array.shape}, but it should have shape {expected.shape}{named}."
        return message + _hint(hints, got, shape_note and " " + shape_note)
    ok = np.isclose(array, expected, atol=atol, rtol=rtol, equal_nan=True)
    if ok.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~ok)[0]) if array.ndim else ()
    e, g = float(expected[index]), float(array[index])
    at = place(index, axes)
    wrong = int((~ok).sum())
    count = f" ({wrong} of {ok.size} numbers are wrong.)" if ok.size > 1 else ""
    is_ = _verb(what, "is")
    if not np.isfinite(g) and np.isfinite(e):
        message = f"your {what} {is_} {g} at {at}, where the right value is {_number(e)}.{count}"
    else:
        message = f"your {what} {is_} wrong at {at}: expected {_number(e)}, got {_number(g)}.{count}"
    return message + _hint(hints, got, _pattern(array, expected) if patterns else "")


def _verb(what: str, verb: str) -> str:
    """'is' / 'has' for 'softmax', 'are' / 'have' for 'attention weights'."""
    plural = what.split()[-1] in ("weights", "heads")
    return {"is": "are", "has": "have"}[verb] if plural else verb


def sentence(text: str) -> str:
    """Capitalised as a sentence, unless it starts with a formula (dL/dq = ...)."""
    first = text.split(" ", 1)[0]
    return text[0].upper() + text[1:] if text[:1].islower() and first.isalpha() else text


def _hint(hints: Sequence[Hint], got: Any, fallback: str = "") -> str:
    for hint in hints:
        try:
            matched = hint.matches(got)
        except Exception:  # a hint that cannot even be evaluated on this answer does not match
            matched = False
        if matched:
            return " " + sentence(hint.text)
    return fallback


def _pattern(got: np.ndarray, expected: np.ndarray) -> str:
    """A pattern across the whole answer, when no known mistake matched."""
    if not np.all(np.isfinite(got)):
        return (" Some numbers are not finite: look for an exp that overflows (exp(710) is inf) "
                "or a 0/0.")
    if close(got, -expected):
        return " Every number has the right size but the wrong sign: check the sign of each term."
    if got.ndim >= 2 and got.shape[-1] == got.shape[-2] and close(np.swapaxes(got, -1, -2), expected):
        return " Your answer is the right one transposed (its last two axes swapped)."
    nonzero = np.abs(expected) > 1e-9
    if nonzero.any():
        ratio = got[nonzero] / expected[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and abs(ratio[0]) > 1e-9:
            return (f" Every number is {ratio[0]:.6g} times the right one: a constant factor is missing or "
                    "extra (a scale, a mean instead of a sum?).")
    return ""


def variant(fn: Callable[..., Any], *args: Any) -> Callable[[Any], bool]:
    """A Hint test: the answer equals the known mistake `fn(*args)` (NaN where it has NaN)."""

    def matches(got: Any) -> bool:
        with np.errstate(all="ignore"):
            wrong = fn(*args)
        return close(got, wrong)

    return matches
