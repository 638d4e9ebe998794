"""Teaching speeds, timed by the runner like any workload (one step = one whole build):

    T1  BackwardStepper for the worked example: built, every frame recorded, the HTML made (<= 1 s)
    T2  BackwardStepper for a 2-layer GPT collapsed by block (collapse=2), the same (<= 3 s)
    T3  draw_graph of the worked example, rendered to SVG
    T4  draw_graph of the 2-layer GPT (collapse=2), rendered to SVG
    T5  every notebooks/*.ipynb, top to bottom in a fresh kernel (nbclient), as the tests run them

The model's forward pass is made once, outside the timing (benchmarks/stepper.py measures
the same stepper builds phase by phase).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmarks.workloads import Prepared

ROOT = Path(__file__).resolve().parent.parent


def _worked_example():
    from tinygrad_attn.teach.worked_example import build_graph

    return build_graph()["loss"]


def _gpt_loss():
    import numpy as np

    from tinygrad_attn import Tensor, nn
    from tinygrad_attn import functional as F

    model = nn.GPT(vocab_size=12, block_size=8, d_model=32, n_heads=4, n_layers=2, d_ff=64, rng=0)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 12, (2, 8)), rng.integers(0, 12, (2, 8))
    return F.cross_entropy(model(ids).reshape(-1, 12), Tensor(targets.reshape(-1)))


def _stepper(make_root, **options) -> Callable[[], int]:
    from tinygrad_attn.viz import BackwardStepper

    def step() -> int:
        stepper = BackwardStepper(make_root(), **options)
        frames = stepper.frames()
        stepper.html()
        return len(frames)

    return step


def _graph(make_root, **options) -> Callable[[], int]:
    from tinygrad_attn.viz import draw_graph

    def step() -> int:
        root = make_root()
        root.backward()
        return len(draw_graph(root, **options).pipe(format="svg"))

    return step


def t1_stepper_worked_example(seed: int) -> Callable[[], int]:
    return _stepper(_worked_example)


def t2_stepper_gpt(seed: int) -> Callable[[], int]:
    return _stepper(_gpt_loss, collapse=2)


def t3_graph_worked_example(seed: int) -> Callable[[], int]:
    return _graph(_worked_example)


def t4_graph_gpt(seed: int) -> Callable[[], int]:
    return _graph(_gpt_loss, collapse=2)


def t5_notebooks(seed: int) -> Prepared:
    try:
        import nbclient
        import nbformat
    except ImportError as error:
        raise ImportError(f"nbclient/nbformat not installed: {error}") from None
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise ImportError("no notebooks/*.ipynb")

    def step() -> int:
        for path in notebooks:
            notebook = nbformat.read(path, as_version=4)
            nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}}).execute()
        return len(notebooks)

    return Prepared(step, {"notebooks": ", ".join(p.name for p in notebooks)})
