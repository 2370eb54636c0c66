"""Generation logs as Apache Arrow / Parquet, append-only, with one fixed explicit schema.

A run directory holds two Parquet datasets, one file per generation (and per species for
network rows), each written atomically (temporary file, then rename):

* ``generations/gen-000012.parquet`` — one row per generation, :data:`GENERATION_SCHEMA`;
* ``networks/gen-000012-s0003.parquet`` — one row per network per generation, :data:`NETWORK_SCHEMA`;
* ``events/event-000003.parquet`` — one row per recovery event (a lost species actor re-created,
  a step redone, a resume, a run stopped for lack of resources), :data:`EVENT_SCHEMA`. Events are
  history: a resume never removes them;
* ``sessions/session-000001.parquet`` — one row per start or resume of the run: the Ray cluster
  (nodes, CPUs, GPUs), the driver's CPU and the versions of ecosim, Python, torch, Ray...,
  :data:`SESSION_SCHEMA` (from ecosim 0.9.11).

Each folder opens directly with ``pyarrow.dataset``, ``pandas.read_parquet``, polars or DuckDB.
Every file carries the full declared schema, so a column that is empty in the first generation
keeps its type later. Fitness values are fractions in [0, 1].
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ecosim.atomic import TMP_PREFIX, atomic_write
from ecosim.errors import one_line
from ecosim.evolution.generation_rows import CONSTRAINT_FAILURE_COLUMNS, COUNT_COLUMNS, empty_counts
from ecosim.evolution.records import OFFSPRING_ORIGINS
from ecosim.genome.mutation_kinds import MutationKind
from ecosim.store.rundir import RunDir

MUTATION_KINDS = tuple(k.value for k in MutationKind)
#: the ``failed_<kind>`` columns (one definition: :mod:`ecosim.evolution.generation_rows`)
FAILED_CONSTRAINT_COLUMNS = CONSTRAINT_FAILURE_COLUMNS

GENERATION_SCHEMA = pa.schema(
    [
        pa.field("generation", pa.int64(), nullable=False),
        pa.field("highest_fitness", pa.float64()),
        pa.field("mean_fitness", pa.float64()),
        pa.field("best_fitness_so_far", pa.float64()),
        pa.field("mean_offspring_fitness_before_bp", pa.float64()),  # crossover and mutation offspring
        *[pa.field(f"mean_offspring_fitness_before_bp_{o.value}", pa.float64()) for o in OFFSPRING_ORIGINS],
        pa.field("mean_test_accuracy", pa.float64()),
        pa.field("species_count", pa.int64()),
        pa.field("network_count", pa.int64()),
        pa.field("networks_evaluated", pa.int64()),
        pa.field("champion_id", pa.int64()),
        pa.field("champion_parameters", pa.int64()),
        pa.field("champion_fitness", pa.float64()),
        pa.field("champion_layers", pa.string()),  # Genome.summary() of the generation's fittest
        pa.field("mean_parameters", pa.float64()),
        pa.field("conv_share", pa.float64()),  # fraction of networks trained with ≥ 1 conv layer
        pa.field("train_macs", pa.float64()),  # training compute this generation: Σ 3 · macs · train_images
        pa.field("eval_macs", pa.float64()),  # scoring compute this generation: Σ macs · eval_images
        pa.field("trainings", pa.int64()),  # networks trained (≥ 1 image)
        pa.field("test_evaluations", pa.int64()),  # networks whose test accuracy was measured
        pa.field("lr_scale", pa.float64()),  # factor on the learning rate (the smallest of the generation)
        # mutations_<kind>, failed_<kind>, failed_species_limit, failed_reproduction,
        # failed_cost_cap, cap_redraws, crossovers, clones, offspring, culled, diverged, errors,
        # quota_reallocated, species_extinct
        *[pa.field(c, pa.int64()) for c in COUNT_COLUMNS],
        pa.field("wall_time_s", pa.float64()),
        pa.field("task_time_s", pa.float64()),  # compute time inside training tasks, summed
        pa.field("train_phase_s", pa.float64()),  # sync: wall time until every task returned
        pa.field("evolve_phase_s", pa.float64()),  # sync: reproduction, placement, culling
    ]
)

NETWORK_SCHEMA = pa.schema(
    [
        pa.field("generation", pa.int64(), nullable=False),
        pa.field("network_id", pa.int64(), nullable=False),
        pa.field("species_id", pa.int64()),
        pa.field("parent_ids", pa.list_(pa.int64())),
        pa.field("origin", pa.string()),  # initial | mutation | crossover | clone
        pa.field("mutation", pa.string()),  # kind applied at birth, or null
        pa.field("born_generation", pa.int64()),
        pa.field("age", pa.int64()),  # generations trained, this one included
        pa.field("parameters", pa.int64()),
        pa.field("layers", pa.string()),  # Genome.summary()
        pa.field("conv_layers", pa.int64()),
        pa.field("fitness", pa.float64()),
        pa.field("fitness_before_bp", pa.float64()),  # only for new offspring, else null
        pa.field("test_accuracy", pa.float64()),  # equals fitness unless a validation split is used
        pa.field("relative_fitness", pa.float64()),
        pa.field("relative_complexity", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("train_time_s", pa.float64()),
        pa.field("eval_time_s", pa.float64()),
        pa.field("macs", pa.int64()),  # forward multiply-accumulates per image, from the genome
        pa.field("train_images", pa.int64()),  # images trained on this generation (all epochs)
        pa.field("eval_images", pa.int64()),  # images scored this generation (before BP, fitness, test)
        pa.field("lr_scale", pa.float64()),  # factor on the learning rate of this training (settle_lr_decay)
        pa.field("status", pa.string()),  # ok | diverged | error
        pa.field("message", pa.string()),  # error message and traceback
        pa.field("culled", pa.bool_()),
    ]
)

EVENT_SCHEMA = pa.schema(
    [
        pa.field("time", pa.float64(), nullable=False),  # when it was recorded (Unix time, s)
        pa.field("generation", pa.int64()),  # the generation in progress
        pa.field("event", pa.string(), nullable=False),  # see EVENT_KINDS
        pa.field("species_id", pa.int64()),  # the species whose actor was lost, if one
        pa.field("node_id", pa.string()),  # the Ray node the lost actor last ran on, if known
        pa.field("pid", pa.int64()),  # the lost actor's process id, if known
        pa.field("cause", pa.string()),  # the error that revealed the loss (type: first line)
        pa.field("lost", pa.string()),  # what was lost, in words
        pa.field("redone", pa.string()),  # what was redone, in words
        pa.field("networks_retrained", pa.int64()),  # networks trained again
        pa.field("recovery_s", pa.float64()),  # from detecting the loss to the redone work finished
        pa.field("attempt", pa.int64()),  # recoveries of this kind in this generation so far, this one included
    ]
)

#: The sessions log: one row per start or resume of a run, where and with what it computed (docs/logs.md).
SESSION_SCHEMA = pa.schema(
    [
        pa.field("time", pa.float64(), nullable=False),  # when the session began computing (Unix time, s)
        pa.field("command", pa.string(), nullable=False),  # "run" or "resume"
        pa.field("generation", pa.int64(), nullable=False),  # the first generation it computes
        pa.field("nodes", pa.int64()),  # living Ray nodes when the session began (a snapshot)
        pa.field("cluster_cpus", pa.float64()),  # Ray's CPUs over those nodes
        pa.field("cluster_gpus", pa.float64()),  # Ray's GPUs over those nodes
        pa.field("gpu_types", pa.string()),  # Ray's accelerator types, comma-separated ("" none known)
        pa.field("cpu", pa.string()),  # the driver's CPU model (ecosim.machine.cpu_model)
        pa.field("cpu_capability", pa.string()),  # torch's CPU kernel level there ("AVX2"; null before 0.9.12)
        pa.field("host_cpus", pa.int64()),  # the driver machine's logical CPUs (os.cpu_count)
        pa.field("platform", pa.string()),
        pa.field("python", pa.string()),
        pa.field("ecosim", pa.string()),
        pa.field("ecosim_commit", pa.string()),  # git describe of a checkout ("" installed; null before 0.9.12)
        pa.field("torch", pa.string()),
        pa.field("torchvision", pa.string()),
        pa.field("ray", pa.string()),
        pa.field("numpy", pa.string()),
        pa.field("pyarrow", pa.string()),
    ]
)

#: the ``event`` values of the events log (``docs/logs.md``)
EVENT_KINDS = ("species_recovered", "step_redone", "spare_lost", "resumed", "resources_exhausted", "stalled")

_GEN_FILE = re.compile(r"gen-(\d{6})(?:-s(\d+))?\.parquet$")
_EVENT_FILE = re.compile(r"^event-(\d{6,})\.parquet$")
_SESSION_FILE = re.compile(r"^session-(\d{6,})\.parquet$")


def _write_atomic(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _append(folder: Path, stem: str, pattern: re.Pattern[str], table: pa.Table) -> Path:
    """Write ``table`` as the next numbered file ``folder/<stem>-NNNNNN.parquet`` (events, sessions)."""
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in folder.glob(f"{stem}-*.parquet") if (m := pattern.match(p.name))]
    path = folder / f"{stem}-{max(taken, default=-1) + 1:06d}.parquet"
    _write_atomic(table, path)
    return path


def _read_numbered(folder: Path, stem: str, pattern: re.Pattern[str], schema: pa.Schema) -> pa.Table:
    """The numbered files of ``folder`` (:func:`_append`) in the order they were written; empty with the
    schema's columns when there are none."""
    files = (
        sorted((int(m.group(1)), p) for p in folder.glob(f"{stem}-*.parquet") if (m := pattern.match(p.name)))
        if folder.is_dir()
        else []
    )
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=schema) for _, p in files])


