"""Figures from run logs: Fig. 9 (fitness curves), offspring by origin, population, architecture,
failed mutations.

Each ``*_figure`` function takes the runs of one experiment and returns a matplotlib figure;
each ``plot_*`` function writes that figure to one image file, PNG, PDF or SVG (:data:`FORMATS`,
chosen by the file's suffix). Conventions of every figure:

* each run is a thin line, the mean over runs a bold line; every value has a marker, so a value
  without a neighbour (a run of two generations, an origin seen once) is visible;
* a generation without a value leaves a gap: no line is drawn across it;
* the **mean over runs is drawn only up to the last generation every run reached**: beyond it
  fewer runs remain and their mean would jump; the longer runs' own lines continue. At each
  generation the mean is over the runs that logged a value there;
* counts (species, networks, failed mutations, parameters) have integer ticks and start at 0;
  the three fitness panels of Fig. 9 share one y-range; all panels of a figure share the
  generation range of the experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ecosim.errors import ConfigError
from ecosim.report.runs import RunLogs
from ecosim.report.tables import METRICS
from ecosim.store.logs import FAILED_CONSTRAINT_COLUMNS

#: Offspring origins split in the origin plot (network-log ``origin`` values).
ORIGINS: tuple[str, ...] = ("crossover", "mutation", "clone")

#: Image formats of the figures (``ecosim report --format``).
FORMATS: tuple[str, ...] = ("png", "pdf", "svg")

_COLOURS = {"crossover": "tab:blue", "mutation": "tab:orange", "clone": "tab:green"}


def generations(runs: Sequence[RunLogs]) -> pd.RangeIndex:
    """Every generation from the first to the last any run logged (the x-range of a figure)."""
    first = min(int(r.generations["generation"].min()) for r in runs)
    last = max(r.last_generation for r in runs)
    return pd.RangeIndex(first, last + 1, name="generation")


def series(runs: Sequence[RunLogs], column: str) -> pd.DataFrame:
    """One generation-log column of several runs side by side.

    Args:
        runs: the runs (of one experiment).
        column: a :data:`~ecosim.store.logs.GENERATION_SCHEMA` column, or one of the derived
            columns of :meth:`RunLogs.column` (``conv_share`` in older logs, clone-free
            ``mean_offspring_fitness_before_bp``).

    Returns:
        DataFrame indexed by every generation of :func:`generations`, one float column per run
        (named by position ``run0``, ``run1``, ...); generations a run did not log, and columns
        an older log lacks, are NaN.
    """
    index = generations(runs)
    cols = {
        f"run{i}": pd.to_numeric(r.column(column), errors="coerce").astype("float64").reindex(index)
        for i, r in enumerate(runs)
    }
    return pd.DataFrame(cols, index=index)


def failed_mutations(gens: pd.DataFrame) -> pd.DataFrame:
    """Failed structural mutations per generation (§V: "a large number of failed structural mutations").

    Each failed mutation is counted once, under one reason; the offspring became a clone of its
    parent either way.

    Args:
        gens: generation rows of one run.

    Returns:
        Indexed by generation: ``constraint`` (the sum of the ``failed_<kind>`` columns:
        mutations rejected because they would break a constraint of §III-E) and
        ``species_limit`` (``failed_species_limit``: valid mutations refused because their new
        species did not fit under ``ecosystem.max_species``) and ``cost_cap``
        (``failed_cost_cap``: every draw over ``mutation.max_macs``; 0 in logs before 0.6).

    Logs written before species-limit failures were counted once (their rows have no
    ``quota_reallocated`` value) also counted each of them as ``failed_<kind>``; for those rows
    the species-limit count is subtracted from the constraint count.
    """
    g = gens.set_index("generation")
    kinds = [c for c in FAILED_CONSTRAINT_COLUMNS if c in g]
    constraint = g[kinds].astype("float64").fillna(0.0).sum(axis=1)
    species_limit = g["failed_species_limit"].astype("float64").fillna(0.0)
    legacy = g["quota_reallocated"].isna() if "quota_reallocated" in g else pd.Series(True, index=g.index)
    constraint = constraint.where(~legacy, (constraint - species_limit).clip(lower=0.0))
    cost_cap = g["failed_cost_cap"].astype("float64").fillna(0.0) if "failed_cost_cap" in g else 0.0 * species_limit
    return pd.DataFrame({"constraint": constraint, "species_limit": species_limit, "cost_cap": cost_cap})


def offspring_by_origin(networks: pd.DataFrame) -> pd.DataFrame:
    """Mean offspring fitness before BP per generation, split by origin (§IV, §V).

    Args:
        networks: network rows of one run (:data:`~ecosim.store.logs.NETWORK_SCHEMA`).

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


