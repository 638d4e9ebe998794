"""The package layout is the architecture: every import points down the layer list in README.md.

The layer list below is README's "Layout" section (a test keeps the two in step). A module may
import from its own layer or a lower one; `kernels/` sees only the core and NumPy; the core sees
neither NumPy nor Graphviz.
"""
import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import tinygrad_attn

PACKAGE = Path(tinygrad_attn.__file__).parent
README = PACKAGE.parent / "README.md"

# Lowest first. Each entry: the top-level modules/packages of tinygrad_attn in that layer.
LAYERS = [
    ("core",),
    ("kernels",),
    ("ops",),
    ("scalar", "tensors"),
    ("functional", "attention"),
    ("nn", "optim", "gradcheck"),
    ("trace",),
    ("viz",),
    ("teach",),
    ("train", "cli", "compat", "exercises", "__main__"),
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def _top(parts):
    return parts[0]


def _imported_tops(path, parts):
    """(line, top-level part of tinygrad_attn imported, imported module name) for each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = parts[:-1]  # the package a relative import starts from (also for an __init__)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygrad_attn."):
                    yield node.lineno, alias.name.split(".")[1], alias.name
                elif alias.name in ("numpy", "graphviz"):
                    yield node.lineno, None, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
                if module.startswith("tinygrad_attn."):
                    yield node.lineno, module.split(".")[1], module
                elif module == "tinygrad_attn":
                    for alias in node.names:
                        yield node.lineno, alias.name, f"tinygrad_attn.{alias.name}"
                elif module.split(".")[0] in ("numpy", "graphviz"):
                    yield node.lineno, None, module
                continue
            base = list(package_parts[: len(package_parts) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [])
            if target:
                yield node.lineno, target[0], ".".join(["tinygrad_attn"] + target)
            else:  # `from .. import x` at the package root: x is the top-level part
                for alias in node.names:
                    yield node.lineno, alias.name, f"tinygrad_attn.{alias.name}"


def test_every_module_is_in_a_layer():
    tops = {_top(parts) for _, parts in _modules() if _top(parts) != "__init__"}
    unplaced = sorted(tops - set(LAYER_OF))
    assert not unplaced, f"modules in no layer of tests/test_layout.py (and README's Layout): {unplaced}"


def test_imports_point_down_the_layers():
    wrong = []
    for path, parts in _modules():
        top = _top(parts)
        if top == "__init__":
            continue
        depth = LAYER_OF[top]
        for line, imported, name in _imported_tops(path, parts):
            if imported is None:
                if top == "core":
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} core imports {name}")
                continue
            if imported == top or imported == "__init__":
                continue
            if imported not in LAYER_OF:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {name} (in no layer)")
            elif LAYER_OF[imported] > depth:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({top}, layer {depth}) imports {name} "
                             f"({imported}, layer {LAYER_OF[imported]}): an import pointing up")
            elif top == "kernels" and imported != "core":
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} kernels may import only the core and NumPy, "
                             f"not {name}")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from ..viz import draw_graph\nfrom . import shapes\n")
    found = list(_imported_tops(source, ("ops", "probe")))
    assert (1, "viz", "tinygrad_attn.viz") in found and (2, "ops", "tinygrad_attn.ops") in found


def _module_names():
    for info in pkgutil.walk_packages(tinygrad_attn.__path__, prefix="tinygrad_attn."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_module_names()))
def test_every_module_imports_by_its_own_name(name):
    importlib.import_module(name)


def test_no_module_is_shadowed_by_a_function():
    for name in _module_names():
        parent, _, child = name.rpartition(".")
        attribute = getattr(importlib.import_module(parent), child)
        assert attribute is importlib.import_module(name), f"{parent}.{child} is not the module {name}"


def test_readme_layout_lists_the_layers_in_order():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    positions = []
    for depth, names in enumerate(LAYERS):
        for name in names:
            if name == "__main__":
                continue
            match = re.search(rf"^\s*{re.escape(name)}(\.py|/)", section, flags=re.MULTILINE)
            assert match, f"README Layout does not list {name}"
            positions.append((match.start(), depth, name))
    depths = [depth for _, depth, _ in sorted(positions)]
    assert depths == sorted(depths), f"README Layout is not in layer order: {sorted(positions)}"
