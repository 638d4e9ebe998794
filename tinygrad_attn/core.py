"""The graph core shared by `Value` (scalars) and `Tensor` (NumPy arrays).

A node remembers the op that made it and its inputs, in order. Backward is one loop over the
nodes in reverse topological order; `backward_steps` yields a `Step` per node and `backward`
simply runs it to the end. This module knows nothing of NumPy or Graphviz: a front end
subclasses `Node` and gives each op a `backward(node, upstream_grad)` that returns one gradient
per input (None where an input needs none).
"""
from __future__ import annotations

import contextlib
import itertools
import operator
from typing import Any, Callable, Iterator, Sequence


class Op:
    """One operation: a name, a short formula for learners, and its backward rule.

    `backward(node, upstream_grad)` returns a tuple with one gradient per input of `node`.
    """

    __slots__ = ("name", "formula", "backward")

    def __init__(self, name: str, formula: str, backward: Callable[[Any, Any], tuple]):
        self.name = name
        self.formula = formula
        self.backward = backward

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


class _State:
    """Process-wide switches: grad mode, anomaly mode and the current scope path."""

    __slots__ = ("grad_enabled", "anomaly", "scope")  # read by every new node: slots read fastest

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.scope = ""


_state = _State()
_FREED = object()  # a node's `_ctx` once backward has released what its op saved


def is_grad_enabled() -> bool:
    return _state.grad_enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Build no graph inside this block (results are leaves that do not require grad)."""
    previous = _state.grad_enabled
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    previous = _state.grad_enabled
    _state.grad_enabled = True
    try:
        yield
    finally:
        _state.grad_enabled = previous


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise at the first op whose output or gradient is NaN or infinite, naming that op."""
    previous = _state.anomaly
    _state.anomaly = True
    try:
        yield
    finally:
        _state.anomaly = previous


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


class Node:
    """Base of `Value` and `Tensor`: the part of a node the backward loop uses.

    `_inputs`   the nodes this one was computed from, in argument order (a tuple, never a set)
    `_op`       the `Op` that made it, or None for a leaf
    `_ctx`      whatever the op saved for backward (released after backward unless retained)
    `_upstream` the gradient gathered so far during one backward pass
    `_hooks`    functions called with this node's gradient; one may return a replacement
    `_scope`    the scope path the node was created in
    `_index`    creation order (from `next_index()`), which is also a topological order
    `grad`      the gradient the user sees
    Subclasses provide `requires_grad`, `_retain` (keep `.grad` on a non-leaf) and `_finite(x)`.
    """

    __slots__ = ("_index", "_inputs", "_op", "_ctx", "_upstream", "_hooks", "_scope", "grad", "__weakref__")

    requires_grad: bool
    _retain: bool

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def op_name(self) -> str:
        return self._op.name if self._op is not None else "leaf"

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
        return [(inp, g) for inp, g in zip(self.node._inputs, self.sent) if g is not None]

    def __repr__(self) -> str:
        return f"Step({self.index}, op={self.op!r}, node={self.node!r})"


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
_counter = itertools.count()
next_index = _counter.__next__  # front ends stamp each new node with it


def backward_steps(root: Node, upstream_grad: Any, retain_graph: bool) -> Iterator[Step]:
    """Backpropagate from `root`, yielding one `Step` per node in the order they are visited.

    Gradients arriving at a node from several users are summed before the node is visited.
    Leaves accumulate into `.grad`; a non-leaf stores its gradient only if it retains grad.
    Without `retain_graph` each op's saved values are released once used.
    """
    order = topological_order(root)
    root._upstream = upstream_grad
    anomaly = _state.anomaly
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
                    replaced = hook(grad)
                    if replaced is not None:
                        grad = replaced
            op = node._op
            if op is None:
                node._accumulate_grad(grad)
                sent = ()
            else:
                if node._retain:
                    node._keep_grad(grad)
                if node._ctx is freed:
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
                    node._ctx = freed
            step = Step()  # filled slot by slot: cheaper than calling an __init__ once per node
            step.index = index
            step.node = node
            step.grad = grad
            step.sent = sent
            yield step
            index += 1
        finished = True
    finally:
        if not finished:  # stopped half-way: leave no gradient behind for the next pass
            for node in order:
                node._upstream = None


def backward(root: Node, upstream_grad: Any, retain_graph: bool) -> None:
    """Run `backward_steps` to the end: the whole of backward is that loop."""
    for _ in backward_steps(root, upstream_grad, retain_graph):
        pass


def _check_sent(node: Node, sent: Sequence[Any]) -> None:
    for position, g in enumerate(sent):
        if g is not None and not node._finite(g):
            raise RuntimeError(
                f"detect_anomaly: backward of '{node._op.name}' sent a non-finite gradient "
                f"to its input {position}"
            )


def check_forward(node: Node, value: Any) -> None:
    """In anomaly mode, raise if an op's output is not finite (front ends call this)."""
    if not node._finite(value):
        raise RuntimeError(f"detect_anomaly: '{node.op_name}' produced a non-finite value ({value!r:.80})")
