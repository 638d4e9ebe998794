"""Turn DOT source into SVG, PNG or PDF with whatever ``dot`` this machine has.

A system Graphviz ``dot`` on PATH is used when there is one. Otherwise the
``graphviz-pure`` binary that ``pip install`` brings along is used, so graphs
render on a fresh machine with nothing but Python packages installed.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import typing
import warnings

import graphviz

__all__ = [
    "DEFAULT_FONT",
    "INSTALL_HINT",
    "MONO_FONT",
    "PDF_FALLBACK_DPI",
    "Graph",
    "RenderWarning",
    "dot_version",
    "find_dot",
    "pipe",
    "scalable_svg",
]

# graphviz-pure lays text out with built-in Arial metrics under this name, so labels fit their boxes.
DEFAULT_FONT = "Helvetica"

# Courier is the monospace name graphviz-pure measures; "monospace" falls back to Times and overflows.
MONO_FONT = "Courier"

# Resolution of the picture inside a PDF when the renderer has no vector PDF output.
PDF_FALLBACK_DPI = 192

INSTALL_HINT = (
    "No Graphviz renderer was found, so the graph cannot be drawn "
    "(its DOT text is still available as `.source`).\n"
    "Install one of these:\n"
    "    pip install graphviz-pure\n"
    "or the Graphviz system package, for example\n"
    "    sudo apt-get install graphviz     (Debian/Ubuntu)\n"
    "    brew install graphviz             (macOS)\n"
    "    conda install -c conda-forge graphviz"
)

_PURE_NAMES = ("graphviz-pure.exe", "graphviz-pure") if os.name == "nt" else ("graphviz-pure",)

# Lines that only say a font or glyph width was approximated: the picture is still fine.
_HARMLESS_STDERR = (
    re.compile(r"^Warning: (Warning: )?no hard-coded metrics for '.*'\.\s+Falling back to '.*' metrics"),
    re.compile(r"^Warning: (Warning: )?no value for width of non-ASCII character \d+\.\s+Falling back to width"),
    re.compile(r"^Fontconfig warning: "),
)


class RenderWarning(UserWarning):
    """Graphviz drew the graph but complained about something in it."""


def _subprocess_options() -> dict[str, typing.Any]:
    """Extra ``subprocess`` options; on Windows they stop a console window flashing up."""
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {}


def _version_text(path: str) -> str | None:
    """What ``path -V`` prints, or None when it does not run like a dot program."""
    try:
        proc = subprocess.run(
            [path, "-V"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, **_subprocess_options()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    # Graphviz prints its version on stderr; accept stdout too for look-alikes.
    text = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
    return text or os.path.basename(path)


def _is_program(path: pathlib.Path) -> bool:
    """True when ``path`` is an existing file this user may execute."""
    return path.is_file() and os.access(path, os.X_OK)


def _pure_from_metadata() -> list[pathlib.Path]:
    """graphviz-pure's binary as listed in its installed package record (works without PATH)."""
    try:
        files = importlib.metadata.files("graphviz-pure")
    except importlib.metadata.PackageNotFoundError:
        return []
    try:
        return [pathlib.Path(f.locate()).resolve() for f in files or [] if f.name in _PURE_NAMES]
    except NotImplementedError:  # installs that cannot map records to real files (e.g. zipped)
        return []


def _pure_from_script_dirs() -> list[pathlib.Path]:
    """graphviz-pure's binary in the folders where pip puts commands for this Python."""
    folders = [sysconfig.get_path("scripts")]
    get_user_scheme = getattr(sysconfig, "get_preferred_scheme", None)
    if get_user_scheme is not None:
        try:
            folders.append(sysconfig.get_path("scripts", get_user_scheme("user")))
        except KeyError:
            pass
    # A virtual environment's python sits next to its commands (or one level above Scripts on Windows).
    exe_dir = pathlib.Path(sys.executable).parent
    folders += [str(exe_dir), str(exe_dir / "Scripts")]
    return [pathlib.Path(folder, name) for folder in folders if folder for name in _PURE_NAMES]


