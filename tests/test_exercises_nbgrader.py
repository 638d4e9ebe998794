"""Where nbgrader is installed, its own generate-assignment preprocessors accept the instructor
notebooks' metadata and leave every cell exactly as `make-student` does (nbgrader is not a
dependency: without it this module skips, saying so)."""
import json
from pathlib import Path

import pytest

from tinygrad_attn.teach.exercises.notebooks import make_student

nbformat = pytest.importorskip("nbformat")
preprocessors = pytest.importorskip("nbgrader.preprocessors", reason="nbgrader is not installed (pip install nbgrader)")

SOURCES = sorted((Path(__file__).resolve().parent.parent / "notebooks" / "exercises").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_nbgraders_student_version_is_make_students(path):
    notebook, resources = nbformat.read(path, as_version=4), {}
    for step in (preprocessors.CheckCellMetadata, preprocessors.ClearSolutions, preprocessors.ClearHiddenTests,
                 preprocessors.ClearOutput):
        notebook, resources = step().preprocess(notebook, resources)
    ours = make_student(json.loads(path.read_text(encoding="utf-8")))["cells"]
    assert len(notebook.cells) == len(ours)
    for position, (theirs, mine) in enumerate(zip(notebook.cells, ours)):
        assert theirs.source.rstrip() == "".join(mine["source"]).rstrip(), f"{path.name} cell {position}"
