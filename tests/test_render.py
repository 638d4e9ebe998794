"""Rendering works with graphviz-pure alone, stays quiet, and fails helpfully."""
from __future__ import annotations

import os
import pathlib
import stat
import xml.etree.ElementTree as ET

import graphviz
import pytest

from tinygrad_attn.viz import render
from tinygrad_attn.viz.render import DEFAULT_FONT, Graph, find_dot, pipe

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def fresh_lookup():
    """Each test sees its own PATH, so the cached renderer lookup must not leak between tests."""
    render._search_dot.cache_clear()
    render._output_formats.cache_clear()
    yield
    render._search_dot.cache_clear()
    render._output_formats.cache_clear()


needs_renderer = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")


def small_graph() -> Graph:
    """A node with an HTML-table label inside a cluster, with tooltips, feeding a plain node."""
    g = Graph("demo")
    g.attr(fontname=DEFAULT_FONT)
    g.attr("node", fontname=DEFAULT_FONT)
    g.attr("edge", fontname=DEFAULT_FONT)
    with g.subgraph(name="cluster_attention") as c:
        c.attr(label="attention", tooltip="one attention head")
        c.node(
            "matmul",
            label=(
                '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">'
                "<TR><TD><B>matmul</B></TD></TR><TR><TD>shape (2, 3)</TD></TR></TABLE>>"
            ),
            shape="plaintext",
            tooltip="Q @ K.T",
        )
    g.node("softmax", "softmax")
    g.edge("matmul", "softmax", tooltip="scores")
    return g


def write_fake_dot(folder: pathlib.Path) -> pathlib.Path:
    """A stand-in ``dot`` that answers -V and prints a fixed SVG, using shell builtins only."""
    script = folder / "dot"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-V" ]; then echo "dot - fake graphviz version 0.0" >&2; exit 0; fi\n'
        "while read -r line; do :; done\n"
        'echo "<svg>fake</svg>"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def test_graph_is_a_real_digraph():
    g = small_graph()
    assert isinstance(g, graphviz.Digraph)
    assert "cluster_attention" in g.source


@needs_renderer
def test_svg_has_nodes_cluster_and_tooltips():
    svg = small_graph().pipe(format="svg")
    root = ET.fromstring(svg)

    def titles(kind: str) -> list[str]:
        return sorted(g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == kind)

    assert titles("node") == ["matmul", "softmax"]
    assert titles("cluster") == ["cluster_attention"]
    assert titles("edge") == ["matmul->softmax"]
    tooltips = {a.get(f"{XLINK}title") for a in root.iter(f"{SVG}a")}
    assert {"Q @ K.T", "one attention head", "scores"} <= tooltips
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"matmul", "shape (2, 3)", "attention", "softmax"} <= texts


@needs_renderer
def test_svg_is_byte_identical_across_runs():
    source = small_graph().source
    assert pipe(source, "svg") == pipe(source, "svg")


@needs_renderer
def test_png_bytes():
    png = small_graph().pipe(format="png")
    assert png.startswith(PNG_MAGIC)


@needs_renderer
def test_pdf_is_well_formed():
    pdf = small_graph().pipe(format="pdf")
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    # Every cross-reference entry must point at the object it names.
    xref_at = int(pdf[pdf.rindex(b"startxref") + len(b"startxref") :].split()[0])
    lines = pdf[xref_at:].split(b"\n")
    assert lines[0] == b"xref"
    count = int(lines[1].split()[1])
    for number in range(1, count):
        offset = int(lines[2 + number].split()[0])
        assert pdf[offset:].startswith(f"{number} 0 obj".encode())


def test_jpeg_to_pdf_page_size():
    # A minimal JPEG header is enough: only the frame size is read.
    size = (150).to_bytes(2, "big") + (300).to_bytes(2, "big")
    frame = b"\xff\xc0\x00\x11\x08" + size + b"\x03" + b"\x00" * 9
    pdf = render._jpeg_to_pdf(b"\xff\xd8" + frame + b"\xff\xd9", dpi=150)
    assert b"/MediaBox [0 0 144.00 72.00]" in pdf
    assert b"/Width 300 /Height 150" in pdf


