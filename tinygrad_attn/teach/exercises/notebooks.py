"""The exercise notebooks: one instructor source per exercise (and one for the bug zoo), in
nbgrader's conventions, and the student version made from it without nbgrader.

An instructor source marks the solution inside its cell with `### BEGIN SOLUTION` /
`### END SOLUTION` and the grader's tests with `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`,
and carries nbgrader's cell metadata, so nbgrader can take it as it is. `make_student` writes
what the student gets: each solution replaced by `raise NotImplementedError()`, hidden tests
removed, outputs cleared; it refuses to write a file that still holds a marker or any line of a
solution (`leaks`). Notebooks are plain JSON here (nbformat 4.5), so none of this needs Jupyter.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from ..bugzoo import BUGS
from . import EXERCISES, Exercise

__all__ = ["exercise_notebook", "bugzoo_notebook", "all_notebooks", "make_student", "make_student_file", "leaks",
           "MARKERS"]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
MARKER_WORDS = re.compile(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS")


# ---- the instructor sources ----
def _cell(kind: str, source: str, cell_id: str, nbgrader: dict | None = None) -> dict:
    cell: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source.strip("\n")}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, "task": False, "grade_id": cell_id, **nbgrader}
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


LOCKED = {"grade": False, "solution": False, "locked": True}
SOLUTION = {"grade": False, "solution": True, "locked": False}
GRADED = {"grade": True, "solution": False, "locked": True, "points": 1}


def _notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}}


def exercise_notebook(exercise: Exercise, number: int) -> dict:
    """The instructor source of one exercise: statement, solution cell, check, hidden test."""
    name, function = exercise.name, exercise.function
    return _notebook([
        _cell("markdown", f"# Exercise {number}: {exercise.title}\n\n{exercise.statement}\n\n"
                          "Write your code in place of `raise NotImplementedError()`, then run the check below it: "
                          "it runs your function on several cases, edge cases included, and says what is wrong "
                          "and where.", f"{name}-statement", LOCKED),
        _cell("code", "import numpy as np\n\nfrom tinygrad_attn.exercises import check", f"{name}-setup", LOCKED),
        _cell("code", exercise.solution(), f"{name}-solution", SOLUTION),
        _cell("code", f"result = check({name!r}, {function})\nprint(result)\n"
                      f"{BEGIN_HIDDEN}\nassert result.passed, result.message\n{END_HIDDEN}", f"{name}-check", GRADED),
    ])


def _fix_source(bug: Any) -> tuple[str, str]:
    """(the function name the student writes, the solution cell: the broken version's def line
    and docstring, then the fixed body between the markers)."""
    function = bug.buggy.__name__.removesuffix("_buggy")
    exercise = Exercise(bug.name, bug.title, "", bug.fixed, lambda: [], lambda *a: None)
    _, body = exercise.source_parts()
    head, _ = Exercise(bug.name, bug.title, "", bug.buggy, lambda: [], lambda *a: None).source_parts()
    head = head.replace(f"def {bug.buggy.__name__}(", f"def {function}(", 1)
    return function, f"{head}\n    {BEGIN_SOLUTION}\n{body}\n    {END_SOLUTION}\n"


def bugzoo_notebook() -> dict:
    """The bug zoo: per bug, the broken code, the checker's verdict, a fix cell and its check."""
    cells = [
        _cell("markdown", "# The bug zoo\n\nEach section plants one classic bug in a working engine. Read the broken "
                          "code and the checker's verdict (it names the node where the graph first goes wrong), "
                          "then write the fix in the cell below it and check it. `bug.stepper()` steps through "
                          "backward on the broken graph.", "bugzoo-intro", LOCKED),
        _cell("code", "import numpy as np\n\nfrom tinygrad_attn.teach.bugzoo import BUGS\n"
                      "from tinygrad_attn.teach.bugzoo.bugs import summed_to  # a helper the fixes may use",
              "bugzoo-setup", LOCKED),
    ]
    for number, bug in enumerate(BUGS.values(), 1):
        function, solution = _fix_source(bug)
        cells += [
            _cell("markdown", f"## Bug {number}: {bug.title}\n\n*Symptom:* {bug.symptom}\n\n"
                              f"The bug lives in {bug.slot}.", f"{bug.name}-statement", LOCKED),
            _cell("code", f"bug = BUGS[{bug.name!r}]\nprint(bug.source())\nprint(bug.check())",
                  f"{bug.name}-broken", LOCKED),
            _cell("code", solution, f"{bug.name}-solution", SOLUTION),
            _cell("code", f"result = BUGS[{bug.name!r}].check({function})\nprint(result)\n"
                          f"{BEGIN_HIDDEN}\nassert result.passed, result.message\n{END_HIDDEN}",
                  f"{bug.name}-check", GRADED),
        ]
    cells.append(_cell("code", "# backward on a broken graph, step by step (Prev / Next / Play)\n"
                               "BUGS['overwritten_gradient'].stepper()", "bugzoo-stepper", LOCKED))
    return _notebook(cells)


