"""The `tinygrad-attn` command: `tinygrad-attn demo` walks through the worked attention example."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence, TextIO

from .scalar import Value, dot, softmax, sum_values, weighted_sum

# The three-token example learners arrive with: A's query, and each token's key and value.
QUERY_A = (1.0, 2.0, -1.0)
KEYS = {"A": (3.0, -1.0, 0.0), "B": (3.0, -1.0, -1.0), "C": (0.0, 1.0, -3.0)}
VALUES = {"A": (1.0, 0.0, 1.0), "B": (-1.0, 2.0, 0.0), "C": (1.0, 1.0, 1.0)}


def _fmt(numbers: Sequence[float]) -> str:
    return "[" + ", ".join(f"{x:+.4f}" for x in numbers) + "]"


def worked_example(out: TextIO | None = None) -> dict:
    """Compute the example with the scalar engine, print each stage, return the Values."""
    out = out or sys.stdout
    tokens = list(KEYS)
    query = [Value(x, label=f"q_A[{i}]") for i, x in enumerate(QUERY_A)]
    keys = {t: [Value(x, label=f"k_{t}[{i}]") for i, x in enumerate(KEYS[t])] for t in tokens}
    values = {t: [Value(x, label=f"v_{t}[{i}]") for i, x in enumerate(VALUES[t])] for t in tokens}

    scores = [dot(query, keys[t]) for t in tokens]
    weights = softmax(scores)
    output = weighted_sum(weights, [values[t] for t in tokens])
    for t, score, weight in zip(tokens, scores, weights):
        score.label, weight.label = f"score_{t}", f"weight_{t}"
    for i, o in enumerate(output):
        o.label = f"out[{i}]"
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

    # A target for A's new representation, to ask which way each number should move.
    target = [0.0, 1.0, 0.0]
    loss = sum_values([(o - t) ** 2 for o, t in zip(output, target)])
    loss.label = "loss"
    loss.backward()
    print(f"\n4. backward from loss = Σ (output - target)², target {_fmt(target)}: loss {loss.data:.4f}", file=out)
    print(f"  dL/dweights  {_fmt([w.grad for w in weights])}", file=out)
    print(f"  dL/dscores   {_fmt([s.grad for s in scores])}", file=out)
    print(f"  dL/dq_A      {_fmt([q.grad for q in query])}", file=out)
    for t in tokens:
        print(f"  dL/dk_{t}      {_fmt([k.grad for k in keys[t]])}   dL/dv_{t} {_fmt([v.grad for v in values[t]])}", file=out)
    print("\nEvery key gets a gradient, even the least attended one: soft attention keeps them all alive.",
          file=out)
    return {"scores": scores, "weights": weights, "output": output, "loss": loss,
            "query": query, "keys": keys, "values": values}


def _draw(loss: Value, path: Path) -> None:
    from .viz import draw_graph  # the top layer: imported only when a picture is asked for

    path.write_bytes(draw_graph(loss, title="the worked example").pipe(format=path.suffix[1:].lower()))
    print(f"\nGraph of every number above, with gradients: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tinygrad-attn", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="compute the worked attention example and its gradients")
    demo.add_argument("--graph", metavar="FILE",
                      help="also draw the example's compute graph to FILE (.svg, .png or .pdf)")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        graph_path = Path(args.graph) if getattr(args, "graph", None) else None
        if graph_path is not None and graph_path.suffix.lower() not in (".svg", ".png", ".pdf"):
            parser.error(f"--graph needs a .svg, .png or .pdf file name, got {graph_path.name!r}")
        result = worked_example()
        if graph_path is not None:
            _draw(result["loss"], graph_path)
        return 0
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
