"""The demo's report: one self-contained HTML page, written by `tinygrad-attn demo`.

    report = Report("What the engine computes")
    report.add("example", "The worked example", worked_example_html(values, text_says))
    report.add("graph", "Its compute graph", figure(inline_svg(svg)))
    report.add("stepper", "Step through backward", stepper_html(stepper))
    report.attach("graph.svg", svg)            # a sibling file the page links to
    report.write("tinygrad_attn_demo")          # index.html and the attachments

Everything the page shows is inside it or beside it: inline CSS, inline SVG, the stepper's own
inline script (the same HTML a notebook shows), no CDN, no web font, nothing fetched, so it
opens from file:// with the network off. The numbers come from the Values and the arrays
passed in; this module formats them and computes nothing a learner would have to trust.
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..scalar import Value, sum_values, weighted_sum
from .render import scalable_svg
from .stepper import BackwardStepper
from .stepper_page import ERROR_TRAP, output_html

__all__ = ["Report", "inline_svg", "figure", "figures", "attention_bars", "loss_chart", "stepper_html", "worked_example_html",
           "vector_text", "external_references"]

FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Helvetica, Arial, sans-serif"
MONO = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"

# The page's look. Every rule sits under .report so the stepper's own (scoped) styles are untouched.
CSS = f"""
body {{ margin: 0; background: #fafaf7; }}
.report {{ font-family: {FONT}; color: #222; font-size: 15px; line-height: 1.5; max-width: 1120px;
  margin: 0 auto; padding: 16px 24px 48px; background: #fff; }}
.report h1 {{ font-size: 26px; margin: 8px 0 4px; }}
.report h2 {{ font-size: 20px; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid #e3e3dc; }}
.report h3 {{ font-size: 16px; margin: 18px 0 6px; }}
.report .lead {{ color: #444; margin: 0 0 10px; }}
.report nav ul {{ margin: 4px 0 0; padding-left: 4px; list-style: none; }}
.report nav li {{ margin: 1px 0; }}
.report a {{ color: #1f5fa8; }}
.report blockquote {{ margin: 8px 0; padding: 6px 12px; border-left: 4px solid #c9c2a6; background: #f8f6ee;
  color: #333; font-style: italic; }}
.report table.numbers {{ border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }}
.report table.numbers th, .report table.numbers td {{ border: 1px solid #dcdcd4; padding: 4px 10px;
  vertical-align: top; text-align: left; }}
.report table.numbers th {{ background: #f1f0ea; font-weight: 600; }}
.report .num {{ font-family: {MONO}; font-size: 13.5px; white-space: nowrap; }}
.report td.wrong {{ background: #fde8e6; }}
.report td.right {{ background: #e9f5e9; }}
.report .verdict {{ font-size: 13.5px; color: #333; }}
.report .mark-wrong {{ color: #b3261e; font-weight: 700; }}
.report .mark-right {{ color: #2e7d32; font-weight: 700; }}
.report .figures {{ display: flex; flex-wrap: wrap; gap: 14px 18px; align-items: flex-start; }}
.report .pair {{ display: grid; grid-template-columns: 1fr 1fr; gap: 14px 22px; align-items: start; }}
@media (max-width: 760px) {{ .report .pair {{ grid-template-columns: 1fr; }} .report {{ padding: 8px 10px 32px; }} }}
.report figure {{ margin: 6px 0; max-width: 100%; }}
.report figure svg {{ max-width: 100%; height: auto; display: block; }}
.report figcaption {{ font-size: 13.5px; color: #444; margin-top: 4px; max-width: 640px; }}
.report .scroll {{ max-height: 880px; overflow: auto; border: 1px solid #e6e6e0; border-radius: 4px; padding: 4px; }}
.report .stats {{ font-size: 15px; margin: 6px 0; }}
.report .stats b {{ font-variant-numeric: tabular-nums; }}
.report .note {{ color: #555; font-size: 13.5px; }}
.report code {{ font-family: {MONO}; font-size: 13.5px; background: #f3f3ee; padding: 0 3px; border-radius: 3px; }}
"""


@dataclass
class Report:
    """A page of sections (anchor, heading, HTML) and the sibling files it links to."""

    title: str
    lead: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def add(self, anchor: str, heading: str, body: str) -> None:
        self.sections.append((anchor, heading, body))

    def attach(self, name: str, text: str) -> str:
        """A file written next to index.html (a plain name, no folders); returns the name to link."""
        if not name or Path(name).name != name or name == "index.html":
            raise ValueError(f"Report.attach: a file name beside index.html is expected, got {name!r}")
        self.files[name] = text
        return name

    def html(self) -> str:
        esc = html.escape
        contents = "".join(f'<li><a href="#{esc(a)}">{esc(h)}</a></li>' for a, h, _ in self.sections)
        body = "".join(f'<section id="{esc(a)}"><h2>{esc(h)}</h2>{b}</section>' for a, h, b in self.sections)
        lead = f'<p class="lead">{self.lead}</p>' if self.lead else ""
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{esc(self.title)}</title><style>{CSS}</style>"
                f"<script>{ERROR_TRAP}</script></head>\n<body>\n"
                f'<main class="report"><h1>{esc(self.title)}</h1>{lead}'
                f"<nav><b>Contents</b><ul>{contents}</ul></nav>{body}</main>\n</body></html>\n")

    def write(self, folder: str | os.PathLike) -> Path:
        """Write index.html and the attached files into `folder` (which must exist); returns index.html."""
        folder = Path(folder)
        for name, text in self.files.items():
            (folder / name).write_text(text, encoding="utf-8")
        index = folder / "index.html"
        index.write_text(self.html(), encoding="utf-8")
        return index


# ---- pieces ----
def inline_svg(svg: str) -> str:
    """An SVG file's text made ready to sit inside HTML: no XML prolog, doctype or comments, and
    shrinking to its column (never growing)."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("inline_svg: the text holds no <svg> element")
    return scalable_svg(re.sub(r"<!--.*?-->", "", svg[start:], flags=re.S))


def figure(content: str, caption: str = "", scroll: bool = False) -> str:
    inner = f'<div class="scroll">{content}</div>' if scroll else content
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{inner}{cap}</figure>"


def figures(items: Sequence[str], pairs: bool = False) -> str:
    """Figures side by side, wrapping onto the next line where the column is too narrow; with
    `pairs`, two to a row, each shrunk to half the column (before | after)."""
    return f'<div class="{"pair" if pairs else "figures"}">' + "".join(items) + "</div>"


def loss_chart(losses: Sequence[float], curve_svg: str, width: int = 560, height: int = 150) -> str:
    """The loss curve (`History.sparkline`'s SVG, drawn min to max) inside axes that say what it
    spans: loss on the left (its largest and smallest value), steps along the bottom."""
    finite = [x for x in losses if x == x and abs(x) != float("inf")]
    if len(finite) < 2 or not curve_svg:
        return '<p class="note">(too few steps to draw a loss curve)</p>'
    left, bottom, top = 58, 34, 8
    inner_w, inner_h = width - left - 10, height - bottom - top
    curve = re.sub(r'width="\d+" height="\d+"', f'x="{left}" y="{top}" width="{inner_w}" height="{inner_h}" '
                   'preserveAspectRatio="none"', curve_svg, count=1)
    curve = curve.replace('stroke-width="1.5"', 'stroke-width="1.5" vector-effect="non-scaling-stroke"', 1)
    hi, lo = max(finite), min(finite)
    axis = "#888"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="12" role="img" '
            f'aria-label="training loss per step">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + inner_h}" stroke="{axis}"/>'
            f'<line x1="{left}" y1="{top + inner_h}" x2="{left + inner_w}" y2="{top + inner_h}" stroke="{axis}"/>'
            f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{hi:.3g}</text>'
            f'<text x="{left - 6}" y="{top + inner_h}" text-anchor="end">{lo:.3g}</text>'
            f'<text x="{left - 6}" y="{top + inner_h / 2 + 4}" text-anchor="end" fill="#555">loss</text>'
            f'<text x="{left}" y="{top + inner_h + 16}" text-anchor="middle">1</text>'
            f'<text x="{left + inner_w}" y="{top + inner_h + 16}" text-anchor="end">{len(losses)}</text>'
            f'<text x="{left + inner_w / 2}" y="{top + inner_h + 28}" text-anchor="middle" fill="#555">'
            f"training step</text>{curve}</svg>")


def attention_bars(words: Sequence[str], before: Sequence[float], after: Sequence[float], title: str,
                   query: int | None = None, width: int = 500) -> str:
    """One query's attention over the words as bars, before training (grey) and after (blue), on
    one 0-to-1 scale so the two compare; the query's own word in bold."""
    esc = html.escape
    row, top, bottom = 21, 44, 30
    label_w = 14 + 7.4 * max(len(w) for w in words)
    bar_w = width - label_w - 44
    height = top + row * len(words) + bottom
    grey, blue = "#b9b9b9", "#2166ac"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{FONT}" role="img" aria-label="{esc(title)}">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="4" y="16" font-size="14" font-weight="bold">{esc(title)}</text>',
           f'<rect x="4" y="25" width="11" height="9" fill="{grey}"/>'
           '<text x="19" y="34" font-size="12">before training</text>',
           f'<rect x="124" y="25" width="11" height="9" fill="{blue}"/>'
           '<text x="139" y="34" font-size="12">after training</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * bar_w
        out.append(f'<line x1="{x:.1f}" y1="{top - 2}" x2="{x:.1f}" y2="{top + row * len(words)}" '
                   'stroke="#e4e4e4"/>')
        out.append(f'<text x="{x:.1f}" y="{top + row * len(words) + 14}" font-size="11" text-anchor="middle" '
                   f'fill="#555">{tick:g}</text>')
    out.append(f'<text x="{label_w + bar_w / 2:.1f}" y="{height - 3}" font-size="11" text-anchor="middle" '
               'fill="#555">attention weight</text>')
    for i, word in enumerate(words):
        y = top + i * row
        weight = ' font-weight="bold"' if i == query else ""
        out.append(f'<text x="{label_w - 6:.1f}" y="{y + 14}" font-size="12.5" text-anchor="end"{weight}>'
                   f"{esc(word)}</text>")
        for value, dy, h, colour in ((before[i], 2, 7, grey), (after[i], 10, 9, blue)):
            out.append(f'<rect x="{label_w:.1f}" y="{y + dy}" width="{max(0.0, float(value)) * bar_w:.1f}" '
                       f'height="{h}" fill="{colour}"/>')
        if after[i] >= 0.05:  # name the weights that matter; the rest are the bars' length
            out.append(f'<text x="{label_w + float(after[i]) * bar_w + 4:.1f}" y="{y + 18}" font-size="11" '
                       f'fill="{blue}">{float(after[i]):.2f}</text>')
    out.append("</svg>")
    return "".join(out)


def stepper_html(stepper: BackwardStepper) -> str:
    """The stepper exactly as a notebook shows it (inline style, SVG, frames and script), marked
    standalone so `index.html#test-next=3` makes it click Next three times and report."""
    return output_html(stepper, standalone=True)


# ---- the worked example ----
def vector_text(numbers: Sequence[float], digits: int = 4) -> str:
    """[0.9068, 1.0295, 0.9534]: the numbers as the report shows them (a minus sign, not a hyphen)."""
    return "[" + ", ".join(_num(x, digits) for x in numbers) + "]"


def _said(numbers: Sequence[float], cls: str = "") -> str:
    """A cell with the text's numbers as the text wrote them (0.1, not 0.1000)."""
    extra = f" {cls}" if cls else ""
    return f'<td class="num{extra}">[' + ", ".join(f"{x:g}".replace("-", "−") for x in numbers) + "]</td>"


def _num(x: float, digits: int = 4) -> str:
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".") if float(x).is_integer() else f"{x:.{digits}f}"
    return text.replace("-", "−")


def _cells(numbers: Sequence[float], name: str, digits: int = 4, cls: str = "") -> str:
    """One table cell holding a vector; `data-name` says which engine numbers it shows."""
    extra = f" {cls}" if cls else ""
    return f'<td class="num{extra}" data-name="{html.escape(name)}">{vector_text(numbers, digits)}</td>'


def _dot_terms(query: Sequence[float], key: Sequence[float]) -> str:
    def term(x: float) -> str:
        return f"({_num(x)})" if x < 0 else _num(x)
    return " + ".join(f"{term(q)}·{term(k)}" for q, k in zip(query, key))


def worked_example_html(example: dict, text_says: dict | None = None, target: Sequence[float] | None = None) -> str:
    """The worked example's numbers, stage by stage, from the Values of `build_graph()` after its
    backward; `text_says` (stage -> (numbers, quoted sentence)) sets the text's numbers beside
    them and says which are right. Without it (a learner's own numbers) the engine's alone."""
    esc = html.escape
    tokens = list(example["keys"])
    query = [q.data for q in example["query"]]
    keys = {t: [k.data for k in example["keys"][t]] for t in tokens}
    values = {t: [v.data for v in example["values"][t]] for t in tokens}
    scores = [s.data for s in example["scores"]]
    weights = [w.data for w in example["weights"]]
    output = [o.data for o in example["output"]]
    positive = all(s > 0 for s in scores)
    # The text's shortcut, score / sum of scores, computed by the engine (only positive scores make weights).
    shortcut = [s / sum_values(example["scores"]) for s in example["scores"]] if positive else None
    shortcut_output = ([o.data for o in weighted_sum(shortcut, [example["values"][t] for t in tokens])]
                       if shortcut else None)

    parts = ['<table class="numbers"><tr><th>token</th><th>query</th><th>key</th><th>value</th></tr>']
    for i, t in enumerate(tokens):
        q_cell = _cells(query, "query") if i == 0 else "<td></td>"
        parts.append(f"<tr><td>{esc(t)}</td>{q_cell}{_cells(keys[t], f'key_{t}')}{_cells(values[t], f'value_{t}')}</tr>")
    parts.append("</table>")
    inputs = "".join(parts)

    if text_says:
        text_scores, text_weights, text_output = (tuple(text_says[k][0]) for k in ("scores", "weights", "output"))
        # What the text's own weights give, computed by the engine: is its arithmetic right?
        with_text_weights = [o.data for o in weighted_sum([Value(w) for w in text_weights],
                                                          [example["values"][t] for t in tokens])]
        rows = []
        score_marks = []
        for t, said, got in zip(tokens, text_scores, scores):
            ok = abs(said - got) < 5e-5
            score_marks.append(f'<span class="{"mark-right" if ok else "mark-wrong"}">{esc(t)}: '
                               f'{_num(said)} {"✓" if ok else "✗ is " + _num(got)}</span>')
        wrong = [t for t, said, got in zip(tokens, text_scores, scores) if abs(said - got) >= 5e-5]
        worked = "; ".join(f"q·k_{t} = {_dot_terms(query, keys[t])} = {_num(s)}" for t, s in zip(tokens, scores)
                           if t in wrong)
        rows.append(
            "<tr><td>scores q·k</td>"
            f'{_said(text_scores, "wrong" if wrong else "right")}'
            f'{_cells(scores, "scores")}'
            f'<td class="verdict">{" · ".join(score_marks)}<br>{esc(worked)}</td></tr>')
        own_sum_ok = all(abs(w - sc / sum(text_scores)) < 5e-5 for w, sc in zip(text_weights, text_scores))
        top = tokens[max(range(len(tokens)), key=lambda i: weights[i])]  # the most attended token
        same_shortcut = shortcut is not None and all(abs(a.data - b) < 5e-5 for a, b in zip(shortcut, text_weights))
        shortcut_cell = (_cells([w.data for w in shortcut], "shortcut_weights") if shortcut else
                         '<td class="num">(a score is 0 or negative)</td>')
        rows.append(
            "<tr><td>weights, the text's shortcut: score / sum of scores</td>"
            f'{_said(text_weights, "right" if same_shortcut else "wrong")}{shortcut_cell}'
            f'<td class="verdict">The text divided its own scores by their sum {"correctly" if own_sum_ok else "wrongly"} '
            f'({" + ".join(_num(s) for s in text_scores)} = {_num(sum(text_scores))}); with '
            f'{"the same" if same_shortcut else "the corrected"} scores the shortcut gives the engine\'s numbers.</td></tr>')
        rows.append(
            "<tr><td>weights, softmax: e<sup>score</sup> / Σ e<sup>score</sup> (what attention uses)</td>"
            '<td class="num">—</td>'
            f'{_cells(weights, "weights")}'
            '<td class="verdict">Softmax makes the largest score count far more than the shortcut does: '
            f'{esc(top)} gets {weights[tokens.index(top)]:.1%} of the attention, not '
            f'{text_weights[tokens.index(top)]:.0%}.</td></tr>')
        arithmetic_ok = all(abs(a - b) < 5e-5 for a, b in zip(with_text_weights, text_output))
        rows.append(
            "<tr><td>output Σ weight·value, with the text's weights</td>"
            f'{_said(text_output, "right" if arithmetic_ok else "wrong")}'
            f'{_cells(with_text_weights, "output_with_text_weights")}'
            f'<td class="verdict">{"The eyeballed arithmetic is right" if arithmetic_ok else "The arithmetic is off"}'
            " for the weights it used.</td></tr>")
        if shortcut_output:
            rows.append("<tr><td>output, with the shortcut on the corrected scores</td>"
                        '<td class="num">—</td>'
                        f'{_cells(shortcut_output, "output_with_shortcut")}<td></td></tr>')
        rows.append(
            "<tr><td>output, with softmax weights</td><td class=\"num\">—</td>"
            f'{_cells(output, "output")}'
            f'<td class="verdict">A\'s new representation: mostly {esc(top)}\'s value, since {esc(top)}\'s score is '
            "the largest.</td></tr>")
        quotes = "".join(f"<blockquote>{esc(text_says[k][1])}</blockquote>" for k in ("scores", "weights", "output"))
        stages = (f"<h3>What the text says, and what the engine computes</h3>{quotes}"
                  '<table class="numbers"><tr><th>stage</th><th>the text says</th><th>the engine computes</th>'
                  f"<th></th></tr>{''.join(rows)}</table>"
                  '<p class="note">Shaded: the text\'s number agrees with the engine\'s (green) or not (red).</p>')
    else:
        rows = [f'<tr><td>scores q·k</td>{_cells(scores, "scores")}</tr>']
        if shortcut:
            rows.append("<tr><td>weights, shortcut: score / sum of scores</td>"
                        f'{_cells([w.data for w in shortcut], "shortcut_weights")}</tr>')
        rows.append(f'<tr><td>weights, softmax</td>{_cells(weights, "weights")}</tr>')
        rows.append(f'<tr><td>output Σ weight·value</td>{_cells(output, "output")}</tr>')
        stages = ("<h3>What the engine computes</h3>"
                  f'<table class="numbers"><tr><th>stage</th><th>the engine computes</th></tr>{"".join(rows)}</table>')

    target = list(target) if target is not None else None
    loss = example["loss"]
    grads = ['<table class="numbers"><tr><th>gradient of the loss with respect to</th><th></th></tr>',
             f'<tr><td>the weights</td>{_cells([w.grad for w in example["weights"]], "dL/dweights")}</tr>',
             f'<tr><td>the scores</td>{_cells([s.grad for s in example["scores"]], "dL/dscores")}</tr>',
             f'<tr><td>A\'s query q_A</td>{_cells([q.grad for q in example["query"]], "dL/dq_A")}</tr>']
    for t in tokens:
        grads.append(f'<tr><td>key k_{esc(t)}</td>{_cells([k.grad for k in example["keys"][t]], f"dL/dk_{t}")}</tr>')
    for t in tokens:
        grads.append(f'<tr><td>value v_{esc(t)}</td>'
                     f'{_cells([v.grad for v in example["values"][t]], f"dL/dv_{t}")}</tr>')
    grads.append("</table>")
    weight_grads = [w.grad for w in example["weights"]]
    more = [t for t, g in zip(tokens, weight_grads) if g < 0]
    less = [t for t, g in zip(tokens, weight_grads) if g > 0]
    answer = []
    if more:
        answer.append(f"a bit more of {_possessive(more)} value would bring the output closer to the target")
    if less:
        answer.append(f"a bit more of {_possessive(less)} would move it away")
    smallest = min(tokens, key=lambda t: abs(weights[tokens.index(t)]))
    key_grad = max(abs(k.grad) for k in example["keys"][smallest])
    backward = (
        "<h3>Backward: which way should each number move?</h3>"
        f'<p>The loss is Σ (output − target)² with target <span class="num" data-name="target">'
        f'{vector_text(target or [])}</span>: '
        f'<span class="num" data-name="loss">{_num(loss.data)}</span>. '
        "The text asks: “if I had included a bit more of A's value and a bit less of B's value, would my final "
        f"output have been closer to the target?” The gradients answer: {'; '.join(answer) or 'nothing would'}. "
        f"Even {esc(smallest)}, the least attended token (weight {_num(weights[tokens.index(smallest)])}), gets a key "
        f"gradient (largest |dL/dk_{esc(smallest)}| {_num(key_grad, 6 if key_grad < 1e-3 else 4)}): soft attention "
        "keeps every token's gradient alive.</p>" + "".join(grads))
    return f"<h3>The numbers</h3>{inputs}{stages}{backward}"


def _possessive(names: Sequence[str]) -> str:
    return _listed([f"{name}'s" for name in names])


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ---- checking a page ----
_REFERENCE = re.compile(r"""(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']([^"']*)["'])"""
                        r"""|(?:url\(\s*["']?([^"')]*)["']?\s*\))|(?:@import\s+["']([^"']+)["'])""", re.I)


def external_references(page: str) -> list[str]:
    """Every address the page would load (src, href, url(...), @import), for checking that it
    is self-contained: in-page anchors (#...) and data: URIs are not listed."""
    found = []
    for match in _REFERENCE.finditer(page):
        address = next(g for g in match.groups() if g is not None).strip()
        if address and not address.startswith(("#", "data:")):
            found.append(address)
    return found
