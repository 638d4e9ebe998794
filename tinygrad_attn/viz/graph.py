"""Draw the compute graph behind a `Value` or `Tensor` with Graphviz.

`draw_graph(root)` walks every input of every node that `root` depends on (inputs that need
no grad included: constant tensors, numbers written into expressions) and returns a
`viz.render.Graph`, which shows itself as SVG in Jupyter:

- a box per value: a `Value`'s name, data and grad; a `Tensor`'s name, shape and dtype, its
  numbers when it has at most 16, and its gradient once backward has run (before that, every
  box that will receive one says "grad: not computed yet", never a 0 nobody computed);
- a rounded box per op with the op's name; hovering shows its local rule (the op's formula);
- nodes made inside `scope(...)` blocks (and nn modules) sit in nested, labelled clusters.

At scale, `collapse` folds chosen scopes into one node each, `highlight` marks every path from
the root to chosen nodes, and `color_by="grad"` shades values by gradient size. Node ids follow
creation order, never memory addresses, so the same graph gives the same DOT text byte for byte.

Every box and edge carries a Graphviz `id` (`v3` a value, `o3` its op, `s0` a folded scope,
`e_v1_o3_0` an edge), which the SVG keeps as `<g id=...>`; `graph.boxes` (a `BoxIds`) says
which id stands for which node, so a viewer can restyle the drawing without laying it out
again. `pending_grads=True` draws every gradient as "not computed yet", one line per box, for
the backward stepper (`viz/stepper.py`) to fill in frame by frame.
"""
from __future__ import annotations

import fnmatch
import html
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

import numpy as np

from ..core import Node
from ..scalar import Value
from ..tensors import Tensor
from .render import DEFAULT_FONT, MONO_FONT, Graph

__all__ = ["draw_graph", "BoxIds", "SMALL_TENSOR", "DEFAULT_MAX_NODES", "HIGHLIGHT_COLOR", "PENDING_GRAD",
           "PENDING_GRAD_SHORT",
           "box_number"]

SMALL_TENSOR = 16  # tensors with at most this many elements show their numbers
SMALL_TENSOR_COMPACT = 9  # the same in a compact drawing (a 3 x 3 matrix, not a 16-wide bias)
ENTRIES_PER_LINE = 8  # longer rows wrap onto further lines
DEFAULT_MAX_NODES = 2000  # past this, dot takes tens of seconds and nobody can read the result

HIGHLIGHT_COLOR = "#d62728"
OP_FILL = "#dde8f8"
PARAM_FILL = "#fff3c4"  # leaves that learn (they require grad)
CONST_FILL = "#f1f1f1"  # leaves that do not: inputs, masks, targets, numbers
PLAIN_FILL = "#ffffff"
GROUP_FILL = "#e4ebf5"
MUTED_TEXT = "#6b6b6b"
GRAD_TEXT = "#b0302a"
SCOPE_PEN = "#8d99a6"
# Light to dark, so black text stays readable on every shade.
GRAD_PALETTE = ("#fff7ec", "#fee8c8", "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548")
NO_GRAD_FILL = "#ffffff"
PENDING_GRAD = "grad: not computed yet"  # what a box says before backward has reached it
PENDING_GRAD_SHORT = "grad: not yet"  # the same in a compact drawing, where it sets every box's width

Highlight = Union[Node, str, Sequence[Union[Node, str]], None]


@dataclass
class BoxIds:
    """Which SVG element ids stand for which node (nodes by `Node.id`), kept as `graph.boxes`.

    value        node -> its value box, or the box of the folded scope it disappears into
    op           node -> the box of the op that made it (ops drawn in their own box only)
    group        folded scope path -> its box
    input_edge   (node, slot) -> the edge carrying input `slot` into the node's op (or group);
                 absent where both ends sit in one folded scope
    output_edge  node -> the edge from its op box to its value box
    grad_boxes   the boxes whose gradient line reads `pending_text` (their text to fill in)
    """

    value: dict[int, str] = field(default_factory=dict)
    op: dict[int, str] = field(default_factory=dict)
    group: dict[str, str] = field(default_factory=dict)
    input_edge: dict[tuple[int, int], str] = field(default_factory=dict)
    output_edge: dict[int, str] = field(default_factory=dict)
    grad_boxes: set[str] = field(default_factory=set)
    pending_text: str = PENDING_GRAD


