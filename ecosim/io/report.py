"""Experiment reports from run logs: Table I and the curves of Fig. 9 (paper §IV-B).

``ecosim report RUN_DIR [RUN_DIR ...] [--generation G] [--out DIR] [--tensorboard]`` reads the
Parquet logs (:mod:`ecosim.io.logs`) and the ``config.toml`` of each run, groups the runs into
*experiments* by ``(data.dataset, ecosystem.speciation)`` and writes

* ``table1.csv`` / ``table1.md``: the form of the paper's Table I — per experiment and per
  metric (highest fitness, average fitness, average offspring fitness before BP) at generation
  ``G``, the highest value over runs and the mean ± standard deviation over runs;
* per experiment ``<experiment>-fitness.png`` (Fig. 9 a–c: each run a thin line, the mean over
  runs bold), ``<experiment>-offspring-by-origin.png`` (offspring fitness before BP split by
  origin: crossover, mutation, clone), ``<experiment>-population.png`` (species count, network
  count, parameter count of each generation's best network) and
  ``<experiment>-failed-mutations.png`` (structural mutations rejected by a constraint, summed
  over kinds, and those rejected by the species limit, §V);
* with ``--tensorboard``, TensorBoard scalars per run (:mod:`ecosim.io.tensorboard`).

Everything is computed from the logs alone; nothing is re-evaluated. Generations are numbered
as in the logs, from 0: the paper's "after epoch 100" is generation 99.

>>> from ecosim.io.report import load_runs, table_one                    # doctest: +SKIP
>>> table_one(load_runs(["runs/table1/mnist-speciation"]))                # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecosim.errors import CheckpointError, EcosimError
from ecosim.io.config import Config, load_config
from ecosim.io.logs import MUTATION_KINDS, read_generations, read_networks


class ReportError(EcosimError, ValueError):
    """A report cannot be made from the given runs (e.g. a generation some run never reached)."""


#: Table I metrics: generation-log column → column header of the paper.
METRICS: dict[str, str] = {
    "highest_fitness": "Highest fitness",
    "mean_fitness": "Average fitness",
    "mean_offspring_fitness_before_bp": "Average offspring fitness before BP",
}

#: Offspring origins split in the origin plot (network-log ``origin`` values).
ORIGINS: tuple[str, ...] = ("crossover", "mutation", "clone")

#: Display names (Table I spelling) and row order of the known datasets.
_DATASET_NAMES: dict[str, str] = {
    "mnist": "MNIST",
    "svhn": "SVHN",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "emnist": "EMNIST",
}
_FAILED_CONSTRAINT = [f"failed_{k}" for k in MUTATION_KINDS]


# --------------------------------------------------------------------------------------------
# Runs and experiments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    """One experiment of Table I: a dataset with speciation on or off.

    Attributes:
        dataset: ``data.dataset`` of the runs (a name, or an ImageFolder path).
        speciation: ``ecosystem.speciation`` of the runs.
    """

    dataset: str
    speciation: bool

    @property
    def dataset_slug(self) -> str:
        """The dataset as a file-name part (a folder dataset gives its last path component)."""
        name = self.dataset.rstrip("/\\")
        return os.path.basename(name) if ("/" in name or "\\" in name) else name.lower()

    @property
    def slug(self) -> str:
        """File-name form, as the files in ``experiments/``: ``mnist-speciation``, ``mnist-no-speciation``."""
        return f"{self.dataset_slug}-{'speciation' if self.speciation else 'no-speciation'}"

    @property
    def title(self) -> str:
        """Table I form: ``MNIST (with speciation)``, ``MNIST (no speciation)``."""
        name = _DATASET_NAMES.get(self.dataset_slug, self.dataset_slug)
        return f"{name} ({'with' if self.speciation else 'no'} speciation)"

    def sort_key(self) -> tuple[int, str, int]:
        """Table I row order: MNIST, SVHN, Fashion-MNIST, CIFAR-10, then others; speciation first."""
        order = list(_DATASET_NAMES)
        slug = self.dataset_slug
        return (
            order.index(slug) if slug in order else len(order),
            slug,
            0 if self.speciation else 1,
        )


@dataclass
class RunLogs:
    """The logs of one run directory.

    Attributes:
        run_dir: the run directory.
        config: its ``config.toml``.
        generations: generation rows (:data:`ecosim.io.logs.GENERATION_SCHEMA`), sorted, ≥ 1 row.
        name: a label for plots and TensorBoard (the run directory's name).
    """

    run_dir: Path
    config: Config
    generations: pd.DataFrame
    name: str = ""
    _networks: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def experiment(self) -> Experiment:
        """The experiment this run belongs to."""
        return Experiment(self.config.data.dataset, self.config.ecosystem.speciation)

    @property
    def last_generation(self) -> int:
        """The last generation logged."""
        return int(self.generations["generation"].max())

    @property
    def networks(self) -> pd.DataFrame:
        """Network rows (:data:`ecosim.io.logs.NETWORK_SCHEMA`), read on first use (may be empty)."""
        if self._networks is None:
            self._networks = read_networks(self.run_dir)
        return self._networks


def load_run(run_dir: str | Path) -> RunLogs:
    """Read the config and generation logs of one run directory.

    Args:
        run_dir: a run directory holding ``config.toml`` and ``generations/gen-*.parquet``.

    Returns:
        :class:`RunLogs` (network rows are read lazily).

    Raises:
        CheckpointError: ``config.toml`` missing, or no generation logged yet; the message names
            the path.
        ConfigError: an invalid ``config.toml``.
    """
    path = Path(run_dir)
    cfg_path = path / "config.toml"
    if not cfg_path.is_file():
        raise CheckpointError(f"{str(path)!r} is not a run directory: {cfg_path} is missing")
    config = load_config(cfg_path)
    gens = read_generations(path)
    if gens.empty:
        raise CheckpointError(
            f"run directory {str(path)!r} has no generation logs yet "
            f"({path / 'generations'}/gen-*.parquet missing): nothing to report"
        )
    return RunLogs(path, config, gens, name=path.resolve().name)


def find_run_dirs(path: str | Path, depth: int = 2) -> list[Path]:
    """Run directories at ``path``: itself if it holds ``config.toml``, else those below it.

    Args:
        path: a run directory, or a folder of run directories (e.g. ``runs/table1`` made by
            ``experiments/run_experiments.py``, holding ``<experiment>/seed<k>/``).
        depth: how many folder levels to search below ``path`` (default 2).

    Returns:
        Sorted run directories (folders with a ``config.toml``); empty if none.
    """
    p = Path(path)
    if (p / "config.toml").is_file():
        return [p]
    if depth <= 0 or not p.is_dir():
        return []
    found: list[Path] = []
    for child in sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")):
        found.extend(find_run_dirs(child, depth - 1))
    return found


def load_runs(paths: Iterable[str | Path]) -> list[RunLogs]:
    """Load every run at ``paths`` (run directories or folders of them, see :func:`find_run_dirs`), each once.

    Raises:
        CheckpointError: a path that is no run directory and holds none, or a run without logs.
    """
    runs: list[RunLogs] = []
    seen: set[Path] = set()
    for p in paths:
        dirs = find_run_dirs(p)
        if not dirs:
            raise CheckpointError(
                f"{str(p)!r} is not a run directory (no config.toml) and holds no run directories"
            )
        for d in dirs:
            if d.resolve() not in seen:  # a run named twice (itself and its folder) counts once
                seen.add(d.resolve())
                runs.append(load_run(d))
    return runs


#: config keys that may differ between replicates of one experiment
_REPLICATE_FREE = {("run", "seed"), ("run", "out"), ("run", "address"), ("run", "dashboard"),
                   ("run", "dashboard_host"), ("run", "checkpoint_keep"), ("data", "data_root")}


class ReplicateWarning(UserWarning):
    """Runs pooled into one experiment are not independent replicates (same seed or other settings)."""


def _setting(cfg: Config) -> dict[tuple[str, str], Any]:
    return {(sec, k): v for sec, table in cfg.to_dict().items() for k, v in table.items()
            if (sec, k) not in _REPLICATE_FREE and sec != "resources"}


def group_runs(runs: Sequence[RunLogs]) -> dict[Experiment, list[RunLogs]]:
    """Runs grouped by experiment ``(dataset, speciation)``, in Table I order.

    Warns (:class:`ReplicateWarning`) when a group's runs share a seed or differ in a setting
    other than the seed (e.g. sync and async runs, or different budgets), since Table I pools
    independent replicates only.
    """
    groups: dict[Experiment, list[RunLogs]] = {}
    for r in runs:
        groups.setdefault(r.experiment, []).append(r)
    for exp, group in groups.items():
        seeds = [r.config.run.seed for r in group]
        if len(set(seeds)) < len(seeds):
            warnings.warn(f"{exp.slug}: several runs share a seed ({sorted(seeds)}): they are not "
                          "independent replicates", ReplicateWarning, stacklevel=2)
        base = _setting(group[0].config)
        for r in group[1:]:
            diff = sorted(f"{a}.{b}" for (a, b), v in _setting(r.config).items() if base.get((a, b)) != v)
            if diff:
                warnings.warn(f"{exp.slug}: run {str(r.run_dir)!r} differs from {str(group[0].run_dir)!r} "
                              f"in {', '.join(diff)}; they are pooled as one experiment", ReplicateWarning,
                              stacklevel=2)
    return dict(sorted(groups.items(), key=lambda kv: kv[0].sort_key()))


def _as_runs(runs: Sequence[RunLogs | str | Path]) -> list[RunLogs]:
    out: list[RunLogs] = []
    for r in runs:
        out.extend([r] if isinstance(r, RunLogs) else load_runs([r]))
    return out


# --------------------------------------------------------------------------------------------
# Table I
# --------------------------------------------------------------------------------------------


def table_one(runs: Sequence[RunLogs | str | Path], generation: int | None = None) -> pd.DataFrame:
    """Table I: per experiment, highest value and mean ± std over runs of each metric at one generation.

    Paper §IV-B, Table I ("highest value, mean and standard deviation recorded over 10 runs after
    epoch 100"). For each metric of :data:`METRICS` (``highest_fitness``, ``mean_fitness``,
    ``mean_offspring_fitness_before_bp``) the value each run logged at ``generation`` is taken;
    over those values the table gives the maximum, the mean and the **sample** standard
    deviation (``ddof=1``). With one run (one value) the standard deviation is NaN. A run whose
    value is missing at that generation (no offspring was scored before BP, say) is left out
    of that metric only; ``<metric>_n`` counts the values used.

    Args:
        runs: :class:`RunLogs`, or run directories / folders of run directories.
        generation: the generation (0-based, as logged) to read; ``None`` (default) takes, per
            experiment, the last generation that every run of the experiment reached.

    Returns:
        One row per experiment, indexed by :attr:`Experiment.slug` (e.g. ``"mnist-speciation"``),
        in Table I order, with columns ``experiment`` (title), ``dataset``, ``speciation``,
        ``runs``, ``generation``, and for each metric ``<metric>_max``, ``<metric>_mean``,
        ``<metric>_std``, ``<metric>_n``. Values are fractions in [0, 1] like the logs (the
        printed table shows percent).

    Raises:
        ReportError: no runs, or a run that did not log ``generation`` (the message names it and
            its last generation).

    >>> df = table_one(["runs/table1/mnist-speciation"])                     # doctest: +SKIP
    >>> df.loc["mnist-speciation", "highest_fitness_max"]                   # doctest: +SKIP
    0.9832
    """
    loaded = _as_runs(runs)
    if not loaded:
        raise ReportError("table_one needs at least one run, got none")
    records = []
    for exp, group in group_runs(loaded).items():
        gen = min(r.last_generation for r in group) if generation is None else int(generation)
        values: dict[str, list[float]] = {m: [] for m in METRICS}
        for r in group:
            row = r.generations[r.generations["generation"] == gen]
            if row.empty:
                raise ReportError(
                    f"generation {gen} is not in the logs of run {str(r.run_dir)!r} "
                    f"(logged generations {int(r.generations['generation'].min())}..{r.last_generation})"
                )
            for m in METRICS:
                v = row.iloc[0][m]
                if v is not None and not pd.isna(v):
                    values[m].append(float(v))
        rec: dict[str, Any] = {
            "slug": exp.slug,
            "experiment": exp.title,
            "dataset": exp.dataset,
            "speciation": exp.speciation,
            "runs": len(group),
            "generation": gen,
        }
        for m, vals in values.items():
            arr = np.asarray(vals, dtype=np.float64)
            rec[f"{m}_max"] = float(arr.max()) if arr.size else math.nan
            rec[f"{m}_mean"] = float(arr.mean()) if arr.size else math.nan
            rec[f"{m}_std"] = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
            rec[f"{m}_n"] = int(arr.size)
        records.append(rec)
    return pd.DataFrame.from_records(records).set_index("slug")


def format_cell(highest: float, mean: float, std: float) -> str:
    """One Table I cell in percent, as the paper prints it: ``98.32% (98.13 ± 0.15)``.

    Args:
        highest, mean, std: fractions in [0, 1]; NaN prints as ``n/a`` (std with one run).
    """

    def pct(v: float, suffix: str = "") -> str:
        return "n/a" if v is None or math.isnan(v) else f"{100.0 * v:.2f}{suffix}"

    return f"{pct(highest, '%')} ({pct(mean)} ± {pct(std)})"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table I with the paper's cells (strings in percent), one column per metric.

    Args:
        table: the output of :func:`table_one`.

    Returns:
        Columns ``Experiment``, ``Runs``, ``Generation`` and one per :data:`METRICS` header.
    """
    rows = []
    for _, r in table.iterrows():
        row = {
            "Experiment": r["experiment"],
            "Runs": int(r["runs"]),
            "Generation": int(r["generation"]),
        }
        for m, header in METRICS.items():
            row[header] = format_cell(r[f"{m}_max"], r[f"{m}_mean"], r[f"{m}_std"])
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame) -> str:
    text = format_table(table)
    cols = list(text.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in text.itertuples(index=False)]
    note = (
        "\nHighest value over runs, and (mean ± sample standard deviation, ddof=1) over runs, in %, "
        "at the generation shown (0-based). n/a: a single run has no standard deviation.\n"
    )
    return "\n".join(lines) + "\n" + note


