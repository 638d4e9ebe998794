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

__all__ = ["QUERY_A", "KEYS", "VALUES", "TARGET", "TEXT_SAYS", "build_graph", "worked_example"]

# The three-token example learners arrive with: A's query, and each token's key and value.
QUERY_A = (1.0, 2.0, -1.0)
KEYS = {"A": (3.0, -1.0, 0.0), "B": (3.0, -1.0, -1.0), "C": (0.0, 1.0, -3.0)}
VALUES = {"A": (1.0, 0.0, 1.0), "B": (-1.0, 2.0, 0.0), "C": (1.0, 1.0, 1.0)}
# A target for A's new representation, to ask which way each number should move.
TARGET = (0.0, 1.0, 0.0)
# What the text says at each stage, its sentence quoted: shown beside the engine's numbers (the
# demo's report corrects them), never used to compute anything.
TEXT_SAYS = {
    "scores": ((1.0, 4.0, 5.0), "This gives us raw attention scores of 1 for A (attending to itself), 4 for B, "
                                "and 5 for C."),
    "weights": ((0.1, 0.4, 0.5), "Rather than take a messy softmax, let's just normalize these to 0.1, 0.4 and 0.5 "
                                 "for simplicity."),
    "output": ((0.2, 1.3, 0.6), "This gives us [0.2 1.3 0.6] (assuming I eyeballed the math correctly)"),
}


def _fmt(numbers: Sequence[float]) -> str:
    return "[" + ", ".join(f"{x:+.4f}" for x in numbers) + "]"


def build_graph(target: Sequence[float] = TARGET, *, query: Sequence[float] = QUERY_A,
                keys: dict[str, Sequence[float]] = KEYS, values: dict[str, Sequence[float]] = VALUES) -> dict:
    """The example's graph with the scalar engine, up to the loss Σ (output - target)², not yet
    backpropagated (so a stepper or a learner can run backward). Returns the named Values.
    `query`, `keys` and `values` (token -> vector, the tokens in order) may be a learner's own."""
    key_numbers, value_numbers = keys, values
    tokens = list(key_numbers)
    query = [Value(x, name=f"q_A[{i}]") for i, x in enumerate(query)]
    keys = {t: [Value(x, name=f"k_{t}[{i}]") for i, x in enumerate(key_numbers[t])] for t in tokens}
    values = {t: [Value(x, name=f"v_{t}[{i}]") for i, x in enumerate(value_numbers[t])] for t in tokens}
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


def worked_example(out: TextIO | None = None, *, query: Sequence[float] = QUERY_A,
                   keys: dict[str, Sequence[float]] = KEYS, values: dict[str, Sequence[float]] = VALUES,
                   target: Sequence[float] = TARGET) -> dict:
    """Compute the example (or a learner's own numbers) with the scalar engine, print each
    stage, return the Values."""
    out = out or sys.stdout
    tokens = list(keys)
    graph = build_graph(target, query=query, keys=keys, values=values)
    query_numbers, key_numbers, value_numbers = query, keys, values
    scores, weights, output, loss = graph["scores"], graph["weights"], graph["output"], graph["loss"]
    query, keys, values = graph["query"], graph["keys"], graph["values"]
    positive = all(s.data > 0 for s in scores)  # the shortcut makes weights only of positive scores
    plain_weights = [s / sum_values(scores) for s in scores] if positive else None  # the text's shortcut

    own = (tuple(query_numbers), dict(key_numbers), dict(value_numbers)) != (QUERY_A, KEYS, VALUES)
    print(f"Attention for token A over tokens {', '.join(tokens)} "
          f"({'your numbers' if own else 'the worked example'})", file=out)
    print(f"  query q_A            {_fmt(query_numbers)}", file=out)
    for t in tokens:
        print(f"  key k_{t} {_fmt(key_numbers[t])}   value v_{t} {_fmt(value_numbers[t])}", file=out)
    print("\n1. scores  q_A · k_t", file=out)
    for t, s in zip(tokens, scores):
        print(f"  {t}: {s.data:+.4f}", file=out)
    print("\n2. weights", file=out)
    print(f"  softmax            {_fmt([w.data for w in weights])}", file=out)
    if plain_weights is not None:
        print(f"  score / sum(score) {_fmt([w.data for w in plain_weights])}  (the shortcut; not used below)", file=out)
    else:
        print("  score / sum(score)  (the shortcut gives no weights here: a score is 0 or negative; softmax "
              "needs no such luck)", file=out)
    print("\n3. output  Σ weight_t · v_t", file=out)
    print(f"  {_fmt([o.data for o in output])}", file=out)

    target = list(target)
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
