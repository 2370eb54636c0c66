"""Seeded random streams, one per decision, derived from (run seed, generation, network id).

Never global state: every stochastic function takes a ``numpy.random.Generator`` made here,
so a run reproduces bit for bit whatever Ray worker executes which task.
"""

from __future__ import annotations

import zlib

import numpy as np

#: Named decision streams; the name is hashed into the seed so streams never collide.
STREAMS = (
    "init",
    "mutation",
    "crossover",
    "selection",
    "culling",
    "training",
    "speciation",
)


def stream_id(name: str) -> int:
    """Stable 32-bit id of a stream name (CRC32, identical on every platform)."""
    return zlib.crc32(name.encode("utf-8"))


def derive_rng(seed: int, generation: int, network_id: int, stream: str) -> np.random.Generator:
    """A PCG64 generator for one decision stream.

    Args:
        seed: the run seed (≥ 0).
        generation: generation number (≥ 0).
        network_id: id of the network the decision concerns; use ``-1``-free ids: the engine
            passes species ids as ``10**9 + species_id`` for species-level streams.
        stream: a name, e.g. ``"mutation"``; see :data:`STREAMS`.

    Returns:
        ``numpy.random.Generator`` seeded from ``SeedSequence([seed, generation, network_id, crc32(stream)])``.

    Raises:
        ValueError: a negative seed, generation or network id.
    """
    if seed < 0 or generation < 0 or network_id < 0:
        raise ValueError(
            f"derive_rng needs seed, generation, network_id ≥ 0, got {seed}, {generation}, {network_id}"
        )
    ss = np.random.SeedSequence([int(seed), int(generation), int(network_id), stream_id(stream)])
    return np.random.Generator(np.random.PCG64(ss))


def torch_seed(rng: np.random.Generator) -> int:
    """A 63-bit seed for ``torch.Generator`` drawn from ``rng``."""
    return int(rng.integers(0, 2**63 - 1))


__all__ = ["STREAMS", "derive_rng", "stream_id", "torch_seed"]