def _edge_id(src: str, dst: str, slot: int | None = None) -> str:
    return f"e_{src}_{dst}" + (f"_{slot}" if slot is not None else "")


def draw_graph(
    root: Node | Sequence[Node],
    *,
    rankdir: str = "TB",
    show_values: bool = True,
    collapse: int | str | Sequence[str] | None = None,
    highlight: Highlight = None,
    color_by: str | None = None,
    formulas: bool = False,
    max_nodes: int | None = DEFAULT_MAX_NODES,
    title: str | None = None,
    pending_grads: bool = False,
    compact: bool = False,
) -> Graph:
    """Draw everything `root` (a Value, a Tensor, or a list of them) depends on.

    rankdir      "TB" (top to bottom, the default: wide graphs still fit a screen) or "LR" (left to right)
    show_values  print numbers (Value data, small tensors' entries, gradients); False: structure only
    collapse     scope paths or patterns (["gpt/blocks.0", "gpt/blocks.*"]) or a depth: `collapse=2`
                 folds every scope two levels deep (e.g. gpt/blocks.0) with all it holds into one node
    highlight    a Value/Tensor, a name/label string, or a list of them: every path from the root to
                 them is drawn in red (nodes and edges carry the SVG class "highlight")
    color_by     "grad": shade values by gradient size (|grad|, or the norm for tensors) on a log scale
    formulas     write each op's formula under its name (it is always the op's tooltip)
    max_nodes    refuse to draw more boxes than this (None: no limit), suggesting what to collapse
    title        a caption above the graph
    pending_grads  draw every gradient as "not computed yet" (one line per box), for a viewer that
                 fills them in per step; `graph.boxes` names the boxes (see `BoxIds`)
    compact      narrow boxes: a Value's name, data and grad on lines of their own, so a wide graph
                 (the worked example) still fits a screen's width at a readable size
    """
    roots = _as_roots(root)
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR' or 'TB' (or 'RL', 'BT'), got {rankdir!r}")
    if color_by not in (None, "grad"):
        raise ValueError(f"draw_graph: color_by must be None or 'grad', got {color_by!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"draw_graph: max_nodes must be a positive int or None, got {max_nodes!r}")

    nodes = _collect(roots)
    position = {id(n): i for i, n in enumerate(nodes)}
    inputs_of = [[position[id(inp)] for inp in n.inputs] for n in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for i, inputs in enumerate(inputs_of):
        for j in inputs:
            users[j].append(i)
    scopes = _placed_scopes(nodes, users)
    groups = _collapse_groups(scopes, collapse)
    targets = _highlight_targets(highlight, nodes, position)
    reaches = _reaches_target(inputs_of, targets)
    root_ids = {position[id(r)] for r in roots}

    group_names = list(dict.fromkeys(g for g in groups if g is not None))
    group_id = {name: f"s{k}" for k, name in enumerate(group_names)}
    box_count = len(group_names) + sum(1 + (not n.is_leaf) for n, g in zip(nodes, groups) if g is None)
    if max_nodes is not None and box_count > max_nodes:
        raise ValueError(_too_many_message(box_count, max_nodes, scopes, groups, nodes))

    shades = _GradShades(nodes) if color_by == "grad" else None
    backward_ran = not pending_grads and _backward_ran(nodes)

    graph = Graph("compute_graph")
    graph.attr(rankdir=rankdir, fontname=DEFAULT_FONT, fontsize="12", nodesep="0.12" if compact else "0.25",
               ranksep="0.35")
    if title:
        graph.attr(label=_escape(title), labelloc="t", fontsize="16")
    graph.attr("node", fontname=DEFAULT_FONT, fontsize="11")
    graph.attr("edge", fontname=DEFAULT_FONT, fontsize="9", color="#555555", arrowsize="0.7")

    # Every box belongs to a scope path; a folded scope sits as one box in its parent's cluster.
    members: dict[str, list[tuple[str, dict[str, str]]]] = {}

    def place(scope_path: str, box_id: str, attrs: dict[str, str]) -> None:
        members.setdefault(scope_path, []).append((box_id, attrs))

    pending = PENDING_GRAD_SHORT if compact else PENDING_GRAD
    boxes = BoxIds(group=dict(group_id), pending_text=pending)
    group_contents: dict[str, list[int]] = {name: [] for name in group_names}
    for i, node in enumerate(nodes):
        if groups[i] is not None:
            group_contents[groups[i]].append(i)
            boxes.value[node.id] = group_id[groups[i]]
            continue
        marked = targets.get(i, False) or reaches[i]
        box = _value_box(node, scopes[i], show_values, shades, backward_ran, pending_grads, pending, compact,
                         i in root_ids, marked)
        place(scopes[i], f"v{i}", {**box, "id": f"v{i}"})
        boxes.value[node.id] = f"v{i}"
        if show_values and node.requires_grad and not backward_ran:  # its grad line says PENDING_GRAD
            boxes.grad_boxes.add(f"v{i}")
        if not node.is_leaf:
            place(scopes[i], f"o{i}", {**_op_box(node, formulas, reaches[i]), "id": f"o{i}"})
            boxes.op[node.id] = f"o{i}"
    for name in group_names:
        contained = group_contents[name]
        marked = any(targets.get(i, False) or reaches[i] for i in contained)
        box = _group_box(name, [nodes[i] for i in contained], marked, pending if pending_grads else None)
        place(_parent(name), group_id[name], {**box, "id": group_id[name]})
        if pending_grads:
            boxes.grad_boxes.add(group_id[name])

    _emit_clusters(graph, members)
    _emit_edges(graph, nodes, inputs_of, groups, group_id, targets, reaches, boxes)
    if shades is not None:
        graph.node("legend", **shades.legend_box())
    graph.boxes = boxes
    return graph


def _backward_ran(nodes: list[Node]) -> bool:
    """Has backward reached this graph? A Tensor's grad is None before; a Value's is 0.0, so a
    Value graph counts as backpropagated once any of its Values holds a nonzero gradient."""
    for n in nodes:
        if n.requires_grad and n.grad is not None and (not isinstance(n.grad, float) or n.grad != 0.0):
            return True
    return False


# ---- walking the graph ----
def _as_roots(root: Any) -> list[Node]:
    items = list(root) if isinstance(root, (list, tuple)) else [root]
    if not items:
        raise ValueError("draw_graph: got an empty list of roots; pass a Value or Tensor")
    for item in items:
        if not isinstance(item, Node):
            raise TypeError(f"draw_graph: expected a Value or Tensor (or a list of them), got {type(item).__name__}")
    return list({id(r): r for r in items}.values())


def _collect(roots: list[Node]) -> list[Node]:
    """Every node the roots depend on through any input, sorted by creation (a topological order).

    Unlike backward's walk this keeps inputs that need no grad (constant tensors, numbers):
    a learner should see where every number came from.
    """
    seen: dict[int, Node] = {id(r): r for r in roots}
    stack = list(roots)
    while stack:
        for inp in stack.pop().inputs:
            if id(inp) not in seen:
                seen[id(inp)] = inp
                stack.append(inp)
    return sorted(seen.values(), key=_creation_id)


_creation_id = operator.attrgetter("id")  # creation order is a topological order


def _common_scope(paths: list[str]) -> str:
    parts = [p.split("/") if p else [] for p in paths]
    common: list[str] = []
    for level in zip(*parts):
        if any(name != level[0] for name in level):
            break
        common.append(level[0])
    return "/".join(common)


def _placed_scopes(nodes: list[Node], users: list[list[int]]) -> list[str]:
    """Each node's scope; a leaf made outside any scope (a parameter, an input) joins its users'.

    Parameters are created in a module's constructor, outside the scope its forward runs in;
    drawing them beside the ops that use them keeps a block's weights inside the block.
    """
    scopes = [n.scope for n in nodes]
    for i, node in enumerate(nodes):
        if node.is_leaf and not scopes[i] and users[i]:
            scopes[i] = _common_scope([nodes[u].scope for u in users[i]])
    return scopes


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _collapse_groups(scopes: list[str], collapse: Any) -> list[str | None]:
    """The folded scope each node disappears into, or None where it is drawn itself."""
    if collapse is None:
        return [None] * len(scopes)
    if isinstance(collapse, bool) or not isinstance(collapse, (int, str, list, tuple)):
        raise TypeError(
            f"draw_graph: collapse must be a depth (int), a scope path or a list of them, got {type(collapse).__name__}"
        )
    if isinstance(collapse, int):
        if collapse < 1:
            raise ValueError(f"draw_graph: collapse depth must be >= 1, got {collapse}")
        return [("/".join(s.split("/")[:collapse]) if s and s.count("/") + 1 >= collapse else None) for s in scopes]
    patterns = [collapse] if isinstance(collapse, str) else list(collapse)
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip("/"):
            raise TypeError(f"draw_graph: collapse entries must be non-empty scope paths, got {pattern!r}")
    patterns = [p.strip("/") for p in patterns]
    matched: set[str] = set()
    folded: dict[str, str | None] = {}
    for scope_path in dict.fromkeys(scopes):
        folded[scope_path] = None
        parts = scope_path.split("/") if scope_path else []
        for depth in range(1, len(parts) + 1):  # the outermost matching scope wins
            prefix = "/".join(parts[:depth])
            hits = [p for p in patterns if p == prefix or fnmatch.fnmatchcase(prefix, p)]
            if hits:
                matched.update(hits)
                folded[scope_path] = prefix
                break
    unmatched = [p for p in patterns if p not in matched]
    if unmatched:
        known = sorted({"/".join(s.split("/")[:d]) for s in folded if s for d in range(1, s.count("/") + 2)})
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "") if known else "(none: nothing here was made inside a scope)"
        raise ValueError(f"draw_graph: collapse {unmatched[0]!r} matches no scope in this graph; its scopes are {shown}")
    return [folded[s] for s in scopes]


def _name_of(node: Node) -> str:
    return node.name or ""


def _highlight_targets(highlight: Highlight, nodes: list[Node], position: dict[int, int]) -> dict[int, bool]:
    """Positions of the nodes to highlight paths to (a dict used as an ordered set)."""
    if highlight is None:
        return {}
    wanted = list(highlight) if isinstance(highlight, (list, tuple)) else [highlight]
    targets: dict[int, bool] = {}
    for item in wanted:
        if isinstance(item, Node):
            if id(item) not in position:
                named = f" {_name_of(item)!r}" if _name_of(item) else ""
                raise ValueError(
                    f"draw_graph: highlight {type(item).__name__}{named} is not in this graph (the root does not depend on it)"
                )
            targets[position[id(item)]] = True
        elif isinstance(item, str):
            found = [i for i, n in enumerate(nodes) if _name_of(n) == item]
            if not found:
                names = sorted({_name_of(n) for n in nodes if _name_of(n)})
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else "(no node has a name)"
                raise ValueError(f"draw_graph: highlight {item!r} names no node in this graph; names here: {shown}")
            targets.update(dict.fromkeys(found, True))
        else:
            raise TypeError(f"draw_graph: highlight takes Values, Tensors or names, got {type(item).__name__}")
    return targets


def _reaches_target(inputs_of: list[list[int]], targets: dict[int, bool]) -> list[bool]:
    """For each node: does it depend on a highlighted node? (Such nodes lie on a root-to-target path.)"""
    reaches = [False] * len(inputs_of)
    for i, inputs in enumerate(inputs_of):  # creation order: inputs are settled before their users
        reaches[i] = any(reaches[j] or j in targets for j in inputs)
    return reaches


def _too_many_message(count: int, limit: int, scopes: list[str], groups: list[str | None], nodes: list[Node]) -> str:
    by_scope: dict[str, int] = {}
    for scope_path, group, node in zip(scopes, groups, nodes):
        if group is None and scope_path and not node.is_leaf:
            top = "/".join(scope_path.split("/")[:2])
            by_scope[top] = by_scope.get(top, 0) + 1
    busiest = sorted(by_scope, key=lambda s: (-by_scope[s], s))[:4]
    if busiest:
        hint = f"collapse scopes, e.g. collapse={busiest!r} or collapse=2"
    else:
        hint = "build the model inside `with ta.scope(...)` blocks and collapse them, or draw a smaller piece"
    return (
        f"draw_graph: this graph needs {count} boxes, more than max_nodes={limit}; "
        f"{hint}, or pass max_nodes=None to draw it all (dot may take minutes)"
    )


# ---- labels ----
def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _number(x: float) -> str:
    """Four decimals for everyday sizes, scientific notation where decimals would hide the value."""
    if not math.isfinite(x):
        return str(x)
    x += 0.0  # -0.0 prints as 0.0000, not -0.0000
    if x == 0.0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}"
    return f"{x:.3e}"