def _pure_from_path() -> list[pathlib.Path]:
    """graphviz-pure's binary found through PATH, the last resort."""
    found = shutil.which("graphviz-pure")
    return [pathlib.Path(found)] if found else []


@functools.lru_cache(maxsize=1)
def _search_dot() -> str | None:
    """Look for a working dot: system PATH first, then graphviz-pure wherever pip put it."""
    system_dot = shutil.which("dot")
    if system_dot is not None and _version_text(system_dot) is not None:
        return system_dot
    for finder in (_pure_from_metadata, _pure_from_script_dirs, _pure_from_path):
        for candidate in finder():
            if _is_program(candidate) and _version_text(str(candidate)) is not None:
                return str(candidate)
    return None


def find_dot() -> str | None:
    """Path of a usable ``dot``: a system one on PATH first, then graphviz-pure's; None if neither."""
    dot = _search_dot()
    if dot is None:
        # Only a found renderer is remembered, so one installed mid-session is picked up at once.
        _search_dot.cache_clear()
    return dot


def dot_version() -> str | None:
    """The version line the renderer prints for ``-V``, or None when there is no renderer."""
    dot = find_dot()
    return None if dot is None else _version_text(dot)


@functools.lru_cache(maxsize=8)
def _output_formats(dot: str) -> frozenset[str] | None:
    """Output formats ``dot`` lists for ``-T?``, or None if it gives no list."""
    try:
        proc = subprocess.run(
            [dot, "-T?"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, **_subprocess_options()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = (proc.stderr + proc.stdout).decode("utf-8", "replace")
    _, marker, listed = text.partition("Use one of:")
    if not marker:
        return None
    return frozenset(word.split(":")[0].lower() for word in listed.split())


def _real_messages(stderr: bytes) -> list[str]:
    """The stderr lines worth showing: everything except font and glyph approximations."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    return [line for line in lines if line.strip() and not any(p.match(line) for p in _HARMLESS_STDERR)]


def _run_dot(
    data: bytes,
    output_format: str,
    *,
    engine: str = "dot",
    extra_args: typing.Sequence[str] = (),
    quiet: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> bytes:
    """Run the renderer on ``data`` and return its output; warnings are filtered, errors raised."""
    dot = find_dot()
    if dot is None:
        raise RuntimeError(INSTALL_HINT)
    command = [dot, f"-K{engine}", f"-T{output_format}", *extra_args]
    try:
        proc = subprocess.run(
            command, input=data, capture_output=True, cwd=cwd or None, **_subprocess_options()
        )
    except OSError as error:
        # The binary vanished or broke since it was found; look again next time.
        _search_dot.cache_clear()
        raise RuntimeError(
            f"Could not start the Graphviz renderer {dot!r}: {error}\n\n{INSTALL_HINT}"
        ) from error
    messages = _real_messages(proc.stderr)
    if proc.returncode != 0:
        detail = "\n".join("    " + line for line in messages)
        detail = detail or f"    (it stopped with exit status {proc.returncode})"
        raise RuntimeError(
            f"Graphviz could not draw this graph as {output_format!r}. It said:\n{detail}\n"
            f"(renderer: {dot})"
        )
    if messages and not quiet:
        report = "Graphviz drew the graph but said:\n" + "\n".join(messages)
        warnings.warn(report, RenderWarning, stacklevel=3)
    return proc.stdout


def _jpeg_size(jpeg: bytes) -> tuple[int, int, int]:
    """Width, height and colour-channel count read from a JPEG's frame header."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise RuntimeError("The renderer did not return a JPEG picture for the PDF page.")
    pos = 2
    while pos + 4 <= len(jpeg):
        if jpeg[pos] != 0xFF:
            break
        marker = jpeg[pos + 1]
        if marker == 0xFF:  # padding byte before a marker
            pos += 1
            continue
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        # Frame headers are C0-CF except C4 (Huffman), C8 (reserved) and CC (arithmetic tables).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(jpeg[pos + 5 : pos + 7], "big")
            width = int.from_bytes(jpeg[pos + 7 : pos + 9], "big")
            return width, height, jpeg[pos + 9]
        pos += 2 + length
    raise RuntimeError("The renderer's JPEG picture had no size, so no PDF page could be made.")


def _jpeg_to_pdf(jpeg: bytes, dpi: float) -> bytes:
    """A one-page PDF showing ``jpeg`` at its real size for ``dpi`` (PDF readers decode JPEG natively)."""
    width, height, channels = _jpeg_size(jpeg)
    colour_space = {1: "/DeviceGray", 3: "/DeviceRGB", 4: "/DeviceCMYK"}.get(channels, "/DeviceRGB")
    page_w, page_h = width * 72 / dpi, height * 72 / dpi
    drawing = f"q {page_w:.2f} 0 0 {page_h:.2f} 0 0 cm /Im0 Do Q".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w:.2f} {page_h:.2f}] "
            "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>"
        ).encode("ascii"),
        (
            f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace {colour_space} /BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>\n"
            "stream\n"
        ).encode("ascii")
        + jpeg
        + b"\nendstream",
        f"<< /Length {len(drawing)} >>\nstream\n".encode("ascii") + drawing + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("ascii") for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode("ascii")
    return bytes(out)


