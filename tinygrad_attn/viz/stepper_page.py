"""How a `BackwardStepper` shows itself: one self-contained HTML output, an SVG, text, a widget.

The graph is laid out ONCE by Graphviz (`draw_graph(..., pending_grads=True)`), its boxes
carrying ids. Every frame becomes data: which boxes and edges are current, which become done,
which gradient lines get a number. A few lines of inline JavaScript replay that data to
restyle the SVG (current node and edges red, pending nodes dimmed, gradients known so far
filled in) behind Prev / Next / Play and a slider, beside a panel with the step's text.

No CDN, no requirejs, no kernel: the output works in JupyterLab, classic Notebook, VS Code,
Colab, exported HTML and nbviewer after the kernel is gone. Each output gets its own id
prefix (two steppers in one notebook never clash) and its script finds its container (by
`document.currentScript`, or by that id where a notebook evaluates scripts itself). Without
JavaScript the same HTML still shows the current frame, styled on the Python side;
`image/svg+xml` is that frame's drawing and `text/plain` its text.

A saved page (`stepper.save("steps.html")`) opened as `steps.html#test-next=3` clicks Next three
times by itself once loaded and writes what it saw into a `<pre id="stepper-test-result">`:
how tests/test_stepper_browser.py checks it in headless Chromium without a driver.
"""
from __future__ import annotations

import html
import json
import os
import re
import uuid
from typing import Any

from .stepper import BackwardStepper, box_text, describe  # stepper.py imports this module only when shown

__all__ = ["mimebundle", "output_html", "page_html", "frame_svg", "save_page", "stepper_widget", "frame_events"]

_UID = "@@stepper@@"  # stands for the output's id prefix in the laid-out SVG
PLAY_INTERVAL_MS = 700

# One look for both the page and the standalone SVG (which carries it in a <style> of its own).
SVG_CSS = """
.tas-pending { opacity: 0.32; }
.tas-got { opacity: 0.7; }
.tas-cur polygon, .tas-cur path, .tas-cur ellipse { stroke: #d62728; stroke-width: 3px; }
.tas-flow path { stroke: #d62728; stroke-width: 2.5px; }
.tas-flow polygon { stroke: #d62728; fill: #d62728; }
text.tas-grad { font-weight: bold; }
"""

PAGE_CSS = """
#UID { font-family: Helvetica, Arial, sans-serif; font-size: 14px; color: #222; max-width: 100%; }
#UID .tas-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 4px 0; }
#UID .tas-bar button { font-size: 14px; padding: 3px 10px; border: 1px solid #8a94a6; border-radius: 4px;
  background: #f5f7fa; cursor: pointer; }
#UID .tas-bar button:hover { background: #e4ebf5; }
#UID .tas-slider { flex: 1 1 200px; min-width: 120px; }
#UID .tas-count { font-variant-numeric: tabular-nums; min-width: 7em; }
#UID .tas-text { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; line-height: 1.4;
  background: #f7f7f4; border: 1px solid #ddd; border-radius: 4px; padding: 6px 8px; margin: 0 0 6px 0;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 16em; overflow: auto; }
#UID .tas-graph { max-height: 75vh; overflow: auto; border: 1px solid #eee; border-radius: 4px; }
#UID .tas-graph svg { display: block; width: 100%; height: auto; margin: 0 auto; }
#UID.tas-zoomed .tas-graph svg { width: auto; max-width: none; }
#UID .tas-nojs { color: #777; font-size: 12px; }
#UID .tas-legend { color: #555; font-size: 12px; margin: 0 0 4px 2px; }
#UID .tas-key-cur { color: #d62728; font-weight: bold; }
#UID .tas-key-dim { opacity: 0.45; }
"""