def rich_table(table: pd.DataFrame) -> Any:
    """Table I as a :class:`rich.table.Table` (cells in percent, as in the paper)."""
    from rich.table import Table

    out = Table(title="Table I: highest value (mean ± std) over runs", show_lines=True)
    text = format_table(table)
    for col in text.columns:
        out.add_column(col, justify="left" if col == "Experiment" else "right")
    for row in text.itertuples(index=False):
        out.add_row(*(str(v) for v in row))
    return out


# --------------------------------------------------------------------------------------------
# Per-generation series and plots
# --------------------------------------------------------------------------------------------


def series(runs: Sequence[RunLogs], column: str) -> pd.DataFrame:
    """One generation-log column of several runs side by side.

    Args:
        runs: the runs (of one experiment).
        column: a :data:`~ecosim.io.logs.GENERATION_SCHEMA` column.

    Returns:
        DataFrame indexed by generation, one float column per run (named by position
        ``run0``, ``run1``, ...); missing generations are NaN.
    """
    cols = {
        f"run{i}": r.generations.set_index("generation")[column].astype("float64")
        for i, r in enumerate(runs)
    }
    return pd.DataFrame(cols).sort_index()


def failed_mutations(gens: pd.DataFrame) -> pd.DataFrame:
    """Failed structural mutations per generation (§V: "a large number of failed structural mutations").

    Args:
        gens: generation rows of one run.

    Returns:
        Indexed by generation: ``constraint`` (sum of every ``failed_<kind>`` column: mutations
        rejected because they would break a constraint) and ``species_limit``
        (``failed_species_limit``: offspring whose new species did not fit under the limit).
    """
    g = gens.set_index("generation")
    return pd.DataFrame(
        {
            "constraint": g[_FAILED_CONSTRAINT].astype("float64").fillna(0.0).sum(axis=1),
            "species_limit": g["failed_species_limit"].astype("float64").fillna(0.0),
        }
    )


