"""The graph core shared by `Value` (scalars) and `Tensor` (NumPy arrays).

A node remembers the op that made it and its inputs, in order. Backward is one loop over the
nodes in reverse topological order; `backward_steps` yields a `Step` per node and `backward`
simply runs it to the end. This module knows nothing of NumPy or Graphviz: an op (see
`ops/registry.py`) only has to offer `name`, `formula` and `backward(ctx, upstream_grad)`,
which returns one gradient per input (None where an input needs none). The node itself is the
`ctx`: `ctx.inputs`, `ctx.data` (the op's result) and `ctx.saved` (what forward saved, by name).

Observers (`observe(on_node=..., on_step=..., on_call=...)`) hear of every node made (on_call
also of the extra arguments its op was given) and every backward step;
they cost one attribute check when nobody listens, and they never change what is computed.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import operator
from types import MappingProxyType, SimpleNamespace
from typing import Any, Callable, Iterator, Sequence


class _State:
    """Process-wide switches: grad mode, anomaly mode, the current scope path, and whether
    anyone watches new nodes (anomaly mode or an observer)."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "watching", "last_write")  # slots read fastest

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.scope = ""
        self.watching = False
        self.last_write = -1  # node counter at the latest in-place write (see mark_written)


_state = _State()
_FREED = object()  # a node's `_saved` once backward has released what its op saved


def is_grad_enabled() -> bool:
    return _state.grad_enabled


class _GradMode:
    """`no_grad()` / `enable_grad()`: a context manager, and a decorator too (as in PyTorch)."""

    __slots__ = ("enabled", "_previous")

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_state.grad_enabled)
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc_info: Any) -> None:
        _state.grad_enabled = self._previous.pop()

    def __call__(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def run_in_mode(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self.enabled):
                return function(*args, **kwargs)

        return run_in_mode


def no_grad() -> _GradMode:
    """Build no graph inside this block (results are leaves that do not require grad)."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    return _GradMode(True)


def _update_watching() -> None:
    _state.watching = _state.anomaly or bool(_node_observers) or bool(_call_observers)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise at the first op whose output or gradient is NaN or infinite, naming that op."""
    previous = _state.anomaly
    _state.anomaly = True
    _update_watching()
    try:
        yield
    finally:
        _state.anomaly = previous
        _update_watching()


def is_anomaly_enabled() -> bool:
    return _state.anomaly


class scope:
    """Tag every node created inside `with scope(name):` with a scope path such as `block0/attn/head1`.

    The graph renderer groups nodes of one scope into a labelled cluster. A class rather than
    a generator: modules enter one per call, and this costs a fraction of `contextlib`'s wrapper.
    """

    __slots__ = ("name", "_previous")

    def __init__(self, name: str):
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"scope: name must be a non-empty string without '/', got {name!r}")
        self.name = name
        self._previous: str | None = None

    def __enter__(self) -> str:
        if self._previous is not None:
            raise RuntimeError(f"scope: the scope {self.name!r} is already entered; make a new scope(...) to nest")
        previous = self._previous = _state.scope
        path = _state.scope = f"{previous}/{self.name}" if previous else self.name
        return path

    def __exit__(self, *exc_info: Any) -> None:
        _state.scope = self._previous
        self._previous = None


def current_scope() -> str:
    return _state.scope


def place_in_scope(node: "Node", path: str) -> None:
    """Move a node into scope `path` after it was made (nn puts a weight in its module's scope)."""
    if not isinstance(path, str):
        raise TypeError(f"place_in_scope: path must be a str, got {type(path).__name__}")
    node._scope = path


# ---- observers ----
_node_observers: list[Callable[[Any], None]] = []
_step_observers: list[Callable[["Step"], None]] = []
_call_observers: list[Callable[[Any, tuple, Any], None]] = []
_NO_PARAMS: Any = MappingProxyType({})  # read-only: shared by every call without keyword arguments


