"""Models learn for real: short training runs the test suite can afford (about a second each).

The full-length runs (>= 95% held-out accuracy) are in benchmarks/learn.py. Here the budgets
are 100-200 steps, and each threshold sits far above what a model could reach without using
attention, which the tests compute from the data itself.
"""
from __future__ import annotations

import io
import itertools
import re

import numpy as np
import pytest

from tinygrad_attn import nn, optim
from tinygrad_attn.teach.tasks import IGNORE_INDEX, PAD_ID, make_bank_task, make_sequence_task, token_accuracy
from tinygrad_attn.train import History, minibatches, predict, token_cross_entropy, train


def sequence_loss(model: nn.Module, batch: tuple[np.ndarray, np.ndarray]):
    inputs, targets = batch
    return token_cross_entropy(model(inputs), targets)


def prompt_blind_accuracy(train_targets: np.ndarray, test_targets: np.ndarray) -> float:
    """Held-out accuracy of the best predictor that sees only the position: the most common
    training target at each position. Anything above it must come from reading the prompt."""
    hits = total = 0
    for position in range(train_targets.shape[1]):
        seen = train_targets[:, position]
        seen = seen[seen != IGNORE_INDEX]
        if seen.size == 0:
            continue
        guess = np.bincount(seen).argmax()
        scored = test_targets[:, position][test_targets[:, position] != IGNORE_INDEX]
        hits += int((scored == guess).sum())
        total += scored.size
    return hits / total


def train_gpt(task_name: str, steps: int, seed: int = 0) -> tuple[float, float, nn.GPT, History]:
    task = make_sequence_task(task_name, 6000, length=5, n_symbols=10, seed=seed)
    train_part, test_part = task.split(5000)
    model = nn.GPT(task.vocab_size, task.block_size, d_model=64, n_heads=4, n_layers=2, d_ff=256, rng=seed)
    optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    batches = minibatches((train_part.inputs, train_part.targets), 32, seed=seed)
    history = train(model, optimizer, sequence_loss, batches, steps, progress=False)
    accuracy = token_accuracy(predict(model, test_part.inputs), test_part.targets)
    return accuracy, prompt_blind_accuracy(train_part.targets, test_part.targets), model, history


@pytest.mark.parametrize("task_name, steps, threshold", [
    # sorting 5 digits: position alone gets ~30% (the smallest of 5 digits is often 0); 100 steps reach ~95%
    ("sort", 100, 0.85),
    # reversing: position alone gets ~10% (chance); 100 steps reach ~100%
    ("reverse", 100, 0.90),
])
def test_gpt_learns_a_sequence_task_in_a_hundred_steps(task_name, steps, threshold):
    accuracy, blind, model, history = train_gpt(task_name, steps)
    assert blind < 0.45  # the threshold really needs the prompt
    assert accuracy >= threshold, f"{task_name}: held-out token accuracy {accuracy:.3f} (prompt-blind {blind:.3f})"
    assert np.mean(history.losses[-10:]) < 0.5 * np.mean(history.losses[:10])


def test_training_keeps_everything_float32():
    accuracy, _, model, _ = train_gpt("reverse", steps=2)
    for name, param in model.named_parameters():
        assert param.data.dtype == np.float32, name
        assert param.grad.dtype == np.float32, name


def test_attention_classifier_learns_the_bank_senses():
    task = make_bank_task(3000, seed=0)
    train_part, test_part = task.split(2000)
    model = nn.AttentionClassifier(task.vocab_size, task.block_size, d_model=32, n_heads=2, n_classes=2,
                                   pad_id=PAD_ID, rng=0)
    optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    batches = minibatches((train_part.inputs, train_part.targets), 32, seed=0)
    train(model, optimizer, sequence_loss, batches, 200, progress=False)
    accuracy = token_accuracy(predict(model, test_part.inputs), test_part.targets)
    # minimal pairs make every sentence appear with both labels: without the cue words, 50%
    assert accuracy >= 0.90, f"held-out bank accuracy {accuracy:.3f}"


# ---- the loop's own behaviour ----
def test_minibatches_cover_every_row_once_per_epoch():
    rows = np.arange(10)
    batches = minibatches((rows, rows * 2), 5, seed=0)
    first_epoch = np.concatenate([next(batches)[0] for _ in range(2)])
    assert sorted(first_epoch.tolist()) == list(range(10))
    inputs, doubled = next(batches)
    np.testing.assert_array_equal(doubled, inputs * 2)
    with pytest.raises(ValueError, match=r"batch_size must be an int in 1..10"):
        next(minibatches((rows,), 11))
    with pytest.raises(ValueError, match="different numbers of rows"):
        next(minibatches((rows, rows[:5]), 2))


def test_train_stops_with_a_clear_error_on_a_nan_loss():
    model = nn.Linear(2, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def nan_loss(module, batch):
        return module(batch).sum() * float("nan")

    batches = itertools.repeat(np.ones((1, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="the loss is nan at step 0"):
        train(model, optimizer, nan_loss, batches, 3, progress=False)


def test_train_reduces_a_simple_loss_and_reports_progress():
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((64, 3)).astype(np.float32)
    outputs = inputs @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    model = nn.Linear(3, 1, rng=0)
    optimizer = optim.Adam(model.parameters(), lr=0.05)

    def squared_error(module, batch):
        x, y = batch
        error = module(x) - y
        return (error * error).mean()

    stream = io.StringIO()
    history = train(model, optimizer, squared_error, minibatches((inputs, outputs), 16), 200, stream=stream)
    assert history.steps == 200 and history.seconds > 0
    assert history.losses[-1] < 1e-3 < history.losses[0]
    text = stream.getvalue()
    # One line redrawn in place (tqdm's carriage returns), never a stack of lines.
    assert text.count("\n") <= 1 and text.count("\r") >= 2
    final = text.split("\r")[-1]
    assert final.startswith("train: 100%|") and "200/200" in final and "loss=" in final


def test_history_prints_a_one_line_summary_and_shows_a_sparkline():
    losses = list(np.linspace(3.0, 1.0, 400))
    history = History(losses=losses, seconds=4.25)
    text = repr(history)
    assert "\n" not in text and len(text) < 120
    assert text == "History(400 steps in 4.2 s: loss 3 -> 1, mean of the last 20 " + f"{np.mean(losses[-20:]):.4g})"
    page = history._repr_html_()
    points = re.search(r'points="([^"]+)"', page).group(1).split()
    assert 2 <= len(points) <= 240 + 1  # at most one point per pixel, not 400 numbers
    first_y, last_y = float(points[0].split(",")[1]), float(points[-1].split(",")[1])
    assert first_y < last_y  # the loss falls, and SVG y grows downwards: the line ends near the bottom
    assert repr(History()) == "History(0 steps, 0.0 s)" and History().sparkline() == ""


def test_history_plot_draws_the_losses_with_matplotlib():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    history = History(losses=[3.0, 2.0, 1.5, 1.2] * 10, seconds=1.0)
    ax = history.plot(smooth=5)
    lines = ax.get_lines()
    assert list(lines[0].get_ydata()) == history.losses
    np.testing.assert_allclose(lines[1].get_ydata(), np.convolve(history.losses, np.ones(5) / 5, mode="valid"))


def test_predict_restores_training_mode():
    model = nn.GPT(5, 4, 8, 2, 1, 16, rng=0)
    ids = predict(model, np.zeros((3, 4), dtype=np.int64), batch_size=2)
    assert ids.shape == (3, 4) and model.training
