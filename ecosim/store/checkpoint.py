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
safetensors file). ``settings`` holds the config keys that decide what the run computes
(:func:`computed_settings`): ``ecosim resume`` refuses a ``config.toml`` edited since
(:func:`edited_settings`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ecosim.atomic import TMP_PREFIX, atomic_write, share_as_created
from ecosim.config import RESUMABLE_KEYS, Config
from ecosim.errors import CheckpointError, StorageError, one_line
from ecosim.evolution.records import NetworkRecord
from ecosim.genome import Genome, Weights
from ecosim.genome.mutation_params import parse_family_weights
from ecosim.store.rundir import RunDir

CHECKPOINT_VERSION = 1


def computed_settings(config: Config) -> dict[str, Any]:
    """The config keys that decide what a run computes, flat: ``{"mutation.max_macs": 500000.0, ...}``.

    Every key but :data:`~ecosim.config.RESUMABLE_KEYS` and ``run.out`` (where the run lies);
    values as JSON gives them back, in a form where settings that compute the same bits are equal:
    ``family_weights`` as its weight per kind (``"layer=2,node=1"`` is
    ``"node=1, add_layer=1, remove_layer=1"``), and the layout keys' reference pins as ``"auto"`` (``auto`` only
    admits layouts bit-identical to dense, channels-first, whole; ``docs/design.md``, Training).

    >>> s = computed_settings(Config())
    >>> "run.seed" in s and "run.generations" not in s and "run.out" not in s
    True
    >>> computed_settings(Config().with_overrides({"training.conv_mode": "dense"})) == s
    True
    """
    flat = {
        f"{section}.{key}": value
        for section, table in config.to_dict().items()
        for key, value in table.items()
        if f"{section}.{key}" not in RESUMABLE_KEYS and f"{section}.{key}" != "run.out"
    }
    weights = parse_family_weights(config.mutation.family_weights)
    canonical = ",".join(f"{k.value}={w:g}" for k, w in sorted(weights.items())) if weights else ""
    flat["mutation.family_weights"] = canonical
    for key, reference in _REFERENCE_LAYOUT.items():
        if flat.get(key) == reference:
            flat[key] = "auto"
    return dict(json.loads(json.dumps(flat)))


#: the layout pins that compute what ``auto`` computes (auto admits only layouts bit-identical to them)
_REFERENCE_LAYOUT = {
    "training.conv_mode": "dense",
    "training.memory_format": "channels_first",
    "training.eval_split": "whole",
}


def edited_settings(saved: Mapping[str, Any] | None, config: Config) -> list[str]:
    """Keys whose value in ``config`` differs from the ``saved`` settings of a checkpoint.

    Returns ``"key = now (the run computed with before)"`` per key, sorted; empty when nothing
    differs or the checkpoint holds no settings (written by ecosim < 0.7).

    >>> edited_settings(computed_settings(Config()), Config().with_overrides({"run.seed": 3}))
    ['run.seed = 3 (the run computed with 0)']
    """
    if not saved:
        return []
    now = computed_settings(config)
    given = config.to_dict()
    return [
        f"{key} = {given[key.split('.')[0]][key.split('.')[1]]!r} (the run computed with {saved.get(key)!r})"
        for key in sorted(set(saved) | set(now))
        if key in saved and key in now and saved[key] != now[key]
    ]


def checkpoint_settings(run_dir: str | Path, generation: int) -> dict[str, Any] | None:
    """The ``settings`` of the checkpoint after ``generation`` (``None``: absent, unreadable, or older)."""
    try:
        state = json.loads((RunDir(run_dir).checkpoint(generation) / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = state.get("settings") if isinstance(state, dict) else None
    return settings if isinstance(settings, dict) else None


def save_checkpoint(
    run_dir: str | Path,
    generation: int,
    coordinator: Mapping[str, Any],
    species: Sequence[Mapping[str, Any]],
    keep: int = 2,
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write the state after ``generation``.

    Args:
        coordinator: JSON-ready ecosystem state (:meth:`EcosystemPolicy.to_json
            <ecosim.evolution.ecosystem.EcosystemPolicy.to_json>`).
        species: per species ``{"species_id", "key", "generation", "networks": {id: NetworkRecord}}``.
        keep: complete checkpoints to keep.
        settings: :func:`computed_settings` of the run's config (resume checks ``config.toml`` against it).

    Returns:
        the checkpoint folder.
    """
    layout = RunDir(run_dir)
    root = layout.checkpoints
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=TMP_PREFIX))
        share_as_created(tmp, folder=True)  # mkdtemp creates 0700
    except OSError as exc:
        raise StorageError.from_os(exc, "write the checkpoint", root) from exc
    try:
        return _save(layout, root, tmp, generation, species, coordinator, keep, settings)
    except OSError as exc:  # a full disk: the previous checkpoint and LATEST stay as they were
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError.from_os(exc, "write the checkpoint", layout.checkpoint(generation)) from exc


def _save(
    layout: RunDir, root: Path, tmp: Path, generation: int, species: Any, coordinator: Any, keep: int, settings: Any
) -> Path:
    final = layout.checkpoint(generation)
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
    state = {
        "version": CHECKPOINT_VERSION,
        "generation": generation,
        "coordinator": dict(coordinator),
        "species": species_meta,
    }
    if settings is not None:
        state["settings"] = dict(settings)
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


class CheckpointWarning(UserWarning):
    """A damaged checkpoint (or ``LATEST`` pointer) was skipped in favour of an older intact one."""


class _Damaged(Exception):
    """A checkpoint file that cannot be read back (internal to :func:`load_checkpoint`)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is damaged ({reason})")


def _candidates(layout: RunDir) -> tuple[list[Path], str | None]:
    """Checkpoint folders to try, best first, and what is wrong with ``LATEST`` (``None``: nothing).

    The folder ``LATEST`` names comes first; then every other complete folder, newest first
    (temporary folders of a killed writer are never candidates).
    """
    folders = sorted(
        (p for p in layout.checkpoints.glob("gen-*") if p.is_dir() and RunDir.checkpoint_generation(p) is not None),
        key=lambda p: RunDir.checkpoint_generation(p) or 0,
        reverse=True,
    )
    problem: str | None = None
    generation = layout.latest_generation()
    if generation is not None:
        first = layout.checkpoint(generation)
        return [first, *(p for p in folders if p != first)], None
    if not layout.latest.is_file():
        problem = f"{layout.latest} is missing"
    else:
        try:
            name = layout.latest.read_text(encoding="utf-8").strip()
            problem = f"{layout.latest} names {name[:40]!r}, which is no checkpoint folder"
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"{layout.latest} is unreadable ({type(exc).__name__})"
    return folders, problem


def _read_checkpoint(folder: Path) -> dict[str, Any]:
    """Read one checkpoint folder.

    Raises:
        _Damaged: a missing, truncated or otherwise unreadable file, or state that does not fit.
        CheckpointError: a readable checkpoint of another version (not damage: no fallback).
    """
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("state.json holds no JSON object")
    except (OSError, ValueError) as exc:
        raise _Damaged(folder / "state.json", one_line(exc)) from exc
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(folder)!r} has version {state.get('version')!r}, expected {CHECKPOINT_VERSION}"
        )
    try:
        arrays = load_file(str(folder / "weights.safetensors"))
    except Exception as exc:  # safetensors raises its own SafetensorError, an Exception subclass
        raise _Damaged(folder / "weights.safetensors", one_line(exc)) from exc
    try:
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
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # GenomeError is a ValueError
        raise _Damaged(folder, f"its state does not fit its weights: {one_line(exc)}") from exc


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """Read the newest intact checkpoint of a run.

    The checkpoint ``LATEST`` names is read first. When it (or ``LATEST`` itself) is damaged,
    e.g. a truncated ``state.json`` or ``weights.safetensors``, or ``LATEST`` overwritten with
    other bytes, the next newest complete checkpoint is read instead (``save_checkpoint`` keeps
    ``keep`` of them) and a :class:`CheckpointWarning` names what was skipped. A resumed run then
    repeats the generations after the checkpoint it read.

    Returns:
        ``{"generation", "coordinator", "species": [{"species_id", "key", "generation", "networks": {id:
        NetworkRecord}}]}``.

    Raises:
        CheckpointError: no run directory, no complete checkpoint, none intact (one line naming
            each damaged file), or a checkpoint of an unknown version.
    """
    layout = RunDir(run_dir)
    candidates, pointer_problem = _candidates(layout)
    if not candidates:
        raise CheckpointError(
            f"run directory {str(run_dir)!r} has no complete checkpoint ({pointer_problem or 'no checkpoint folder'})"
        )
    damaged: list[str] = []
    for folder in candidates:
        try:
            state = _read_checkpoint(folder)
        except _Damaged as exc:
            damaged.append(str(exc))
            continue
        skipped = ([pointer_problem] if pointer_problem else []) + damaged
        if skipped:
            warnings.warn(
                f"{'; '.join(skipped)}: using checkpoint {str(folder)!r} (generation {state['generation']}) instead",
                CheckpointWarning,
                stacklevel=2,
            )
        return state
    raise CheckpointError(f"run directory {str(run_dir)!r} has no intact checkpoint: " + "; ".join(damaged))


def intact_checkpoint_generation(run_dir: str | Path) -> int | None:
    """The generation :func:`load_checkpoint` would resume from, or ``None`` when no checkpoint is intact.

    Unlike :meth:`RunDir.latest_generation` it looks past a damaged ``LATEST`` or checkpoint
    (and reads every checkpoint it looks at, weights included).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)
        try:
            return int(load_checkpoint(run_dir)["generation"])
        except CheckpointError:
            return None


__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointWarning",
    "intact_checkpoint_generation",
    "load_checkpoint",
    "save_checkpoint",
]