class observe:
    """`with observe(on_node=f, on_step=g):` calls f(node) for every node made by an op and
    g(step) for every backward step, until the block ends. Observing changes nothing: the
    same nodes, the same numbers, the same steps. `on_call=h` calls h(node, args, params) for
    every node made, with the extra positional and keyword arguments its op's forward was
    given (axes, a mask, a scale; `()` and `{}` for most ops), so a checker can replay it."""

    def __init__(self, on_node: Callable[[Any], None] | None = None,
                 on_step: Callable[["Step"], None] | None = None,
                 on_call: Callable[[Any, tuple, Any], None] | None = None):
        for name, fn in (("on_node", on_node), ("on_step", on_step), ("on_call", on_call)):
            if fn is not None and not callable(fn):
                raise TypeError(f"observe: {name} must be callable, got {type(fn).__name__}")
        self.on_node = on_node
        self.on_step = on_step
        self.on_call = on_call

    def __enter__(self) -> "observe":
        if self.on_node is not None:
            _node_observers.append(self.on_node)
        if self.on_step is not None:
            _step_observers.append(self.on_step)
        if self.on_call is not None:
            _call_observers.append(self.on_call)
        _update_watching()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.on_node is not None:
            _node_observers.remove(self.on_node)
        if self.on_step is not None:
            _step_observers.remove(self.on_step)
        if self.on_call is not None:
            _call_observers.remove(self.on_call)
        _update_watching()


def node_made(node: "Node", op: Any, args: tuple = (), params: Any = _NO_PARAMS) -> None:
    """Called by the front ends after `op` has filled in a new node, when `_state.watching`:
    anomaly mode checks the result (recorded or not), then every node observer hears of it,
    and every call observer of it with the extra arguments its forward was given."""
    if _state.anomaly and not node._finite(node.data):
        where = f" in {node._scope}" if node._scope else ""
        raise RuntimeError(f"detect_anomaly: '{op.name}'{where} produced a non-finite value ({node.data!r:.80})")
    for observer in tuple(_node_observers):
        observer(node)
    for observer in tuple(_call_observers):
        observer(node, args, params)


# ---- nodes ----
_counter = itertools.count()
_next_index = _counter.__next__
_new_object = object.__new__