def box_number(x: float) -> str:
    """A number as a box prints it (a viewer quoting a Value's data lets the reader find its box)."""
    return _number(x)


def _entry_format(array: np.ndarray) -> Any:
    """How to print each entry of one array: the same format for all, so columns line up.

    Fixed decimals (3 to 5, enough that the smallest nonzero entry is not shown as 0.000),
    or scientific notation for all entries when the sizes span too much for decimals.
    """
    kind = array.dtype.kind
    if kind == "b":
        return lambda x: "T" if x else "F"
    if kind in "iu":
        return lambda x: str(int(x))
    finite = np.abs(array[np.isfinite(array)].astype(np.float64))
    nonzero = finite[finite > 0]
    if nonzero.size and (nonzero.max() >= 1e5 or nonzero.min() < 1e-5):
        return lambda x: f"{x + 0.0:.2e}" if math.isfinite(x) else str(x)
    decimals = 3 if not nonzero.size else min(5, max(3, 1 - math.floor(math.log10(nonzero.min()))))
    return lambda x: f"{x + 0.0:.{decimals}f}" if math.isfinite(x) else str(x)


def _array_lines(array: np.ndarray) -> list[str]:
    """A small array as text lines, one per row of the last axis, numbers right-aligned in columns."""
    if array.size == 0:
        return [f"empty, shape {tuple(array.shape)}"]
    if array.ndim == 0:
        return [_entry_format(array)(array.item())]
    rows = array.reshape(-1, array.shape[-1])
    entry = _entry_format(array)
    cells = [[entry(x) for x in row] for row in rows.tolist()]
    width = max(len(c) for row in cells for c in row) if rows.size else 0
    depth = array.ndim
    lines = []
    for k, row in enumerate(cells):
        # Brackets open where an index starts at 0 and close where it ends, as NumPy prints them.
        index = np.unravel_index(k, array.shape[:-1]) if depth > 1 else ()
        opened = 1 + _trailing_at(index, [0] * len(index))
        closed = 1 + _trailing_at(index, [n - 1 for n in array.shape[:-1]])
        lead = " " * (depth - opened) + "[" * opened
        padded = [c.rjust(width) for c in row]
        # Long rows wrap, so a (16,) bias is a compact block instead of one very wide line.
        pieces = [" ".join(padded[at:at + ENTRIES_PER_LINE]) for at in range(0, len(padded), ENTRIES_PER_LINE)]
        lines.append(lead + pieces[0] + ("" if len(pieces) > 1 else "]" * closed))
        lines += [" " * depth + piece for piece in pieces[1:-1]]
        if len(pieces) > 1:
            lines.append(" " * depth + pieces[-1] + "]" * closed)
    return lines


