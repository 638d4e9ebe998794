"""Random number generators, as PyTorch has them: `ta.Generator` and the default one.

`ta.manual_seed(s)` reseeds the default generator, which every random function (`randn`,
`rand`, `randint`, `multinomial`, dropout, nn's initialisers) draws from unless given its own
`generator=`. A `Generator` holds a NumPy `np.random.Generator` as `.rng`; the numbers differ
from PyTorch's for the same seed (another algorithm), but the same seed gives the same numbers.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import check_device

__all__ = ["Generator", "default_generator", "manual_seed", "initial_seed", "seed", "default_rng"]

_SEEDS = 2 ** 64  # PyTorch takes any int and keeps it modulo 2**64 (so -1 works)


class Generator:
    """A seedable source of random numbers: `g = ta.Generator(); g.manual_seed(0)`, then
    `ta.randn(2, 3, generator=g)`. Drawing from it leaves the default generator alone."""

    __slots__ = ("rng", "_seed")

    def __init__(self, device: Any = "cpu"):
        check_device(device, "Generator")
        self.manual_seed(67280421310721)  # PyTorch's seed for a new Generator

    def manual_seed(self, seed: Any) -> "Generator":
        """Start again from `seed` (an int); returns the generator, as in PyTorch."""
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: seed must be an int, got {seed!r} ({type(seed).__name__})")
        self._seed = int(seed) % _SEEDS
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        """The seed the generator last started from."""
        return self._seed

    def seed(self) -> int:
        """Reseed from fresh entropy and return the new seed."""
        fresh = int(np.random.SeedSequence().entropy) % 2 ** 63
        self.manual_seed(fresh)
        return fresh

    @property
    def device(self) -> str:
        return "cpu"

    def __repr__(self) -> str:
        return f"Generator(initial_seed={self._seed})"


default_generator = Generator().manual_seed(0)


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator (behind `randn`, dropout and nn's initialisers); returns it."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    return default_generator.initial_seed()


def seed() -> int:
    return default_generator.seed()


def default_rng() -> np.random.Generator:
    """The NumPy generator inside the default generator (what `manual_seed` last seeded)."""
    return default_generator.rng


def numpy_rng(generator: Any, where: str) -> np.random.Generator:
    """The NumPy generator to draw from: `generator=` (a ta.Generator, or a NumPy Generator) or
    the default one."""
    if generator is None:
        return default_generator.rng
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"{where}: generator must be a ta.Generator, got {type(generator).__name__}; "
                    "for a seed use ta.Generator().manual_seed(seed)")