def _table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    unknown = {k for r in rows for k in r} - set(schema.names)
    if unknown:
        raise KeyError(f"log rows have columns outside the schema: {sorted(unknown)}")
    columns = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


class LogWriter:
    """Writes generation and network rows into ``run_dir`` (a reporter the engine calls).

    Args:
        run_dir: the run directory; ``generations/`` and ``networks/`` are created inside.

    Raises:
        KeyError: a row with a column outside the schema.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.layout = RunDir(run_dir)
        self.run_dir = self.layout.root
        self.generations_dir = self.layout.generations
        self.networks_dir = self.layout.networks
        self.generations_dir.mkdir(parents=True, exist_ok=True)
        self.networks_dir.mkdir(parents=True, exist_ok=True)

    def write_networks(self, generation: int, species_id: int, rows: Sequence[Mapping[str, Any]]) -> Path:
        """Write one species' network rows of one generation (replaces a previous file of that key)."""
        path = self.layout.networks_file(generation, species_id)
        _write_atomic(_table(rows, NETWORK_SCHEMA), path)
        return path

    def write_event(self, row: Mapping[str, Any]) -> Path:
        """Append one recovery event (:data:`EVENT_SCHEMA`) as ``events/event-NNNNNN.parquet``.

        Raises:
            KeyError: a column outside :data:`EVENT_SCHEMA`.
            ValueError: ``row["event"]`` is not one of :data:`EVENT_KINDS`.
        """
        if row.get("event") not in EVENT_KINDS:
            raise ValueError(f"event {row.get('event')!r} is invalid: must be one of {', '.join(EVENT_KINDS)}")
        return _append(self.layout.events, "event", _EVENT_FILE, _table([row], EVENT_SCHEMA))

    def write_session(self, row: Mapping[str, Any]) -> Path:
        """Append one session (:data:`SESSION_SCHEMA`: a start or a resume) as ``sessions/session-NNNNNN.parquet``.

        Raises:
            KeyError: a column outside :data:`SESSION_SCHEMA`.
            ValueError: ``row["command"]`` is neither ``"run"`` nor ``"resume"``, or ``time`` or
                ``generation`` is missing (every other column may be null).
        """
        if row.get("command") not in ("run", "resume"):
            raise ValueError(f"session command {row.get('command')!r} is invalid: must be 'run' or 'resume'")
        missing = [k for k in ("time", "generation") if row.get(k) is None]
        if missing:
            raise ValueError(f"session row lacks {', '.join(missing)}")
        return _append(self.layout.sessions, "session", _SESSION_FILE, _table([row], SESSION_SCHEMA))

    def write_generation(self, row: Mapping[str, Any]) -> Path:
        """Write the generation row (after that generation's network rows)."""
        path = self.layout.generation_file(int(row["generation"]))
        _write_atomic(_table([row], GENERATION_SCHEMA), path)
        return path

    def truncate_after(self, generation: int, species_generation: Mapping[int, int] | None = None) -> int:
        """Delete log files of generations after ``generation`` (resume); returns files removed.

        Args:
            species_generation: in asynchronous mode, per-species last checkpointed generation;
                network files beyond it are removed too.
        """
        removed = 0
        for folder in (self.generations_dir, self.networks_dir):
            for path in folder.glob("*.parquet"):
                m = _GEN_FILE.search(path.name)
                if not m:
                    continue
                gen, sid = int(m.group(1)), m.group(2)
                limit = generation
                if sid is not None and species_generation and int(sid) in species_generation:
                    limit = max(generation, species_generation[int(sid)])
                if gen > limit:
                    path.unlink()
                    removed += 1
        for tmp in list(self.generations_dir.glob(TMP_PREFIX + "*")) + list(self.networks_dir.glob(TMP_PREFIX + "*")):
            tmp.unlink(missing_ok=True)
        return removed