def _new_figure(rows: int, cols: int, title: str, sharey: bool = False) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey).ravel()
    fig.suptitle(title)
    return fig, axes


def _generation_axis(ax: Any, index: pd.RangeIndex) -> None:
    from matplotlib.ticker import MaxNLocator

    first, last = int(index.start), int(index.stop) - 1
    pad = max(0.5, 0.03 * (last - first))
    ax.set_xlim(first - pad, last + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.grid(alpha=0.3)


def _count_axis(ax: Any, frame: pd.DataFrame) -> None:
    """Integer ticks from 0: a constant count sits at its value, not inside a ±1 band."""
    from matplotlib.ticker import MaxNLocator

    top = float(frame.max().max()) if frame.notna().any().any() else 1.0
    ax.set_ylim(0, max(1.0, top * 1.08))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))


def _runs_and_mean(
    ax: Any,
    frame: pd.DataFrame,
    scale: float,
    last_common: int,
    color: str = "tab:blue",
    label: str = "mean",
) -> bool:
    """Each column a thin line, their mean bold up to ``last_common`` (see the module docstring).

    Returns:
        whether anything was drawn.
    """
    if frame.empty or not frame.notna().any().any():
        return False
    cols = [c for c in frame.columns if frame[c].notna().any()]
    if len(cols) == 1:  # one run: its own line is the mean
        s = frame[cols[0]]
        ax.plot(s.index, s.values * scale, lw=2.0, color=color, marker="o", ms=4, label=label)
        return True
    for col in cols:
        s = frame[col]
        ax.plot(s.index, s.values * scale, lw=0.7, alpha=0.45, color=color, marker="o", ms=2.5)
    mean = frame.loc[frame.index <= last_common].mean(axis=1, skipna=True)
    ax.plot(mean.index, mean.values * scale, lw=2.2, color=color, marker="o", ms=4, label=label)
    return True


