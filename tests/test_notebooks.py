"""Every notebook runs top to bottom in a fresh kernel, and graphs show as SVG there."""
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def execute(path: Path, monkeypatch) -> "nbformat.NotebookNode":
    notebook = nbformat.read(path, as_version=4)
    # A kernel started from a desktop launcher often lacks the environment's bin/ on PATH;
    # the graphs must still render.
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_shows_graphs_as_svg(path, monkeypatch):
    notebook = execute(path, monkeypatch)
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    stderr = "".join(out.text for out in outputs if out.output_type == "stream" and out.name == "stderr")
    assert "Warning" not in stderr and "warning" not in stderr, stderr
    for cell in notebook.cells:
        if cell.cell_type == "code" and "draw_graph(" in cell.source.splitlines()[-1]:
            shown = [out for out in cell.outputs if out.output_type in ("display_data", "execute_result")]
            assert shown and "image/svg+xml" in shown[0]["data"], f"no SVG for: {cell.source[:60]}"
            assert "<svg" in shown[0]["data"]["image/svg+xml"]
