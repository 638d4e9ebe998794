"""A small training loop with a progress bar (tqdm), and helpers to feed and score models.

    history = train(model, optimizer, loss_fn, minibatches((x, y), 64, seed=0), steps=500)

`loss_fn(model, batch)` returns a one-element loss Tensor; `train` does the rest (zero_grad,
backward, step), shows the running loss on stderr, and returns the losses and the wall time.
Nothing here is needed to train a model: it is the loop every notebook would otherwise repeat.
"""
from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, TextIO

import numpy as np
from tqdm.auto import tqdm as auto_tqdm
from tqdm.std import tqdm as std_tqdm

from . import functional as F
from .core import no_grad
from .nn.module import Module, as_generator
from .optim import Optimizer
from .teach.tasks import IGNORE_INDEX
from .tensors import Tensor

__all__ = ["History", "progress_bar", "train", "minibatches", "token_cross_entropy", "predict"]



def progress_bar(total: int, desc: str = "", stream: TextIO | None = None, disable: bool = False) -> Any:
    """A tqdm bar: in Jupyter (with ipywidgets) a widget that updates in place, elsewhere one
    line on stderr (or on `stream`) redrawn in place."""
    if stream is not None:  # an explicit text stream: the plain bar, which writes to it
        return std_tqdm(total=total, desc=desc, file=stream, disable=disable, mininterval=0.1, ascii=False)
    return auto_tqdm(total=total, desc=desc, disable=disable, mininterval=0.1)


