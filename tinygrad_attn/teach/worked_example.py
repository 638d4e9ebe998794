"""The worked example: token A attends over tokens A, B and C, with numbers small enough to
check by hand. Its query, keys and values are typed here once; the CLI (`tinygrad-attn demo`),
the notebooks, the README and the tests all take them from this module.

`build_graph()` builds it with the scalar engine up to a squared-error loss, not yet
backpropagated; `worked_example()` computes it with the scalar engine (every multiply and add its own node),
prints each stage, backpropagates a squared error and returns the Values, so a learner can
read each gradient or draw the graph.
"""
from __future__ import annotations

import sys
from typing import Sequence, TextIO

from ..core import scope
from ..scalar import Value, dot, softmax, sum_values, weighted_sum

__all__ = ["QUERY_A", "KEYS", "VALUES", "TARGET", "build_graph", "worked_example"]

# The three-token example learners arrive with: A's query, and each token's key and value.
QUERY_A = (1.0, 2.0, -1.0)
KEYS = {"A": (3.0, -1.0, 0.0), "B": (3.0, -1.0, -1.0), "C": (0.0, 1.0, -3.0)}
VALUES = {"A": (1.0, 0.0, 1.0), "B": (-1.0, 2.0, 0.0), "C": (1.0, 1.0, 1.0)}
# A target for A's new representation, to ask which way each number should move.
TARGET = (0.0, 1.0, 0.0)


def _fmt(numbers: Sequence[float]) -> str:
    return "[" + ", ".join(f"{x:+.4f}" for x in numbers) + "]"


def build_graph(target: Sequence[float] = TARGET) -> dict:
    """The example's graph with the scalar engine, up to the loss Σ (output - target)², not yet
    backpropagated (so a stepper or a learner can run backward). Returns the named Values."""
    tokens = list(KEYS)
    query = [Value(x, name=f"q_A[{i}]") for i, x in enumerate(QUERY_A)]
    keys = {t: [Value(x, name=f"k_{t}[{i}]") for i, x in enumerate(KEYS[t])] for t in tokens}
    values = {t: [Value(x, name=f"v_{t}[{i}]") for i, x in enumerate(VALUES[t])] for t in tokens}
    # Each stage in a scope of its own, so a drawing frames it (scores, softmax, weighted sum, loss).
    with scope("scores"):
        scores = [dot(query, keys[t]) for t in tokens]
    with scope("softmax"):
        weights = softmax(scores)
    with scope("weighted_sum"):
        output = weighted_sum(weights, [values[t] for t in tokens])
    for t, score, weight in zip(tokens, scores, weights):
        score.name, weight.name = f"score_{t}", f"weight_{t}"
    for i, o in enumerate(output):
        o.name = f"out[{i}]"
    with scope("loss"):
        loss = sum_values([(o - t) ** 2 for o, t in zip(output, target)])
    loss.name = "loss"
    return {"scores": scores, "weights": weights, "output": output, "loss": loss,
            "query": query, "keys": keys, "values": values}


def worked_example(out: TextIO | None = None) -> dict:
    """Compute the example with the scalar engine, print each stage, return the Values."""
    out = out or sys.stdout
    tokens = list(KEYS)
    graph = build_graph()
    scores, weights, output, loss = graph["scores"], graph["weights"], graph["output"], graph["loss"]
    query, keys, values = graph["query"], graph["keys"], graph["values"]
    total = sum_values(scores)
    plain_weights = [s / total for s in scores]  # the text's "normalise to sum to one" shortcut

    print("Attention for token A over tokens A, B, C (the worked example)", file=out)
    print(f"  query q_A            {_fmt(QUERY_A)}", file=out)
    for t in tokens:
        print(f"  key k_{t} {_fmt(KEYS[t])}   value v_{t} {_fmt(VALUES[t])}", file=out)
    print("\n1. scores  q_A · k_t", file=out)
    for t, s in zip(tokens, scores):
        print(f"  {t}: {s.data:+.4f}", file=out)
    print("\n2. weights", file=out)
    print(f"  softmax            {_fmt([w.data for w in weights])}", file=out)
    print(f"  score / sum(score) {_fmt([w.data for w in plain_weights])}  (the shortcut; not used below)", file=out)
    print("\n3. output  Σ weight_t · v_t", file=out)
    print(f"  {_fmt([o.data for o in output])}", file=out)

    target = list(TARGET)
    loss.backward()
    print(f"\n4. backward from loss = Σ (output - target)², target {_fmt(target)}: loss {loss.data:.4f}", file=out)
    print(f"  dL/dweights  {_fmt([w.grad for w in weights])}", file=out)
    print(f"  dL/dscores   {_fmt([s.grad for s in scores])}", file=out)
    print(f"  dL/dq_A      {_fmt([q.grad for q in query])}", file=out)
    for t in tokens:
        print(f"  dL/dk_{t}      {_fmt([k.grad for k in keys[t]])}   dL/dv_{t} {_fmt([v.grad for v in values[t]])}", file=out)
    print("\nEvery key gets a gradient, even the least attended one: soft attention keeps them all alive.",
          file=out)
    return graph
