"""W3: a scalar-autograd MLP [2, 16, 16, 1] on 100 two-moons points, one forward + backward.

The workload is written once, generically over a scalar ``Value`` class (anything with
``+ - * / ** relu()``, ``.backward()``, ``.data`` and ``.grad``), so the same graph can be
built with micrograd or with another engine:

- ``GenericMLP`` is a small MLP over a given ``Value`` class, for engines without one;
- ``micrograd_mlp`` builds micrograd's own ``micrograd.nn.MLP``;
- both load the same initial weights (``workloads.mlp_init_weights``), so their losses agree
  exactly when the engines do the same float arithmetic.

The loss is micrograd's demo loss: mean hinge loss ``relu(1 - y * score)`` over the points
plus ``1e-4 * sum(p * p)`` over the parameters.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from benchmarks.workloads import (
    W3_LAYER_SIZES,
    W3_REG_ALPHA,
    Prepared,
    mlp_init_weights,
    two_moons,
)


# ------------------------------------------------------------------- a generic scalar MLP


class GenericNeuron:
    """``act = sum(w_i * x_i) + b``, then ReLU unless it is an output neuron (as in micrograd)."""

    def __init__(self, value_cls: type, weights: list[float], bias: float, nonlinear: bool) -> None:
        self.w = [value_cls(w) for w in weights]
        self.b = value_cls(bias)
        self.nonlinear = nonlinear

    def __call__(self, inputs: list[Any]) -> Any:
        act = sum((wi * xi for wi, xi in zip(self.w, inputs)), self.b)
        return act.relu() if self.nonlinear else act

    def parameters(self) -> list[Any]:
        """Weights, then the bias."""
        return self.w + [self.b]


class GenericLayer:
    """A list of neurons sharing the same inputs."""

    def __init__(self, value_cls: type, weights: list[list[float]], nonlinear: bool) -> None:
        self.neurons = [GenericNeuron(value_cls, row[:-1], row[-1], nonlinear) for row in weights]

    def __call__(self, inputs: list[Any]) -> Any:
        outputs = [neuron(inputs) for neuron in self.neurons]
        return outputs[0] if len(outputs) == 1 else outputs

    def parameters(self) -> list[Any]:
        """All neurons' parameters, in order."""
        return [p for neuron in self.neurons for p in neuron.parameters()]


class GenericMLP:
    """ReLU hidden layers and a linear output layer over any scalar ``Value`` class."""

    def __init__(self, value_cls: type, weights: list[list[list[float]]]) -> None:
        last = len(weights) - 1
        self.layers = [GenericLayer(value_cls, layer, nonlinear=i != last) for i, layer in enumerate(weights)]

    def __call__(self, inputs: list[Any]) -> Any:
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    def parameters(self) -> list[Any]:
        """All parameters, layer by layer (the order micrograd uses)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Reset every parameter gradient to zero."""
        for p in self.parameters():
            p.grad = 0.0


def micrograd_mlp(weights: list[list[list[float]]]) -> Any:
    """micrograd's own ``micrograd.nn.MLP`` with its random init overwritten by ``weights``."""
    from micrograd.nn import MLP

    sizes = [len(weights[0][0]) - 1] + [len(layer) for layer in weights]
    model = MLP(sizes[0], sizes[1:])
    flat = [value for layer in weights for row in layer for value in row]
    parameters = model.parameters()
    if len(flat) != len(parameters):
        raise ValueError(f"{len(flat)} weights for {len(parameters)} parameters")
    for parameter, value in zip(parameters, flat):
        parameter.data = value
    return model


# ------------------------------------------------------------------- the loss and the step


def hinge_loss(model: Any, value_cls: type, points: list[list[float]], labels: list[float]) -> Any:
    """Mean of relu(1 - y_i * score_i) over the points, plus 1e-4 * sum of squared parameters."""
    inputs = [[value_cls(coordinate) for coordinate in point] for point in points]
    scores = [model(x) for x in inputs]
    losses = [(1 + -label * score).relu() for label, score in zip(labels, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = W3_REG_ALPHA * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def default_children(node: Any) -> Iterable[Any]:
    """A node's inputs: ``node._prev`` (micrograd, which has no public view) or else ``node.inputs``."""
    children = getattr(node, "_prev", None)
    return children if children is not None else node.inputs


def count_graph_nodes(root: Any, children_of: Callable[[Any], Iterable[Any]] | None = None) -> int:
    """Number of distinct nodes reachable from ``root`` through ``children_of`` (default ``default_children``)."""
    children_of = children_of or default_children
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(children_of(node))
    return len(seen)


def prepare(
    value_cls: type,
    model: Any,
    seed: int,
    children_of: Callable[[Any], Iterable[Any]] | None = None,
) -> Prepared:
    """W3 step for ``model`` built over ``value_cls``: zero grads, build the loss graph, backward.

    The step returns the loss as a float. The graph size is counted once here (counting is
    not part of the timed step); pass ``children_of`` if the engine's nodes keep their inputs
    in neither ``_prev`` nor ``_inputs``.
    """
    points, labels = two_moons(seed)

    def step() -> float:
        model.zero_grad()
        loss = hinge_loss(model, value_cls, points, labels)
        loss.backward()
        return float(loss.data)

    facts: dict[str, Any] = {}
    try:
        facts["graph nodes"] = count_graph_nodes(hinge_loss(model, value_cls, points, labels), children_of)
    except AttributeError as error:
        facts["graph nodes"] = f"not counted ({error})"
    return Prepared(step=step, facts=facts)


def w3_micrograd(seed: int) -> Prepared:
    """W3 with micrograd 0.1.0: ``micrograd.engine.Value`` and ``micrograd.nn.MLP``."""
    from micrograd.engine import Value

    return prepare(Value, micrograd_mlp(mlp_init_weights(seed, W3_LAYER_SIZES)), seed)


def w3_generic(value_cls: type, seed: int, children_of: Callable[[Any], Iterable[Any]] | None = None) -> Prepared:
    """W3 for any engine's ``Value`` class, using ``GenericMLP`` with the shared initial weights."""
    return prepare(value_cls, GenericMLP(value_cls, mlp_init_weights(seed, W3_LAYER_SIZES)), seed, children_of)


def w3_micrograd_generic(seed: int) -> Prepared:
    """W3 with micrograd's ``Value`` but this module's ``GenericMLP`` (checks the generic path)."""
    from micrograd.engine import Value

    return w3_generic(Value, seed)
