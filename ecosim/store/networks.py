"""Save and load one network (genome + gene weights + metadata) as a safetensors file, no pickle.

Paper §II-B (a network is its genome and its genes). Layout of the file:

* tensors: :meth:`Weights.to_arrays` (``l{i}.n{j}`` per gene, ``l{i}.bias`` per layer), float32;
* header metadata (strings): ``format = "ecosim.network"``, ``format_version = "1"``,
  ``genome`` (:meth:`Genome.to_json`) and ``metadata`` (JSON of the caller's dict).

Writes are atomic: a temporary file in the target folder, flushed and fsynced, then
``os.replace``; a reader never sees a half-written file.

Example::

    save_network(run_dir / "champion.safetensors", genome, weights, {"fitness": 0.97})
    genome, weights, metadata = load_network(run_dir / "champion.safetensors")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ecosim.atomic import atomic_write
from ecosim.errors import CheckpointError, GenomeError
from ecosim.genome.genome import Genome
from ecosim.genome.weights import DTYPE, Weights, check_weights

FORMAT = "ecosim.network"
FORMAT_VERSION = "1"


def save_network(
    path: str | os.PathLike[str],
    genome: Genome,
    weights: Weights,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``genome``, ``weights`` and ``metadata`` to one safetensors file, atomically.

    Args:
        path: target file (its folder must exist); replaced if present.
        genome: the architecture, stored as JSON in the header.
        weights: gene weights fitting ``genome``, stored as float32 tensors.
        metadata: JSON-serialisable dict (e.g. fitness, generation), stored in the header;
            ``None`` stores ``{}``.

    Returns:
        The path written.

    Raises:
        GenomeError: ``weights`` do not fit ``genome``.
        CheckpointError: ``metadata`` is not JSON-serialisable, or the file cannot be written;
            the message names the path.

    Shape:
        one float32 tensor per gene, ``l{i}.n{j}`` of the gene's shape (conv ``(C_in, h, w)``,
        FC ``(C_in, H_in, W_in)``), and ``l{i}.bias`` ``(nodes,)`` per layer.
    """
    path = Path(path)
    check_weights(genome, weights)
    try:
        meta_json = json.dumps({} if metadata is None else metadata, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"metadata for {str(path)!r} must be JSON-serialisable: {exc}") from exc
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "genome": genome.to_json(),
        "metadata": meta_json,
    }
    arrays = {k: np.ascontiguousarray(v, dtype=DTYPE) for k, v in weights.to_arrays().items()}
    try:
        atomic_write(path, safetensors.numpy.save(arrays, metadata=header))
    except OSError as exc:
        raise CheckpointError(f"cannot write network file {str(path)!r}: {exc}") from exc
    return path


def load_network(path: str | os.PathLike[str]) -> tuple[Genome, Weights, dict[str, Any]]:
    """Read a file written by :func:`save_network`.

    Args:
        path: the safetensors file.

    Returns:
        ``(genome, weights, metadata)``; arrays are float32 and bit-identical to those saved.

    Raises:
        CheckpointError: a missing or unreadable file, not a safetensors file, a wrong
            ``format``/``format_version``, or a genome/weights that do not fit; the message
            names the path.

    Shape:
        as :func:`save_network`; every gene is checked against the stored genome.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"network file {str(path)!r} does not exist")
    try:
        with safetensors.safe_open(str(path), framework="np") as fh:
            header = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not a mapping)
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"network file {str(path)!r} is not a readable safetensors file: {exc}") from exc
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"network file {str(path)!r} has format {header.get('format')!r} version "
            f"{header.get('format_version')!r}, expected {FORMAT!r} version {FORMAT_VERSION!r}"
        )
    try:
        genome = Genome.from_json(header["genome"])
        weights = Weights.from_arrays(genome, arrays)
        metadata = json.loads(header["metadata"])
    except (KeyError, ValueError, GenomeError) as exc:
        raise CheckpointError(
            f"network file {str(path)!r} holds an invalid genome, weights or metadata: {exc}"
        ) from exc
    return genome, weights, metadata


__all__ = ["FORMAT", "FORMAT_VERSION", "load_network", "save_network"]
