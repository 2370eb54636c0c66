"""Experiment reports from run logs: Table I and the curves of Fig. 9 (paper §IV-B).

Reads only the run directories written by :mod:`ecosim.store`; nothing is re-evaluated.

* :mod:`ecosim.report.runs`: :class:`RunLogs`, loading runs, grouping them into experiments;
* :mod:`ecosim.report.tables`: Table I (:func:`table_one`) and its formatting;
* :mod:`ecosim.report.plots`: Fig. 9 and the other figures;
* :mod:`ecosim.report.tensorboard`: TensorBoard scalars (optional dependency);
* :func:`write_report`: all of it into one folder (``ecosim report``).

``write_report(runs)`` writes

* ``table1.csv`` / ``table1.md``: the form of the paper's Table I — per experiment and per
  metric (highest fitness, average fitness, average offspring fitness before BP) at generation
  ``G``, the highest value over runs and the mean ± standard deviation over runs;
* per experiment ``<experiment>-fitness.png`` (Fig. 9 a–c), ``<experiment>-offspring-by-origin.png``,
  ``<experiment>-population.png`` and ``<experiment>-failed-mutations.png``;
* with ``tensorboard=True``, TensorBoard scalars per run.

Generations are numbered as in the logs, from 0: the paper's "after epoch 100" is generation 99.

>>> from ecosim.report import load_runs, table_one                         # doctest: +SKIP
>>> table_one(load_runs(["runs/table1/mnist-speciation"]))                # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ecosim.report.plots import (
    ORIGINS,
    failed_mutations,
    offspring_by_origin,
    plot_failed_mutations,
    plot_fitness,
    plot_offspring_by_origin,
    plot_population,
    series,
)
from ecosim.report.runs import (
    Experiment,
    ReplicateWarning,
    ReportError,
    RunLogs,
    _as_runs,
    find_run_dirs,
    group_runs,
    load_run,
    load_runs,
)
from ecosim.report.tables import (
    METRICS,
    _markdown,
    format_cell,
    format_table,
    rich_table,
    table_one,
)
from ecosim.store.rundir import RunDir


def default_out_dir(run_dirs: Sequence[Path]) -> Path:
    """``RUN_DIR/report`` for one run; for several, ``report/`` in their deepest common folder."""
    if len(run_dirs) == 1:
        return RunDir(run_dirs[0]).report
    common = Path(os.path.commonpath([str(Path(p).resolve()) for p in run_dirs]))
    return common / "report"


def write_report(
    runs: Sequence[RunLogs | str | Path],
    out_dir: str | Path | None = None,
    generation: int | None = None,
    tensorboard: bool = False,
) -> dict[str, Path]:
    """Write Table I (CSV + Markdown) and every plot, optionally TensorBoard scalars.

    Args:
        runs: :class:`RunLogs`, or run directories / folders of run directories.
        out_dir: output folder; ``None`` uses :func:`default_out_dir`.
        generation: Table I generation (see :func:`table_one`).
        tensorboard: also write TensorBoard event files under ``out_dir/tensorboard``.

    Returns:
        ``{label: path}`` of every file (or folder, for TensorBoard) written, e.g.
        ``"table_csv"``, ``"mnist-speciation/fitness"``.

    Raises:
        ReportError: see :func:`table_one`. CheckpointError: a run without logs.
        EcosimError: ``tensorboard`` requested but not installed.
    """
    if tensorboard:
        from ecosim.report.tensorboard import require_tensorboard

        require_tensorboard()  # fail before any work
    loaded = _as_runs(runs)
    if not loaded:
        raise ReportError("a report needs at least one run, got none")
    out = Path(out_dir) if out_dir is not None else default_out_dir([r.run_dir for r in loaded])
    out.mkdir(parents=True, exist_ok=True)
    table = table_one(loaded, generation)
    written: dict[str, Path] = {}
    table.to_csv(out / "table1.csv")
    written["table_csv"] = out / "table1.csv"
    (out / "table1.md").write_text(_markdown(table), encoding="utf-8")
    written["table_md"] = out / "table1.md"
    for exp, group in group_runs(loaded).items():
        title = f"{exp.title}, {len(group)} run{'s' if len(group) != 1 else ''}"
        written[f"{exp.slug}/fitness"] = plot_fitness(group, out / f"{exp.slug}-fitness.png", title)
        written[f"{exp.slug}/offspring-by-origin"] = plot_offspring_by_origin(
            group, out / f"{exp.slug}-offspring-by-origin.png", title
        )
        written[f"{exp.slug}/population"] = plot_population(
            group, out / f"{exp.slug}-population.png", title
        )
        written[f"{exp.slug}/failed-mutations"] = plot_failed_mutations(
            group, out / f"{exp.slug}-failed-mutations.png", title
        )
    if tensorboard:
        from ecosim.report.tensorboard import write_scalars

        for exp, group in group_runs(loaded).items():
            for i, r in enumerate(group):
                label = r.name or f"run{i}"
                written[f"{exp.slug}/tensorboard/{label}"] = write_scalars(
                    r.generations, out / "tensorboard" / exp.slug / label, r.networks
                )
    return written




__all__ = [
    "METRICS",
    "ORIGINS",
    "Experiment",
    "ReplicateWarning",
    "ReportError",
    "RunLogs",
    "default_out_dir",
    "failed_mutations",
    "find_run_dirs",
    "format_cell",
    "format_table",
    "group_runs",
    "load_run",
    "load_runs",
    "offspring_by_origin",
    "plot_failed_mutations",
    "plot_fitness",
    "plot_offspring_by_origin",
    "plot_population",
    "rich_table",
    "series",
    "table_one",
    "write_report",
]