def _trailing_at(index: Sequence[int], edge: Sequence[int]) -> int:
    """How many of the last axes of `index` sit at `edge` (each axis's first or last position)."""
    count = 0
    for position, limit in zip(reversed(index), reversed(edge)):
        if position != limit:
            break
        count += 1
    return count


def _mono(lines: list[str], color: str | None = None) -> str:
    body = "".join(f'{_escape(line)}<BR ALIGN="LEFT"/>' for line in lines)
    colour = f' COLOR="{color}"' if color else ""
    return f'<FONT FACE="{MONO_FONT}" POINT-SIZE="10"{colour}>{body}</FONT>'


def _small(text: str, color: str = MUTED_TEXT) -> str:
    return f'<FONT POINT-SIZE="9" COLOR="{color}">{_escape(text)}</FONT>'


def _table(rows: list[str], *, fill: str, pen: str, border: int, dashed: bool) -> str:
    style = "rounded,dashed" if dashed else "rounded"
    return (
        f'<<TABLE BORDER="{border}" STYLE="{style}" COLOR="{pen}" BGCOLOR="{fill}" CELLBORDER="0" '
        f'CELLSPACING="0" CELLPADDING="3">' + "".join(f"<TR>{row}</TR>" for row in rows) + "</TABLE>>"
    )


