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
)

#: Species- and ecosystem-level decisions (initial species, culling) use ``network_id``
#: ``SPECIES_STREAM_BASE + k``, above every real network id, so their streams never collide.
SPECIES_STREAM_BASE = 10**12


def stream_id(name: str) -> int:
    """Stable 32-bit id of a stream name (CRC32, identical on every platform)."""
    return zlib.crc32(name.encode("utf-8"))


def derive_rng(seed: int, generation: int, network_id: int, stream: str) -> np.random.Generator:
    """A PCG64 generator for one decision stream.

    Args:
        seed: the run seed (≥ 0).
        generation: generation number (≥ 0).
        network_id: id of the network the decision concerns (≥ 0); decisions that concern no
            single network use ``SPECIES_STREAM_BASE + k`` (see :data:`SPECIES_STREAM_BASE`).
        stream: a name, e.g. ``"mutation"``; see :data:`STREAMS`.

    Returns:
        ``numpy.random.Generator`` seeded from ``SeedSequence([seed, generation, network_id, crc32(stream)])``.

    Raises:
        ValueError: a negative seed, generation or network id.
    """
    if seed < 0 or generation < 0 or network_id < 0:
        raise ValueError(f"derive_rng needs seed, generation, network_id ≥ 0, got {seed}, {generation}, {network_id}")
    ss = np.random.SeedSequence([int(seed), int(generation), int(network_id), stream_id(stream)])
    return np.random.Generator(np.random.PCG64(ss))


__all__ = ["SPECIES_STREAM_BASE", "STREAMS", "derive_rng", "stream_id"]