def _no_data(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def _mean_label(runs: Sequence[RunLogs], last_common: int) -> str:
    if len(runs) == 1:
        return runs[0].name or "run"
    if any(r.last_generation > last_common for r in runs):
        return f"mean of {len(runs)} runs (to generation {last_common}, which all reached)"
    return f"mean of {len(runs)} runs"


def _save(fig: Any, path: Path) -> Path:
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"figure format {fmt!r} of {str(path)!r} is unknown; valid formats: {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, format=fmt)
    return path


def fitness_figure(runs: Sequence[RunLogs], title: str = "") -> Any:
    """Fig. 9: (a) highest fitness, (b) average fitness, (c) average offspring fitness before BP.

    Fitness in percent against generation; the three panels share one y-range. Panel (c)
    excludes clones (:meth:`RunLogs.column`).

    Args:
        runs: runs of one experiment.
        title: figure title (default: none).

    Returns:
        a :class:`matplotlib.figure.Figure` (no pyplot state; save it or show it in a notebook).
    """
    fig, axes = _new_figure(1, 3, title, sharey=True)
    index = generations(runs)
    last_common = min(r.last_generation for r in runs)
    label = _mean_label(runs, last_common)
    for ax, (col, header), tag in zip(axes, METRICS.items(), "abc"):
        if not _runs_and_mean(ax, series(runs, col), 100.0, last_common, label=label):
            _no_data(ax)
        ax.set_title(f"({tag}) {header}")
        _generation_axis(ax, index)
    axes[0].set_ylabel("fitness (%)")
    if len(runs) > 1:
        axes[0].legend(fontsize="small")
    return fig


def offspring_by_origin_figure(runs: Sequence[RunLogs], title: str = "") -> Any:
    """Offspring fitness before BP per generation, one colour per origin (crossover, mutation, clone).

    Thin lines: each run's mean for that origin; bold: the mean of those over runs. Only
    origins with at least one value get a line and a legend entry.

    Returns:
        a :class:`matplotlib.figure.Figure` (no pyplot state; save it or show it in a notebook).
    """
    fig, axes = _new_figure(1, 1, title)
    ax = axes[0]
    index = generations(runs)
    last_common = min(r.last_generation for r in runs)
    per_run = [offspring_by_origin(r.networks) for r in runs]
    drawn = False
    for origin in ORIGINS:
        frame = pd.DataFrame(
            {f"run{i}": t[origin].reindex(index) for i, t in enumerate(per_run) if origin in t},
            index=index,
        )
        drawn |= _runs_and_mean(ax, frame, 100.0, last_common, color=_COLOURS[origin], label=origin)
    if drawn:
        ax.legend(fontsize="small")
    else:
        _no_data(ax, "no offspring scored before BP")
    ax.set_title("Offspring fitness before BP by origin")
    ax.set_ylabel("fitness before BP (%)")
    _generation_axis(ax, index)
    return fig


def population_figure(runs: Sequence[RunLogs], title: str = "") -> Any:
    """Species count and network count per generation.

    Returns:
        a :class:`matplotlib.figure.Figure` (no pyplot state; save it or show it in a notebook).
    """
    fig, axes = _new_figure(1, 2, title)
    index = generations(runs)
    last_common = min(r.last_generation for r in runs)
    for ax, (col, header) in zip(axes, [("species_count", "species"), ("network_count", "networks")]):
        frame = series(runs, col)
        if not _runs_and_mean(ax, frame, 1.0, last_common, label=_mean_label(runs, last_common)):
            _no_data(ax)
        _count_axis(ax, frame)
        ax.set_title(header)
        _generation_axis(ax, index)
    return fig


def architecture_figure(runs: Sequence[RunLogs], title: str = "") -> Any:
    """The architecture over generations (issue 7): (a) share of networks with a conv layer,
    (b) parameters of the generation's best network.

    (a) is the logged ``conv_share`` (fraction of the networks evaluated that generation with
    at least one conv layer), computed from the network log for older logs.

    Returns:
        a :class:`matplotlib.figure.Figure` (no pyplot state; save it or show it in a notebook).
    """
    fig, axes = _new_figure(1, 2, title)
    index = generations(runs)
    last_common = min(r.last_generation for r in runs)
    label = _mean_label(runs, last_common)
    share = series(runs, "conv_share")
    if not _runs_and_mean(axes[0], share, 100.0, last_common, label=label):
        _no_data(axes[0])
    axes[0].set_ylim(-3, 103)
    axes[0].set_ylabel("networks with a conv layer (%)")
    axes[0].set_title("(a) share of networks with a conv layer")
    params = series(runs, "champion_parameters")
    if not _runs_and_mean(axes[1], params, 1.0, last_common, label=label):
        _no_data(axes[1])
    _count_axis(axes[1], params)
    axes[1].set_title("(b) parameters of the generation's best network")
    for ax in axes:
        _generation_axis(ax, index)
    return fig


def failed_mutations_figure(runs: Sequence[RunLogs], title: str = "") -> Any:
    """Failed structural mutations per generation: by constraint (all kinds summed), and by species limit.

    Returns:
        a :class:`matplotlib.figure.Figure` (no pyplot state; save it or show it in a notebook).
    """
    fig, axes = _new_figure(1, 2, title)
    index = generations(runs)
    last_common = min(r.last_generation for r in runs)
    per_run = [failed_mutations(r.generations) for r in runs]
    for ax, (col, header) in zip(
        axes,
        [
            ("constraint", "failed mutations (constraint), all kinds"),
            ("species_limit", "failed mutations (species limit)"),
        ],
    ):
        frame = pd.DataFrame({f"run{i}": t[col].reindex(index) for i, t in enumerate(per_run)}, index=index)
        if not _runs_and_mean(ax, frame, 1.0, last_common, label=_mean_label(runs, last_common)):
            _no_data(ax)
        _count_axis(ax, frame)
        ax.set_title(header)
        ax.set_ylabel("count")
        _generation_axis(ax, index)
    return fig


def plot_fitness(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Write Fig. 9 (:func:`fitness_figure`) to ``path`` (``.png``, ``.pdf`` or ``.svg``); returns ``path``."""
    return _save(fitness_figure(runs, title), Path(path))


def plot_offspring_by_origin(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Write the origin split (:func:`offspring_by_origin_figure`) to ``path`` (``.png``, ``.pdf`` or ``.svg``);
    returns ``path``."""
    return _save(offspring_by_origin_figure(runs, title), Path(path))


def plot_population(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Write species and networks (:func:`population_figure`) to ``path`` (``.png``, ``.pdf`` or ``.svg``); returns
    ``path``."""
    return _save(population_figure(runs, title), Path(path))


def plot_architecture(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Write conv share and champion parameters (:func:`architecture_figure`) to ``path`` (``.png``, ``.pdf`` or
    ``.svg``); returns ``path``."""
    return _save(architecture_figure(runs, title), Path(path))


def plot_failed_mutations(runs: Sequence[RunLogs], path: str | Path, title: str = "") -> Path:
    """Write failed mutations (:func:`failed_mutations_figure`) to ``path`` (``.png``, ``.pdf`` or ``.svg``); returns
    ``path``."""
    return _save(failed_mutations_figure(runs, title), Path(path))


__all__ = [
    "FORMATS",
    "ORIGINS",
    "architecture_figure",
    "failed_mutations",
    "failed_mutations_figure",
    "fitness_figure",
    "generations",
    "offspring_by_origin",
    "offspring_by_origin_figure",
    "plot_architecture",
    "plot_failed_mutations",
    "plot_fitness",
    "plot_offspring_by_origin",
    "plot_population",
    "population_figure",
    "series",
]