def _value_box(
    node: Node, scope_path: str, show_values: bool, shades: "_GradShades | None",
    backward_ran: bool, pending: bool, pending_text: str, compact: bool, is_root: bool, marked: bool,
) -> dict[str, str]:
    """The box for one value: a Value's label/data/grad in a row, or a Tensor's summary."""
    # A leaf that needs no grad is a constant: an input, a mask, a number written into an expression.
    constant = node.is_leaf and not node.requires_grad
    learns = node.is_leaf and node.requires_grad
    fill = CONST_FILL if constant else PARAM_FILL if learns else PLAIN_FILL
    grad_color = GRAD_TEXT
    if shades is not None and not constant:
        fill = shades.fill(node)
        grad_color = "#000000"  # red text would vanish on the orange shades
    pen = HIGHLIGHT_COLOR if marked else "#333333"
    border = 3 if marked else 2 if is_root else 1
    where = f" in {scope_path}" if scope_path else ""
    made_by = f"made by {node.op.name}" if not node.is_leaf else ("a leaf that learns" if learns else "a constant")
    if isinstance(node, Value):
        rows = _value_rows(node, show_values, backward_ran, pending_text, grad_color, compact)
        tooltip = f"{node.name or 'Value'}: {made_by}{where}"
    elif isinstance(node, Tensor):
        rows = _tensor_rows(node, show_values, backward_ran, pending, pending_text, grad_color, compact)
        tooltip = f"{node.name or 'Tensor'} {tuple(node.shape)} {node.dtype}: {made_by}{where}"
    else:  # another front end: show what every node has
        rows = [f"<TD>{_escape(type(node).__name__)}</TD>"]
        tooltip = f"{type(node).__name__}: {made_by}{where}"
    classes = ["value"] + (["root"] if is_root else []) + (["highlight"] if marked else [])
    return {
        "label": _table(rows, fill=fill, pen=pen, border=border, dashed=constant),
        "shape": "plain",
        "tooltip": tooltip,
        "class": " ".join(classes),
    }