def _pipe_bytes(
    data: bytes,
    output_format: str,
    *,
    engine: str = "dot",
    extra_args: typing.Sequence[str] = (),
    quiet: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> bytes:
    """Render ``data`` (DOT bytes), making a raster PDF when the renderer has no PDF output."""
    output_format = output_format.lower()
    if output_format.split(":")[0] == "pdf":
        dot = find_dot()
        formats = _output_formats(dot) if dot is not None else None
        if formats is not None and "pdf" not in formats:
            picture = _run_dot(
                data, "jpeg", engine=engine, quiet=quiet, cwd=cwd,
                extra_args=[*extra_args, f"-Gdpi={PDF_FALLBACK_DPI}"],
            )
            return _jpeg_to_pdf(picture, PDF_FALLBACK_DPI)
    return _run_dot(data, output_format, engine=engine, extra_args=extra_args, quiet=quiet, cwd=cwd)


def pipe(source: str, format: str = "svg", *, engine: str = "dot", quiet: bool = False) -> bytes:
    """Render DOT ``source`` to ``format`` ("svg", "png", "pdf", ...) and return the file's bytes.

    Font and glyph approximation notices are dropped; other Graphviz warnings
    become a ``RenderWarning`` (silenced by ``quiet=True``) and errors a
    ``RuntimeError`` carrying Graphviz's own message.
    """
    return _pipe_bytes(source.encode("utf-8"), format, engine=engine, quiet=quiet)


def scalable_svg(svg: str) -> str:
    """The SVG with a style that shrinks it to its container's width (a notebook cell, a page
    column) and never grows it: Graphviz writes a fixed size in points, which overflows a cell."""
    start = svg.find("<svg")
    if start < 0 or 'style="' in svg[start:svg.find(">", start)]:
        return svg
    return svg[:start] + '<svg style="max-width:100%;height:auto"' + svg[start + len("<svg"):]


def _format_from_suffix(outfile: pathlib.Path) -> str:
    """The output format named by a file's suffix, e.g. "png" for graph.png."""
    if not outfile.suffix:
        raise ValueError(
            f"Cannot tell which picture format to write to {os.fspath(outfile)!r}: "
            "give the file a suffix such as .svg or .png, or pass format='svg'."
        )
    return outfile.suffix[1:].lower()


class Graph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that draws with :func:`find_dot`, so no system Graphviz is needed."""

    def pipe(  # type: ignore[override]
        self,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        """Return the drawing as bytes (or text when ``encoding`` is given), like ``graphviz``'s ``pipe``."""
        output_format = ":".join(f for f in (format or self.format, renderer, formatter) if f)
        extra_args = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        data = self.source.encode(self.encoding)
        result = _pipe_bytes(
            data, output_format, engine=engine or self.engine, extra_args=extra_args, quiet=quiet
        )
        return result.decode(encoding) if encoding is not None else result

    def render(  # type: ignore[override]
        self,
        filename: str | os.PathLike[str] | None = None,
        directory: str | os.PathLike[str] | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: str | os.PathLike[str] | None = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """Save the DOT source, write the drawing next to it and return the drawing's path.

        As in ``graphviz``: ``render("g", format="png")`` writes ``g`` and ``g.png``;
        ``render(outfile="g.svg")`` writes ``g.gv`` and ``g.svg``.
        """
        if raise_if_result_exists and overwrite_source:
            raise ValueError("raise_if_result_exists and overwrite_source cannot both be True.")
        target: pathlib.Path | None = None
        if outfile is not None:
            target = pathlib.Path(outfile)
            format = format or _format_from_suffix(target)
            if directory is None:
                target = pathlib.Path(self.directory, target)
            if filename is None:
                filename = pathlib.Path(outfile).with_suffix(".gv")
        output_format = format or self.format
        source_path = pathlib.Path(self.save(filename, directory=directory))
        if target is None:
            suffix = ".".join(f for f in (formatter, renderer, output_format) if f)
            target = pathlib.Path(f"{source_path}.{suffix}")
        elif not overwrite_source and target.resolve() == source_path.resolve():
            raise ValueError(
                f"The drawing {os.fspath(target)!r} would overwrite the DOT source file; "
                "choose another outfile or pass overwrite_source=True."
            )
        if raise_if_result_exists and target.exists():
            raise graphviz.FileExistsError(f"output file exists: {os.fspath(target)!r}")

        output_spec = ":".join(f for f in (output_format, renderer, formatter) if f)
        extra_args = [f"-n{int(neato_no_op)}"] if neato_no_op else []
        # Run from the source's folder so relative image paths in the graph resolve as with dot.
        drawing = _pipe_bytes(
            source_path.read_bytes(), output_spec, engine=engine or self.engine,
            extra_args=extra_args, quiet=quiet, cwd=source_path.parent if source_path.parent.parts else None,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(drawing)
        if cleanup:
            source_path.unlink()
        if view or quiet_view:
            self._view(target, format=output_format, quiet=quiet_view)
        return os.fspath(target)

    def _repr_mimebundle_(
        self,
        include: typing.Iterable[str] | None = None,
        exclude: typing.Iterable[str] | None = None,
        **_: typing.Any,
    ) -> dict[str, bytes | str]:
        """What Jupyter shows: the drawing plus the DOT text, or the DOT text alone if drawing fails."""
        excluded = set(exclude or ())
        wanted = set(include) if include is not None else {self._jupyter_mimetype, "text/plain"}
        wanted -= excluded
        bundle: dict[str, bytes | str] = {}
        makers = {
            "image/svg+xml": lambda: scalable_svg(self.pipe(format="svg", encoding="utf-8")),
            "image/png": lambda: self.pipe(format="png"),
            "image/jpeg": lambda: self.pipe(format="jpeg"),
        }
        try:
            for mimetype, make in makers.items():
                if mimetype in wanted:
                    bundle[mimetype] = make()
            # JupyterLab and exported HTML show image/svg+xml as an <img> of the SVG's own size,
            # which overflows the cell; the same SVG inline in HTML shrinks to the cell's width.
            if "image/svg+xml" in bundle and "text/html" not in excluded and (include is None or "text/html" in wanted):
                svg = bundle["image/svg+xml"]
                bundle["text/html"] = '<div style="max-width:100%;overflow-x:auto">' + svg[svg.find("<svg"):] + "</div>"
        except RuntimeError as error:
            # A notebook cell should never fail just because the picture could not be drawn.
            if "text/plain" in excluded:
                return {}
            note = "\n".join("// " + line for line in str(error).splitlines())
            return {"text/plain": f"{note}\n{self.source}"}
        if "text/plain" in wanted:
            bundle["text/plain"] = self.source
        return bundle