class Node:
    """Base of `Value` and `Tensor`: the part of a node the backward loop and the viewers use.

    Public, read-only view: `op` (the op that made it, None for a leaf), `inputs` (in argument
    order), `scope`, `name`, `id` (creation order: stable and a topological order), `saved`
    (what the op saved for backward, by name), `is_leaf`, `requires_grad`, `grad`.
    Subclasses provide `data`, `_finite(x)`, `_accumulate_grad`, `_keep_grad` and `_add_grads`.
    """

    __slots__ = ("_index", "_inputs", "_op", "_saved", "_upstream", "_hooks", "_scope",
                 "requires_grad", "grad", "name", "data", "__weakref__")
    # `_retain` (keep `.grad` on a non-leaf): a slot of its own where it varies per node (Tensor),
    # a class attribute where it never does (Value): one slot less on the node made most often

    initial_grad: Any = None  # what `.grad` holds before backward reaches the node
    grad_is_immutable = False  # True for Value: a kept gradient (a float) needs no copy
    retains_grad_by_default = False  # True for Value: every intermediate keeps its gradient

    # ---- the public view (read-only; attrgetter keeps each read a C call, as ops read `inputs` per step) ----
    op = property(operator.attrgetter("_op"), doc="The op that made this node (None for a leaf).")
    inputs = property(operator.attrgetter("_inputs"), doc="The nodes this one was computed from, in order.")
    scope = property(operator.attrgetter("_scope"), doc="The scope path the node was made in.")
    id = property(operator.attrgetter("_index"), doc="Creation order: stable for a graph, and a topological order.")

    @property
    def saved(self) -> SimpleNamespace:
        """What the op saved for backward, by name (`node.saved.probs`); empty for a leaf."""
        if self._saved is _FREED:
            raise RuntimeError(f"saved: '{self.op_name}' released what it saved when backward passed "
                               "(use backward(retain_graph=True) to keep it)")
        return self._saved if self._saved is not None else SimpleNamespace()

    @property
    def is_freed(self) -> bool:
        """True once backward has released what this node's op saved."""
        return self._saved is _FREED

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def op_name(self) -> str:
        return self._op.name if self._op is not None else "leaf"

    def _hook_description(self, hook: Any) -> str:
        """'hook <name> on <node>': the words a refused hook result is reported in."""
        hook_name = getattr(hook, "__qualname__", None) or repr(hook)
        node = f"the {self.op_name} node" + (f" {self.name!r}" if self.name else "") + f" (id {self._index})"
        return f"hook {hook_name} registered on {node}"

    def _checked_hook_result(self, result: Any, hook: Any, grad: Any) -> Any:
        """A hook's non-None result as the gradient that replaces `grad`; subclasses check it."""
        return result

    def save(self, **named: Any) -> None:
        """Keep values for backward under names (`ctx.save(probs=p)`, read as `ctx.saved.probs`).
        Nothing is kept when no graph is recorded."""
        if self._op is not None:
            self._saved = SimpleNamespace(**named)

    def register_hook(self, hook: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `hook(grad)` when this node's gradient is known; a non-None result replaces it.

        Returns a function that removes the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError("register_hook: this node does not require grad, so no gradient will reach it")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)

        def remove() -> None:
            if self._hooks and hook in self._hooks:
                self._hooks.remove(hook)

        return remove

    @staticmethod
    def _finite(x: Any) -> bool:
        """True if x holds no NaN or infinity (used by anomaly mode)."""
        raise NotImplementedError

    # how two gradients arriving at this node add up; a builtin, so looking it up on a node
    # gives the plain function (no bound method) and the call costs about as much as `+`
    _add_grads: Callable[[Any, Any], Any] = operator.add

    def _accumulate_grad(self, grad: Any) -> None:
        """Add a finished gradient into a leaf's `.grad`."""
        raise NotImplementedError

    def _keep_grad(self, grad: Any) -> None:
        """Store this pass's gradient on a non-leaf that retains grad (replacing the last one)."""
        raise NotImplementedError


def node_constructor(cls: type) -> Callable[..., Node]:
    """The one node constructor, specialised for a front-end class (`Value`, `Tensor`).

    `construct(data, op, inputs, requires_grad=False, name=None, node=None)` fills every field
    of a node (a new one, or `node` when a user-facing `__init__` is running). `op` and
    `inputs` are recorded only when grad mode is on and an input requires grad; otherwise the
    result is a leaf that does not require grad (as in PyTorch). The class's defaults are
    bound once here, because this runs for every node made.
    """
    initial_grad = cls.initial_grad
    retain = cls.retains_grad_by_default
    retain_per_node = "_retain" in getattr(cls, "__slots__", ())
    state = _state
    next_index = _next_index
    new = _new_object

    def construct(data: Any, op: Any, inputs: tuple, requires_grad: bool = False, name: str | None = None,
                  node: Node | None = None) -> Node:
        if op is not None:
            if state.grad_enabled:  # every op has at least one input
                requires_grad = inputs[0].requires_grad or inputs[-1].requires_grad  # one or two: no loop
                if not requires_grad and len(inputs) > 2:
                    for inp in inputs:
                        if inp.requires_grad:
                            requires_grad = True
                            break
            if not requires_grad:
                op, inputs = None, ()
        if node is None:
            node = new(cls)
        node.data = data
        node.grad = initial_grad
        node.requires_grad = requires_grad
        node.name = name
        if retain_per_node:
            node._retain = retain
        node._inputs = inputs
        node._op = op
        node._saved = None
        node._upstream = None
        node._hooks = None
        node._scope = state.scope
        node._index = next_index()
        return node

    return construct