class LogWarning(UserWarning):
    """A damaged log file was set aside (into ``RUN_DIR/damaged/``) so that the rest of the log reads."""


def set_aside_damaged_logs(run_dir: str | Path, checkpoint: int | None = None) -> list[Path]:
    """Move the log files (generations, networks, events, sessions) that cannot be read into ``RUN_DIR/damaged/``.

    ``ecosim resume`` calls it before going on, as :func:`~ecosim.store.checkpoint.load_checkpoint`
    looks past a damaged checkpoint: a truncated or overwritten ``gen-*.parquet`` (files are written
    atomically, so this is damage from outside: a full disk, a bad copy) would otherwise stay in
    the log and make every later read of it fail (``ecosim report``). What can be read stays; a
    generation whose file was set aside has no row (or lacks that species' network rows), unless
    it comes after the checkpoint the run resumes from: the resumed run writes it again.

    Args:
        checkpoint: the generation the run resumes after, if known (for the warning's wording).

    Returns:
        the new paths of the files set aside (``[]`` when every file reads), after one
        :class:`LogWarning` (one line) naming each file, why, and what is missing now.
    """
    layout = RunDir(run_dir)
    moved: list[Path] = []
    notes: list[str] = []
    kinds = (
        (layout.generations, GENERATION_SCHEMA, "gen-*.parquet"),
        (layout.networks, NETWORK_SCHEMA, "gen-*.parquet"),
        (layout.events, EVENT_SCHEMA, "event-*.parquet"),
        (layout.sessions, SESSION_SCHEMA, "session-*.parquet"),
    )
    for folder, schema, files in kinds:
        for path in sorted(folder.glob(files)) if folder.is_dir() else []:
            try:
                pq.read_table(path, schema=schema)
            except (OSError, ValueError, pa.ArrowException) as exc:
                target = layout.damaged / folder.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                moved.append(target)
                m = _GEN_FILE.search(path.name)
                gen, sid = (int(m.group(1)), m.group(2)) if m else (-1, None)
                if folder in (layout.events, layout.sessions):
                    lost = f"the {folder.name} log lacks that row"
                elif folder == layout.networks:
                    lost = f"generation {gen} lacks the network rows of species {int(sid or -1)}"
                elif checkpoint is not None and gen > checkpoint:
                    lost = f"generation {gen} comes after the checkpoint and is written again"
                else:
                    lost = f"generation {gen} has no row in the generation log"
                notes.append(
                    f"log file {str(path)!r} is damaged ({one_line(exc, 160)}): moved to {str(target)!r}, {lost}"
                )
    if notes:
        warnings.warn("; ".join(notes), LogWarning, stacklevel=2)
    return moved


