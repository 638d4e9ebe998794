"""A planted bug, and the checker that finds where it first shows.

A Bug is one piece of an implementation (an op's backward rule, an op's forward, the core's
gradient accumulation, or a forward written in engine ops) in a broken version the student
reads, a graph built with it, and a reference for that graph in plain float64 NumPy: each named
stage's value and gradient. `check(impl)` plants `impl` (the broken one by default, or the
student's fix) and looks in three places, in order:

1. forward: each named stage against the reference, in forward order; the first wrong node is
   named with the place (batch 0, head 1, query token 2, key token 0) and both numbers;
2. each node's own backward: `gradcheck(per_node=True)` names the first node, in backward
   order, whose rule disagrees with finite differences of its own forward (or that received
   something other than the sum of what its users sent);
3. the gradients: each named stage's gradient against the reference's, in backward order, so
   a wrong forward that backward differentiates faithfully is named where its gradient first
   differs.

`stepper(impl)` opens the BackwardStepper on the graph built with the bug planted.
"""
from __future__ import annotations

import contextlib
import inspect
import textwrap
from typing import Any, Callable, ContextManager, Sequence

import numpy as np

from ...core import topological_order
from ...gradcheck import gradcheck
from ...scalar import Value
from ...viz import BackwardStepper
from ..exercises.base import Result, compare_array, place

__all__ = ["Bug"]


class Bug:
    """One classic bug, planted.

    name, title   what the zoo and the notebook call it
    symptom       what a learner would notice, before looking for the cause
    slot          the piece of code the bug lives in (what the student rewrites)
    buggy, fixed  that piece, broken and mended (the same signature)
    plant         impl -> a context manager in which the engine runs impl
    build         impl -> (fn, inputs): fn(*inputs) is the scalar loss, its stages named
    reference     () -> [(stage name, axes, value, gradient)] in forward order, plain NumPy
    """

    def __init__(self, name: str, title: str, symptom: str, slot: str, buggy: Callable[..., Any],
                 fixed: Callable[..., Any], plant: Callable[[Callable[..., Any]], ContextManager],
                 build: Callable[[Callable[..., Any]], tuple[Callable[..., Any], list]],
                 reference: Callable[[], list[tuple[str, Sequence[str], Any, Any]]]):
        self.name, self.title, self.symptom, self.slot = name, title, symptom, slot
        self.buggy, self.fixed = buggy, fixed
        self._plant, self._build, self._reference = plant, build, reference

    def __repr__(self) -> str:
        return f"Bug({self.name!r}: {self.title})"

    def source(self) -> str:
        """The broken code, as the student reads it."""
        return textwrap.dedent(inspect.getsource(self.buggy))

    # ---- the checker ----
    def check(self, impl: Callable[..., Any] | None = None) -> Result:
        """Plant `impl` (default: the bug) and say where the graph first goes wrong."""
        impl = self.buggy if impl is None else impl
        if not callable(impl):
            return Result(self.name, False, f"Not yet: check needs a function for {self.slot}, got {type(impl).__name__}.")
        try:
            with self._plant(impl):
                return self._check_planted(impl)
        except NotImplementedError:
            return Result(self.name, False, f"Not yet: your {self.slot} still raises NotImplementedError.")

    def _check_planted(self, impl: Callable[..., Any]) -> Result:
        fn, inputs = self._build(impl)
        stages = self._reference()
        try:
            loss = fn(*inputs)
        except NotImplementedError:
            raise
        except Exception as error:
            return self._fail(f"building the graph raised {type(error).__name__}: {error}")
        nodes = _named_nodes(loss)
        forward = self._first_wrong(stages, nodes, "value")
        if forward is not None and not all(np.all(np.isfinite(np.asarray(n.data, dtype=np.float64)))
                                           for n in nodes.values()):
            return self._fail(f"the forward goes wrong first at {forward} Backward through a NaN or inf gives NaN: "
                              "every gradient below that node is lost.")
        try:
            gradcheck(fn, inputs, per_node=True, atol=1e-7, rtol=1e-6)
            per_node = None
        except AssertionError as error:
            per_node = str(error)
        except NotImplementedError:
            raise
        except Exception as error:  # a backward that cannot even run is a wrong backward too
            per_node = f"backward raised {type(error).__name__}: {error}"
        if forward is None and per_node is None:
            try:
                loss.backward()
            except NotImplementedError:
                raise
            except Exception as error:
                return self._fail(f"backward raised {type(error).__name__}: {error}")
            gradient = self._first_wrong(list(reversed(stages)), nodes, "gradient")
            if gradient is None:
                return Result(self.name, True, f"Fixed: every stage of the graph ({', '.join(s[0] for s in stages)}) "
                                               "has the right value and the right gradient, and every node's own "
                                               "backward agrees with finite differences.")
            return self._fail(f"every node's value is right and every node's own backward agrees with finite "
                              f"differences, yet the gradient first goes wrong at {gradient}")
        if forward is None:
            return self._fail(f"the forward is right; the first node whose own backward is wrong, in backward "
                              f"order, is named by the per-node gradcheck: {per_node}")
        message = f"the forward goes wrong first at {forward}"
        if per_node is None:
            loss.backward()
            gradient = self._first_wrong(list(reversed(stages)), nodes, "gradient")
            message += (" Every node's own backward is right (the per-node gradcheck passes), so backward "
                        "faithfully differentiates the wrong forward")
            message += f": the gradient first goes wrong at {gradient}" if gradient else "."
        else:
            message += f" The per-node gradcheck then says: {per_node}"
        return self._fail(message)

    def _fail(self, message: str) -> Result:
        return Result(self.name, False, f"Not yet ({self.title}): {message}")

    def _first_wrong(self, stages: list, nodes: dict, what: str) -> str | None:
        for name, axes, value, grad in stages:
            node = nodes.get(name)
            if node is None:
                return f"node '{name}': the graph has no node of that name (name the stage: x.name = '{name}')."
            got = node.data if what == "value" else node.grad
            expected = value if what == "value" else grad
            if what == "gradient" and got is None:
                return f"node '{name}': it received no gradient (expected dL/d{name} with shape {np.shape(expected)})."
            quantity = "value" if what == "value" else f"gradient dL/d{name}"
            observed = _observe(name, node, what, axes)
            message = compare_array(quantity, got, expected, axes, patterns=not observed)
            if message:
                return f"node '{name}' ({_made_by(node)}): {message.replace('your ', 'its ', 1)}{observed}"
        return None

    # ---- the stepper on the broken graph ----
    def stepper(self, impl: Callable[..., Any] | None = None, **options: Any) -> BackwardStepper:
        """A BackwardStepper on the graph built with `impl` (default: the bug) planted; backward is
        run to the end while it is planted, then the view goes back to the first step."""
        impl = self.buggy if impl is None else impl
        with self._plant(impl):
            fn, inputs = self._build(impl)
            stepper = BackwardStepper(fn(*inputs), title=options.pop("title", f"bug zoo: {self.title}"), **options)
            stepper.goto(-1)  # run backward now, with the bug in place
        stepper.goto(0)
        return stepper