# The script replays the frames' events; it runs once per output and touches only its own ids.
SCRIPT = """
(function () {
  var uid = "UID", me = document.currentScript;
  var root = (me && me.closest && me.closest(".tas-stepper")) || document.getElementById(uid);
  if (!root || root.getAttribute("data-ready")) return;
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector("script.tas-data").textContent);
  var frames = data.frames, n = frames.length, at = data.start, timer = null;
  var $ = function (cls) { return root.querySelector("." + cls); };
  var slider = $("tas-slider"), count = $("tas-count"), panel = $("tas-text"), play = $("tas-play");
  var box = $("tas-graph"), note = $("tas-nojs");
  if (note) note.style.display = "none";
  var elements = {}, gradText = {}, byId = {};
  Array.prototype.forEach.call(root.querySelectorAll("g[id]"), function (g) { byId[g.id] = g; });
  data.tracked.forEach(function (id) { elements[id] = byId[uid + "-" + id]; });
  var room = {};  // how wide each box is: a longer gradient line is squeezed into it
  Array.prototype.forEach.call(root.querySelectorAll("text.tas-grad"), function (t) {
    var id = t.getAttribute("data-box");
    gradText[id] = t;
    try { room[id] = elements[id].getBBox().width - 6; } catch (err) { room[id] = 0; }
  });
  function setText(id, s) {
    var t = gradText[id]; if (!t) return;
    t.textContent = s;
    t.removeAttribute("textLength");
    var w = 0;
    try { w = t.getComputedTextLength(); } catch (err) { w = 0; }
    if (room[id] > 0 && w > room[id]) { t.setAttribute("textLength", room[id]); t.setAttribute("lengthAdjust", "spacingAndGlyphs"); }
  }
  function mark(id, cls) { var e = elements[id]; if (e) e.classList.add(cls); }
  function show(k) {
    at = Math.max(0, Math.min(n - 1, k));
    data.tracked.forEach(function (id) {
      var e = elements[id]; if (!e) return;
      e.classList.remove("tas-cur", "tas-flow", "tas-got"); e.classList.add("tas-pending");
    });
    var texts = {};
    for (var j = 0; j <= at; j++) {
      var f = frames[j];
      f.got.forEach(function (id) { mark(id, "tas-got"); });
      f.done.forEach(function (id) { var e = elements[id]; if (e) e.classList.remove("tas-pending", "tas-got"); });
      f.grads.forEach(function (g) { texts[g[0]] = g[1]; });
    }
    Object.keys(gradText).forEach(function (id) { setText(id, texts[id] || data.pending); });
    var now = frames[at];
    now.cur.forEach(function (id) { mark(id, "tas-cur"); });
    now.flow.forEach(function (id) { mark(id, "tas-flow"); });
    slider.value = at;
    count.textContent = "step " + (at + 1) + "/" + n;
    panel.textContent = now.text;
    root.setAttribute("data-frame", at);
    root.setAttribute("data-current", now.cur.join(" "));
    var e = elements[now.cur[0]];
    if (e && box.scrollHeight > box.clientHeight + 4) {  // keep the current box in view
      var r = e.getBoundingClientRect(), b = box.getBoundingClientRect();
      if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += (r.top + r.bottom) / 2 - (b.top + b.bottom) / 2;
      if (r.left < b.left || r.right > b.right) box.scrollLeft += (r.left + r.right) / 2 - (b.left + b.right) / 2;
    }
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; play.textContent = "\\u25B6 Play"; } }
  $("tas-prev").onclick = function () { stop(); show(at - 1); };
  $("tas-next").onclick = function () { stop(); show(at + 1); };
  $("tas-first").onclick = function () { stop(); show(0); };
  $("tas-last").onclick = function () { stop(); show(n - 1); };
  play.onclick = function () {
    if (timer) { stop(); return; }
    if (at >= n - 1) show(0);
    play.textContent = "\\u275A\\u275A Pause";
    timer = setInterval(function () { if (at >= n - 1) stop(); else show(at + 1); }, data.interval);
  };
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10)); };
  $("tas-zoom").onclick = function () {
    var zoomed = root.classList.toggle("tas-zoomed");
    this.textContent = zoomed ? "Fit width" : "Zoom 100%";
    show(at);
  };
  root.addEventListener("keydown", function (ev) {
    if (ev.target.tagName === "INPUT") return;
    if (ev.key === "ArrowRight") { stop(); show(at + 1); ev.preventDefault(); }
    if (ev.key === "ArrowLeft") { stop(); show(at - 1); ev.preventDefault(); }
  });
  var first = {};  // clicking a box shows the step that visits it
  frames.forEach(function (f, j) { f.cur.forEach(function (id) { if (!(id in first)) first[id] = j; }); });
  Object.keys(first).forEach(function (id) {
    var e = elements[id]; if (!e) return;
    e.style.cursor = "pointer";
    e.addEventListener("click", function (ev) { stop(); show(first[id]); ev.preventDefault(); });
  });
  show(at);
  // A saved page opened as steps.html#test-next=3 clicks Next three times itself, once the page
  // has loaded, and writes what it saw into the page (for tests in a headless browser).
  var asked = root.getAttribute("data-standalone") && /^#test-next=(\\d+)$/.exec(location.hash);
  function selfTest() {
    var before = root.getAttribute("data-current");
    for (var c = 0; c < parseInt(asked[1], 10); c++) $("tas-next").click();
    var svg = box.querySelector("svg"), out = document.createElement("pre");
    out.id = "stepper-test-result";
    out.textContent = JSON.stringify({before: before, after: root.getAttribute("data-current"), frame: at,
      errors: window.__stepperErrors || [], text: panel.textContent,
      svgWidth: svg.getBoundingClientRect().width, boxWidth: box.clientWidth, pageWidth: document.documentElement.clientWidth,
      scrollWidth: document.documentElement.scrollWidth});
    document.body.appendChild(out);
  }
  if (asked) {
    if (document.readyState === "complete") setTimeout(selfTest, 0);
    else window.addEventListener("load", function () { setTimeout(selfTest, 0); });
  }
})();
"""