def _read(folder: Path, schema: pa.Schema, sort: list[str]):
    files = sorted(p for p in folder.glob("gen-*.parquet"))
    if not files:
        return schema.empty_table().to_pandas()
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in files])
    return table.to_pandas().sort_values(sort, kind="stable").reset_index(drop=True)


def read_generations(run_dir: str | Path):
    """Generation rows of a run as a pandas DataFrame sorted by ``generation`` (:data:`GENERATION_SCHEMA`)."""
    return _read(RunDir(run_dir).generations, GENERATION_SCHEMA, ["generation"])


def logged_train_macs(run_dir: str | Path, through: int | None = None) -> float:
    """Training multiply-accumulates of the generations in a run's log (up to generation ``through``
    when given): the sum of ``train_macs`` (null in logs written before ecosim 0.3 counts 0). What
    ``run.train_macs`` budgets (issue 17)."""
    files = sorted(RunDir(run_dir).generations.glob("gen-*.parquet"))
    if not files:
        return 0.0
    table = pa.concat_tables(
        [pq.read_table(p, schema=GENERATION_SCHEMA, columns=["generation", "train_macs"]) for p in files]
    )
    if through is not None:
        table = table.filter(pc.less_equal(table["generation"], through))
    return float(pc.sum(table["train_macs"]).as_py() or 0.0)


