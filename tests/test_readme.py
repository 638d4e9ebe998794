"""The README's promises: its op reference matches the op table, its example runs."""
import re
from pathlib import Path

import numpy as np

from tinygrad_attn.ops.samples import all_usages, render_markdown

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_op_reference_is_the_op_table():
    section = re.search(r"<!-- op-reference:start -->\n(.*)<!-- op-reference:end -->", README, re.S)
    assert section is not None, "README.md lost its op-reference markers"
    assert section.group(1).strip() == render_markdown().strip(), (
        "README op reference is stale: regenerate it with `python -m tinygrad_attn.ops`"
    )


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save a file write it here
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        if "draw_graph" in block:
            continue  # needs a loss from a model; drawing is tested in test_graph.py
        exec(compile(block, "README.md", "exec"), {"np": np})


def test_readme_names_the_two_commands():
    assert "tinygrad-attn demo" in README
    assert 'pip install -e ".[test]" && .venv/bin/python -m pytest -q' in README