def _value_rows(value: Value, show_values: bool, backward_ran: bool, pending_text: str, grad_color: str,
                compact: bool) -> list[str]:
    if value.name:
        name = f"<B>{_escape(value.name)}</B>"
    elif value.is_leaf:
        name = f'<FONT COLOR="{MUTED_TEXT}">{"leaf" if value.requires_grad else "const"}</FONT>'
    else:
        name = ""
    cells = [name] if name else []
    if show_values:
        cells.append(f"data {_number(value.data)}")
        if value.requires_grad:  # a constant receives no gradient, so it shows none
            grad_text = f"grad {_number(value.grad)}" if backward_ran else pending_text
            size = ' POINT-SIZE="10"' if compact else ""
            cells.append(f'<FONT COLOR="{grad_color}"{size}>{grad_text}</FONT>')
    elif not cells:
        cells.append("value")
    if compact:
        return [f"<TD>{cell}</TD>" for cell in cells]
    return ["<TD>" + "  ".join(cells) + "</TD>"]  # one cell keeps bold and plain text on one baseline


def _tensor_rows(tensor: Tensor, show_values: bool, backward_ran: bool, pending: bool, pending_text: str,
                 grad_color: str, compact: bool) -> list[str]:
    if tensor.name:
        name = f"<B>{_escape(tensor.name)}</B> "
    elif tensor.is_leaf:
        name = f"<B>{'leaf' if tensor.requires_grad else 'constant'}</B> "
    else:
        name = ""
    shape_text = str(tuple(tensor.shape)) if tensor.ndim else "scalar"
    rows = [f"<TD>{name}{_small(f'{shape_text} {tensor.dtype}')}</TD>"]
    if not show_values:
        return rows
    small = tensor.data.size <= (SMALL_TENSOR_COMPACT if compact else SMALL_TENSOR)
    if small:
        rows.append(f'<TD ALIGN="LEFT">{_mono(_array_lines(tensor.data))}</TD>')
    grad = tensor.grad
    if tensor.requires_grad and (pending or not backward_ran):
        rows.append(f"<TD>{_small(pending_text, grad_color)}</TD>")
    elif grad is not None:
        grad = np.asarray(grad)
        if small:
            rows.append(f'<TD ALIGN="LEFT">{_small("grad", grad_color)}<BR ALIGN="LEFT"/>{_mono(_array_lines(grad), grad_color)}</TD>')
        else:
            norm = float(np.linalg.norm(grad.astype(np.float64).ravel()))
            rows.append(f"<TD>{_small(f'grad norm {_number(norm)}', grad_color)}</TD>")
    elif backward_ran and tensor.requires_grad:
        # Only leaves and tensors that called retain_grad() keep a gradient, as in PyTorch.
        rows.append(f"<TD>{_small('grad not retained')}</TD>")
    return rows


