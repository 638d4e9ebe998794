"""Draw the compute graph behind a `Value` or `Tensor` with Graphviz.

`draw_graph(root)` walks every input of every node that `root` depends on (inputs that need
no grad included: constant tensors, numbers written into expressions) and returns a
`viz.render.Graph`, which shows itself as SVG in Jupyter:

- a box per value: a `Value`'s name, data and grad; a `Tensor`'s name, shape and dtype, its
  numbers when it has at most 16, and its gradient once backward has run (before that, every
  box that will receive one says "grad: not computed yet", never a 0 nobody computed);
- a rounded box per op with the op's name; hovering shows its local rule (the op's formula);
- nodes made inside `scope(...)` blocks (and nn modules) sit in nested, labelled clusters.

At scale, `collapse` folds chosen scopes into one node each (a model too big for a screen is
folded by default, as deep as still fits, with a caption saying so), `highlight` marks every
path from the root to chosen nodes, and `color_by="grad"` shades values (and folded boxes) by
gradient size. Constants say what they are ("targets", "token ids") and are drawn dashed and
grey, never like a parameter that learns. Node ids follow
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
from .render import DEFAULT_FONT, MONO_FONT, Graph, pipe

__all__ = ["draw_graph", "BoxIds", "SMALL_TENSOR", "DEFAULT_MAX_NODES", "HIGHLIGHT_COLOR", "PENDING_GRAD",
           "PENDING_GRAD_SHORT",
           "box_number"]

SMALL_TENSOR = 16  # tensors with at most this many elements show their numbers
SMALL_TENSOR_COMPACT = 9  # the same in a compact drawing (a 3 x 3 matrix, not a 16-wide bias)
ENTRIES_PER_LINE = 8  # longer rows wrap onto further lines
DEFAULT_MAX_NODES = 2000  # past this, dot takes tens of seconds and nobody can read the result
SPINE_WEIGHT = "4"  # dot's edge weight for computed values (leaves' edges keep weight 1)
FIT_WIDTH_PT = 1400  # a model's graph wider than this (about two notebook widths) folds by default...
FIT_HEIGHT_PT = 2000  # ...or taller than this (two screens of scrolling)
FIT_BOXES = 150  # the same limit counted in boxes, where no renderer can measure the width

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
    collapse: int | str | Sequence[str] | None = "auto",
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
    collapse     "auto" (the default): a model's graph bigger than a screen (FIT_WIDTH_PT by
                 FIT_HEIGHT_PT) folds its modules, as deep as still fits, and says so in its caption
                 (`graph.note`); None: fold nothing; a depth: `collapse=2` folds every scope two levels deep (gpt/blocks.0)
                 with all it holds into one box; or scope names or patterns, spelled as the scope
                 path ("gpt/blocks.0", "gpt/blocks.*") or as the parameter names spell the module
                 ("blocks.0", "blocks.*.attn")
    highlight    a Value/Tensor, a name/label string (a parameter's name such as
                 "blocks.0.attn.qkv_proj.weight", or a scope's), or a list of them: every path from
                 the root to them is drawn in red (nodes and edges carry the SVG class "highlight");
                 a folded box holding one says which
    color_by     "grad": shade values by gradient size (|grad|, or the norm for tensors) on a log
                 scale; a folded box by the norm of every gradient kept inside it
    formulas     write each op's formula under its name (it is always the op's tooltip)
    max_nodes    refuse to draw more boxes than this (None: no limit), suggesting what to collapse
    title        a caption above the graph
    pending_grads  draw every gradient as "not computed yet" (one line per box), for a viewer that
                 fills them in per step; `graph.boxes` names the boxes (see `BoxIds`)
    compact      narrow boxes: a Value's name, data and grad on lines of their own, so a wide graph
                 (the worked example) still fits a screen's width at a readable size
    """
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR' or 'TB' (or 'RL', 'BT'), got {rankdir!r}")
    if color_by not in (None, "grad"):
        raise ValueError(f"draw_graph: color_by must be None or 'grad', got {color_by!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"draw_graph: max_nodes must be a positive int or None, got {max_nodes!r}")
    options = dict(rankdir=rankdir, show_values=show_values, highlight=highlight, color_by=color_by,
                   formulas=formulas, max_nodes=max_nodes, title=title, pending_grads=pending_grads, compact=compact)
    roots = _as_roots(root)
    if isinstance(collapse, str) and collapse == "auto":
        return _draw_fitting(roots, options)
    return _draw(roots, collapse=collapse, **options)


def _draw(roots: list[Node], *, collapse: Any, rankdir: str, show_values: bool, highlight: Highlight,
          color_by: str | None, formulas: bool, max_nodes: int | None, title: str | None, pending_grads: bool,
          compact: bool, walk: tuple | None = None) -> Graph:
    """The drawing itself (`walk`: the graph's `_walk`, when the caller has it already)."""
    nodes, position, inputs_of, users, scopes = walk or _walk(roots)
    groups = _collapse_groups(scopes, collapse)
    targets = _highlight_targets(highlight, nodes, position, scopes)
    reaches = _reaches_target(inputs_of, targets)
    root_ids = {position[id(r)] for r in roots}

    group_names = list(dict.fromkeys(g for g in groups if g is not None))
    group_id = {name: f"s{k}" for k, name in enumerate(group_names)}
    box_count = _box_count(nodes, groups)
    if max_nodes is not None and box_count > max_nodes:
        raise ValueError(_too_many_message(box_count, max_nodes, scopes, groups, nodes))

    backward_ran = not pending_grads and _backward_ran(nodes)
    grads = [_shown_grad(n, i in root_ids, backward_ran) for i, n in enumerate(nodes)]
    group_contents: dict[str, list[int]] = {name: [] for name in group_names}
    for i, group in enumerate(groups):
        if group is not None:
            group_contents[group].append(i)
    groups_grad = {name: _norm_of([grads[i] for i in contained]) for name, contained in group_contents.items()}
    shades = _GradShades([_grad_size(g) for g in grads] + list(groups_grad.values())) if color_by == "grad" else None

    graph = Graph("compute_graph")
    graph.attr(rankdir=rankdir, fontname=DEFAULT_FONT, fontsize="12", nodesep="0.12" if compact else "0.25",
               ranksep="0.35")
    _caption(graph, title, None)
    graph.attr("node", fontname=DEFAULT_FONT, fontsize="11")
    graph.attr("edge", fontname=DEFAULT_FONT, fontsize="9", color="#555555", arrowsize="0.7")

    # Every box belongs to a scope path; a folded scope sits as one box in its parent's cluster.
    members: dict[str, list[tuple[str, dict[str, str]]]] = {}

    def place(scope_path: str, box_id: str, attrs: dict[str, str]) -> None:
        members.setdefault(scope_path, []).append((box_id, attrs))

    pending = PENDING_GRAD_SHORT if compact else PENDING_GRAD
    boxes = BoxIds(group=dict(group_id), pending_text=pending)
    for i, node in enumerate(nodes):
        if groups[i] is not None:
            boxes.value[node.id] = group_id[groups[i]]
            continue
        marked = targets.get(i, False) or reaches[i]
        box = _value_box(node, scopes[i], grads[i], _constant_role(node, [nodes[u] for u in users[i]]),
                         show_values, shades, backward_ran, pending_grads, pending, compact, i in root_ids, marked)
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
        held = [_name_of(nodes[i]) or f"a {type(nodes[i]).__name__}" for i in contained if targets.get(i, False)]
        fill = shades.fill_size(groups_grad[name]) if shades is not None else GROUP_FILL
        box = _group_box(name, [nodes[i] for i in contained], marked, pending if pending_grads else None, held, fill)
        place(_parent(name), group_id[name], {**box, "id": group_id[name]})
        if pending_grads:
            boxes.grad_boxes.add(group_id[name])

    _emit_clusters(graph, members)
    _emit_edges(graph, nodes, inputs_of, groups, group_id, targets, reaches, boxes, scopes)
    if shades is not None:
        graph.node("legend", **shades.legend_box())
    graph.boxes = boxes
    graph.box_count = box_count
    return graph


def _walk(roots: list[Node]) -> tuple[list[Node], dict[int, int], list[list[int]], list[list[int]], list[str]]:
    """The graph as lists: nodes in creation order, each node's position, its inputs' and its
    users' positions, and the scope each is drawn in."""
    nodes = _collect(roots)
    position = {id(n): i for i, n in enumerate(nodes)}
    inputs_of = [[position[id(inp)] for inp in n.inputs] for n in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for i, inputs in enumerate(inputs_of):
        for j in inputs:
            users[j].append(i)
    return nodes, position, inputs_of, users, _placed_scopes(nodes, users)


def _caption(graph: Graph, title: str | None, note: str | None) -> None:
    """The title (and the fold's note, a smaller line each) above the drawing; `graph.note` keeps the note."""
    graph.note = note
    if title or note:
        caption = [f'<FONT POINT-SIZE="16">{_escape(title)}</FONT>'] if title else []
        caption += [_small(line, "#3d4852") for line in note.splitlines()] if note else []
        graph.graph_attr.update(label="<" + "<BR/>".join(caption) + ">", labelloc="t")


def _box_count(nodes: list[Node], groups: list[str | None]) -> int:
    """Boxes drawn: one per folded scope, else one per value and one per op."""
    folded = {g for g in groups if g is not None}
    return len(folded) + sum(1 + (not n.is_leaf) for n, g in zip(nodes, groups) if g is None)


def _draw_fitting(roots: list[Node], options: dict[str, Any]) -> Graph:
    """The default fold. A model's graph (scopes nested two deep or more: the model, then its
    modules) that is wider than a screen, or bigger than max_nodes, is drawn with its modules
    folded, as deep as still fits; the caption says so and how to open more. Other graphs are
    drawn whole."""
    walk = _walk(roots)
    nodes, scopes = walk[0], walk[4]
    deepest = max((path.count("/") + 1 for path in scopes if path), default=0)
    everything = _box_count(nodes, [None] * len(nodes))
    limit = options["max_nodes"]
    if deepest < 2 or (limit is None or everything <= limit) and everything <= FIT_BOXES // 3:
        return _draw(roots, collapse=None, walk=walk, **options)  # one level of scopes, or small
    if limit is None or everything <= limit:
        whole = _draw(roots, collapse=None, walk=walk, **options)
        if _fits_a_screen(whole):
            return whole
    for depth in range(deepest - 1, 1, -1) or [2]:  # the deepest fold that fits, else depth 2
        folded = _draw(roots, collapse=depth, walk=walk, **options)
        if depth == 2 or _fits_a_screen(folded):
            break
    opens = f"collapse={depth + 1} opens one level more, " if depth < deepest else ""
    _caption(folded, options["title"], f"Folded at depth {depth} to fit a screen ({everything} boxes in full).\n"
                                       f"{opens}collapse=None draws everything.")
    return folded


def _fits_a_screen(graph: Graph) -> bool:
    """Laid out within FIT_WIDTH_PT x FIT_HEIGHT_PT (dot is quick at these sizes); without a
    renderer, no more than FIT_BOXES boxes."""
    try:
        plain = pipe(graph.source, "plain", quiet=True).decode("utf-8", "replace")
        _, _, width, height = plain.split(maxsplit=4)[:4]  # "graph <scale> <width> <height>", in inches
        width_pt, height_pt = float(width) * 72, float(height) * 72
    except (RuntimeError, OSError, ValueError):
        return graph.box_count <= FIT_BOXES
    return width_pt <= FIT_WIDTH_PT and height_pt <= FIT_HEIGHT_PT


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
            hits = [p for p in patterns if _names_scope(p, prefix)]
            if hits:
                matched.update(hits)
                folded[scope_path] = prefix
                break
    unmatched = [p for p in patterns if p not in matched]
    if unmatched:
        known = sorted({_module_name("/".join(s.split("/")[:d])) or s.split("/")[0]
                        for s in folded if s for d in range(1, s.count("/") + 2)})
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "") if known else "(none: nothing here was made inside a scope)"
        raise ValueError(f"draw_graph: collapse {unmatched[0]!r} matches no scope in this graph; its scopes are {shown}")
    return [folded[s] for s in scopes]


def _module_name(path: str) -> str:
    """A scope path as the parameter names spell it: "gpt/blocks.0/attn" -> "blocks.0.attn"
    (the outermost scope is the model itself, which its parameter names leave out)."""
    return ".".join(path.split("/")[1:])


def _names_scope(pattern: str, path: str) -> bool:
    """Does a name or pattern a learner typed stand for this scope path? Either spelling counts:
    the path ("gpt/blocks.0", "gpt/blocks.*") or the module name ("blocks.0", "blocks.*")."""
    spellings = (path, path.replace("/", "."), _module_name(path))
    return any(pattern == name or fnmatch.fnmatchcase(name, pattern) for name in spellings if name)


def _name_of(node: Node) -> str:
    return node.name or ""


def _highlight_targets(highlight: Highlight, nodes: list[Node], position: dict[int, int],
                       scopes: list[str]) -> dict[int, bool]:
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
            if not found:  # a scope's name: every value made inside it
                found = [i for i, path in enumerate(scopes)
                         if path and any(_names_scope(item.strip("/"), "/".join(path.split("/")[:d]))
                                         for d in range(1, path.count("/") + 2))]
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


# What an unnamed constant is, told by the op and input slot it feeds (names set where the
# constant is made, "positions" or "1/√d = 0.5", say more and win).
CONSTANT_ROLES = {
    ("embedding", 0): "token ids",
    ("cross_entropy", 1): "targets",
    ("nll_loss", 1): "targets",
    ("masked_fill", 1): "mask (True = filled in)",
    ("where", 0): "condition (True = take the first)",
    ("biased_attention_weights", 2): "attention bias (added to the scores)",
}


def _constant_role(node: Node, users: list[Node]) -> str | None:
    """The words for a constant leaf: its name, else the role its first user gives it."""
    if not node.is_leaf or node.requires_grad:
        return None
    if node.name:
        return node.name
    for user in users:
        for slot, inp in enumerate(user.inputs):
            if inp is node and (user.op.name, slot) in CONSTANT_ROLES:
                if user.op.name == "embedding" and _looks_positional(user.inputs[1]):
                    return "positions"  # the ids into a position table (nanoGPT's wpe, our pos_emb)
                return CONSTANT_ROLES[(user.op.name, slot)]
    return None


def _looks_positional(table: Node) -> bool:
    name = (table.name or "").lower()
    return "pos" in name or "wpe" in name


def _value_box(
    node: Node, scope_path: str, grad: Any, role: str | None, show_values: bool, shades: "_GradShades | None",
    backward_ran: bool, pending: bool, pending_text: str, compact: bool, is_root: bool, marked: bool,
) -> dict[str, str]:
    """The box for one value: a Value's label/data/grad in a row, or a Tensor's summary."""
    # A leaf that needs no grad is a constant: an input, a mask, a number written into an expression.
    constant = node.is_leaf and not node.requires_grad
    learns = node.is_leaf and node.requires_grad
    fill = CONST_FILL if constant else PARAM_FILL if learns else PLAIN_FILL
    grad_color = GRAD_TEXT
    if shades is not None and not constant:
        fill = shades.fill_size(_grad_size(grad))
        grad_color = "#000000"  # red text would vanish on the orange shades
    pen = HIGHLIGHT_COLOR if marked else "#333333"
    border = 3 if marked else 2 if is_root else 1
    where = f" in {scope_path}" if scope_path else ""
    made_by = (f"made by {node.op.name}" if not node.is_leaf else "a leaf that learns" if learns
               else f"a constant ({role}), it never learns" if role else "a constant, it never learns")
    if isinstance(node, Value):
        rows = _value_rows(node, role, show_values, backward_ran, pending_text, grad_color, compact)
        tooltip = f"{node.name or 'Value'}: {made_by}{where}"
    elif isinstance(node, Tensor):
        rows = _tensor_rows(node, grad, role, show_values, backward_ran, pending, pending_text, grad_color, compact)
        tooltip = f"{node.name or 'Tensor'} {tuple(node.shape)} {node.dtype}: {made_by}{where}"
    else:  # another front end: show what every node has
        rows = [f"<TD>{_escape(type(node).__name__)}</TD>"]
        tooltip = f"{type(node).__name__}: {made_by}{where}"
    classes = ["value"] + (["root"] if is_root else []) + (["constant"] if constant else []) + (["highlight"] if marked else [])
    return {
        "label": _table(rows, fill=fill, pen=pen, border=border, dashed=constant),
        "shape": "plain",
        "tooltip": tooltip,
        "class": " ".join(classes),
    }


def _value_rows(value: Value, role: str | None, show_values: bool, backward_ran: bool, pending_text: str,
                grad_color: str, compact: bool) -> list[str]:
    if value.name and value.requires_grad:
        name = f"<B>{_escape(value.name)}</B>"
    elif value.is_leaf:
        name = f'<FONT COLOR="{MUTED_TEXT}">{_escape(role or "const") if not value.requires_grad else "leaf"}</FONT>'
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


def _tensor_rows(tensor: Tensor, grad: Any, role: str | None, show_values: bool, backward_ran: bool, pending: bool,
                 pending_text: str, grad_color: str, compact: bool) -> list[str]:
    if role:  # a constant: muted, so it never reads like a parameter that learns
        name = f'<FONT COLOR="{MUTED_TEXT}">{_escape(role)}</FONT> '
    elif tensor.name:
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
    if tensor.requires_grad and (pending or not backward_ran):
        rows.append(f"<TD>{_small(pending_text, grad_color)}</TD>")
    elif grad is not None and tensor.grad is None and tensor.data.size == 1:  # the root's seed, never stored
        rows.append(f"<TD>{_small('grad 1 (the seed: dloss/dloss)', grad_color)}</TD>")
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


def _group_box(path: str, contained: list[Node], marked: bool, pending_text: str | None = None,
               held: Sequence[str] = (), fill: str = "") -> dict[str, str]:
    """One box standing for a folded scope: its name, how much it hides, the highlighted nodes
    it holds."""
    ops = sum(not n.is_leaf for n in contained)
    learning_leaves = sum(n.is_leaf and n.requires_grad for n in contained)
    short = path.rpartition("/")[2]
    lines = [f"<B>{_escape(short)}</B>"]
    if (_module_name(path) or path) != short:  # where it sits, as parameter names spell it
        lines.append(_small(_module_name(path) or path))
    summary = f"{ops} op{'s' if ops != 1 else ''} hidden"
    if learning_leaves:
        summary += f", {learning_leaves} parameter{'s' if learning_leaves != 1 else ''}"
    lines.append(_escape(summary))
    for name in held[:3]:
        lines.append(f'<FONT POINT-SIZE="9"><B>holds {_escape(name)}</B></FONT>')  # black: readable on every shade
    if len(held) > 3:
        lines.append(_small(f"and {len(held) - 3} more highlighted", "#000000"))
    if pending_text:
        lines.append(_small(pending_text, GRAD_TEXT))
    return {
        "label": "<" + "<BR/>".join(lines) + ">",
        "shape": "box3d",
        "style": "filled",
        "fillcolor": fill or GROUP_FILL,
        "color": HIGHLIGHT_COLOR if marked else "#5b6b80",
        "penwidth": "2.5" if marked else "1",
        "margin": "0.15,0.06",
        "tooltip": f"scope {path} ({_module_name(path) or path}): {summary}; collapse=None draws what is inside",
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
    group_id: dict[str, str], targets: dict[int, bool], reaches: list[bool], boxes: BoxIds, scopes: list[str],
) -> None:
    """Input -> op -> output edges; edges touching a folded scope are merged into one per pair."""
    edges: dict[tuple, dict[str, Any]] = {}
    for i, node in enumerate(nodes):
        if node.is_leaf:
            continue
        op_name = node.op.name
        group = groups[i]
        if group is None:
            edges[(f"o{i}", f"v{i}", "out")] = {"marked": reaches[i], "shapes": [], "tip": f"{op_name} output",
                                                "spine": True}
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
            entry = edges.setdefault(key, {"marked": False, "shapes": [], "tip": f"input {slot} of {op_name}",
                                           "spine": False})
            entry["marked"] = entry["marked"] or marked
            # Computed values flowing on (not a leaf's way in) pull hardest, so the main path runs
            # straight down instead of drifting sideways round the clusters of weights.
            entry["spine"] = entry["spine"] or not nodes[j].is_leaf
            # A computed value entering another scope's frame comes two ranks early: the weights
            # and constants inside that frame then sit below the value's own frame, not beside it
            # (beside it, each frame would be pushed sideways: a staircase across the page).
            entry["minlen"] = entry.get("minlen") or (not nodes[j].is_leaf and scopes[j] != scopes[i] and not group)
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
        if entry["spine"]:
            attrs["weight"] = SPINE_WEIGHT
        if entry.get("minlen"):
            attrs["minlen"] = "2"
        graph.edge(key[0], key[1], **attrs)


# ---- colouring by gradient size ----
class _GradShades:
    """Bins |grad| (a tensor's norm) on a log10 scale into a few shades, with a legend."""

    def __init__(self, every_size: list[float | None]):
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

    def fill_size(self, size: float | None) -> str:
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
        rows = ['<TR><TD COLSPAN="2"><B>|grad|</B> (norm for tensors and folded boxes)</TD></TR>']
        for k in range(len(self.edges) - 1):
            span = f"{_power(self.edges[k])} to {_power(self.edges[k + 1])}"
            rows.append(f'<TR><TD BGCOLOR="{self._colour(k)}" BORDER="1" WIDTH="18"> </TD><TD ALIGN="LEFT">{span}</TD></TR>')
        if self.has_zero:
            rows.append(f'<TR><TD BGCOLOR="{GRAD_PALETTE[0]}" BORDER="1" WIDTH="18"> </TD><TD ALIGN="LEFT">exactly 0</TD></TR>')
        if self.has_none or not self.edges:
            rows.append(f'<TR><TD BGCOLOR="{NO_GRAD_FILL}" BORDER="1" WIDTH="18"> </TD><TD ALIGN="LEFT">'
                        'not kept (an intermediate: retain_grad() keeps one)</TD></TR>')
        label = '<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2" COLOR="#999999">' + "".join(rows) + "</TABLE>>"
        return {"label": label, "shape": "plain", "tooltip": "gradient size, log scale", "class": "legend"}


def _power(exponent: float) -> str:
    return f"1e{exponent:+03.0f}" if float(exponent).is_integer() else f"{10 ** exponent:.1e}"


def _shown_grad(node: Node, is_root: bool, backward_ran: bool) -> Any:
    """The gradient a box shows: the node's own, or for a one-number root after backward the seed
    1 (backward starts from it; a non-leaf root does not keep it)."""
    grad = node.grad
    if grad is None and is_root and backward_ran and node.requires_grad and isinstance(node, Tensor) \
            and node.data.size == 1:
        return np.ones(node.shape)
    return grad


def _grad_size(grad: Any) -> float | None:
    if grad is None:
        return None
    if isinstance(grad, float):
        return abs(grad)
    return float(np.linalg.norm(np.asarray(grad, dtype=np.float64).ravel()))


def _norm_of(grads: list[Any]) -> float | None:
    """The norm of several gradients together (None if none is kept)."""
    sizes = [_grad_size(g) for g in grads]
    kept = [size for size in sizes if size is not None]
    return math.sqrt(sum(size * size for size in kept)) if kept else None
