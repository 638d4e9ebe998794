"""`BackwardStepper`: walk through backward one node at a time, each formula filled in.

    stepper = BackwardStepper(loss)          # nothing has run yet
    stepper.next(); stepper.current          # step 1: the root, seeded with 1.0
    print(stepper)                           # the current step as text
    stepper                                  # in Jupyter: the graph with Prev / Next / Play

**The stepper is backward.** It drives `root.backward_steps()`, the very loop `backward()` runs,
and records each `Step` as it comes: the node, the gradient that arrived, and for every input
what was sent, with the formula (`node.op.formulas`) filled in with this step's numbers and,
where the input has several consumers, the sum made explicit (what had arrived before, what
this step adds: the `+=`). Stepping to the end leaves exactly the gradients `backward()` leaves.

**When backward runs.** Lazily, as far as it is looked at: `next()` and `goto(i)` advance the
generator until frame `i` is recorded, so after `next()` the graph's `.grad` fields hold what
backward has computed so far; `prev()` only moves the view back. `len()` and the "12/70"
counters come from the plan (every node backward will visit, known before it runs), so they
run nothing. Showing the stepper (Jupyter, `save`, `widget`) needs every frame and so runs
backward to the end first. A collapsed stepper records one step past a folded group's turn,
to know that the turn has ended.

**Frames.** Without `collapse` one frame is one backward step. With `collapse=2` (or scope
paths, as in `draw_graph`), the consecutive steps inside one folded scope make one frame: a
GPT is stepped block by block (its parameters, made first, are visited last: their turn is a
frame of its own). `stepper.expand("blocks.0")` gives a stepper over the same recorded steps
with that scope drawn open, each of its steps a frame.

**Constants** (a number in an expression, a target, softmax's shift, 1/√d, a mask) are drawn
in the constant style and are never stepped: backward never visits what needs no gradient.

The page (`stepper_page.py`) lays the graph out once with Graphviz and restyles it per frame;
changing frame never runs Graphviz again. Each frame keeps its own copy of its numbers, so what
it shows never changes afterwards.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterator, Sequence

import numpy as np

from ..core import Node, topological_order
from ..scalar import Value
from ..tensors import Tensor
from .graph import DEFAULT_MAX_NODES, box_number, draw_graph

__all__ = ["BackwardStepper", "Frame", "StepRecord", "Send"]


# ---- numbers as text ----
def number(x: float) -> str:
    """4 significant digits, compactly: 1.2, -0.8123, 5.0, 123.5, 1.234e-05."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0.0:
        return "0.0"
    if not 1e-3 <= abs(x) < 1e4:
        return f"{x:.3e}"
    decimals = max(1, 3 - math.floor(math.log10(abs(x))))
    text = f"{x:.{decimals}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def brief(x: Any) -> str:
    """A gradient or value in one short line: a number, a few entries, or shape + entries + norm."""
    if x is None:
        return "None"
    if isinstance(x, (float, int)):
        return number(x)
    array = np.asarray(x)
    if array.dtype.kind not in "fc":  # ids, masks: as they are
        items = array.ravel()[:8].tolist()
        shown = str(items).replace("]", ", …]") if array.size > 8 else str(array.tolist())
        return shown if array.ndim <= 1 and array.size <= 8 else f"{tuple(array.shape)} {shown}"
    if array.size == 1:
        return number(array.item())
    if array.size <= 6:
        return _nested(array.tolist())
    flat = array.ravel()[:3].tolist()
    norm = float(np.linalg.norm(array.astype(np.float64).ravel()))
    return f"{tuple(array.shape)} [{', '.join(number(v) for v in flat)}, …] norm {number(norm)}"


def _nested(items: Any) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_nested(item) for item in items) + "]"
    return number(items)


def box_text(x: Any, so_far: bool = False) -> str:
    """What a box's gradient line says once something is known (short: it fits the laid-out line)."""
    array = np.asarray(x)
    if array.size == 1:
        shown = number(array.item())
    else:
        shown = "norm " + number(float(np.linalg.norm(array.astype(np.float64).ravel())))
    return f"so far {shown}" if so_far else f"grad {shown}"


def _snapshot(x: Any) -> Any:
    """A copy that later steps cannot change (arrays may be reused by the kernels' buffer pool)."""
    if x is None or isinstance(x, float):
        return x
    return np.array(x, copy=True)


