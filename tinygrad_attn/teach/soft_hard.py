"""Soft attention, hard attention and temperature, side by side on the worked example.

The text says attention is "soft": "we always attend at least a little bit to everything, as
opposed to hard attention where we ignore some items entirely", so "even if the attention to
another token is very low, there's at least a small sliver of contribution from it" and every
key still gets a gradient. Here the engine computes that claim:

    worked_example_lens()   the worked example as Tensors through F.scaled_dot_product_attention,
                            traced by the lens (the same numbers as the scalar engine's)
    soft_vs_hard()          one layer (the worked example unless q, k, v are given) computed with
                            softmax(scores / T) for each temperature T and with hard (argmax)
                            attention: weights, dL/dscores, the gradient reaching the query,
                            each key and each value, and the loss; print it for the table

Temperature: softmax(scores / T). The text's scores are plain q · k (no 1/√d), so for the
worked example T is `scale = 1/T`; in a model layer, whose scores are q · k / √d, it is
`F.scaled_dot_product_attention(q, k, v, scale=1 / (T * math.sqrt(d)))`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..attention.hard import hard_attention
from ..tensors import Tensor
from ..trace.lens import Lens, number, plain
from ..viz.lens import trace  # the lens that also draws itself, so a notebook can show it
from .worked_example import KEYS, QUERY_A, TARGET, VALUES

__all__ = ["worked_example_tensors", "worked_example_lens", "soft_vs_hard", "SoftHardRow", "SoftHardReport",
           "TEMPERATURES", "TEXT_TRADE"]

TEMPERATURES = (4.0, 1.0, 0.25, 0.1)
# The text's question: "if I had included a bit more of A's value and a bit less of B's value..."
TEXT_TRADE = ("A", "B")


def worked_example_tensors() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A's query (1, 3), the keys and values of A, B, C (3, 3), and the target (1, 3): float64."""
    rows = lambda table: np.array([table[t] for t in KEYS], dtype=np.float64)  # noqa: E731
    return (Tensor(np.array([QUERY_A]), requires_grad=True), Tensor(rows(KEYS), requires_grad=True),
            Tensor(rows(VALUES), requires_grad=True), Tensor(np.array([TARGET])))


def _loss(output: Tensor, target: Tensor) -> Tensor:
    return ((output - target) ** 2).sum()  # the worked example's Σ (output - target)²


def worked_example_lens() -> Lens:
    """Trace the worked example (scores q·k, scale 1, as the text) through the lens, backward included.

    `print(worked_example_lens().explain())` says which key a small step would make A attend to
    more, and why; `.explain().trade_text(*TEXT_TRADE)` answers the text's question for this target.
    """
    q, k, v, target = worked_example_tensors()
    with trace(tokens=list(KEYS), query_tokens=["A"]) as lens:
        _loss(F.scaled_dot_product_attention(q, k, v, scale=1.0), target).backward()
    return lens


@dataclass
class SoftHardRow:
    """One way of computing the layer: `name` ("T = 0.25" or "hard"), temperature (None for hard),
    and per key: weights, scores_grad (dL/d(scores/T), the softmax's input, as the lens records
    it), k_grad_norm and v_grad_norm (|dL/dk_j|, |dL/dv_j|); q_grad_norm |dL/dq| and the loss."""

    name: str
    temperature: float | None
    weights: np.ndarray
    scores_grad: np.ndarray
    q_grad_norm: float
    k_grad_norm: np.ndarray
    v_grad_norm: np.ndarray
    loss: float