# In a saved page, before anything else: collect errors so a test (or a curious reader) sees them.
ERROR_TRAP = """
window.__stepperErrors = [];
window.addEventListener("error", function (e) { window.__stepperErrors.push(String(e.message)); });
(function () { var log = console.error; console.error = function () {
  window.__stepperErrors.push(Array.prototype.join.call(arguments, " ")); return log.apply(console, arguments); }; })();
"""


# ---- the SVG, laid out once ----
class _Template:
    """The laid-out SVG cut where per-frame content goes: each tracked element's class, each
    gradient line's text. Rendering a frame joins the pieces; Graphviz never runs again."""

    def __init__(self, svg: str, tracked: set[str], grad_boxes: set[str], pending: str):
        self.pending = pending
        svg = svg[svg.index("<svg"):]
        width = re.search(r'<svg width="([\d.]+)pt"', svg)
        self.width_px = float(width.group(1)) * 4 / 3 if width else None  # the page shrinks it to fit, never grows it
        svg = svg.replace(' id="', f' id="{_UID}-')
        self.parts: list[Any] = []
        opening = re.compile(rf'<g id="{re.escape(_UID)}-([^"]+)" class="([^"]*)"')
        placeholder = re.compile(r"<text([^>]*)>" + re.escape(html.escape(pending, quote=False)) + "</text>")
        pos, box, span = 0, None, None
        while True:
            g, t = opening.search(svg, pos), placeholder.search(svg, pos)
            if g is None and t is None:
                break
            if t is None or (g is not None and g.start() < t.start()):
                element = g.group(1)
                self.parts.append(svg[pos:g.start()] + f'<g id="{_UID}-{element}" class="')
                self.parts.append(("class", element, g.group(2)) if element in tracked else g.group(2))
                self.parts.append('"')
                box, pos = element, g.end()
                span = _x_span(svg, pos)
            else:
                self.parts.append(svg[pos:t.start()])
                if box in grad_boxes:
                    attributes, room = t.group(1), None
                    if span is not None:  # centred on its box, so a longer number grows both ways
                        centre, room = (span[0] + span[1]) / 2, span[1] - span[0] - 6
                        attributes = re.sub(r' text-anchor="\w+"', "", attributes)
                        attributes = re.sub(r' x="[-\d.]+"', f' text-anchor="middle" x="{centre:.2f}"', attributes)
                    size = re.search(r'font-size="([\d.]+)"', attributes)
                    self.parts.append(("grad", box, attributes, room, float(size.group(1)) if size else 10.0))
                else:
                    self.parts.append(t.group(0))
                pos = t.end()
        self.parts.append(svg[pos:])

    def render(self, uid: str, classes: dict[str, str], grads: dict[str, str], style: str = "") -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part[0] == "class":
                extra = classes.get(part[1], "")
                out.append(f"{part[2]} {extra}" if extra else part[2])
            else:
                _, box, attributes, room, size = part
                text = grads.get(box, self.pending)
                # Without a browser to measure it: squeeze a line that would likely overflow its box
                # (Helvetica's digits are 0.556 em wide); the page's script measures exactly.
                if room and len(text) * 0.58 * size > room:
                    attributes += f' textLength="{room:.2f}" lengthAdjust="spacingAndGlyphs"'
                out.append(f'<text class="tas-grad" data-box="{box}"{attributes}>'
                           f"{html.escape(text, quote=False)}</text>")
        svg = "".join(out).replace(_UID, uid)
        if style:
            svg = svg.replace(">", f"><style>{style}</style>", 1)
        return svg


