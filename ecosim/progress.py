"""Progress of a run as it advances: the hooks the coordinator calls and the two displays.

:class:`Reporter` is what the ecosystem coordinator (:mod:`ecosim.engine.coordinator`) calls;
:class:`LineReporter` writes one plain line per generation (the Python API, and the command line
when stderr is not a terminal); :class:`RichReporter` draws the command line's live bar (rich).
:func:`format_champion` is the closing line. Touches no Ray and no torch: it reads log rows and,
for the champion line, the run directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as RichProgress,
)
from rich.table import Column

from ecosim.store.rundir import RunDir


class Reporter(Protocol):
    """Hooks the ecosystem coordinator calls as a run advances (:class:`LineReporter`, :class:`RichReporter`).

    ``on_start(start_generation, generations)`` once; ``on_phase(generation, phase, in_flight)``
    as a generation moves through its phases (networks in flight: training tasks submitted and
    not yet done); ``on_generation(row)`` with each generation's log row
    (:data:`ecosim.store.logs.GENERATION_SCHEMA` columns).
    """

    def on_start(self, start_generation: int, generations: int) -> None: ...

    def on_phase(self, generation: int, phase: str, in_flight: int) -> None: ...

    def on_generation(self, row: dict[str, Any]) -> None: ...


#: a progress callback: receives each plain progress line
Progress = Callable[[str], None]


class LineReporter:
    """Progress as plain lines: one per generation, as the command line prints them when not on a terminal.

    A :class:`Reporter`. A line reads
    ``generation 3 (4/10): best 0.9123, mean 0.8011, species 4, networks 12, champion C4s1x1[3x3]-F10, 12.3 s``
    (generation as logged, 0-based, then the count done / to do; best and mean fitness of the
    networks it scored; species and networks alive after its culling, offspring born in it
    included, which are scored and logged in the next generation; ``champion`` only when the log
    has a ``champion_layers`` column; the generation's wall time).

    With a validation split (``data.validation_fraction``) fitness is validation accuracy, and the
    line says so after the mean: ``mean 0.8011 (validation accuracy)``.

    Args:
        emit: receives each line (e.g. ``print``).
        validation: fitness is scored on a validation split.
    """

    def __init__(self, emit: Progress, validation: bool = False) -> None:
        self.emit = emit
        self.validation = validation
        self.generations = 0

    def on_start(self, start_generation: int, generations: int) -> None:
        self.generations = generations

    def on_phase(self, generation: int, phase: str, in_flight: int) -> None:
        pass

    def on_generation(self, row: dict[str, Any]) -> None:
        self.emit(format_generation(row, self.generations, self.validation))


def _num(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_generation(row: dict[str, Any], generations: int, validation: bool = False) -> str:
    """One plain line for a generation row (see :class:`LineReporter`); ``validation``: fitness is
    validation accuracy, and the line says so."""
    g = int(row["generation"])
    scored = " (validation accuracy)" if validation else ""
    parts = [
        f"generation {g} ({g + 1}/{generations})" if generations else f"generation {g}",
        f"best {_num(row.get('highest_fitness'))}, mean {_num(row.get('mean_fitness'))}{scored}",
        f"species {row.get('species_count')}, networks {row.get('network_count')}",
    ]
    if row.get("champion_layers"):
        parts.append(f"champion {row['champion_layers']}")
    parts.append(f"{_num(row.get('wall_time_s'), '.1f')} s")
    return ": ".join(parts[:1]) + ": " + ", ".join(parts[1:])


def format_champion(run_dir: str | Path, validation: bool = False) -> str | None:
    """One plain line on the champion of ``run_dir``: id, fitness, layers, parameters, file; ``None`` if absent.

    ``validation``: fitness is validation accuracy (``data.validation_fraction``); the line says so and
    adds the champion's test accuracy, the number to report (issue 17: selected on validation,
    reported on test)."""
    from ecosim.errors import EcosimError
    from ecosim.store.networks import load_network

    path = RunDir(run_dir).champion
    if not path.is_file():
        return None
    try:
        genome, _, meta = load_network(path)
    except EcosimError as exc:
        return f"champion: unreadable ({exc})"
    fitness = meta.get("fitness")
    scored = f" (validation accuracy), test accuracy {_num(meta.get('test_accuracy'))}" if validation else ""
    return (
        f"champion: network {meta.get('network_id')}, fitness {_num(fitness)}{scored}, "
        f"layers {genome.summary()}, {genome.parameter_count():,} parameters ({path})"
    )


#: consoles at least this wide also show the elapsed time (:func:`_progress_columns`)
WIDE_CONSOLE = 120


def _progress_columns(width: int) -> list[Any]:
    """Progress-bar columns that fit one line of ``width`` terminal columns.

    ``generation 3/10``, the bar, the status (best fitness, phase, networks in flight, mean
    fitness, species and networks: the most useful first, cut with an ellipsis where the line ends), the
    elapsed time and the ETA. Below :data:`WIDE_CONSOLE` columns: ``gen``, a shorter bar, no
    elapsed time. Fixed widths (the count up to 9999/9999, times up to 99 h) keep the line whole.
    """
    wide = width >= WIDE_CONSOLE
    bar = max(5, min(40, width // (5 if wide else 8)))
    fixed = (10 if wide else 3) + 9 + bar + (8 + 3 if wide else 0) + 8  # label, count, bar, elapsed, "ETA", ETA
    gaps = 6 if wide else 4
    status = Column(width=max(10, width - fixed - gaps - 1), no_wrap=True, overflow="ellipsis")
    columns: list[Any] = [
        TextColumn("[bold]generation" if wide else "[bold]gen"),
        MofNCompleteColumn(table_column=Column(width=9, no_wrap=True, justify="right")),
        BarColumn(bar_width=bar),
        TextColumn("{task.fields[status]}", table_column=status),
    ]
    if wide:
        columns += [TimeElapsedColumn(table_column=Column(width=8, no_wrap=True)), TextColumn("ETA")]
    return [*columns, TimeRemainingColumn(table_column=Column(width=8, no_wrap=True))]


class RichReporter:
    """Progress display: generation bar, best fitness, phase, networks in flight, mean fitness, sizes, ETA.

    Args:
        output: the console the bar is drawn on (default: a new stderr console); its width
            picks the columns (:func:`_progress_columns`), so the bar stays one line.
    """

    def __init__(self, output: Console | None = None) -> None:
        output = output or Console(stderr=True)
        self.progress = RichProgress(*_progress_columns(output.width), console=output)
        self.task: Any = None
        self.best = ""
        self.rest = ""

    def on_start(self, start_generation: int, generations: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("run", total=generations, completed=start_generation, status="starting")

    def _status(self, *middle: str) -> str:
        return " · ".join(p for p in (self.best, *middle, self.rest) if p)

    def on_phase(self, generation: int, phase: str, in_flight: int) -> None:
        flight = f"{in_flight} in flight" if in_flight else ""
        self.progress.update(self.task, status=self._status(f"{phase} g{generation}", flight))

    def on_generation(self, row: dict[str, Any]) -> None:
        hf, mf = row.get("highest_fitness") or 0.0, row.get("mean_fitness") or 0.0
        self.best = f"best {hf:.4f}"
        self.rest = f"mean {mf:.4f} · species {row['species_count']} · networks {row['network_count']}"
        self.progress.update(self.task, completed=row["generation"] + 1, status=self._status())

    def close(self) -> None:
        self.progress.stop()


__all__ = [
    "WIDE_CONSOLE",
    "LineReporter",
    "Progress",
    "Reporter",
    "RichReporter",
    "format_champion",
    "format_generation",
]
