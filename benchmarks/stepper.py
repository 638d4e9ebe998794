"""How long the backward stepper takes to build and to change frame (prints figures, asserts nothing).

    python benchmarks/stepper.py
    python -m cProfile -s cumtime benchmarks/stepper.py | head -40     # where the time goes

Targets (issue): the worked example (scalars, ~128 boxes, 70 steps) ready to show in <= 1 s;
a 2-layer GPT collapsed by block in <= 3 s; changing frame never runs Graphviz again.
"Ready to show" = BackwardStepper(...) + every frame recorded + the HTML output made (which
runs Graphviz once); the model's forward pass is not counted.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import numpy as np  # noqa: E402

from tinygrad_attn import Tensor, Value, nn  # noqa: E402
from tinygrad_attn import functional as F  # noqa: E402
from tinygrad_attn.teach.worked_example import build_graph  # noqa: E402
from tinygrad_attn.viz import BackwardStepper  # noqa: E402
from tinygrad_attn.viz import render  # noqa: E402


def worked_example_loss() -> Value:
    """The worked example's graph (teach/worked_example.py), not yet backpropagated."""
    return build_graph()["loss"]


def gpt_loss(n_layers: int = 2) -> Tensor:
    model = nn.GPT(vocab_size=12, block_size=8, d_model=32, n_heads=4, n_layers=n_layers, d_ff=64, rng=0)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 12, (2, 8)), rng.integers(0, 12, (2, 8))
    return F.cross_entropy(model(ids).reshape(-1, 12), Tensor(targets.reshape(-1)))


class GraphvizRuns:
    """Counts how often Graphviz runs (it should be once per stepper)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = render._run_dot

    def __enter__(self) -> "GraphvizRuns":
        def counted(*args, **kwargs):
            self.count += 1
            return self._original(*args, **kwargs)

        render._run_dot = counted
        return self

    def __exit__(self, *exc_info) -> None:
        render._run_dot = self._original


def measure(label: str, make_root, budget: float, **options) -> None:
    root = make_root()
    with GraphvizRuns() as runs:
        start = time.perf_counter()
        stepper = BackwardStepper(root, **options)
        made = time.perf_counter()
        frames = stepper.frames()
        recorded = time.perf_counter()
        page = stepper.html()
        shown = time.perf_counter()
        frame_times = []
        for i in range(0, len(frames), max(1, len(frames) // 10)):
            tick = time.perf_counter()
            stepper.goto(i)
            stepper.svg()
            stepper.text()
            frame_times.append(time.perf_counter() - tick)
    total = shown - start
    print(f"{label}: {len(frames)} frames, page {len(page) / 1024:.0f} KiB")
    print(f"  BackwardStepper(...)        {1000 * (made - start):7.1f} ms")
    print(f"  record every frame          {1000 * (recorded - made):7.1f} ms")
    print(f"  HTML output (Graphviz once) {1000 * (shown - recorded):7.1f} ms")
    print(f"  ready to show               {1000 * total:7.1f} ms   (target <= {budget:.0f} s)")
    print(f"  change frame + its SVG      {1000 * max(frame_times):7.2f} ms at most")
    print(f"  Graphviz runs               {runs.count}")


def main() -> None:
    measure("worked example (scalars)", worked_example_loss, 1.0)
    measure("2-layer GPT, collapse=2", gpt_loss, 3.0, collapse=2)
    measure("2-layer GPT, blocks.0 expanded", gpt_loss, 3.0, collapse=["gpt/blocks.1", "gpt/tok_emb", "gpt/pos_emb",
                                                                      "gpt/head", "gpt/ln_f"])


if __name__ == "__main__":
    main()
