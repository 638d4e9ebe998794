"""W1u and W1h: one model file, written for PyTorch, timed on PyTorch eager and on the engine.

The file is imported once per process: with real `torch`, or after
`tinygrad_attn.compat.torch.install()` (the documented alias), so its `import torch` binds the
engine. Both runs start from the same weights (seeded NumPy arrays) and the same batch.

    W1u  tests/models/nanogpt_style.py: nanoGPT-style modules (nn.Linear, tied head, exact GELU)
    W1h  benchmarks/models/gpt_by_hand.py: W1's GPT from tensors and F ops (`h @ W + b`)
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks.workloads import GPT_CONFIG, gpt_batch, gpt_init_params

ROOT = Path(__file__).resolve().parent.parent
NANOGPT_FILE = ROOT / "tests" / "models" / "nanogpt_style.py"
BY_HAND_FILE = ROOT / "benchmarks" / "models" / "gpt_by_hand.py"


def load_model_file(path: Path, engine: str):
    """Import `path` as a fresh module with `torch` bound to PyTorch or to the engine."""
    name = f"{path.stem}_on_{engine.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is made
    if engine == "torch":
        try:
            import torch  # noqa: F401
        except ImportError as error:
            raise ImportError(f"PyTorch not installed: {error}") from None
        spec.loader.exec_module(module)
    else:
        from tinygrad_attn.compat import torch as compat

        with compat.install():
            spec.loader.exec_module(module)
    return module


def seeded_arrays(named_shapes: list[tuple[str, tuple[int, ...]]], seed: int) -> dict[str, np.ndarray]:
    """GPT-2-style initial values by name: LayerNorm weights 1, biases 0, the rest N(0, 0.02)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in sorted(named_shapes):
        if name.endswith(".bias"):
            arrays[name] = np.zeros(shape, np.float32)
        elif name.endswith(".weight") and len(shape) == 1:
            arrays[name] = np.ones(shape, np.float32)
        else:
            arrays[name] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    return arrays


def _w1u(seed: int, engine: str) -> Callable[[], float]:
    module = load_model_file(NANOGPT_FILE, engine)
    torch = module.torch
    c = GPT_CONFIG
    config = module.GPTConfig(block_size=c.context, vocab_size=c.vocab_size, n_layer=c.n_layers,
                              n_head=c.n_heads, n_embd=c.d_model, dropout=0.0, bias=True)
    model = module.GPT(config)
    named = list(model.named_parameters())
    arrays = seeded_arrays([(name, tuple(p.shape)) for name, p in named], seed)
    with torch.no_grad():
        for name, p in named:
            p.copy_(torch.tensor(arrays[name]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), eps=c.adam_eps,
                                  weight_decay=c.weight_decay)
    tokens, targets = (torch.tensor(a) for a in gpt_batch(seed))

    def step() -> float:
        optimizer.zero_grad()
        _, loss = model(tokens, targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _w1h(seed: int, engine: str) -> Callable[[], float]:
    module = load_model_file(BY_HAND_FILE, engine)
    torch = module.torch
    c = GPT_CONFIG
    model = module.GPTByHand(gpt_init_params(seed), c.n_heads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=c.lr, betas=(c.beta1, c.beta2), eps=c.adam_eps,
                                  weight_decay=c.weight_decay)
    tokens, targets = (torch.tensor(a) for a in gpt_batch(seed))

    def step() -> float:
        optimizer.zero_grad()
        loss = model(tokens, targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def w1u_torch(seed: int) -> Callable[[], float]:
    return _w1u(seed, "torch")


def w1u_tinygrad_attn(seed: int) -> Callable[[], float]:
    return _w1u(seed, "tinygrad_attn")


def w1h_torch(seed: int) -> Callable[[], float]:
    return _w1h(seed, "torch")


def w1h_tinygrad_attn(seed: int) -> Callable[[], float]:
    return _w1h(seed, "tinygrad_attn")