def _named_nodes(root: Any) -> dict:
    return {node.name: node for node in topological_order(root) if node.name}


def _made_by(node: Any) -> str:
    made = "a leaf" if node.op is None else f"made by '{node.op.name}'"
    shape = f", shape {node.shape}" if not isinstance(node, Value) else ""
    return made + shape


def _observe(name: str, node: Any, what: str, axes: Sequence[str]) -> str:
    """One more fact about a wrong node, when it says something the numbers alone do not."""
    if what != "value" or isinstance(node, Value):
        return ""
    data = np.asarray(node.data, dtype=np.float64)
    finite_inputs = all(np.all(np.isfinite(np.asarray(i.data, dtype=np.float64))) for i in node.inputs)
    if not np.all(np.isfinite(data)) and finite_inputs and node.inputs:
        biggest = max(float(np.max(np.abs(i.data))) for i in node.inputs)
        return (f" Its inputs are all finite (the largest |entry| is {biggest:.6g}), so '{node.op.name}' itself "
                "made the non-finite numbers: exp of a number above 709 is inf, and inf/inf is NaN.")
    if name == "weights":
        sums = data.sum(axis=-1)
        off = np.argwhere(~np.isclose(sums, 1.0) & (sums > 0))
        if off.size:
            row = tuple(int(i) for i in off[0])
            return (f" Attention weights sum to 1 over the keys, but those of {place(row, axes)} sum to "
                    f"{float(sums[row]):.6g}.")
    return ""


@contextlib.contextmanager
def nothing_planted(impl: Callable[..., Any]):
    """For a bug whose slot is a forward written in engine ops: `build` uses impl directly."""
    yield