def _x_span(svg: str, pos: int) -> tuple[float, float] | None:
    """Left and right of the first shape drawn after `pos`: a box's outline (its cells share its width)."""
    shape = re.compile(r'<(?:path|polygon)[^>]*?(?: d| points)="([^"]*)"').search(svg, pos)
    if shape is None:
        return None
    xs = [float(x) for x, _ in re.findall(r"(-?[\d.]+),(-?[\d.]+)", shape.group(1))]
    return (min(xs), max(xs)) if xs else None


def _template(stepper: BackwardStepper) -> _Template:
    cache = stepper._page_cache
    if "template" not in cache:
        events = frame_events(stepper)
        svg = stepper.graph.pipe(format="svg", encoding="utf-8")
        cache["template"] = _Template(svg, set(events["tracked"]), stepper.boxes.grad_boxes, stepper.boxes.pending_text)
    return cache["template"]


# ---- every frame as data ----
def frame_events(stepper: BackwardStepper) -> dict[str, Any]:
    """What changes at each frame (runs backward to the end; made once per stepper).

    Per frame: `cur` the boxes of the node(s) visited, `flow` the edges the gradient flows
    back along, `done` what backward has now passed, `got` boxes that received a gradient,
    `grads` [box, text] for gradient lines, `text` the panel's text. `tracked`: every box or
    edge whose look changes (constants are not: backward never visits them)."""
    cache = stepper._page_cache
    if "events" in cache:
        return cache["events"]
    boxes = stepper.boxes
    plan_total = {}
    for node in stepper._recording.plan:
        group = stepper.group_of(node)
        if group is not None:
            plan_total[group] = plan_total.get(group, 0) + 1
    done_in_group: dict[str, int] = {}
    frames = []
    for frame in stepper.frames():
        cur, flow, done, got, grads = [], [], [], [], []
        if frame.group is not None:
            group_box = boxes.group[frame.group]
            cur.append(group_box)
            done.append(group_box)
            done_in_group[frame.group] = done_in_group.get(frame.group, 0) + len(frame.steps)
            grads.append([group_box, f"{done_in_group[frame.group]} of {plan_total[frame.group]} steps done"])
        for step in frame.steps:
            node = step.node
            value_box = boxes.value.get(node.id)
            if frame.group is None and value_box is not None:
                cur.append(value_box)
                done.append(value_box)
                grads.append([value_box, box_text(step.grad)])
                if node.id in boxes.op:
                    cur.append(boxes.op[node.id])
                    done.append(boxes.op[node.id])
                if node.id in boxes.output_edge:
                    flow.append(boxes.output_edge[node.id])
                    done.append(boxes.output_edge[node.id])
            for send in step.sends:
                edge = boxes.input_edge.get((node.id, send.slot))
                if edge is None:
                    continue
                if edge not in done:
                    done.append(edge)
                if send.constant and send.input.is_leaf and stepper.group_of(send.input) is None:
                    done.append(boxes.value[send.input.id])  # a constant lights up with the op using it
                if send.grad is None:
                    continue
                if edge not in flow:
                    flow.append(edge)
                target = boxes.value.get(send.input.id)
                if target is not None and stepper.group_of(send.input) is None:
                    got.append(target)
                    grads.append([target, box_text(send.total, so_far=True)])
                elif target is not None and target != boxes.group.get(frame.group):
                    got.append(target)
        frames.append({"cur": cur, "flow": flow, "done": done, "got": got, "grads": grads,
                       "text": stepper.text(frame.index)})
    tracked = list(dict.fromkeys(e for f in frames for e in f["done"] + f["got"] + f["cur"] + f["flow"]))
    cache["events"] = {"frames": frames, "tracked": tracked, "pending": stepper.boxes.pending_text,
                       "interval": PLAY_INTERVAL_MS}
    return cache["events"]


def frame_state(stepper: BackwardStepper, k: int) -> tuple[dict[str, str], dict[str, str]]:
    """The classes and gradient texts at frame `k`: the Python twin of the script's `show`."""
    events = frame_events(stepper)
    state = {e: "tas-pending" for e in events["tracked"]}
    grads: dict[str, str] = {}
    for frame in events["frames"][: k + 1]:
        for e in frame["got"]:
            state[e] += " tas-got"
        for e in frame["done"]:
            state[e] = ""
        grads.update(dict(frame["grads"]))
    now = events["frames"][k]
    for e in now["cur"]:
        state[e] = (state[e] + " tas-cur").strip()
    for e in now["flow"]:
        state[e] = (state[e] + " tas-flow").strip()
    return state, grads


