"""A run's logs packed for keeping: a compact run directory that every log reader reads.

A run directory holds one Parquet file per generation (and per species), checkpoints and weights:
about 25 MB for a 400-generation run, most of it checkpoints. What a results page is made of is the
logs. :func:`pack_logs` writes them into another folder as::

    PACK/config.toml                       the run's resolved config, as is
    PACK/generations/gen-packed.parquet    every generation row, sorted (zstd)
    PACK/networks/gen-packed.parquet       every network row, sorted by generation and id (zstd)
    PACK/events/event-000000.parquet       every recovery event, if the run had any
    PACK/sessions/session-000000.parquet   every start and resume (machine, cluster, versions), if recorded
    PACK/extinct.txt                       the runner's mark of a run that went extinct, if any

The file names match the readers' patterns, so :func:`ecosim.report.runs.load_run`, ``ecosim
report`` and ``experiments/make_results.py`` read a pack exactly as they read the run. A pack holds
no checkpoint and no weights: it cannot be resumed, shown or exported. Keep packs in version
control (``experiments/archive/``) so that a results page can be regenerated after the run
directories are gone.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ecosim.atomic import atomic_write
from ecosim.errors import CheckpointError, StorageError, one_line
from ecosim.store.lock import LOCK_NAME, run_lock
from ecosim.store.logs import EVENT_SCHEMA, GENERATION_SCHEMA, NETWORK_SCHEMA, SESSION_SCHEMA
from ecosim.store.rundir import PACKED_LOG, RunDir, enclosing_run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: files of a run directory that a pack keeps as they are, when present (``extinct.txt``: the
#: experiment runner's mark of a run that went extinct, which counts as finished)
KEPT_FILES = ("extinct.txt",)


def _concat(files: list[Path], schema: pa.Schema, sort: list[str]) -> pa.Table:
    tables = []
    for path in files:
        try:
            tables.append(pq.read_table(path, schema=schema))
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise CheckpointError(
                f"log file {str(path)!r} is damaged ({one_line(exc, 200)}): 'ecosim resume' sets it aside, "
                "then pack again"
            ) from None
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables).sort_by([(k, "ascending") for k in sort])


def _write(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def _identity(config: Path) -> tuple[object, object]:
    """``(run.out, run.seed)`` of a ``config.toml``, read as TOML only (``(None, None)`` if unreadable)."""
    try:
        run = tomllib.loads(config.read_text(encoding="utf-8")).get("run", {})
    except (OSError, ValueError):
        return None, None
    return run.get("out"), run.get("seed")


def _check_dest(src: RunDir, out: RunDir) -> None:
    """Refuse a ``dest`` that is not empty, new or an earlier pack of this same run."""
    if out.root.resolve() == src.root.resolve():
        raise CheckpointError(f"dest {str(out.root)!r} is the run directory itself: pack into another folder")
    if out.root.exists() and not out.root.is_dir():
        raise CheckpointError(f"dest {str(out.root)!r} is a file: give a folder for the pack")
    above = out.root.resolve().parent
    file = next((p for p in (above, *above.parents) if p.exists() and not p.is_dir()), None)
    if file is not None:
        raise CheckpointError(f"dest {str(out.root)!r} lies below the file {str(file)!r}: give a folder for the pack")
    holder = enclosing_run(above)
    if holder is not None:
        what = "pack" if holder.is_pack else "run directory"
        raise CheckpointError(
            f"dest {str(out.root)!r} lies in the {what} {str(holder.root)!r}: pack into a folder outside it"
        )
    if not out.root.is_dir() or not any(out.root.iterdir()):
        return
    if out.checkpoints.is_dir() or out.latest.is_file():
        raise CheckpointError(f"dest {str(out.root)!r} holds checkpoints (a run directory): pack into another folder")
    if not out.is_pack:
        raise CheckpointError(
            f"dest {str(out.root)!r} is not empty and holds no pack: give a new or empty folder "
            "(e.g. ARCHIVE/<experiment>/<seed>)"
        )
    if _identity(out.config) != _identity(src.config):
        out_run, _ = _identity(out.config)
        raise CheckpointError(
            f"dest {str(out.root)!r} holds the pack of another run ({out_run!r}): give another folder"
        )


def pack_logs(run_dir: str | Path, dest: str | Path) -> Path:
    """Write the logs of ``run_dir`` into ``dest`` as a pack (module docstring), replacing an earlier
    pack of the same run there.

    The run's lock is held while it is read, so a pack is never taken from half a generation.
    ``extinct.txt`` (:data:`KEPT_FILES`) is copied as it is.

    Args:
        run_dir: a run directory with at least one logged generation.
        dest: the pack's folder: new, empty, or holding an earlier pack of the same run (same
            ``run.out`` and ``run.seed``), which is replaced.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        CheckpointError: ``run_dir`` is no run directory, is a pack, has logged no generation yet or
            has a damaged log file (named); another process (a run in progress) holds its lock;
            ``dest`` is ``run_dir`` itself, a file or below one, a run directory or inside one (or
            inside a pack), a folder with other content or the pack of another run. Nothing is
            written then.
        StorageError: ``dest`` cannot be written (one line: path and reason).
    """
    src, out = RunDir(run_dir), RunDir(dest)
    src.require()
    if src.is_pack:
        raise CheckpointError(f"run_dir {str(src.root)!r} is a pack already: copy the folder to keep it elsewhere")
    _check_dest(src, out)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(run_lock(src.root))
        except CheckpointError:
            owner = (src.root / LOCK_NAME).read_text(encoding="utf-8", errors="replace").strip() or "another process"
            raise CheckpointError(
                f"run directory {str(src.root)!r} is in use by {owner} (a run in progress): "
                "pack it when it has finished"
            ) from None
        except StorageError:
            pass  # a read-only run directory: nothing can be writing it from here
        generations = _concat(sorted(src.generations.glob("gen-*.parquet")), GENERATION_SCHEMA, ["generation"])
        if generations.num_rows == 0:
            raise CheckpointError(f"run directory {str(src.root)!r} has no generation logs yet: nothing to pack")
        networks = _concat(sorted(src.networks.glob("gen-*.parquet")), NETWORK_SCHEMA, ["generation", "network_id"])
        events_dir = src.events
        events = _concat(
            sorted(events_dir.glob("event-*.parquet")) if events_dir.is_dir() else [], EVENT_SCHEMA, ["time"]
        )
        sessions_dir = src.sessions
        sessions = _concat(
            sorted(sessions_dir.glob("session-*.parquet")) if sessions_dir.is_dir() else [], SESSION_SCHEMA, ["time"]
        )
        config = src.config.read_bytes()
        kept = {name: (src.root / name).read_bytes() for name in KEPT_FILES if (src.root / name).is_file()}
    try:
        for folder in (out.generations, out.networks, out.events, out.sessions):
            if folder.is_dir():
                shutil.rmtree(folder)
        for name in KEPT_FILES:
            (out.root / name).unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError.from_os(exc, "replace the earlier pack in", out.root) from exc
    atomic_write(out.config, config)
    _write(generations, out.generations / PACKED_LOG)
    _write(networks, out.networks / PACKED_LOG)
    if events.num_rows:
        _write(events, out.events / "event-000000.parquet")
    if sessions.num_rows:
        _write(sessions, out.sessions / "session-000000.parquet")
    for name, content in kept.items():
        atomic_write(out.root / name, content)
    return out.root


__all__ = ["KEPT_FILES", "PACKED_LOG", "pack_logs"]