@dataclass(repr=False)
class History:
    """What `train` did: the loss of every step and the wall time it took. In Jupyter it shows
    a one-line summary with a sparkline of the loss; `plot()` draws the curve."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 20) -> float:
        """Mean loss over the last `window` steps."""
        tail = self.losses[-window:]
        return float(np.mean(tail)) if tail else math.nan

    def __repr__(self) -> str:
        if not self.losses:
            return f"History(0 steps, {self.seconds:.1f} s)"
        return (f"History({self.steps} steps in {self.seconds:.1f} s: loss {self.losses[0]:.4g} -> "
                f"{self.losses[-1]:.4g}, mean of the last 20 {self.smoothed(20):.4g})")

    def sparkline(self, width: int = 240, height: int = 40) -> str:
        """The loss curve as a small inline SVG (min to max of the losses, step 1 to the last)."""
        values = np.asarray(self.losses, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size < 2:
            return ""
        step = -(-values.size // width)  # at most one point per pixel
        points = values[::step]
        low, high = float(points.min()), float(points.max())
        span = high - low or 1.0
        xs = np.linspace(1, width - 1, points.size)
        ys = height - 2 - (points - low) / span * (height - 4)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                f'viewBox="0 0 {width} {height}" role="img" aria-label="loss curve">'
                f'<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="{path}"/></svg>')

    def _repr_html_(self) -> str:
        text = html.escape(repr(self))
        return (f'<div style="font-family:monospace;font-size:13px"><div>{text}</div>'
                f"{self.sparkline()}</div>")

    def plot(self, ax: Any = None, smooth: int = 20) -> Any:
        """Draw the loss per step (and its running mean over `smooth` steps) with matplotlib, or,
        without matplotlib, return the SVG sparkline (shown as a picture in Jupyter)."""
        try:
            import matplotlib.pyplot as plt
        except ModuleNotFoundError:
            return _SVG(self.sparkline(480, 120))
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        steps = np.arange(1, self.steps + 1)
        ax.plot(steps, self.losses, color="#d62728", alpha=0.35, linewidth=1, label="loss")
        if smooth > 1 and self.steps >= smooth:
            running = np.convolve(self.losses, np.ones(smooth) / smooth, mode="valid")
            ax.plot(steps[smooth - 1:], running, color="#d62728", linewidth=2, label=f"mean of {smooth}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend()
        return ax


class _SVG:
    """An SVG string that Jupyter shows as a picture."""

    def __init__(self, svg: str):
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return "<loss curve (SVG); display it in Jupyter, or install matplotlib for History.plot()>"


def minibatches(arrays: Sequence[np.ndarray], batch_size: int, seed: int | np.random.Generator | None = 0,
                shuffle: bool = True) -> Iterator[tuple[np.ndarray, ...]]:
    """Endless minibatches: the rows of `arrays` (all the same length) in shuffled order, epoch
    after epoch; every batch has exactly `batch_size` rows (an epoch's remainder rolls over)."""
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)) or not arrays:
        raise TypeError("minibatches: arrays must be a non-empty tuple of arrays, e.g. (inputs, targets)")
    arrays = tuple(np.asarray(a) for a in arrays)
    rows = len(arrays[0])
    if any(len(a) != rows for a in arrays):
        raise ValueError(f"minibatches: arrays have different numbers of rows {[len(a) for a in arrays]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= rows:
        raise ValueError(f"minibatches: batch_size must be an int in 1..{rows} (the number of rows), got {batch_size!r}")
    generator = as_generator(seed, "minibatches")
    order = np.empty(0, dtype=np.int64)
    while True:
        while len(order) < batch_size:
            epoch = generator.permutation(rows) if shuffle else np.arange(rows)
            order = np.concatenate([order, epoch])
        picked, order = order[:batch_size], order[batch_size:]
        yield tuple(a[picked] for a in arrays)


def token_cross_entropy(logits: Tensor, targets: Any, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Mean cross-entropy of logits (..., C) against integer targets (...), skipping `ignore_index`."""
    target_ids = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if logits.shape[:-1] != target_ids.shape:
        raise ValueError(f"token_cross_entropy: logits {logits.shape} need targets of shape {logits.shape[:-1]}, "
                         f"got {target_ids.shape}")
    classes = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, classes), target_ids.reshape(-1), ignore_index=ignore_index)


def predict(model: Module, inputs: np.ndarray, batch_size: int = 1024, **forward_kwargs: Any) -> np.ndarray:
    """The argmax id at every position, computed in eval mode under no_grad, `batch_size` rows at a time.

    Extra keyword arrays (e.g. `key_mask=`) are sliced along with `inputs`.
    """
    was_training = model.training
    model.eval()
    try:
        pieces = []
        with no_grad():
            for start in range(0, len(inputs), batch_size):
                rows = slice(start, start + batch_size)
                kwargs = {key: value[rows] if isinstance(value, np.ndarray) else value
                          for key, value in forward_kwargs.items()}
                pieces.append(model(inputs[rows], **kwargs).data.argmax(axis=-1))
    finally:
        model.train(was_training)
    return np.concatenate(pieces)


def train(model: Module, optimizer: Optimizer, loss_fn: Callable[[Module, Any], Tensor], batches: Iterator[Any],
          steps: int, progress: bool = True, desc: str = "train", time_limit: float | None = None,
          callback: Callable[[int, float], Any] | None = None, stream: TextIO | None = None) -> History:
    """Run `steps` optimisation steps on batches drawn from `batches`; return the `History`.

    Each step: zero_grad, loss = loss_fn(model, batch), backward, optimizer.step(). The model is
    put in training mode first. `time_limit` (seconds) stops early; `callback(step, loss)` runs
    after every step and may return True to stop. A NaN or infinite loss stops with an error
    naming the step.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"train: steps must be a non-negative int, got {steps!r}")
    model.train()
    history = History()
    start = time.perf_counter()
    bar = progress_bar(steps, desc=desc, stream=stream, disable=not progress)
    try:
        for step in range(steps):
            optimizer.zero_grad()
            loss = loss_fn(model, next(batches))
            value = loss.item()
            if not math.isfinite(value):
                raise RuntimeError(f"train: the loss is {value} at step {step}; lower the learning rate or check the data")
            loss.backward()
            optimizer.step()
            history.losses.append(value)
            bar.set_postfix(loss=f"{history.smoothed(20):.4g}", refresh=False)
            bar.update(1)
            if callback is not None and callback(step, value):
                break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history