# ---- in-place writes: a version stamp, checked by backward ----
def mark_written(node: "Node", how: str) -> None:
    """Record that `node`'s data was just changed in place (by `how`: "fill_", "setitem", an
    optimizer step). The stamp is the node counter, so it compares with the `id` of every op
    node: an op made before the write may have saved, or will read, the old numbers.

    Only writes through the engine are seen: a direct write into the NumPy array (`t.data[0] =
    1`, `t.numpy()[...] = ...`), or into an array shared with another tensor (`detach()`,
    `reshape` under no_grad share memory), cannot be detected and changes gradients silently."""
    stamp = _next_index()
    node._written = (stamp, how)
    _state.last_write = stamp


def _check_not_written(order: list["Node"]) -> None:
    """PyTorch's "modified by an inplace operation" check, run before backward changes anything.
    Free unless a write happened after the graph's oldest op node was made (the usual training
    loop writes only between backward and the next forward)."""
    last_write = _state.last_write
    first_op = next((node._index for node in order if node._op is not None), None)
    if first_op is None or last_write < first_op:
        return
    for node in order:
        if node._op is None or node._index > last_write or node._saved is _FREED:
            continue
        for position, tensor in enumerate((node, *node._inputs)):
            written = getattr(tensor, "_written", None)
            if written is not None and written[0] > node._index:
                what = "its output" if position == 0 else f"its input {position - 1}"
                shape = getattr(getattr(tensor, "data", None), "shape", None)
                raise RuntimeError(
                    f"backward: one of the tensors needed for gradient computation has been modified by an "
                    f"inplace operation: {what}{'' if shape is None else f' (shape {shape})'} of '{node._op.name}' "
                    f"(node id {node._index}) was changed by {written[1]} after '{node._op.name}' ran, so its "
                    "gradient would use the new numbers; do the change after backward(), or redo the forward pass")


# ---- backward ----
class Step:
    """One node's turn in backward: the gradient that arrived and what it sends on.

    `index` the node's position in the backward order (0 = the root), stable for one graph
    `node`  the node visited
    `grad`  the total gradient that arrived at it (after its hooks)
    `sent`  the gradient sent to each input, in input order (None where none; () for a leaf)
    """

    __slots__ = ("index", "node", "grad", "sent")

    @property
    def op(self) -> str:
        """The name of the op that made the node ("leaf" for a leaf)."""
        return self.node.op_name

    @property
    def formula(self) -> str:
        op = self.node._op
        return op.formula if op is not None else "leaf: gradient accumulates into .grad"

    @property
    def inputs(self) -> tuple:
        return self.node._inputs

    @property
    def contributions(self) -> list[tuple[Node, Any]]:
        """(input, gradient sent to it) for each input that receives one."""
        return [(inp, g) for inp, g in zip(self.node._inputs, self.sent) if g is not None and inp.requires_grad]

    def __repr__(self) -> str:
        """One line: which node, where, what arrived and how many inputs it feeds (never the
        numbers of a whole tensor: `step.grad` and `step.node` hold those)."""
        node = self.node
        shape = getattr(node.data, "shape", None)
        if node.name:
            what = repr(node.name)
        elif shape is not None:
            what = f"shape {tuple(shape)}"
        else:
            what = f"data {node.data:.4g}" if isinstance(node.data, float) else "a value"
        where = f" in {node.scope}" if node.scope else ""
        grad = self.grad
        if isinstance(grad, float):
            arrived = f"grad {grad:.4g}"
        elif getattr(grad, "shape", None) is not None:
            arrived = f"grad of shape {tuple(grad.shape)}" if grad.shape else f"grad {float(grad):.4g}"
        else:
            arrived = "no grad"
        sends = sum(g is not None for g in self.sent)
        return f"Step({self.index}, {self.op}: {what}{where}, {arrived}, sends to {sends} input{'s' if sends != 1 else ''})"