def read_events(run_dir: str | Path):
    """Recovery events of a run as a pandas DataFrame in the order they were recorded (:data:`EVENT_SCHEMA`).

    Empty (with the schema's columns) when nothing had to be recovered.

    Raises:
        OSError, pyarrow.ArrowException: a damaged event file (``ecosim resume`` sets it aside).
    """
    table = _read_numbered(RunDir(run_dir).events, "event", _EVENT_FILE, EVENT_SCHEMA)
    return table.to_pandas().sort_values("time", kind="stable").reset_index(drop=True)


def read_sessions(run_dir: str | Path):
    """The sessions of a run (its start and each resume: machine, cluster, versions) as a pandas
    DataFrame in the order they were written (:data:`SESSION_SCHEMA`; ``time`` in Unix seconds);
    empty (with the columns) for a run written before ecosim 0.9.11, which did not record them.

    Raises:
        OSError, pyarrow.ArrowException: a damaged session file (``ecosim resume`` sets it aside).
    """
    return _read_numbered(RunDir(run_dir).sessions, "session", _SESSION_FILE, SESSION_SCHEMA).to_pandas()


def read_networks(run_dir: str | Path):
    """Network rows of a run as a pandas DataFrame sorted by generation and id (:data:`NETWORK_SCHEMA`)."""
    return _read(RunDir(run_dir).networks, NETWORK_SCHEMA, ["generation", "network_id"])


__all__ = [
    "EVENT_KINDS",
    "logged_train_macs",
    "EVENT_SCHEMA",
    "GENERATION_SCHEMA",
    "FAILED_CONSTRAINT_COLUMNS",
    "MUTATION_KINDS",
    "NETWORK_SCHEMA",
    "SESSION_SCHEMA",
    "LogWarning",
    "LogWriter",
    "empty_counts",
    "read_events",
    "read_generations",
    "read_networks",
    "read_sessions",
    "set_aside_damaged_logs",
]