def _ordinal(k: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def describe(node: Node) -> str:
    """How the text names a node: its name, or what made it and its value."""
    if node.name:
        return node.name
    if isinstance(node, Value):  # its data as its box shows it, so the reader finds the box
        if node.is_leaf:
            return f"{'leaf' if node.requires_grad else 'const'} {box_number(node.data)}"
        return f"{node.op_name} output ({box_number(node.data)})"
    shape = tuple(node.shape) if isinstance(node, Tensor) else ()
    return f"{'leaf' if node.requires_grad else 'constant'} {shape}" if node.is_leaf else f"{node.op_name} output {shape}"


def _kind(node: Node) -> str:
    if isinstance(node, Tensor):
        kind = f"Tensor {tuple(node.shape)} {node.dtype}"
    else:
        kind = type(node).__name__
    where = f" in {node.scope}" if node.scope else ""
    made = f"made by {node.op_name}" if not node.is_leaf else "a leaf that learns"
    return f"{kind}{where}, {made}"


def _variable(formula: str, slot: int) -> str:
    """The input's letter in its formula: 'b' in 'd(a*b)/db = a'."""
    _, found, rest = formula.partition("/d")
    letter = rest.split(" ", 1)[0].split("=", 1)[0].strip() if found else ""
    return letter or f"input {slot}"


# ---- what a frame records ----
class Send:
    """One input's share of a step: the formula, the local derivative, what was sent, the sum."""

    __slots__ = ("slot", "input", "formula", "local", "grad", "constant", "had", "total", "arrival", "arrivals")

    def __init__(self, slot: int, inp: Node, formula: str):
        self.slot = slot
        self.input = inp
        self.formula = formula
        self.local: float | None = None  # d(output)/d(input) for scalars, None for tensors
        self.grad: Any = None  # the gradient sent (None: none sent)
        self.constant = not inp.requires_grad
        self.had: Any = None  # what had arrived at the input before (None: this is the first)
        self.total: Any = None  # what has arrived at the input now
        self.arrival = 0  # this is the input's arrival-th contribution...
        self.arrivals = 0  # ...of this many

    @property
    def accumulates(self) -> bool:
        """True where this is a `+=` onto a gradient that had already arrived."""
        return self.had is not None


class StepRecord:
    """One backward step as the stepper saw it (a `core.Step` plus the numbers around it)."""

    __slots__ = ("index", "node", "grad", "sends", "leaf_had", "leaf_now", "kept")

    def __init__(self, index: int, node: Node, grad: Any):
        self.index = index
        self.node = node
        self.grad = grad  # the total gradient that arrived (a copy)
        self.sends: list[Send] = []
        self.leaf_had: Any = None  # a leaf's .grad before and after this step
        self.leaf_now: Any = None
        self.kept = True  # does .grad keep it? (a non-leaf Tensor only after retain_grad())

    @property
    def op(self) -> str:
        return self.node.op_name


class _Recording:
    """The one backward pass a stepper (and its expanded views) share, recorded as it runs."""

    def __init__(self, root: Node, grad: Any, retain_graph: bool):
        self.root = root
        self.plan = list(reversed(topological_order(root)))  # the order backward visits nodes in
        self.arrivals: Counter = Counter()
        for node in self.plan:
            for inp in node.inputs:
                if inp.requires_grad:
                    self.arrivals[inp.id] += 1
        self.leaf_grads: dict[int, Any] | None = None  # each leaf's .grad when backward starts
        self.steps: list[StepRecord] = []
        self.finished = False
        self._arrived: dict[int, Any] = {}  # node id -> the sum of the gradients sent to it so far
        self._count: Counter = Counter()
        self._senders: dict[int, list[int]] = {}  # node id -> ids of the nodes that sent to it
        self._steps: Iterator[Any] = root.backward_steps(grad, retain_graph=retain_graph)

    def senders(self, node: Node) -> list[int]:
        return self._senders.get(node.id, [])

    def ensure(self, count: int) -> bool:
        """Run backward until `count` steps are recorded (or it ends); True if there are."""
        while len(self.steps) < count and not self.finished:
            if self.leaf_grads is None:
                self.leaf_grads = {n.id: _snapshot(n.grad) for n in self.plan if n.is_leaf}
            try:
                step = next(self._steps)
            except StopIteration:
                self.finished = True
                break
            self.steps.append(self._record(step))
        return len(self.steps) >= count

    def finish(self) -> None:
        while not self.finished:
            self.ensure(len(self.steps) + 1)

    def _record(self, step: Any) -> StepRecord:
        node = step.node
        record = StepRecord(step.index, node, _snapshot(step.grad))
        if node.is_leaf:
            record.leaf_had, record.leaf_now = self.leaf_grads.get(node.id), _snapshot(node.grad)
            return record
        record.kept = isinstance(node, Value) or node.grad is not None
        op = node.op
        local = _local_derivatives(node)
        for slot, inp in enumerate(node.inputs):
            formula = op.formulas[min(slot, len(op.formulas) - 1)] if op.formulas else op.name
            send = Send(slot, inp, formula)
            sent = step.sent[slot] if slot < len(step.sent) else None
            if not send.constant and sent is not None:
                send.grad = _snapshot(sent)
                send.local = local[slot] if local is not None else None
                send.had = self._arrived.get(inp.id)
                send.total = send.grad if send.had is None else send.had + send.grad  # as backward adds them
                self._arrived[inp.id] = send.total
                self._count[inp.id] += 1
                send.arrival, send.arrivals = self._count[inp.id], self.arrivals[inp.id]
                self._senders.setdefault(inp.id, []).append(node.id)
            record.sends.append(send)
        return record


def _local_derivatives(node: Node) -> tuple | None:
    """d(node)/d(input) for each input of a scalar op: its backward with upstream 1.0.

    A scalar op's backward reads only plain floats and changes nothing, so asking it again is
    safe; a tensor op's local derivative is a Jacobian, shown by its formula alone."""
    op = node.op
    if not isinstance(node, Value) or getattr(op, "engine", None) != "scalar":
        return None
    try:
        return tuple(op.backward(node, 1.0))
    except Exception:  # an op patched to misbehave (the bug zoo): show what it sent, nothing more
        return None


class Frame:
    """One frame: a backward step, or a folded scope's consecutive steps (collapsed steppers).

    `index` (0 = the root's step), `steps` (StepRecords), `node` (the first step's node),
    `group` (the folded scope path, or None), `grad` (the gradient that arrived at `node`),
    `sends` (every input's `Send`, over all steps). `str(frame)` is its text.
    """

    def __init__(self, view: "BackwardStepper", index: int, steps: list[StepRecord], group: str | None):
        self._view = view
        self.index = index
        self.steps = steps
        self.group = group
        self.node = steps[0].node
        self.grad = steps[0].grad

    @property
    def nodes(self) -> list[Node]:
        return [s.node for s in self.steps]

    @property
    def sends(self) -> list[Send]:
        return [send for s in self.steps for send in s.sends]

    @property
    def text(self) -> str:
        return self._view.text(self.index)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        where = f"group {self.group!r}, {len(self.steps)} steps" if self.group else f"{describe(self.node)} ({self.steps[0].op})"
        return f"Frame({self.index}, {where})"


# ---- the stepper ----
class BackwardStepper:
    """Step through `root`'s backward pass: `next() prev() goto(i) run_to(node) current len()`.

    root          a Value or a Tensor (a one-element one, or give `grad`)
    collapse      fold scopes into one box each, as in `draw_graph` (`2`: a GPT block by block);
                  a frame is then one folded scope's turn; `expand(name)` steps inside one
    grad          the seed gradient (default 1 for a one-element root), as in `backward(grad)`
    retain_graph  as in `backward()`: a Tensor graph is released as backward passes unless True
    title         a caption above the graph
    max_nodes     as in `draw_graph`: refuse to draw more boxes than this
    """

    def __init__(self, root: Node, *, collapse: int | str | Sequence[str] | None = None, grad: Any = None,
                 retain_graph: bool = False, title: str | None = None, max_nodes: int | None = DEFAULT_MAX_NODES):
        if not isinstance(root, Node):
            raise TypeError(f"BackwardStepper: root must be a Value or Tensor, got {type(root).__name__}")
        if not root.requires_grad:
            raise RuntimeError(f"BackwardStepper: the root {describe(root)!r} does not require grad, so backward has "
                               "nothing to do (no input of it requires grad, or it was made under no_grad())")
        try:
            recording = _Recording(root, grad, retain_graph)
        except (RuntimeError, ValueError, TypeError) as error:
            raise type(error)(f"BackwardStepper: {error}") from None
        self._view(recording, collapse, title, max_nodes)

    def _view(self, recording: _Recording, collapse: Any, title: str | None, max_nodes: int | None) -> None:
        """Set this stepper up as a view (drawing + frames) of a recorded backward pass."""
        self.root = recording.root
        self.title = title
        self._collapse = collapse
        self._max_nodes = max_nodes
        # The drawing is made (as DOT text) now: it says which box each node is drawn in. Graphviz
        # lays it out only when a picture is first asked for (see stepper_page.py).
        try:
            self.graph = draw_graph(self.root, collapse=collapse, pending_grads=True, compact=True, max_nodes=max_nodes)
        except (ValueError, TypeError) as error:
            raise type(error)(f"BackwardStepper: {error}") from None
        self.boxes = self.graph.boxes
        self._group_of_box = {box: path for path, box in self.boxes.group.items()}
        self._recording = recording
        self._planned = self._count_frames(recording.plan)
        self._frames: list[Frame] = []
        self._grouped = 0  # recorded steps already placed in frames
        self._position = 0
        self._page_cache: dict[str, Any] = {}  # the laid-out SVG, made once (stepper_page.py)

    # ---- which box a node is drawn in ----
    def group_of(self, node: Node) -> str | None:
        """The folded scope `node` is drawn inside, or None where it has a box of its own."""
        return self._group_of_id(node.id)

    def _group_of_id(self, node_id: int) -> str | None:
        return self._group_of_box.get(self.boxes.value.get(node_id, ""))

    def _count_frames(self, nodes: list[Node]) -> int:
        count, previous = 0, object()
        for node in nodes:
            group = self.group_of(node)
            if group is None or group != previous:
                count += 1
            previous = group
        return count

    # ---- frames, made as backward runs ----
    def _frame(self, i: int) -> Frame | None:
        """Frame `i`, running backward as far as it takes; None if backward ends before it."""
        recording = self._recording
        while len(self._frames) <= i:
            if not recording.ensure(self._grouped + 1):
                return None
            first = recording.steps[self._grouped]
            group = self.group_of(first.node)
            end = self._grouped + 1
            if group is not None:  # a folded scope's turn lasts while its steps keep coming
                while recording.ensure(end + 1) and self.group_of(recording.steps[end].node) == group:
                    end += 1
            self._frames.append(Frame(self, len(self._frames), recording.steps[self._grouped:end], group))
            self._grouped = end
        return self._frames[i]

    def frames(self) -> list[Frame]:
        """Every frame (runs backward to the end)."""
        self._recording.finish()
        self._frame(len(self._recording.steps))  # place every recorded step
        return list(self._frames)

    def __len__(self) -> int:
        """How many frames: from the plan, until backward has finished (then as it ran)."""
        recording = self._recording
        if recording.finished and self._grouped == len(recording.steps):
            return len(self._frames)
        return self._planned

    def __getitem__(self, i: int) -> Frame:
        return self._frame(self._index(i, "stepper[...]"))

    def __iter__(self) -> Iterator[Frame]:
        i = 0
        while (frame := self._frame(i)) is not None:
            yield frame
            i += 1

    # ---- navigation ----
    @property
    def position(self) -> int:
        return self._position

    @property
    def current(self) -> Frame:
        """The frame shown now (recording it if backward has not got there yet)."""
        frame = self._frame(self._position)
        if frame is None:  # the plan promised more steps than backward made (an op sent no gradient)
            self._position = len(self) - 1
            frame = self._frame(self._position)
        return frame

    def next(self) -> Frame:
        """Move one frame on (running one more backward step); at the last frame, stay."""
        if self._frame(self._position + 1) is not None:
            self._position += 1
        return self.current

    def prev(self) -> Frame:
        """Move one frame back (nothing is undone: the view moves, backward does not)."""
        self._position = max(0, self._position - 1)
        return self.current

    def goto(self, i: int) -> Frame:
        """Show frame `i` (0 = the root's step; negative counts from the end)."""
        self._position = self._index(i, f"goto({i!r})")
        return self.current

    def run_to(self, node_or_name: Node | str) -> Frame:
        """Go to the first frame that visits a node (a Value/Tensor, its name, or a folded scope's name)."""
        where = f"run_to({node_or_name!r})" if isinstance(node_or_name, str) else "run_to"
        target = self._find(node_or_name, where)
        i = 0
        while (frame := self._frame(i)) is not None:
            if any(s.node is target for s in frame.steps) or (isinstance(target, str) and frame.group == target):
                self._position = i
                return frame
            i += 1
        raise ValueError(f"{where}: backward ended without visiting {describe(target) if isinstance(target, Node) else target}")

    def _index(self, i: Any, where: str) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{where}: expected a frame number (int), got {type(i).__name__}")
        asked = int(i)
        while True:
            total = len(self)
            i = asked + total if asked < 0 else asked
            if not 0 <= i < total:
                unit = "frames" if self._collapse is not None else "steps"
                raise IndexError(f"{where}: there are {total} {unit} (0..{total - 1})")
            if self._frame(i) is not None:
                return i
            # backward made fewer steps than planned (an op sent no gradient): now len() is exact

    def _find(self, wanted: Node | str, where: str) -> Node | str:
        plan = self._recording.plan
        if isinstance(wanted, Node):
            if any(n is wanted for n in plan):
                return wanted
            if not wanted.requires_grad:
                raise ValueError(f"{where}: {describe(wanted)!r} is a constant (requires_grad=False): "
                                 "backward never visits it")
            raise ValueError(f"{where}: {describe(wanted)!r} is not in this graph (the root does not depend on it)")
        if not isinstance(wanted, str):
            raise TypeError(f"{where}: expected a Value, a Tensor or a name, got {type(wanted).__name__}")
        for node in plan:
            if node.name == wanted:
                return node
        groups = [path for path in self.boxes.group if path == wanted or path.endswith("/" + wanted)]
        if groups:
            return groups[0]
        names = sorted({n.name for n in plan if n.name}) + sorted(self.boxes.group)
        shown = ", ".join(names[:15]) + (", ..." if len(names) > 15 else "") if names else "(no node has a name)"
        raise ValueError(f"{where}: no node named {wanted!r}; names: {shown}")

    # ---- folded scopes ----
    def expand(self, name: str) -> "BackwardStepper":
        """A stepper over the same recorded steps with folded scope `name` drawn open, each of its
        steps a frame of its own (other scopes stay folded); it starts at the scope's first step."""
        if not isinstance(name, str):
            raise TypeError(f"expand: expected a scope name (str), got {type(name).__name__}")
        groups = list(self.boxes.group)
        if not groups:
            raise ValueError(f"expand({name!r}): nothing is folded in this stepper (make it with collapse=...)")
        matches = [path for path in groups if path == name or path.endswith("/" + name)]
        if len(matches) != 1:
            found = "matches several" if matches else "matches no"
            raise ValueError(f"expand({name!r}): {found} folded scope; folded here: {', '.join(groups)}")
        others = [path for path in groups if path != matches[0]]
        view = object.__new__(BackwardStepper)
        view._view(self._recording, others or None, self.title, self._max_nodes)
        first = next((n for n in self._recording.plan if self.group_of(n) == matches[0]), None)
        if first is not None:
            view.run_to(first)
        return view

    # ---- text ----
    def text(self, i: int | None = None) -> str:
        """Frame `i` (default: the current one) as text, for a terminal or the page's panel."""
        frame = self.current if i is None else self._frame(self._index(i, f"text({i!r})"))
        head = f"step {frame.index + 1}/{len(self)}  "
        if frame.group is not None:
            return head + _group_text(self, frame)
        return head + _step_text(self._recording, frame.steps[0])

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        frame = self.current
        return f"<BackwardStepper at step {frame.index + 1}/{len(self)}: {describe(frame.node)} ({frame.steps[0].op})>"

    # ---- showing itself (stepper_page.py) ----
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **_: Any) -> dict[str, str]:
        from .stepper_page import mimebundle  # the page sits beside the model, imported when shown

        return mimebundle(self, include, exclude)

    def html(self) -> str:
        """The self-contained HTML output (graph, every frame as data, controls, text panel)."""
        from .stepper_page import output_html

        return output_html(self)

    def svg(self, i: int | None = None) -> str:
        """The drawing at frame `i` (default: the current one) as SVG text; Graphviz runs once."""
        from .stepper_page import frame_svg

        return frame_svg(self, self._position if i is None else self._index(i, f"svg({i!r})"))

    def save(self, path: Any) -> str:
        """Write the page (the same as the notebook output) to an .html file; returns the path."""
        from .stepper_page import save_page

        return save_page(self, path)

    def widget(self) -> Any:
        """A kernel-connected UI (needs ipywidgets): buttons, slider, picture, text, a node picker;
        `widget.selected` is the Value/Tensor picked."""
        from .stepper_page import stepper_widget

        return stepper_widget(self)