@needs_renderer
def test_render_writes_file_and_returns_path(tmp_path):
    g = small_graph()
    path = g.render(tmp_path / "graph", format="png")
    assert path == os.fspath(tmp_path / "graph.png")
    assert pathlib.Path(path).read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "graph").read_text(encoding="utf-8") == g.source

    svg_path = g.render(outfile=tmp_path / "out" / "graph.svg", cleanup=True)
    assert svg_path == os.fspath(tmp_path / "out" / "graph.svg")
    assert b"<svg" in pathlib.Path(svg_path).read_bytes()
    assert not (tmp_path / "out" / "graph.gv").exists()


@needs_renderer
def test_non_ascii_label_and_unknown_font_make_no_stderr_noise(capfd):
    g = Graph()
    g.node("a", "softmax(QKᵀ/√d) ∑ → α", fontname="monospace")
    g.node("b", "héllo", fontname="NoSuchFont")
    for fmt in ("svg", "png", "pdf"):
        assert g.pipe(format=fmt)
        assert g._repr_mimebundle_()["image/svg+xml"].startswith("<?xml")
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""


@needs_renderer
def test_real_graphviz_error_is_raised_with_its_text():
    with pytest.raises(RuntimeError, match="syntax error"):
        pipe("digraph { a -> }")


@needs_renderer
def test_real_graphviz_warning_is_a_render_warning(capfd):
    with pytest.warns(render.RenderWarning, match="unknown shape"):
        pipe('digraph { a [shape="no-such-shape"] }')
    assert capfd.readouterr().err == ""


@needs_renderer
def test_mimebundle_has_svg_and_dot_text():
    g = small_graph()
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/html", "text/plain"}  # html: the SVG inline, to fit the cell
    assert bundle["text/plain"] == g.source
    assert set(g._repr_mimebundle_(include=["image/png"])) == {"image/png"}
    assert g._repr_mimebundle_(include=["image/png"], exclude=["image/png"]) == {}


@pytest.mark.skipif(os.name == "nt", reason="the stand-in dot is a POSIX shell script")
def test_system_dot_on_path_wins(tmp_path, monkeypatch):
    fake = write_fake_dot(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_dot() == str(fake)
    assert pipe("digraph { a }", "svg") == b"<svg>fake</svg>\n"
    assert render.dot_version() == "dot - fake graphviz version 0.0"


def test_graphviz_pure_found_without_path(monkeypatch):
    monkeypatch.setenv("PATH", "")
    dot = find_dot()
    assert dot is not None
    assert pathlib.Path(dot).name.startswith("graphviz-pure")
    assert "graphviz-pure" in render.dot_version()
    assert pipe("digraph { a }", "svg").lstrip().startswith(b"<?xml")


def test_graphviz_pure_found_from_script_folders_alone(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(render, "_pure_from_metadata", lambda: [])
    dot = find_dot()
    assert dot is not None
    assert pathlib.Path(dot).name.startswith("graphviz-pure")


def test_no_renderer_explains_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "find_dot", lambda: None)
    g = small_graph()
    assert "digraph demo" in g.source
    actions = (
        lambda: pipe(g.source),
        lambda: g.pipe(format="svg"),
        lambda: g.render(tmp_path / "g", format="svg"),
    )
    for action in actions:
        with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
            action()
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    assert g.source in bundle["text/plain"]
    assert "pip install graphviz-pure" in bundle["text/plain"]
    assert render.dot_version() is None


def test_no_renderer_found_anywhere(monkeypatch):
    monkeypatch.setenv("PATH", "")
    for finder in ("_pure_from_metadata", "_pure_from_script_dirs", "_pure_from_path"):
        monkeypatch.setattr(render, finder, lambda: [])
    assert find_dot() is None


def test_renderer_installed_mid_session_is_picked_up(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    for finder in ("_pure_from_metadata", "_pure_from_script_dirs", "_pure_from_path"):
        monkeypatch.setattr(render, finder, lambda: [])
    assert find_dot() is None
    if os.name == "nt":
        return
    fake = write_fake_dot(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_dot() == str(fake)
