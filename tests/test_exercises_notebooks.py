"""The exercise notebooks: one instructor source per exercise (nbgrader markers and metadata),
generated from the exercises so they cannot drift; their student versions hold no solution
line and no marker, and run top to bottom in a fresh kernel, each check reporting the failure
without stopping the notebook; the instructor versions pass every check."""
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tinygrad_attn.exercises import EXERCISES
from tinygrad_attn.teach.bugzoo import BUGS
from tinygrad_attn.teach.exercises.notebooks import all_notebooks, dumps, leaks, make_student

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks" / "exercises"
SOURCES = sorted(FOLDER.glob("*.ipynb"))


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_one_notebook_per_exercise_and_one_for_the_zoo_as_generated():
    generated = all_notebooks()
    assert sorted(generated) == [p.name for p in SOURCES]
    assert len(SOURCES) == len(EXERCISES) + 1
    for path in SOURCES:
        assert path.read_text(encoding="utf-8") == dumps(generated[path.name]), (
            f"{path.name} differs from the exercises: run python -m tinygrad_attn.exercises make-notebooks "
            "notebooks/exercises")


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_the_instructor_source_is_nbgrader_shaped(path):
    cells = _load(path)["cells"]
    solutions = [c for c in cells if c["metadata"].get("nbgrader", {}).get("solution")]
    graded = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    assert solutions and len(solutions) == len(graded)
    for cell in solutions:
        text = _source(cell)
        assert text.count("### BEGIN SOLUTION") == 1 and text.count("### END SOLUTION") == 1
    for cell in graded:
        assert "### BEGIN HIDDEN TESTS" in _source(cell) and cell["metadata"]["nbgrader"]["points"] == 1
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_the_student_version_holds_no_solution_and_no_marker(path):
    instructor = _load(path)
    student = make_student(instructor)
    text = json.dumps(student)
    assert not re.search(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS", text)
    assert leaks(instructor, student) == []
    solution_cells = [c for c in student["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert all("raise NotImplementedError()" in _source(c) for c in solution_cells)
    # every line of every reference solution's body is gone, not only the lines between markers
    for exercise in EXERCISES.values():
        _, body = exercise.source_parts()
        for line in body.splitlines():
            if len(line.strip()) > 12:
                assert line.strip() not in text, line
    for bug in BUGS.values():
        assert "summed_to(upstream_grad, a.shape)" not in text


def _notebook(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(source, i):
    return {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


def test_the_guard_fails_when_a_solution_line_would_reach_the_student():
    leaked = _notebook([_code("def f(x):\n    ### BEGIN SOLUTION\n    return np.exp(x) / 7\n    ### END SOLUTION", 0),
                        {"cell_type": "markdown", "id": "m", "metadata": {},
                         "source": "Hint: the answer is `return np.exp(x) / 7`\nreturn np.exp(x) / 7"}])
    with pytest.raises(ValueError, match="would still hold solution text.*'return np.exp\\(x\\) / 7'"):
        make_student(leaked)
    in_output = _notebook([_code("def f(x):\n    ### BEGIN SOLUTION\n    return np.exp(x) / 7\n    ### END SOLUTION", 0)])
    in_output["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "return np.exp(x) / 7\n"}]
    assert leaks(in_output, in_output)  # an executed output is checked too (make_student clears outputs)
    marker = _notebook([_code("x = 1  # ### BEGIN SOLUTION is how nbgrader marks it", 0)])
    with pytest.raises(ValueError, match="marker"):
        make_student(marker)


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closes"), ("x = 1\n### END SOLUTION", "without '### BEGIN SOLUTION'"),
    ("### BEGIN HIDDEN TESTS\n### BEGIN SOLUTION\n### END SOLUTION", "inside"),
])
def test_unbalanced_markers_are_refused(source, problem):
    with pytest.raises(ValueError, match=problem):
        make_student(_notebook([_code(source, 0)]))


def test_make_student_from_a_terminal(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tinygrad_attn.exercises", "make-student", str(FOLDER), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in SOURCES]
    one = tmp_path / "single.ipynb"
    run = subprocess.run([sys.executable, "-m", "tinygrad_attn.exercises", "make-student", str(SOURCES[0]), str(one)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "raise NotImplementedError()" in one.read_text(encoding="utf-8")


# ---- run in a fresh kernel ----
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _execute_all(notebooks, monkeypatch):
    """Execute notebooks (name -> dict) in fresh kernels, a few at a time; name -> executed."""
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))  # as a desktop launcher's kernel has it
    done, errors = {}, []

    def run(name, notebook):
        try:
            book = nbformat.reads(json.dumps(notebook), as_version=4)
            nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                                    resources={"metadata": {"path": str(FOLDER)}}).execute()
            done[name] = book
        except Exception as error:  # reported below, with the notebook's name
            errors.append(f"{name}: {type(error).__name__}: {error}")

    names = list(notebooks)
    for start in range(0, len(names), 4):
        threads = [threading.Thread(target=run, args=(n, notebooks[n])) for n in names[start:start + 4]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, "\n".join(errors)
    return done


def _printed(book):
    return ["".join(o.get("text", "")) for cell in book.cells if cell.cell_type == "code"
            for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout"]


def _errors(book):
    return [o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
            if o.output_type == "error"]


def test_the_student_versions_run_and_report_each_failure(monkeypatch):
    books = _execute_all({p.name: make_student(_load(p)) for p in SOURCES}, monkeypatch)
    for name, book in books.items():
        assert not _errors(book), f"{name}: {_errors(book)}"
        verdicts = [text for text in _printed(book) if "Not yet" in text]
        assert verdicts, name
        if "bugzoo" in name:
            printed = "".join(verdicts)
            assert printed.count("still raises NotImplementedError") == len(BUGS)
            assert printed.count("Not yet") == 2 * len(BUGS)  # each broken graph, then each fix not written yet
        else:
            assert len(verdicts) == 1 and "is not written yet" in verdicts[0], verdicts


def test_the_instructor_versions_pass_every_check(monkeypatch):
    books = _execute_all({p.name: _load(p) for p in SOURCES}, monkeypatch)
    for name, book in books.items():
        assert not _errors(book), f"{name}: {_errors(book)}"
        printed = _printed(book)
        if "bugzoo" in name:
            assert sum(text.startswith("Fixed:") for text in printed) == len(BUGS)
        else:
            assert any("passes all" in text for text in printed), printed