# ---- the text of a frame ----
def _step_text(recording: _Recording, step: StepRecord) -> str:
    node = step.node
    seed = ""
    if step.index == 0 and node is recording.root:
        seed = " (the seed: d root/d root = 1)" if np.all(np.asarray(step.grad) == 1) else " (the seed you gave as grad=)"
    lines = [f"{describe(node)}  ({_kind(node)})   grad arrived: {brief(step.grad)}{seed}"]
    if node.is_leaf:
        if step.leaf_had is None:  # a Tensor's .grad before its first backward
            lines.append(f"  a leaf: the gradient goes into .grad (it was None): {brief(step.leaf_now)}")
        else:
            lines.append(f"  a leaf: the gradient accumulates into .grad: had {brief(step.leaf_had)} += "
                         f"{brief(step.grad)} → {brief(step.leaf_now)}")
        return "\n".join(lines)
    if not step.kept:
        lines.append("  (.grad not kept: a non-leaf Tensor keeps it only after retain_grad(), as in PyTorch)")
    for send in step.sends:
        name = describe(send.input)
        if send.constant:
            rule, is_derivative = send.formula.split(" = ")[0], "/d" in send.formula
            said = f"{_variable(send.formula, send.slot)} = {_constant_text(send.input)} is a constant: nothing sent"
            lines.append(f"  {rule}: {said}" if is_derivative else f"  {said}  ({send.formula})")
            continue
        if send.grad is None:
            lines.append(f"  {send.formula}: nothing sent to {name}")
            continue
        lines.append(f"  {_filled_in(send, step.grad)} to {name}")
        if send.arrivals > 1:
            if send.had is None:
                lines.append(f"      {name}.grad: 1st of {send.arrivals} contributions: {brief(send.grad)}")
            else:
                lines.append(f"      {name}.grad: had {brief(send.had)} += {brief(send.grad)} → {brief(send.total)}"
                             f"  ({_ordinal(send.arrival)} of {send.arrivals})")
    return "\n".join(lines)