def _op_box(node: Node, formulas: bool, marked: bool) -> dict[str, str]:
    op = node.op
    label = f"<<B>{_escape(op.name)}</B>"
    if formulas:
        label += f'<BR/><FONT POINT-SIZE="9">{_escape(op.formula)}</FONT>'
    label += ">"
    return {
        "label": label,
        "shape": "box",
        "style": "rounded,filled",
        "fillcolor": OP_FILL,
        "color": HIGHLIGHT_COLOR if marked else "#5b7db1",
        "penwidth": "2.5" if marked else "1",
        "height": "0.3",
        "margin": "0.1,0.03",
        "tooltip": f"{op.name}: {op.formula}",
        "class": "op highlight" if marked else "op",
    }


def _group_box(path: str, contained: list[Node], marked: bool, pending_text: str | None = None) -> dict[str, str]:
    """One box standing for a folded scope: its name and how much it hides."""
    ops = sum(not n.is_leaf for n in contained)
    learning_leaves = sum(n.is_leaf and n.requires_grad for n in contained)
    lines = [f"<B>{_escape(path.rpartition('/')[2])}</B>", _small(path)]
    summary = f"{ops} op{'s' if ops != 1 else ''} hidden"
    if learning_leaves:
        summary += f", {learning_leaves} parameter{'s' if learning_leaves != 1 else ''}"
    lines.append(_escape(summary))
    if pending_text:
        lines.append(_small(pending_text, GRAD_TEXT))
    return {
        "label": "<" + "<BR/>".join(lines) + ">",
        "shape": "box3d",
        "style": "filled",
        "fillcolor": GROUP_FILL,
        "color": HIGHLIGHT_COLOR if marked else "#5b6b80",
        "penwidth": "2.5" if marked else "1",
        "margin": "0.15,0.06",
        "tooltip": f"scope {path}: {summary} (drawn without collapse to see inside)",
        "class": "collapsed highlight" if marked else "collapsed",
    }


# ---- clusters and edges ----
def _emit_clusters(graph: Graph, members: dict[str, list[tuple[str, dict[str, str]]]]) -> None:
    """Write boxes into nested `cluster_` subgraphs, one per scope path, in first-use order."""
    children: dict[str, list[str]] = {}
    for path in list(members):
        while path:  # register every ancestor so a scope with only sub-scopes still gets a frame
            parent = _parent(path)
            siblings = children.setdefault(parent, [])
            if path in siblings:
                break
            siblings.append(path)
            path = parent
    numbers = {path: k for k, path in enumerate(p for p in _walk_paths(children, ""))}

    def fill(container: Graph, path: str) -> None:
        for box_id, attrs in members.get(path, ()):
            container.node(box_id, **attrs)
        for child in children.get(path, ()):
            with container.subgraph(name=f"cluster_{numbers[child]}") as cluster:
                cluster.attr(
                    label=_escape(child.rpartition("/")[2]), tooltip=_escape(child), style="rounded",
                    color=SCOPE_PEN, fontcolor="#3d4852", labeljust="l", fontsize="11",
                    **{"class": "scope"},
                )
                fill(cluster, child)

    fill(graph, "")


def _walk_paths(children: dict[str, list[str]], path: str):
    for child in children.get(path, ()):
        yield child
        yield from _walk_paths(children, child)