def frame_svg(stepper: BackwardStepper, k: int, uid: str | None = None) -> str:
    """Frame `k`'s drawing as a standalone SVG (its own <style>), from the one layout."""
    classes, grads = frame_state(stepper, k)
    return _template(stepper).render(uid or _new_uid(), classes, grads, style=SVG_CSS)


def _new_uid() -> str:
    return f"tas-{uuid.uuid4().hex[:10]}"


# ---- the HTML output ----
def output_html(stepper: BackwardStepper, standalone: bool = False) -> str:
    """The notebook output: one <div> with its style, SVG, frames (JSON) and script."""
    events = frame_events(stepper)
    template = _template(stepper)
    uid = _new_uid()
    k = min(stepper.position, len(events["frames"]) - 1)
    classes, grads = frame_state(stepper, k)
    svg = template.render(uid, classes, grads)
    data = json.dumps({**events, "start": k}, ensure_ascii=False).replace("<", "\\u003c")  # no "</script>" inside
    n = len(events["frames"])
    css = PAGE_CSS.replace("UID", uid) + _scoped(SVG_CSS, f"#{uid}")
    title = f'<div class="tas-title"><b>{html.escape(stepper.title)}</b></div>' if stepper.title else ""
    fit = f"max-width: {template.width_px:.0f}px" if template.width_px else ""
    svg = svg.replace("<svg", f'<svg style="{fit}"', 1)
    marker = ' data-standalone="1"' if standalone else ""
    return (
        f'<div class="tas-stepper" id="{uid}" tabindex="0" data-frame="{k}"{marker}>'
        f"<style>{css}</style>{title}"
        '<div class="tas-bar">'
        '<button type="button" class="tas-first" title="first step">|◀</button>'
        '<button type="button" class="tas-prev" title="previous step (←)">◀ Prev</button>'
        '<button type="button" class="tas-next" title="next step (→)">Next ▶</button>'
        '<button type="button" class="tas-last" title="last step">▶|</button>'
        '<button type="button" class="tas-play">▶ Play</button>'
        f'<input type="range" class="tas-slider" min="0" max="{n - 1}" value="{k}" aria-label="step">'
        f'<span class="tas-count">step {k + 1}/{n}</span>'
        '<button type="button" class="tas-zoom">Zoom 100%</button>'
        "</div>"
        '<div class="tas-legend"><span class="tas-key-cur">red</span>: this step and the gradients it sends · '
        '<span class="tas-key-dim">faded</span>: not reached yet · <i>so far</i>: part of its gradient has arrived · '
        "dashed: a constant (it gets no gradient) · click a box to see its step</div>"
        f'<pre class="tas-text">{html.escape(events["frames"][k]["text"], quote=False)}</pre>'
        f'<div class="tas-nojs">(the buttons work where JavaScript runs; this is step {k + 1} of {n})</div>'
        f'<div class="tas-graph">{svg}</div>'
        f'<script type="application/json" class="tas-data">{data}</script>'
        f"<script>{SCRIPT.replace('UID', uid)}</script>"
        "</div>"
    )


def _scoped(css: str, scope: str) -> str:
    """Every selector of `css` (one rule per line) put under `scope`."""
    rules = []
    for rule in css.strip().splitlines():
        selectors, _, body = rule.partition("{")
        rules.append(", ".join(f"{scope} {s.strip()}" for s in selectors.split(",")) + " {" + body)
    return "\n".join(rules)


def page_html(stepper: BackwardStepper) -> str:
    """A whole HTML document around the output, for `save()`."""
    title = html.escape(stepper.title or f"backward of {stepper.root.name or 'the root'}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><script>{ERROR_TRAP}</script></head>\n"
        '<body style="margin: 12px; background: #fff">\n'
        f"{output_html(stepper, standalone=True)}\n</body></html>\n"
    )


