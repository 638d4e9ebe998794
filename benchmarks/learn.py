"""Do the models learn? Full-length training runs with held-out accuracy and wall time.

    python benchmarks/learn.py                     # sort, reverse and bank
    python benchmarks/learn.py --threads 1         # one BLAS thread (much faster on a busy machine)
    python benchmarks/learn.py --tasks sort --seed 3

Each run: generate the task, hold out part of it (no prompt or sentence is in both parts),
train with AdamW, report token accuracy on the held-out part. The target for every run is
>= 95% held-out accuracy in under 60 s on a laptop CPU. Not a test: the test suite runs
shorter versions of the same (tests/test_training.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
if "--threads" in sys.argv[:-1]:  # BLAS reads its thread count once, when NumPy is first imported
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np  # noqa: E402

from tinygrad_attn import nn, optim  # noqa: E402
from tinygrad_attn.teach.tasks import (PAD_ID, make_bank_task, make_sequence_task, sequence_accuracy,  # noqa: E402
                                token_accuracy)
from tinygrad_attn.train import minibatches, predict, token_cross_entropy, train  # noqa: E402


@dataclass
class Result:
    name: str
    setup: str
    steps: int
    train_seconds: float
    token_accuracy: float
    sequence_accuracy: float
    final_loss: float


def sequence_loss(model: nn.Module, batch: tuple[np.ndarray, np.ndarray]):
    inputs, targets = batch
    return token_cross_entropy(model(inputs), targets)


def run_gpt(task_name: str, seed: int, progress: bool, length: int = 6, n_symbols: int = 10,
            n_train: int = 20_000, n_test: int = 2_000, steps: int = 400, batch_size: int = 64,
            lr: float = 3e-3) -> Result:
    """GPT(d_model 64, 4 heads, 2 layers) on a sequence task."""
    task = make_sequence_task(task_name, n_train + n_test, length=length, n_symbols=n_symbols, seed=seed)
    train_part, test_part = task.split(n_train)
    model = nn.GPT(task.vocab_size, task.block_size, d_model=64, n_heads=4, n_layers=2, d_ff=256, rng=seed)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    batches = minibatches((train_part.inputs, train_part.targets), batch_size, seed=seed)
    history = train(model, optimizer, sequence_loss, batches, steps, progress=progress, desc=task_name)
    predicted = predict(model, test_part.inputs)
    setup = (f"GPT 64d/4h/2L ({model.num_parameters():,} params), length {length}, {n_symbols} symbols, "
             f"{n_train:,} train / {n_test:,} held out, batch {batch_size}, AdamW lr {lr}")
    return Result(task_name, setup, history.steps, history.seconds, token_accuracy(predicted, test_part.targets),
                  sequence_accuracy(predicted, test_part.targets), history.smoothed())


def run_bank(seed: int, progress: bool, n_train: int = 4_000, n_test: int = 1_000, steps: int = 400,
             batch_size: int = 64, lr: float = 3e-3) -> Result:
    """One-layer attention classifier on the bank sense task (two-bank sentences included)."""
    task = make_bank_task(n_train + n_test, seed=seed)
    train_part, test_part = task.split(n_train)
    model = nn.AttentionClassifier(task.vocab_size, task.block_size, d_model=32, n_heads=2, n_classes=2,
                                   pad_id=PAD_ID, rng=seed)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    batches = minibatches((train_part.inputs, train_part.targets), batch_size, seed=seed)
    history = train(model, optimizer, sequence_loss, batches, steps, progress=progress, desc="bank")
    predicted = predict(model, test_part.inputs)
    setup = (f"AttentionClassifier 32d/2h/1 layer ({model.num_parameters():,} params), max_len {task.block_size}, "
             f"{n_train:,} train / {n_test:,} held out sentences, batch {batch_size}, AdamW lr {lr}")
    return Result("bank", setup, history.steps, history.seconds, token_accuracy(predicted, test_part.targets),
                  sequence_accuracy(predicted, test_part.targets), history.smoothed())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["sort", "reverse", "bank"],
                        choices=["sort", "reverse", "copy", "induction", "bank"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, help="BLAS threads (default: the library's choice)")
    args = parser.parse_args()

    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"BLAS threads: {threads}; CPUs: {os.cpu_count()}; seed {args.seed}")
    results = []
    for name in args.tasks:
        start = time.perf_counter()
        result = run_bank(args.seed, not args.quiet) if name == "bank" else run_gpt(name, args.seed, not args.quiet)
        total = time.perf_counter() - start
        results.append(result)
        verdict = "ok" if result.token_accuracy >= 0.95 and total < 60 else "BELOW TARGET"
        print(f"{result.name:8s} held-out token accuracy {result.token_accuracy:6.1%}  "
              f"(whole sequences {result.sequence_accuracy:6.1%})  loss {result.final_loss:.4f}  "
              f"train {result.train_seconds:5.1f} s for {result.steps} steps "
              f"({1000 * result.train_seconds / result.steps:.1f} ms/step), total {total:5.1f} s  [{verdict}]")
        print(f"         {result.setup}")
    return 0 if all(r.token_accuracy >= 0.95 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