def offspring_by_origin(networks: pd.DataFrame) -> pd.DataFrame:
    """Mean offspring fitness before BP per generation, split by origin (§IV, §V).

    Args:
        networks: network rows of one run (:data:`~ecosim.io.logs.NETWORK_SCHEMA`).

    Returns:
        Indexed by generation, one column per origin of :data:`ORIGINS` (``crossover``,
        ``mutation``, ``clone``), each the mean ``fitness_before_bp`` of that generation's
        offspring of that origin (NaN where there were none). Only rows with a
        ``fitness_before_bp`` count (new, untrained networks).
    """
    if networks.empty:
        return pd.DataFrame(columns=list(ORIGINS), dtype="float64")
    sel = networks[networks["origin"].isin(ORIGINS) & networks["fitness_before_bp"].notna()]
    table = sel.groupby(["generation", "origin"])["fitness_before_bp"].mean().unstack("origin")
    return table.reindex(columns=list(ORIGINS)).astype("float64").sort_index()


def _new_figure(rows: int, cols: int, title: str) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(5.0 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # generations
    fig.suptitle(title)
    return fig, axes


def _runs_and_mean(
    ax: Any, frame: pd.DataFrame, scale: float, color: Any = None, label: str = "mean"
) -> None:
    """Each column a thin line, their mean (over available runs per generation) bold."""
    if frame.empty or frame.notna().sum().sum() == 0:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    for col in frame.columns:
        s = frame[col].dropna()
        ax.plot(s.index, s.values * scale, lw=0.7, alpha=0.45, color=color or "tab:blue")
    mean = frame.mean(axis=1, skipna=True).dropna()
    ax.plot(mean.index, mean.values * scale, lw=2.2, color=color or "tab:blue", label=label)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
    return path


def plot_fitness(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Fig. 9: (a) highest fitness, (b) average fitness, (c) average offspring fitness before BP.

    Each run is a thin line, the mean over runs a bold line; fitness in percent against generation.

    Args:
        runs: runs of one experiment.
        path: the PNG to write.
        title: figure title (default: none).

    Returns:
        ``path``.
    """
    fig, axes = _new_figure(1, 3, title)
    for ax, (col, header), tag in zip(axes, METRICS.items(), "abc"):
        _runs_and_mean(ax, series(runs, col), 100.0)
        ax.set_title(f"({tag}) {header}")
        ax.set_xlabel("generation")
        ax.set_ylabel("fitness (%)")
        ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def plot_offspring_by_origin(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Offspring fitness before BP per generation, one colour per origin (crossover, mutation, clone).

    Thin lines: each run's mean for that origin; bold: the mean of those over runs.

    Returns:
        ``path``.
    """
    fig, axes = _new_figure(1, 1, title)
    ax = axes[0]
    per_run = [offspring_by_origin(r.networks) for r in runs]
    colours = {"crossover": "tab:blue", "mutation": "tab:orange", "clone": "tab:green"}
    any_data = False
    for origin in ORIGINS:
        frame = pd.DataFrame({f"run{i}": t[origin] for i, t in enumerate(per_run) if origin in t})
        if frame.empty or frame.notna().sum().sum() == 0:
            continue
        any_data = True
        _runs_and_mean(ax, frame, 100.0, color=colours[origin], label=origin)
    if any_data:
        ax.legend()
    else:
        ax.text(
            0.5,
            0.5,
            "no offspring scored before BP",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_title("Offspring fitness before BP by origin")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness before BP (%)")
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def plot_population(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Species count, network count and the best network's parameter count per generation.

    Returns:
        ``path``.
    """
    fig, axes = _new_figure(1, 3, title)
    for ax, (col, header) in zip(
        axes,
        [
            ("species_count", "species"),
            ("network_count", "networks"),
            ("champion_parameters", "parameters of the generation's best network"),
        ],
    ):
        _runs_and_mean(ax, series(runs, col), 1.0)
        ax.set_title(header)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def plot_failed_mutations(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Failed structural mutations per generation: by constraint (all kinds summed), and by species limit.

    Returns:
        ``path``.
    """
    fig, axes = _new_figure(1, 2, title)
    per_run = [failed_mutations(r.generations) for r in runs]
    for ax, (col, header) in zip(
        axes,
        [
            ("constraint", "failed mutations (constraint), all kinds"),
            ("species_limit", "failed mutations (species limit)"),
        ],
    ):
        _runs_and_mean(ax, pd.DataFrame({f"run{i}": t[col] for i, t in enumerate(per_run)}), 1.0)
        ax.set_title(header)
        ax.set_xlabel("generation")
        ax.set_ylabel("count")
        ax.grid(alpha=0.3)
    return _save(fig, Path(path))


# --------------------------------------------------------------------------------------------
# The whole report
# --------------------------------------------------------------------------------------------


def default_out_dir(run_dirs: Sequence[Path]) -> Path:
    """``RUN_DIR/report`` for one run; for several, ``report/`` in their deepest common folder."""
    if len(run_dirs) == 1:
        return Path(run_dirs[0]) / "report"
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
        from ecosim.io.tensorboard import require_tensorboard

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
        from ecosim.io.tensorboard import write_scalars

        for exp, group in group_runs(loaded).items():
            for i, r in enumerate(group):
                label = r.name or f"run{i}"
                written[f"{exp.slug}/tensorboard/{label}"] = write_scalars(
                    r.generations, out / "tensorboard" / exp.slug / label, r.networks
                )
    return written


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``ecosim report`` to the subparsers object ``sub`` of the ``ecosim`` parser."""
    p = sub.add_parser(
        "report",
        help="Table I and Fig. 9-style plots from run logs",
        description="Group runs by (dataset, speciation), print Table I and write plots (PNG) and the table "
        "(CSV, Markdown). RUN_DIR may also be a folder of run directories.",
    )
    p.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (or folders holding them)"
    )
    p.add_argument(
        "--generation",
        type=int,
        default=None,
        help="generation for Table I, 0-based as logged (default: the last one all runs of an experiment reached)",
    )
    p.add_argument(
        "--out", default=None, help="output folder (default: RUN_DIR/report for one run)"
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard scalars (needs: pip install 'ecosim[tensorboard]')",
    )
    p.set_defaults(func=_cmd_report)
    return p


def _cmd_report(args: argparse.Namespace) -> int:
    """Handler of ``ecosim report``; prints Table I and the written paths; returns 0."""
    from rich.console import Console

    runs = load_runs(args.run_dirs)
    written = write_report(runs, args.out, args.generation, args.tensorboard)
    Console().print(rich_table(table_one(runs, args.generation)))
    for path in written.values():
        print(path)
    return 0


__all__ = [
    "METRICS",
    "ORIGINS",
    "Experiment",
    "ReportError",
    "RunLogs",
    "add_parser",
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