@dataclass
class SoftHardReport:
    """The rows of `soft_vs_hard()`, the key labels; `print(report)` shows the table."""

    keys: list[str]
    rows: list[SoftHardRow]
    note: str

    def row(self, name: str) -> SoftHardRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"soft_vs_hard: no row {name!r}; the rows are {[r.name for r in self.rows]}")

    def lines(self) -> list[str]:
        keys, width = self.keys, 11
        groups = [("weights", keys), ("dL/dscores", keys), ("|dL/dq|", [""]), ("|dL/dk|", keys), ("loss", [""])]
        head = f"{'':9}" + "".join(f"{label:<{width * len(subs)}}" for label, subs in groups)
        sub = f"{'':9}" + "".join(f"{key:<{width}}" for _, subs in groups for key in subs)
        lines = [self.note, "", head.rstrip(), sub.rstrip()]
        for r in self.rows:
            cells = ([plain(w) for w in r.weights] + [number(x) for x in r.scores_grad] + [plain(r.q_grad_norm)]
                     + [plain(n) for n in r.k_grad_norm] + [f"{r.loss:.4f}"])
            lines.append(f"{r.name:<9}" + "".join(f"{cell:<{width}}" for cell in cells).rstrip())
        hard = [r for r in self.rows if r.temperature is None]
        if hard:
            got = [f"{k}: {plain(n)}" for k, n in zip(keys, hard[0].v_grad_norm)]
            lines += ["", "hard: |dL/dv| per key " + ", ".join(got) + " (only the chosen value learns; "
                      "the scores, the query and every key get exactly 0)"]
        soft = [r for r in self.rows if r.temperature is not None]
        if soft:
            low = soft[-1]
            lines.append(f"T = {low.temperature:g}: the least attended key still has dL/dscore "
                         f"{number(low.scores_grad[int(np.argmin(low.weights))])} (weight "
                         f"{plain(float(np.min(low.weights)))}): a sliver, but not zero")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return str(self)


def soft_vs_hard(q: Any = None, k: Any = None, v: Any = None, target: Any = None,
                 temperatures: Sequence[float] = TEMPERATURES, keys: Sequence[str] | None = None,
                 scale: float | None = None) -> SoftHardReport:
    """The same layer with softmax(scores / T) for each T, and with hard attention (see the module doc).

    Without arguments: the worked example (A's query over A, B, C, its target, scores q·k).
    Otherwise q (Tq, d), k (Tk, d), v (Tk, dv) and target (Tq, dv) as arrays; `scale` is the
    scores' scale at T = 1 (default 1/√d, as PyTorch; the worked example uses 1).
    """
    if q is None:
        q, k, v, target = (t.data for t in worked_example_tensors())
        keys, scale = list(KEYS), 1.0
    arrays = [np.asarray(x, dtype=np.float64) for x in (q, k, v, target)]
    base = 1.0 / math.sqrt(arrays[0].shape[-1]) if scale is None else float(scale)
    keys = [str(t) for t in range(arrays[1].shape[-2])] if keys is None else list(keys)
    for t in temperatures:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0 or not math.isfinite(t):
            raise ValueError(f"soft_vs_hard: every temperature must be a positive number, got {t!r}")
    rows = [_run(f"T = {t:g}", float(t), arrays, base, keys) for t in temperatures]
    rows.append(_run("hard", None, arrays, base, keys))
    note = ("Soft vs hard attention, loss Σ(output − target)²; softmax(scores / T) is "
            f"scale = {'1/T' if base == 1.0 else f'{base:g}/T'} in F.scaled_dot_product_attention "
            "(in a model layer, scale = 1/(T·√d)). dL/dscores is the gradient of the softmax's input, "
            "scores / T; the query and keys get it times 1/T, so at a large T their gradient is small again.")
    return SoftHardReport(keys, rows, note)


def _run(name: str, temperature: float | None, arrays: list[np.ndarray], base: float,
         keys: list[str]) -> SoftHardRow:
    q, k, v = (Tensor(np.array(a), requires_grad=True) for a in arrays[:3])
    with trace(tokens=keys) as lens:
        if temperature is None:
            output = hard_attention(q, k, v, scale=base)
        else:
            output = F.scaled_dot_product_attention(q, k, v, scale=base / temperature)
        loss = _loss(output, Tensor(arrays[3]))
        loss.backward()
    record = lens[0].record
    # the weights and score gradients of every query row, one row per query when there are several
    weights, scores_grad = record.weights, record.scores_grad
    if weights.shape[0] == 1:
        weights, scores_grad = weights[0], scores_grad[0]
    return SoftHardRow(name, temperature, weights, scores_grad, float(np.linalg.norm(q.grad)),
                       np.linalg.norm(k.grad, axis=-1), np.linalg.norm(v.grad, axis=-1), float(loss.item()))