def _constant_text(node: Node) -> str:
    data = np.asarray(node.data)
    shown = brief(data) if data.size <= 6 else f"{tuple(data.shape)} {data.dtype}"
    return f"{node.name} ({shown})" if node.name else shown


def _filled_in(send: Send, upstream: Any) -> str:
    """'d(a*b)/da = b = 1.2 → sends -0.8123 × 1.2 = -0.9748' (a tensor: the formula and what it sent)."""
    if send.local is None:
        return f"{send.formula} → sends {brief(send.grad)}"
    local = number(send.local)
    rule = send.formula
    right = rule.rpartition(" = ")[2]
    if not _is_number(right, send.local):
        rule += f" = {local}"
    factor = f"({local})" if local.startswith("-") else local
    return f"{rule} → sends {brief(upstream)} × {factor} = {brief(send.grad)}"


def _is_number(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def _group_text(view: BackwardStepper, frame: Frame) -> str:
    group = frame.group
    short = group.rpartition("/")[2]
    steps = frame.steps
    total = sum(1 for n in view._recording.plan if view.group_of(n) == group)
    lines = [f"{short}  (folded scope {group}: {len(steps)} of its {total} backward steps)"]
    entries = [s for s in steps if s.node is view.root or any(view._group_of_id(j) != group
                                                               for j in view._recording.senders(s.node))]
    for s in entries[:3]:
        lines.append(f"  grad arrived at {describe(s.node)}: {brief(s.grad)}")
    ops = Counter(s.op for s in steps if not s.node.is_leaf)
    if ops:
        listed = ", ".join(f"{op} ×{k}" if k > 1 else op for op, k in ops.items())
        lines.append(f"  inside: {listed}")
    leaves = [s for s in steps if s.node.is_leaf]
    if leaves:
        lines.append(f"  {len(leaves)} parameters receive their gradients:" if len(leaves) != 1
                     else "  1 parameter receives its gradient:")
        for s in leaves[:6]:
            lines.append(f"    {describe(s.node)}.grad → {brief(s.leaf_now)}")
        if len(leaves) > 6:
            lines.append(f"    ... and {len(leaves) - 6} more")
    out = [send for s in steps for send in s.sends if send.grad is not None and view.group_of(send.input) != group]
    if out:
        lines.append("  sends out of the scope:")
        for send in out[:6]:
            target = describe(send.input)
            where = view.group_of(send.input)
            into = f" (into {where.rpartition('/')[2]})" if where else ""
            lines.append(f"    → {target}{into}: {brief(send.grad)}")
            if send.had is not None:
                lines.append(f"        {target}.grad: had {brief(send.had)} += this → {brief(send.total)}")
        if len(out) > 6:
            lines.append(f"    ... and {len(out) - 6} more")
    lines.append(f"  stepper.expand({short!r}) steps through them one by one")
    return "\n".join(lines)
