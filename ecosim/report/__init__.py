"""Experiment reports from run logs: Table I and the curves of Fig. 9 (paper §IV-B).

Reads only the run directories written by :mod:`ecosim.store`; nothing is re-evaluated.

* :mod:`ecosim.report.runs`: :class:`RunLogs`, loading runs, grouping them into experiments;
* :mod:`ecosim.report.tables`: Table I (:func:`table_one`) and its formatting;
* :mod:`ecosim.report.plots`: Fig. 9 and the other figures;
* :mod:`ecosim.report.tensorboard`: TensorBoard scalars (optional dependency);
* :func:`write_report`: all of it into one folder (``ecosim report``).

``write_report(runs)`` writes

* ``table1.csv`` / ``table1.md``: the form of the paper's Table I — per experiment and per
  metric (highest fitness, average fitness, average offspring fitness before BP, clones
  excluded) at generation ``G``, the highest value over runs and the mean ± standard deviation
  over runs; the Markdown adds what differs between experiments and the final champions;
* ``champions.csv``: each run's final champion (run directory, layers, parameters, fitness; with a
  validation split its test accuracy too);
* per experiment ``<experiment>-fitness.<fmt>`` (Fig. 9 a–c), ``<experiment>-offspring-by-origin``,
  ``<experiment>-population``, ``<experiment>-architecture`` (conv share, champion parameters)
  and ``<experiment>-failed-mutations``, as PNG, PDF or SVG;
* with ``tensorboard=True``, TensorBoard scalars per run.

An experiment is the set of runs with one resolved config apart from the seed, where they ran
and how long (``run.generations``, ``run.train_macs``; with a settle schedule the one that places
it counts) (:func:`ecosim.report.runs.settings`); runs that differ in anything else (population,
sync vs async) are separate experiments, named by what tells them apart.

Generations are numbered as in the logs, from 0: the paper's "after epoch 100" is generation 99.

>>> from ecosim.report import load_runs, table_one                         # doctest: +SKIP
>>> table_one(load_runs(["runs/table1/mnist-speciation"]))                # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ecosim.errors import CheckpointError, ConfigError
from ecosim.report.machines import machines_text
from ecosim.report.plots import (
    FORMATS,
    ORIGINS,
    architecture_figure,
    failed_mutations,
    failed_mutations_figure,
    fitness_figure,
    generations,
    offspring_by_origin,
    offspring_by_origin_figure,
    plot_architecture,
    plot_failed_mutations,
    plot_fitness,
    plot_offspring_by_origin,
    plot_population,
    population_figure,
    series,
)
from ecosim.report.runs import (
    Experiment,
    ReplicateWarning,
    ReportError,
    RunLogs,
    RunSkippedWarning,
    _as_runs,
    differences,
    find_run_dirs,
    group_runs,
    load_run,
    load_runs,
    replicate_problems,
    settings,
    warn_replicates,
)
from ecosim.report.tables import (
    METRICS,
    MissingRowWarning,
    champion_line,
    champions,
    format_cell,
    format_table,
    markdown_table,
    rich_table,
    run_champion,
    saved_champion,
    table_one,
    table_one_of_groups,
)
from ecosim.store.rundir import RunDir, check_output_folder


def default_out_dir(run_dirs: Sequence[Path]) -> Path:
    """``RUN_DIR/report`` for one run; for several, ``report/`` in their deepest common folder.

    Raises:
        ConfigError: a run that is a pack of logs (:func:`ecosim.store.archive.pack_logs`): packs
            are kept as they were packed (in an archive), so their report needs a folder named by
            the caller.
    """
    packs = [d for d in run_dirs if RunDir(d).is_pack]
    if packs:
        raise ConfigError(
            f"the report of a pack needs --out (out_dir): {str(Path(packs[0]).resolve())!r} is a pack of a "
            "run's logs, kept as it was packed"
        )
    if len(run_dirs) == 1:
        return RunDir(run_dirs[0]).report
    common = Path(os.path.commonpath([str(Path(p).resolve()) for p in run_dirs]))
    return common / "report"


def write_report(
    runs: Sequence[RunLogs | str | Path],
    out_dir: str | Path | None = None,
    generation: int | None = None,
    tensorboard: bool = False,
    fmt: str = "png",
) -> dict[str, Path]:
    """Write Table I (CSV + Markdown), the final champions, every figure, optionally TensorBoard scalars.

    Args:
        runs: :class:`RunLogs`, or run directories / folders of run directories.
        out_dir: output folder; ``None`` uses :func:`default_out_dir`.
        generation: Table I generation (see :func:`table_one`).
        tensorboard: also write TensorBoard event files under ``out_dir/tensorboard``.
        fmt: figure format, one of :data:`FORMATS` (``png``, ``pdf``, ``svg``; default ``png``).

    Returns:
        ``{label: path}`` of every file (or folder, for TensorBoard) written, e.g.
        ``"table_csv"``, ``"champions_csv"``, ``"mnist-speciation/fitness"``.

    Raises:
        ReportError: see :func:`table_one`. CheckpointError: a run without logs, or a damaged
        log file. ConfigError: an unknown ``fmt``; ``out_dir`` in a pack or in a run's logs or
        checkpoints, or left out for packs.
        EcosimError: ``tensorboard`` requested but not installed.

    Warns:
        ReplicateWarning: once per experiment whose runs share a seed.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"report format {fmt!r} is unknown; valid formats: {', '.join(FORMATS)}")
    if tensorboard:
        from ecosim.report.tensorboard import require_tensorboard

        require_tensorboard()  # fail before any work
    loaded = _as_runs(runs)
    if not loaded:
        raise ReportError("a report needs at least one run, got none")
    out = Path(out_dir) if out_dir is not None else default_out_dir([r.run_dir for r in loaded])
    check_output_folder(out)
    groups = group_runs(loaded)
    warn_replicates(groups)
    table = table_one_of_groups(groups, generation)  # a generation not in the logs: before any folder exists
    finals = champions(groups)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    table.to_csv(out / "table1.csv")
    written["table_csv"] = out / "table1.csv"
    finals.to_csv(out / "champions.csv", index=False)
    written["champions_csv"] = out / "champions.csv"
    (out / "table1.md").write_text(markdown_table(table, report_notes(groups, finals)), encoding="utf-8")
    written["table_md"] = out / "table1.md"
    figures = {
        "fitness": plot_fitness,
        "offspring-by-origin": plot_offspring_by_origin,
        "population": plot_population,
        "architecture": plot_architecture,
        "failed-mutations": plot_failed_mutations,
    }
    for exp, group in groups.items():
        title = f"{exp.title}, {len(group)} run{'s' if len(group) != 1 else ''}"
        for name, plot in figures.items():
            if exp.baseline and name in ("offspring-by-origin", "failed-mutations"):
                continue  # a fixed-architecture baseline has no offspring and no mutations
            written[f"{exp.slug}/{name}"] = plot(group, out / f"{exp.slug}-{name}.{fmt}", title)
        for i, r in enumerate(group):  # the final champion's architecture (Fig. 7 kernel stacks)
            from ecosim.report.show import ShowError, architecture_picture

            final = r.column("champion_id").get(r.last_generation)  # the network the text's line names
            final = None if final is None or pd.isna(final) else int(final)
            if not RunDir(r.run_dir).champion.is_file() and (final is None or not RunDir(r.run_dir).is_pack):
                continue  # logs without a champion file: nothing to draw (a pack: drawn from its logs)
            label = r.name or f"run{i}"
            try:
                written[f"{exp.slug}/{label}/champion-architecture"] = architecture_picture(
                    r.run_dir,
                    out / f"{exp.slug}-champions" / label,
                    fmt,
                    final,
                )
            except (ShowError, CheckpointError) as exc:
                warnings.warn(f"{r.run_dir}: no champion architecture picture ({exc})", stacklevel=2)
    _write_compute(groups, out, fmt, written)
    if tensorboard:
        from ecosim.report.tensorboard import write_scalars

        for exp, group in groups.items():
            for i, r in enumerate(group):
                label = r.name or f"run{i}"
                gens = r.generations.copy()
                # clone-free offspring metric and conv share, as in Table I and the figures
                gens = gens.sort_values("generation").reset_index(drop=True)
                for col in ("mean_offspring_fitness_before_bp", "conv_share"):
                    gens[col] = r.column(col).to_numpy()
                written[f"{exp.slug}/tensorboard/{label}"] = write_scalars(
                    gens, out / "tensorboard" / exp.slug / label, r.networks
                )
    return written


