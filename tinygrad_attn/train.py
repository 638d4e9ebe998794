"""A small training loop with a text progress bar, and helpers to feed and score models.

    history = train(model, optimizer, loss_fn, minibatches((x, y), 64, seed=0), steps=500)

`loss_fn(model, batch)` returns a one-element loss Tensor; `train` does the rest (zero_grad,
backward, step), shows the running loss on stderr, and returns the losses and the wall time.
Nothing here is needed to train a model: it is the loop every notebook would otherwise repeat.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, TextIO

import numpy as np

from . import functional as F
from .core import no_grad
from .nn.module import Module, as_generator
from .optim import Optimizer
from .teach.tasks import IGNORE_INDEX
from .tensors import Tensor

__all__ = ["ProgressBar", "History", "train", "minibatches", "token_cross_entropy", "predict"]



class ProgressBar:
    """A one-line progress bar on stderr, e.g. `train  42%|████▏     | 210/500 [00:03<00:04, 61.2 it/s, loss=0.41]`.

    On a terminal the line is redrawn in place (at most every `min_interval` seconds); in a log
    file or a notebook capture it prints a new line every tenth of the way instead.
    """

    def __init__(self, total: int, desc: str = "", stream: TextIO | None = None, min_interval: float = 0.1,
                 width: int = 20, disable: bool = False):
        self.total = max(int(total), 0)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self.width = width
        self.disable = disable
        self.count = 0
        self.postfix = ""
        self.start = time.perf_counter()
        self._last_draw = -math.inf
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._next_line_at = 0

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by `n` and show `postfix` values (floats with 4 significant digits)."""
        self.count += n
        if postfix:
            self.postfix = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                                     for key, value in postfix.items())
        if self.disable:
            return
        now = time.perf_counter()
        if self._interactive:
            if now - self._last_draw >= self.min_interval or self.count >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line(now))
                self.stream.flush()
        elif self.count >= self._next_line_at or self.count >= self.total:
            self._next_line_at = self.count + max(self.total // 10, 1)
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The bar as text."""
        elapsed = (now if now is not None else time.perf_counter()) - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        fraction = min(self.count / self.total, 1.0) if self.total else 1.0
        eighths = int(fraction * self.width * 8)
        bar = "█" * (eighths // 8) + (" ▏▎▍▌▋▊▉"[eighths % 8] if eighths < self.width * 8 else "")
        remaining = (self.total - self.count) / rate if rate > 0 else 0.0
        extra = f", {self.postfix}" if self.postfix else ""
        return (f"{self.desc}{' ' if self.desc else ''}{fraction:4.0%}|{bar.ljust(self.width)}| "
                f"{self.count}/{self.total} [{_clock(elapsed)}<{_clock(remaining)}, {rate:.1f} it/s{extra}]")

    def close(self) -> None:
        if not self.disable and self._interactive:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


@dataclass
class History:
    """What `train` did: the loss of every step and the wall time it took."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 20) -> float:
        """Mean loss over the last `window` steps."""
        tail = self.losses[-window:]
        return float(np.mean(tail)) if tail else math.nan


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
    bar = ProgressBar(steps, desc=desc, stream=stream, disable=not progress)
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
            bar.update(loss=history.smoothed(20))
            if callback is not None and callback(step, value):
                break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history
