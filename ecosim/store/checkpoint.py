"""Checkpoints: the whole ecosystem state after each generation, written atomically, no pickle.

Layout inside a run directory::

    checkpoints/gen-000012/state.json         ecosystem state, species, network metadata
    checkpoints/gen-000012/weights.safetensors every network's gene arrays
    checkpoints/LATEST                        name of the newest complete checkpoint

A checkpoint folder is written under a temporary name and renamed when complete, and
``LATEST`` is replaced atomically afterwards, so a run killed at any point (SIGKILL included)
leaves the previous complete checkpoint intact. Random state needs no saving: every stream is
re-derived from (run seed, generation, network id) (:mod:`ecosim.rng`).

What is saved is the whole state, so a restore reads nothing else (no log is read back): the
``coordinator`` entry is :meth:`EcosystemPolicy.to_json <ecosim.evolution.ecosystem.EcosystemPolicy.to_json>`
(id counters, the species registry, the champion, and the tallies of generations in progress
with their network rows), and ``species`` holds every species' :class:`SpeciesState
<ecosim.evolution.records.SpeciesState>` (its networks' records; their weights in the
safetensors file).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from safetensors.numpy import load_file, save_file

from ecosim.errors import CheckpointError
from ecosim.evolution.records import NetworkRecord
from ecosim.genome import Genome, Weights
from ecosim.store.atomic import TMP_PREFIX, atomic_write
from ecosim.store.rundir import RunDir

CHECKPOINT_VERSION = 1


def save_checkpoint(
    run_dir: str | Path,
    generation: int,
    coordinator: Mapping[str, Any],
    species: Sequence[Mapping[str, Any]],
    keep: int = 2,
) -> Path:
    """Write the state after ``generation``.

    Args:
        coordinator: JSON-ready ecosystem state (:meth:`EcosystemPolicy.to_json
            <ecosim.evolution.ecosystem.EcosystemPolicy.to_json>`).
        species: per species ``{"species_id", "key", "generation", "networks": {id: NetworkRecord}}``.
        keep: complete checkpoints to keep.

    Returns:
        the checkpoint folder.
    """
    layout = RunDir(run_dir)
    root = layout.checkpoints
    root.mkdir(parents=True, exist_ok=True)
    final = layout.checkpoint(generation)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=TMP_PREFIX))
    arrays: dict[str, np.ndarray] = {}
    species_meta = []
    for sp in species:
        nets = []
        for rec in sorted(sp["networks"].values(), key=lambda r: r.id):
            nets.append(rec.meta())
            for name, arr in rec.weights.to_arrays().items():
                arrays[f"n{rec.id}.{name}"] = np.ascontiguousarray(arr)
        key = sp["key"]
        species_meta.append(
            {
                "species_id": sp["species_id"],
                "key": None if key is None else [list(key[0]), list(key[1])],
                "generation": sp["generation"],
                "networks": nets,
            }
        )
    state = {"version": CHECKPOINT_VERSION, "generation": generation, "coordinator": dict(coordinator), "species": species_meta}
    atomic_write(tmp / "weights.safetensors", lambda p: save_file(arrays, p))
    atomic_write(tmp / "state.json", json.dumps(state))
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    atomic_write(layout.latest, final.name)
    complete = sorted(p for p in root.glob("gen-*") if p.is_dir())
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(TMP_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    return final


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """Read the newest complete checkpoint of a run.

    Returns:
        ``{"generation", "coordinator", "species": [{"species_id", "key", "generation", "networks": {id: NetworkRecord}}]}``.

    Raises:
        CheckpointError: no run directory, no complete checkpoint, unknown version or corrupt files.
    """
    layout = RunDir(run_dir)
    latest = layout.latest
    if not latest.is_file():
        raise CheckpointError(f"run directory {str(run_dir)!r} has no complete checkpoint ({latest} missing)")
    generation = layout.latest_generation()
    if generation is None:
        raise CheckpointError(f"checkpoint pointer {str(latest)!r} is unreadable or names no checkpoint")
    folder = layout.checkpoint(generation)
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        arrays = load_file(str(folder / "weights.safetensors"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(folder)!r} is unreadable: {exc}") from exc
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {str(folder)!r} has version {state.get('version')!r}, expected {CHECKPOINT_VERSION}")
    by_network: dict[int, dict[str, np.ndarray]] = {}
    for name, arr in arrays.items():
        head, _, rest = name.partition(".")
        by_network.setdefault(int(head[1:]), {})[rest] = arr
    species = []
    for sp in state["species"]:
        nets = {}
        for meta in sp["networks"]:
            own = by_network.get(int(meta["id"]), {})
            genome = Genome.from_dict(meta["genome"])
            rec = NetworkRecord.from_meta(meta, Weights.from_arrays(genome, own))
            nets[rec.id] = rec
        key = sp["key"]
        species.append(
            {
                "species_id": sp["species_id"],
                "key": None if key is None else (tuple(key[0]), tuple(key[1])),
                "generation": sp["generation"],
                "networks": nets,
            }
        )
    return {"generation": state["generation"], "coordinator": state["coordinator"], "species": species}


__all__ = ["CHECKPOINT_VERSION", "load_checkpoint", "save_checkpoint"]