def topological_order(root: Node) -> list[Node]:
    """Every node that `root` depends on and that requires grad, in the order they were made.

    An op's output is always created after its inputs, so creation order is a topological
    order; sorting by it makes the order the same for the same graph, at any depth.
    """
    nodes = [root]
    seen = {root}  # nodes hash by identity (Tensor's == is elementwise, its hash is not)
    stack = [root]
    while stack:
        for inp in stack.pop()._inputs:
            if inp not in seen and inp.requires_grad:
                seen.add(inp)
                stack.append(inp)
                nodes.append(inp)
    nodes.sort(key=_creation_index)
    return nodes


_creation_index = operator.attrgetter("_index")


def backward_steps(root: Node, upstream_grad: Any, retain_graph: bool, _steps: bool = True) -> Iterator[Step]:
    """Backpropagate from `root`, yielding one `Step` per node in the order they are visited.

    Gradients arriving at a node from several users are summed before the node is visited.
    Leaves accumulate into `.grad`; a non-leaf stores its gradient only if it retains grad.
    Without `retain_graph` each op's saved values are released once used. With `_steps`
    False (what `backward()` asks for) the same loop runs without packaging each visit as a
    `Step`, unless an observer listens.
    """
    order = topological_order(root)
    if _state.last_write > order[0]._index:  # one comparison, unless something was written in place
        _check_not_written(order)
    root._upstream = upstream_grad
    anomaly = _state.anomaly
    step_observers = tuple(_step_observers)
    make_steps = _steps or bool(step_observers)
    freed = _FREED
    index = 0
    finished = False
    try:
        for node in reversed(order):
            grad = node._upstream
            if grad is None:  # nothing flowed here (e.g. every path to it was cut)
                continue
            node._upstream = None
            if node._hooks:
                for hook in node._hooks:
                    try:
                        replaced = hook(grad)
                    except ValueError as error:  # NumPy's "read-only", in the hook's words
                        if "read-only" not in str(error):
                            raise
                        raise RuntimeError(
                            f"backward: {node._hook_description(hook)} changed the gradient in place "
                            "(`g *= 2`); a hook must not modify its argument: return the new gradient "
                            "instead (`return g * 2`)") from None
                    if replaced is not None:  # checked (shape, type) by the node's own class
                        grad = node._checked_hook_result(replaced, hook, grad)
            op = node._op
            if op is None:
                node._accumulate_grad(grad)
                sent = ()
            else:
                if node._retain:
                    if node.grad_is_immutable:
                        node.grad = grad  # a float: nothing can change it later, so no copy
                    else:
                        node._keep_grad(grad)
                if node._saved is freed:
                    raise RuntimeError(
                        f"backward: the graph through '{op.name}' was already freed by an earlier "
                        "backward(); call backward(retain_graph=True) the first time to go through it twice"
                    )
                sent = op.backward(node, grad)
                if anomaly:
                    _check_sent(node, sent)
                for inp, g in zip(node._inputs, sent):
                    if g is not None and inp.requires_grad:
                        previous = inp._upstream
                        inp._upstream = g if previous is None else inp._add_grads(previous, g)
                if not retain_graph:
                    node._saved = freed
            if make_steps:
                step = Step()  # filled slot by slot: cheaper than calling an __init__ once per node
                step.index = index
                step.node = node
                step.grad = grad
                step.sent = sent
                if step_observers:
                    for observer in step_observers:
                        observer(step)
                yield step
            index += 1
        finished = True
    finally:
        if not finished:  # stopped half-way: leave no gradient behind for the next pass
            for node in order:
                node._upstream = None


def backward(root: Node, upstream_grad: Any, retain_graph: bool) -> None:
    """Run `backward_steps` to the end: the whole of backward is that loop (no `Step` objects
    are made for it when nobody reads them)."""
    for _ in backward_steps(root, upstream_grad, retain_graph, _steps=False):
        pass


def _check_sent(node: Node, sent: Sequence[Any]) -> None:
    for position, g in enumerate(sent):
        if g is not None and not node._finite(g):
            where = f" in {node._scope}" if node._scope else ""
            raise RuntimeError(
                f"detect_anomaly: backward of '{node._op.name}'{where} sent a non-finite gradient "
                f"to its input {position}"
            )
