"""Drawing the attention lens: heatmaps of the weights and their gradients, labelled with the
tokens, and one query row's numbers explained. What is drawn comes from `trace/lens.py`.

    import tinygrad_attn as ta
    with ta.lens.trace(model, tokens=words) as lens:
        loss = ...; loss.backward()
    lens                                    # in Jupyter: every layer and head, as HTML
    lens.heatmap(0, 1, "weights_grad")      # one heatmap; .save("w.svg" / "w.html" / "w.png")
    lens.explain(0, 1)                      # one query row worked out (HTML in Jupyter, text in print)
    lens.save("lens.html")                  # or .png

A heatmap is SVG written by hand: one path per colour level (so a 64-token map is a few dozen
elements, drawn in milliseconds), token labels on both axes, a colour legend. Weights use a
white-to-blue scale from 0 to their largest value; gradients a diverging scale centred at 0
(blue negative, red positive, white exactly 0), symmetric in ±max|value|. Grey cells are keys
the query may not attend to. The HTML is self-contained (no scripts, no CDN). PNG files use
matplotlib when it is installed.
"""
from __future__ import annotations

import dataclasses
import html
import pathlib
from typing import Any, Sequence

import numpy as np

from ..trace.lens import Explanation, HeadTrace, Lens, number, plain, vector

__all__ = ["trace", "LensView", "Heatmap", "ExplanationView", "heatmap"]

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
LEVELS = 64  # colour levels per map: finer than the eye can tell apart, few enough to draw fast
MASKED = "#d4d4d4"
ROBUST_CELLS = 256  # above this many cells the colour scale ends at the 99th percentile of |value|
_SEQUENTIAL = ((0.0, (255, 255, 255)), (0.5, (107, 174, 214)), (1.0, (8, 48, 107)))
_DIVERGING = ((0.0, (33, 102, 172)), (0.25, (103, 169, 207)), (0.5, (247, 247, 247)),
              (0.75, (239, 138, 98)), (1.0, (178, 24, 43)))
WHAT = {"weights": "weights", "scores": "scores", "weights_grad": "dL/dweights", "scores_grad": "dL/dscores"}


def _colour(t: float, stops: Sequence) -> str:
    """The colour at t in [0, 1] between the stops, as #rrggbb."""
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            return "#%02x%02x%02x" % tuple(round(a + f * (b - a)) for a, b in zip(c0, c1))
    return "#%02x%02x%02x" % stops[-1][1]


def _is_dark(colour: str) -> bool:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b < 140