def _write_compute(groups: dict[Experiment, list[RunLogs]], out: Path, fmt: str, written: dict[str, Path]) -> None:
    """``compute.csv`` and one accuracy-against-compute figure per dataset (issue 17), for runs
    that logged their compute (ecosim ≥ 0.3); nothing for older logs."""
    from ecosim.report.compare import compute_figure, compute_table, has_compute
    from ecosim.report.plots import _save

    named = {exp.title: [r for r in group if has_compute(r)] for exp, group in groups.items()}
    named = {k: v for k, v in named.items() if v}
    if not named:
        return
    compute_table(named).to_csv(out / "compute.csv", index=False)
    written["compute_csv"] = out / "compute.csv"
    by_dataset: dict[str, dict[str, list[RunLogs]]] = {}
    for exp, group in groups.items():
        runs = [r for r in group if has_compute(r)]
        if runs:
            by_dataset.setdefault(exp.dataset_slug, {})[exp.title] = runs
    for ds, sets in by_dataset.items():
        fig = compute_figure(sets, f"{ds}: test accuracy of the network selected on fitness, against compute")
        written[f"compute/{ds}"] = _save(fig, out / f"compute-{ds}.{fmt}")


def report_notes(groups: dict[Experiment, list[RunLogs]], finals: pd.DataFrame | None = None) -> list[str]:
    """Plain-text notes of a report: what differs between the experiments, what computed the runs (their
    sessions logs: :func:`~ecosim.report.machines.machines_text`), and the final champions.

    Args:
        groups: the output of :func:`group_runs`.
        finals: the output of :func:`champions` (computed when ``None``).

    Returns:
        Markdown paragraphs (one line each, or a list).
    """
    notes = []
    diff = differences(groups)
    if len(groups) > 1:
        notes.append(
            "Experiments group runs of one resolved config (all but seed, run directory, address, "
            "resources and run length: run.generations and run.train_macs unless a settle schedule depends on it, "
            "the tables reading a generation every run reached); these experiments differ in: "
            f"{', '.join(diff) if diff else 'nothing'}."
        )
    runs = [r for group in groups.values() for r in group]
    if runs:
        notes.append(f"Computed on: {machines_text(runs)}.")
    finals = champions(groups) if finals is None else finals
    if not finals.empty:
        lines = ["Final champions (best network of each run's last generation):", ""]
        lines += [f"- {champion_line(row)}" for _, row in finals.iterrows()]
        notes.append("\n".join(lines))
    return notes


__all__ = [
    "FORMATS",
    "METRICS",
    "ORIGINS",
    "Experiment",
    "MissingRowWarning",
    "ReplicateWarning",
    "RunSkippedWarning",
    "ReportError",
    "RunLogs",
    "architecture_figure",
    "champion_line",
    "champions",
    "default_out_dir",
    "differences",
    "failed_mutations",
    "failed_mutations_figure",
    "find_run_dirs",
    "fitness_figure",
    "format_cell",
    "format_table",
    "generations",
    "group_runs",
    "load_run",
    "load_runs",
    "machines_text",
    "markdown_table",
    "offspring_by_origin",
    "offspring_by_origin_figure",
    "plot_architecture",
    "plot_failed_mutations",
    "plot_fitness",
    "plot_offspring_by_origin",
    "plot_population",
    "population_figure",
    "replicate_problems",
    "report_notes",
    "rich_table",
    "run_champion",
    "saved_champion",
    "series",
    "settings",
    "table_one",
    "table_one_of_groups",
    "warn_replicates",
    "write_report",
]