def _emit_edges(
    graph: Graph, nodes: list[Node], inputs_of: list[list[int]], groups: list[str | None],
    group_id: dict[str, str], targets: dict[int, bool], reaches: list[bool], boxes: BoxIds,
) -> None:
    """Input -> op -> output edges; edges touching a folded scope are merged into one per pair."""
    edges: dict[tuple, dict[str, Any]] = {}
    for i, node in enumerate(nodes):
        if node.is_leaf:
            continue
        op_name = node.op.name
        group = groups[i]
        if group is None:
            edges[(f"o{i}", f"v{i}", "out")] = {"marked": reaches[i], "shapes": [], "tip": f"{op_name} output"}
            boxes.output_edge[node.id] = _edge_id(f"o{i}", f"v{i}")
        for slot, j in enumerate(inputs_of[i]):
            source_group = groups[j]
            if group is not None and group == source_group:
                continue  # both ends inside one folded scope
            src = group_id[source_group] if source_group else f"v{j}"
            dst = group_id[group] if group else f"o{i}"
            marked = reaches[i] and (reaches[j] or j in targets)
            key = (src, dst) if (group or source_group) else (src, dst, slot)
            boxes.input_edge[(node.id, slot)] = _edge_id(*key)
            entry = edges.setdefault(key, {"marked": False, "shapes": [], "tip": f"input {slot} of {op_name}"})
            entry["marked"] = entry["marked"] or marked
            if (group or source_group) and isinstance(nodes[j], Tensor):
                shape = str(tuple(nodes[j].shape))
                if shape not in entry["shapes"]:
                    entry["shapes"].append(shape)
    for key, entry in edges.items():
        edge_key = key if key[-1] != "out" else key[:2]
        attrs: dict[str, str] = {"tooltip": _escape(entry["tip"]), "id": _edge_id(*edge_key)}
        if entry["shapes"]:
            attrs["label"] = " ".join(entry["shapes"][:2]) + (" ..." if len(entry["shapes"]) > 2 else "")
            attrs["tooltip"] = "tensors of shape " + ", ".join(entry["shapes"])
        if entry["marked"]:
            attrs.update(color=HIGHLIGHT_COLOR, penwidth="2.5", **{"class": "highlight"})
        graph.edge(key[0], key[1], **attrs)


# ---- colouring by gradient size ----
class _GradShades:
    """Bins |grad| (a tensor's norm) on a log10 scale into a few shades, with a legend."""

    def __init__(self, nodes: list[Node]):
        every_size = [_grad_size(n) for n in nodes]
        sizes = [s for s in every_size if s is not None and s > 0 and math.isfinite(s)]
        self.has_zero = any(s == 0 for s in every_size)
        self.has_none = any(s is None for s in every_size)
        self.edges: list[float] = []
        if sizes:
            low = math.floor(math.log10(min(sizes)))
            high = max(math.ceil(math.log10(max(sizes))), low + 1)
            # Whole decades when they are enough to tell nodes apart, else three equal slices.
            bins = min(len(GRAD_PALETTE) - 1, high - low) if high - low >= 3 else 3
            self.edges = [low + (high - low) * k / bins for k in range(bins + 1)]

    def fill(self, node: Node) -> str:
        size = _grad_size(node)
        if size is None or not self.edges:
            return NO_GRAD_FILL
        if size == 0:
            return GRAD_PALETTE[0]
        exponent = math.log10(size) if math.isfinite(size) else self.edges[-1]
        for k in range(len(self.edges) - 1):
            if exponent <= self.edges[k + 1]:
                return self._colour(k)
        return self._colour(len(self.edges) - 2)

    def _colour(self, k: int) -> str:
        # The lightest shade is kept for exact zeros; the bins spread over the rest.
        bins = len(self.edges) - 1
        return GRAD_PALETTE[1 + round(k * (len(GRAD_PALETTE) - 2) / max(bins - 1, 1))]

    def legend_box(self) -> dict[str, str]:
        rows = ['<TR><TD COLSPAN="2"><B>|grad|</B> (norm for tensors)</TD></TR>']
        for k in range(len(self.edges) - 1):
            span = f"{_power(self.edges[k])} to {_power(self.edges[k + 1])}"
            rows.append(f'<TR><TD BGCOLOR="{self._colour(k)}" BORDER="1" WIDTH="18"> </TD><TD ALIGN="LEFT">{span}</TD></TR>')
        if self.has_zero:
            rows.append(f'<TR><TD BGCOLOR="{GRAD_PALETTE[0]}" BORDER="1" WIDTH="18"> </TD><TD ALIGN="LEFT">exactly 0</TD></TR>')
        if self.has_none or not self.edges:
            rows.append(f'<TR><TD BGCOLOR="{NO_GRAD_FILL}" BORDER="1" WIDTH="18"> </TD><TD ALIGN="LEFT">no gradient kept</TD></TR>')
        label = '<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2" COLOR="#999999">' + "".join(rows) + "</TABLE>>"
        return {"label": label, "shape": "plain", "tooltip": "gradient size, log scale", "class": "legend"}


def _power(exponent: float) -> str:
    return f"1e{exponent:+03.0f}" if float(exponent).is_integer() else f"{10 ** exponent:.1e}"


def _grad_size(node: Node) -> float | None:
    grad = node.grad
    if grad is None:
        return None
    if isinstance(grad, float):
        return abs(grad)
    return float(np.linalg.norm(np.asarray(grad, dtype=np.float64).ravel()))