def all_notebooks() -> dict[str, dict]:
    """File name -> instructor source, for every exercise and the bug zoo."""
    books = {f"{n:02d}_{e.name}.ipynb": exercise_notebook(e, n) for n, e in enumerate(EXERCISES.values(), 1)}
    books[f"{len(EXERCISES) + 1:02d}_bugzoo.ipynb"] = bugzoo_notebook()
    return books


def dumps(notebook: dict) -> str:
    """The notebook as a file holds it: JSON, source as a list of lines (as Jupyter writes it)."""
    saved = copy.deepcopy(notebook)
    for cell in saved["cells"]:
        text = _text(cell["source"])
        cell["source"] = text.splitlines(keepends=True)
    return json.dumps(saved, indent=1, ensure_ascii=False) + "\n"


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else source


# ---- the student version ----
def make_student(notebook: dict) -> dict:
    """The student version: solutions replaced by `raise NotImplementedError()` (a markdown
    answer by 'YOUR ANSWER HERE'), hidden tests removed, outputs cleared. Raises ValueError on
    an unbalanced marker, and refuses (ValueError) a result that `leaks` anything."""
    student = copy.deepcopy(notebook)
    for position, cell in enumerate(student["cells"]):
        cell["source"] = _strip(_text(cell["source"]), cell["cell_type"], position)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    found = leaks(notebook, student)
    if found:
        raise ValueError("make-student: the student version would still hold solution text: " + "; ".join(found[:5]))
    return student


def _strip(source: str, kind: str, position: int) -> str:
    out: list[str] = []
    region: str | None = None
    for line in source.splitlines():
        marker = line.strip()
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if region:
                raise ValueError(f"make-student: cell {position} opens {marker!r} inside {region!r}")
            region = marker
            if marker == BEGIN_SOLUTION:
                indent = line[:len(line) - len(line.lstrip())]
                out += ["YOUR ANSWER HERE"] if kind == "markdown" else [f"{indent}# YOUR CODE HERE",
                                                                         f"{indent}raise NotImplementedError()"]
            continue
        if marker in (END_SOLUTION, END_HIDDEN):
            expected = BEGIN_SOLUTION if marker == END_SOLUTION else BEGIN_HIDDEN
            if region != expected:
                raise ValueError(f"make-student: cell {position} has {marker!r} without {expected!r}")
            region = None
            continue
        if region is None:
            out.append(line)
    if region:
        raise ValueError(f"make-student: cell {position} never closes {region!r}")
    return "\n".join(out).rstrip("\n")


def _regions(source: str) -> list[str]:
    """Every line inside a solution or hidden-test region of one cell."""
    inside, lines = False, []
    for line in source.splitlines():
        marker = line.strip()
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            inside = True
        elif marker in (END_SOLUTION, END_HIDDEN):
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _telling(line: str) -> bool:
    """A line that gives something away: more than punctuation, a bare keyword or a comment marker."""
    words = re.sub(r"[\s()\[\]{}:,#]+", "", line)
    return len(words) > 3 and line.strip() not in ("return", "pass", "else:")


def leaks(instructor: dict, student: dict) -> list[str]:
    """What of the instructor's solutions and hidden tests (or a marker) a student notebook holds."""
    secret = {line.strip() for cell in instructor["cells"] for line in _regions(_text(cell["source"]))
              if _telling(line)}
    found = []
    for position, cell in enumerate(student["cells"]):
        texts = [_text(cell["source"])] + [_output_text(o) for o in cell.get("outputs", [])]
        for text in texts:
            if MARKER_WORDS.search(text):
                found.append(f"cell {position} holds a solution or hidden-test marker")
            for line in text.splitlines():
                if line.strip() in secret:
                    found.append(f"cell {position} holds the solution line {line.strip()!r}")
    return found


def _output_text(output: dict) -> str:
    if "text" in output:
        return _text(output["text"])
    return "\n".join(_text(v) for v in output.get("data", {}).values() if isinstance(v, (str, list)))


def make_student_file(source: Path, target: Path) -> list[Path]:
    """Write the student version of a notebook (or of every notebook in a folder); returns the paths."""
    source, target = Path(source), Path(target)
    if source.is_dir():
        written = []
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.ipynb")):
            written += make_student_file(path, target / path.name)
        return written
    notebook = json.loads(source.read_text(encoding="utf-8"))
    student = make_student(notebook)
    if target.is_dir():
        target = target / source.name
    target.write_text(dumps(student), encoding="utf-8")
    return [target]