def save_page(stepper: BackwardStepper, path: Any) -> str:
    try:
        target = os.fspath(path)
    except TypeError:
        raise TypeError(f"save: expected a file path (str or os.PathLike), got {type(path).__name__}") from None
    text = page_html(stepper)
    try:
        with open(target, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        reason = error.strerror or str(error)
        raise type(error)(error.errno, f"save: cannot write the stepper page to {target!r}: {reason}") from None
    return target


def mimebundle(stepper: BackwardStepper, include: Any = None, exclude: Any = None) -> dict[str, str]:
    """text/html (the interactive output), image/svg+xml (the current frame), text/plain."""
    wanted = set(include) if include is not None else {"text/html", "image/svg+xml", "text/plain"}
    wanted -= set(exclude or ())
    bundle: dict[str, str] = {}
    if "text/plain" in wanted:
        bundle["text/plain"] = stepper.text()
    try:
        if "text/html" in wanted:
            bundle["text/html"] = output_html(stepper)
        if "image/svg+xml" in wanted:
            bundle["image/svg+xml"] = frame_svg(stepper, stepper.position)
    except RuntimeError as error:  # no renderer: a cell should still show the text
        bundle.pop("text/html", None)
        bundle.pop("image/svg+xml", None)
        bundle["text/plain"] = f"{stepper.text()}\n\n(no picture: {str(error).splitlines()[0]})"
    return bundle


# ---- the kernel-connected widget ----
def stepper_widget(stepper: BackwardStepper) -> Any:
    """Buttons, a slider and a node picker driving the stepper in the kernel; the picture is the
    current frame's SVG (no Graphviz run per frame). `widget.selected` is the picked node."""
    try:
        import ipywidgets as widgets
    except ImportError:
        raise ImportError(
            "BackwardStepper.widget() needs ipywidgets, which is not installed: "
            "pip install 'tinygrad_attn[notebooks]' (or pip install ipywidgets); "
            "without it, show the stepper itself (its HTML output needs no kernel)"
        ) from None
    frames = stepper.frames()
    n = len(frames)
    picture = widgets.HTML()
    panel = widgets.HTML()
    slider = widgets.IntSlider(value=stepper.position, min=0, max=n - 1, description="step", continuous_update=True,
                               readout=False, layout=widgets.Layout(flex="1 1 auto"))
    play = widgets.Play(value=stepper.position, min=0, max=n - 1, interval=PLAY_INTERVAL_MS)
    widgets.jslink((play, "value"), (slider, "value"))
    count = widgets.Label()
    prev_button = widgets.Button(description="◀ Prev", layout=widgets.Layout(width="auto"))
    next_button = widgets.Button(description="Next ▶", layout=widgets.Layout(width="auto"))
    options = [("(pick a node)", None)]
    seen: set[int] = set()
    for frame in frames:
        for node in frame.nodes:
            if id(node) not in seen:
                seen.add(id(node))
                options.append((f"{describe(node)}  (step {frame.index + 1})", node))
    picker = widgets.Dropdown(options=options, value=None, description="node")

    class StepperWidget(widgets.VBox):
        """The stepper's widget: `.stepper`, `.selected` (the node picked), `.show(i)`; its parts
        `.prev_button .next_button .play .slider .picker .panel .picture`."""

        selected: Any = None

        def show(self, i: int) -> None:
            stepper.goto(i)
            k = stepper.position
            fitted = frame_svg(stepper, k).replace("<svg", '<svg style="width: 100%; height: auto"', 1)
            picture.value = f'<div style="max-width: 100%; max-height: 75vh; overflow: auto">{fitted}</div>'
            panel.value = f'<pre style="white-space: pre-wrap; font-size: 13px">{html.escape(stepper.text())}</pre>'
            count.value = f"step {k + 1}/{n}"
            if slider.value != k:
                slider.value = k

    ui = StepperWidget([widgets.HBox([prev_button, next_button, play, slider, count]), picker, panel, picture])
    ui.stepper = stepper
    ui.prev_button, ui.next_button, ui.play, ui.slider, ui.picker = prev_button, next_button, play, slider, picker
    ui.panel, ui.picture = panel, picture

    def on_pick(change: Any) -> None:
        node = change["new"]
        ui.selected = node
        if node is not None:
            ui.show(next(f.index for f in frames if any(x is node for x in f.nodes)))

    prev_button.on_click(lambda _: ui.show(max(0, stepper.position - 1)))
    next_button.on_click(lambda _: ui.show(min(n - 1, stepper.position + 1)))
    slider.observe(lambda change: ui.show(change["new"]) if change["new"] != stepper.position else None, names="value")
    picker.observe(on_pick, names="value")
    ui.show(stepper.position)
    return ui