class Heatmap:
    """One (rows × columns) matrix drawn as coloured cells with token labels.

    `diverging=True` for gradients (centred at 0); `allowed` False marks masked cells (grey).
    `.svg` the picture, `_repr_html_` for Jupyter, `.save(path)` as .svg, .html or .png.
    """

    def __init__(self, matrix: Any, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
                 diverging: bool = False, allowed: Any = None, legend: str = "", numbers: bool | None = None,
                 axes: str = "rows: queries · columns: keys", top: float | None = None):
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape != (len(row_labels), len(col_labels)):
            raise ValueError(f"heatmap: matrix of shape {matrix.shape} needs {len(row_labels)} row labels and "
                             f"{len(col_labels)} column labels to match")
        self.matrix, self.title, self.diverging, self.legend = matrix, title, diverging, legend or title
        self.axes = axes
        self.row_labels, self.col_labels = [str(t) for t in row_labels], [str(t) for t in col_labels]
        self.allowed = np.ones(matrix.shape, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        self.numbers = max(matrix.shape) <= 12 if numbers is None else numbers
        shown = np.abs(matrix[self.allowed & np.isfinite(matrix)])
        self.largest = float(np.max(shown)) if shown.size else 0.0
        if top is None:  # `top`: a fixed end of the colour scale, so two maps (before, after) compare
            top = self.largest
            if shown.size > ROBUST_CELLS:  # one outlier (e.g. the first query's weight 1) would wash out the rest
                top = float(np.percentile(shown, 99)) or self.largest
        self.clipped = top < self.largest
        self.vmin, self.vmax = (-top, top) if diverging else (0.0, top)

    # ---- the SVG ----
    def _level(self, x: float) -> int:
        if self.vmax == self.vmin:
            return LEVELS // 2 if self.diverging else 0
        return min(LEVELS - 1, max(0, int((x - self.vmin) / (self.vmax - self.vmin) * LEVELS)))

    def _level_colour(self, level: int) -> str:
        return _colour((level + 0.5) / LEVELS, _DIVERGING if self.diverging else _SEQUENTIAL)

    @property
    def svg(self) -> str:
        rows, cols = self.matrix.shape
        cell = max(7, min(56, 420 // max(rows, cols)))
        font = max(7, min(13, int(cell * 0.8)))
        char = font * 0.62
        left = 10 + char * max(len(t) for t in self.row_labels)
        top = 44 + char * max(len(t) for t in self.col_labels)
        width, height = cols * cell, rows * cell
        legend_x = left + width + 18
        total_w = max(legend_x + 100, left + 330, 8 + 8.6 * len(self.title))  # room for the legend and the title
        total_h = top + max(height, 130) + 26
        esc = html.escape
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
               f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="{FONT}">',
               '<rect width="100%" height="100%" fill="white"/>',
               f'<text x="4" y="17" font-size="14" font-weight="bold">{esc(self.title)}</text>',
               f'<text x="4" y="33" font-size="11" fill="#555">{esc(self.axes)}</text>']
        # the cells: one path per colour level, each cell a small square sub-path
        paths: dict[str, list[str]] = {}
        for i in range(rows):
            for j in range(cols):
                x = self.matrix[i, j]
                colour = MASKED if not self.allowed[i, j] or not np.isfinite(x) else self._level_colour(self._level(x))
                paths.setdefault(colour, []).append(f"M{left + j * cell:.0f} {top + i * cell:.0f}h{cell}v{cell}h-{cell}z")
        out += [f'<path fill="{c}" d="{"".join(d)}"/>' for c, d in paths.items()]
        out.append(f'<rect x="{left:.0f}" y="{top:.0f}" width="{width}" height="{height}" fill="none" stroke="#888"/>')
        if self.numbers:
            for i in range(rows):
                for j in range(cols):
                    if not self.allowed[i, j]:
                        continue
                    x = self.matrix[i, j]
                    fill = "white" if _is_dark(self._level_colour(self._level(x))) else "black"
                    text = (number(x) if self.diverging else plain(x)).replace("-", "−")
                    size = max(7, min(11, cell // 5))
                    squeeze = (f' textLength="{cell - 4}" lengthAdjust="spacingAndGlyphs"'
                               if len(text) * size * 0.6 > cell - 4 else "")  # a long number fits its cell
                    out.append(f'<text x="{left + (j + 0.5) * cell:.1f}" y="{top + (i + 0.5) * cell + 4:.1f}" '
                               f'font-size="{size}" text-anchor="middle" fill="{fill}"{squeeze}>{text}</text>')
        for i, label in enumerate(self.row_labels):
            out.append(f'<text x="{left - 4:.0f}" y="{top + (i + 0.5) * cell + font * 0.35:.1f}" font-size="{font}" '
                       f'text-anchor="end">{esc(label)}</text>')
        for j, label in enumerate(self.col_labels):
            x, y = left + (j + 0.5) * cell + font * 0.35, top - 4
            out.append(f'<text transform="translate({x:.1f},{y:.0f}) rotate(-90)" font-size="{font}">{esc(label)}</text>')
        out.append(self._legend_svg(legend_x, top, max(height, 130), left))
        out.append("</svg>")
        return "".join(out)

    def _legend_svg(self, x: float, y: float, height: float, notes_x: float) -> str:
        stops = _DIVERGING if self.diverging else _SEQUENTIAL
        # Named by the scale, not by the object: a page (or a notebook) may hold many maps, and
        # an id(self) can be reused by a later map of the other kind once the first is freed.
        gradient_id = "lens-legend-diverging" if self.diverging else "lens-legend-sequential"
        parts = [f'<defs><linearGradient id="{gradient_id}" x1="0" y1="1" x2="0" y2="0">']
        parts += [f'<stop offset="{t:g}" stop-color="{_colour(t, stops)}"/>' for t, _ in stops]
        parts.append("</linearGradient></defs>")
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="12" height="{height:.0f}" fill="url(#{gradient_id})" '
                     'stroke="#888"/>')
        ticks = [(self.vmax, y), (self.vmin, y + height)]
        if self.diverging:
            ticks.insert(1, (0.0, y + height / 2))
        if self.largest == 0:
            ticks = [(0.0, y + height / 2 if self.diverging else y + height)]
        for value, ty in ticks:
            label = "0" if value == 0 else (number(value) if self.diverging else plain(value))
            if self.clipped and value != 0:
                label = ("≥ " if value > 0 else "≤ ") + label
            parts.append(f'<text x="{x + 16:.0f}" y="{ty + 4:.0f}" font-size="10">{label.replace("-", "−")}</text>')
        notes = [self.legend + (": all exactly 0" if self.largest == 0 else "")]
        if self.clipped:
            notes.append(f"colours end at the 99th percentile; largest |value| {plain(self.largest)}")
        if not self.allowed.all():
            notes.append("grey: masked")
        parts.append(f'<text x="{notes_x:.0f}" y="{y + height + 16:.0f}" font-size="10" fill="#555">'
                     f'{html.escape("  ·  ".join(notes))}</text>')
        return "".join(parts)

    # ---- outputs ----
    def _repr_html_(self) -> str:
        return f'<div style="display:inline-block;margin:4px;vertical-align:top">{self.svg}</div>'

    def __repr__(self) -> str:
        return f"Heatmap({self.title!r}, {self.matrix.shape[0]}×{self.matrix.shape[1]})"

    def save(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the heatmap as .svg, .html (a page) or .png (needs matplotlib)."""
        path = pathlib.Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            path.write_text(self.svg, encoding="utf-8")
        elif suffix == ".html":
            path.write_text(_page(self.title, self._repr_html_()), encoding="utf-8")
        elif suffix == ".png":
            figure = _figure(1, 1, self.matrix.shape)
            _draw_on(figure.add_subplot(1, 1, 1), self, figure)
            figure.savefig(path, dpi=110, bbox_inches="tight")
        else:
            raise ValueError(f"Heatmap.save: unknown file type {path.suffix!r} in {str(path)!r}; use .svg, .html or .png")
        return path


def heatmap(trace: HeadTrace, what: str = "weights") -> Heatmap:
    """A head's weights, scores, dL/dweights or dL/dscores as a Heatmap (what: one of WHAT)."""
    if what not in WHAT:
        raise ValueError(f"heatmap: what must be one of {sorted(WHAT)}, got {what!r}")
    matrix = getattr(trace, what)
    label = WHAT[what]
    if matrix is None:
        raise ValueError(f"heatmap: {label} of {trace.where()} not computed yet: run backward inside the "
                         "`with trace(...)` block")
    title = f"{label} ({trace.where()})" + (" — hard attention" if trace.is_hard else "")
    return Heatmap(matrix, trace.query_tokens, trace.key_tokens, title, diverging=what != "weights",
                   allowed=trace.allowed, legend=label)


# ---- PNG (matplotlib) ----
def _figure(rows: int, cols: int, shape: tuple[int, int]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("lens: saving a PNG needs matplotlib, which is not installed: pip install matplotlib "
                          "(it comes with the notebooks extra, pip install -e \".[notebooks]\"); "
                          "HTML and SVG need nothing extra") from None
    side = max(3.0, min(9.0, 0.16 * max(shape) + 2.0))
    return Figure(figsize=(cols * (side + 1.2), rows * side))


def _draw_on(axes: Any, heat: Heatmap, figure: Any) -> None:
    shown = np.where(heat.allowed, heat.matrix, np.nan)
    from matplotlib import colormaps  # only here: _figure has checked that matplotlib is installed

    cmap = colormaps["RdBu_r" if heat.diverging else "Blues"].with_extremes(bad=MASKED)
    top = heat.vmax if heat.vmax > heat.vmin else 1.0
    image = axes.imshow(shown, cmap=cmap, vmin=-top if heat.diverging else 0.0, vmax=top)
    size = max(5, min(10, int(400 / max(heat.matrix.shape))))
    axes.set_xticks(range(len(heat.col_labels)), heat.col_labels, rotation=90, fontsize=size)
    axes.set_yticks(range(len(heat.row_labels)), heat.row_labels, fontsize=size)
    axes.set_title(heat.title, fontsize=10)
    axes.set_xlabel("keys", fontsize=8)
    axes.set_ylabel("queries", fontsize=8)
    extend = ("both" if heat.diverging else "max") if heat.clipped else "neither"  # an arrow: clipped at the 99th percentile
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, extend=extend).set_label(heat.legend, fontsize=8)


# ---- the explanation ----
class ExplanationView(Explanation):
    """An Explanation that shows itself in Jupyter as a table of the query row and the steps."""

    def _repr_html_(self) -> str:
        esc = html.escape
        top = float(np.max(np.abs(self.scores_grad))) if self.scores_grad.size else 0.0

        def shade(x: float) -> str:
            t = 0.5 if top == 0 else 0.5 + 0.5 * x / top
            return _colour(t, _DIVERGING)

        head = "".join(f"<th style='padding:2px 8px'>{h}</th>" for h in
                       ("key", "weight w<sub>j</sub>", "value v<sub>j</sub>", "dL/dw<sub>j</sub> = g·v<sub>j</sub>",
                        "dL/dscore<sub>j</sub>", "weight change per unit step"))
        rows = []
        for key, w, v, dw, ds, dc in zip(self.keys, self.weights, self.values, self.weights_grad,
                                         self.scores_grad, self.weight_change):
            cells = [esc(key), plain(w), vector(v), number(dw)]
            rows.append("<tr>" + "".join(f"<td style='padding:2px 8px'>{c}</td>" for c in cells)
                        + f"<td style='padding:2px 8px;background:{shade(ds)}'>{number(ds)}</td>"
                        + f"<td style='padding:2px 8px'>{number(dc)}</td></tr>")
        steps = "".join(f"<div style='white-space:pre-wrap'>{esc(line)}</div>" for line in self.lines())
        return (f"<div style='font-family:{FONT};font-size:13px;margin:6px 0'>"
                f"<div style='font-weight:bold'>One query row explained: {esc(self.query)} ({esc(self.where)})</div>"
                f"<table style='border-collapse:collapse;margin:4px 0;font-family:monospace'>"
                f"<tr style='border-bottom:1px solid #999'>{head}</tr>{''.join(rows)}</table>{steps}</div>")


def _view(explanation: Explanation) -> ExplanationView:
    return ExplanationView(**vars(explanation))


# ---- the lens, drawn ----
class HeadView(HeadTrace):
    """A HeadTrace that shows itself in Jupyter as its heatmaps (weights; after backward also
    dL/dweights and dL/dscores) instead of its arrays' numbers."""

    def _repr_html_(self) -> str:
        whats = ("weights", "weights_grad", "scores_grad") if self.has_grads else ("weights",)
        return (f"<div style='font-family:{FONT};font-size:13px'><b>{html.escape(self.where())}</b> "
                f"{html.escape(self.scope or self.op)}</div>"
                "<div>" + "".join(heatmap(self, what)._repr_html_() for what in whats) + "</div>")


class LensView(Lens):
    """A Lens (trace/lens.py) that draws itself: `heatmap(...)`, `explain(...)`, `_repr_html_`, `save`."""

    def head(self, layer: int = 0, head: int = 0, batch: int = 0) -> HeadView:
        trace = super().head(layer, head, batch)
        return HeadView(**{f.name: getattr(trace, f.name) for f in dataclasses.fields(trace)})

    def heatmap(self, layer: int = 0, head: int = 0, what: str = "weights", batch: int = 0) -> Heatmap:
        """One heatmap: what = "weights", "weights_grad" (dL/dweights), "scores" or "scores_grad"."""
        return heatmap(self.head(layer, head, batch), what)

    def explain(self, layer: int = 0, head: int = 0, query: int = -1, batch: int = 0) -> ExplanationView:
        return _view(super().explain(layer, head, query, batch))

    def heatmaps(self, batch: int = 0) -> list[list[Heatmap]]:
        """For every layer and head: weights, and once backward has run dL/dweights and dL/dscores."""
        out = []
        for call in self.calls:
            for h in range(call.n_heads):
                trace = self.head(call.layer, h, batch)
                whats = ("weights", "weights_grad", "scores_grad") if trace.has_grads else ("weights",)
                out.append([heatmap(trace, what) for what in whats])
        return out

    def embedding_heatmap(self, batch: int = 0) -> Heatmap | None:
        grad = self.embedding_grad(batch)
        if grad is None:
            return None
        labels = self.labels(grad.shape[0], batch)
        name = self.embeddings[0].name
        return Heatmap(grad, labels, [str(i) for i in range(grad.shape[1])],
                       f"dL/d(token embedding) per position ({name})", diverging=True, legend="dL/dembedding",
                       axes="rows: positions · columns: embedding dims")

    def html(self, batch: int = 0) -> str:
        """Every layer and head as one self-contained HTML fragment (what Jupyter shows)."""
        if not self.calls:
            return (f"<div style='font-family:{FONT}'>Attention lens: no attention call recorded (was the forward "
                    "inside the block, with gradients on?)</div>")
        parts = [f"<div style='font-family:{FONT}'>",
                 f"<div style='font-size:15px;font-weight:bold'>Attention lens: {len(self.calls)} attention "
                 f"call{'s' if len(self.calls) != 1 else ''}</div>"]
        for maps, trace in zip(self.heatmaps(batch), self._traces(batch)):
            parts.append(f"<div style='margin-top:8px;font-size:13px'><b>{html.escape(trace.where())}</b> "
                         f"{html.escape(trace.scope or trace.op)}{html.escape(_projection_note(trace))}</div>")
            parts.append("<div>" + "".join(m._repr_html_() for m in maps) + "</div>")
        embedding = self.embedding_heatmap(batch)
        if embedding is not None:
            parts.append("<div>" + embedding._repr_html_() + "</div>")
        first = self._traces(batch)[0]
        if first.has_grads and first.v is not None and first.output_grad is not None:
            parts.append(self.explain(first.layer, first.head, -1, batch)._repr_html_())
        parts.append("</div>")
        return "".join(parts)

    def _traces(self, batch: int) -> list[HeadTrace]:
        return [self.head(call.layer, h, batch) for call in self.calls for h in range(call.n_heads)]

    def _repr_html_(self) -> str:
        return self.html()

    def save(self, path: str | pathlib.Path, batch: int = 0) -> pathlib.Path:
        """The whole lens as an .html page or a .png (one row of heatmaps per head; needs matplotlib)."""
        path = pathlib.Path(path)
        suffix = path.suffix.lower()
        if suffix == ".html":
            path.write_text(_page("Attention lens", self.html(batch)), encoding="utf-8")
        elif suffix == ".png":
            rows = self.heatmaps(batch)
            if not rows:
                raise ValueError("lens.save: no attention call was recorded, so there is nothing to draw")
            cols = max(len(r) for r in rows)
            figure = _figure(len(rows), cols, rows[0][0].matrix.shape)
            for i, maps in enumerate(rows):
                for j, heat in enumerate(maps):
                    _draw_on(figure.add_subplot(len(rows), cols, i * cols + j + 1), heat, figure)
            figure.tight_layout()
            figure.savefig(path, dpi=100)
        else:
            raise ValueError(f"lens.save: unknown file type {path.suffix!r} in {str(path)!r}; use .html or .png "
                             "(one heatmap as SVG: lens.heatmap(...).save('map.svg'))")
        return path


def _projection_note(trace: HeadTrace) -> str:
    grads = [(p, getattr(trace, f"w_{p}_grad")) for p in "qkv"]
    shown = [f"|dL/dW_{p}| {plain(float(np.linalg.norm(g)))}" for p, g in grads if g is not None]
    if not shown:
        return ""
    return f" — this head's slice of {trace.w_names.get('q', 'the projection')}: " + ", ".join(shown)


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='margin:12px'>{body}</body></html>")


def trace(model: Any = None, tokens: Sequence[str] | Any = None, query_tokens: Sequence[str] | None = None) -> LensView:
    """`with ta.lens.trace(model, tokens=[...]) as lens:` — see `tinygrad_attn.trace.lens.trace`;
    the lens returned also draws itself."""
    return LensView(model, tokens, query_tokens)
