"""A run's logs packed for keeping: a compact run directory that every log reader reads.

A run directory holds one Parquet file per generation (and per species), checkpoints and weights:
about 25 MB for a 400-generation run, most of it checkpoints. What a results page is made of is the
logs. :func:`pack_logs` writes them into another folder as::

    PACK/config.toml                       the run's resolved config, as is
    PACK/generations/gen-packed.parquet    every generation row, sorted (zstd)
    PACK/networks/gen-packed.parquet       every network row, sorted by generation and id (zstd)
    PACK/events/event-000000.parquet       every recovery event, if the run had any

The file names match the readers' patterns, so :func:`ecosim.report.runs.load_run`, ``ecosim
report`` and ``experiments/make_results.py`` read a pack exactly as they read the run. A pack holds
no checkpoint and no weights: it cannot be resumed, shown or exported. Keep packs in version
control (``experiments/archive/``) so that a results page can be regenerated after the run
directories are gone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ecosim.atomic import atomic_write
from ecosim.errors import CheckpointError
from ecosim.store.lock import run_lock
from ecosim.store.logs import EVENT_SCHEMA, GENERATION_SCHEMA, NETWORK_SCHEMA
from ecosim.store.rundir import PACKED_LOG, RunDir


def _concat(files: list[Path], schema: pa.Schema, sort: list[str]) -> pa.Table:
    if not files:
        return schema.empty_table()
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in files])
    return table.sort_by([(k, "ascending") for k in sort])


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def pack_logs(run_dir: str | Path, dest: str | Path) -> Path:
    """Write the logs of ``run_dir`` into ``dest`` as a pack (module docstring), replacing an earlier pack there.

    The run's lock is held while it is read, so a pack is never taken from half a generation.

    Args:
        run_dir: a run directory with at least one logged generation.
        dest: the pack's folder (created; it may hold an earlier pack of the same run, which is
            replaced, but never a run directory with checkpoints).

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        CheckpointError: ``run_dir`` is no run directory or has logged no generation yet; another
            process (a run in progress) holds its lock; ``dest`` holds checkpoints (a run, not a
            pack) or is ``run_dir`` itself.
    """
    src, out = RunDir(run_dir), RunDir(dest)
    src.require()
    if src.is_pack:
        raise CheckpointError(f"run_dir {str(src.root)!r} is a pack already: copy the folder to keep it elsewhere")
    if out.root.resolve() == src.root.resolve():
        raise CheckpointError(f"dest {str(out.root)!r} is the run directory itself: pack into another folder")
    if out.checkpoints.is_dir():
        raise CheckpointError(f"dest {str(out.root)!r} holds checkpoints (a run directory): pack into another folder")
    with run_lock(src.root):
        generations = _concat(sorted(src.generations.glob("gen-*.parquet")), GENERATION_SCHEMA, ["generation"])
        if generations.num_rows == 0:
            raise CheckpointError(f"run directory {str(src.root)!r} has no generation logs yet: nothing to pack")
        networks = _concat(sorted(src.networks.glob("gen-*.parquet")), NETWORK_SCHEMA, ["generation", "network_id"])
        events_dir = src.events
        events = _concat(
            sorted(events_dir.glob("event-*.parquet")) if events_dir.is_dir() else [], EVENT_SCHEMA, ["time"]
        )
        config = src.config.read_bytes()
    for folder in (out.generations, out.networks, out.events):
        if folder.is_dir():
            shutil.rmtree(folder)
    out.root.mkdir(parents=True, exist_ok=True)
    atomic_write(out.config, config)
    _write(generations, out.generations / PACKED_LOG)
    _write(networks, out.networks / PACKED_LOG)
    if events.num_rows:
        _write(events, out.events / "event-000000.parquet")
    return out.root


__all__ = ["PACKED_LOG", "pack_logs"]
