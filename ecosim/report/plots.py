"""Figures from run logs: Fig. 9 (fitness curves), offspring by origin, population, failed mutations.

Each function takes the runs of one experiment and writes one image file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ecosim.report.runs import RunLogs
from ecosim.report.tables import METRICS
from ecosim.store.logs import MUTATION_KINDS

#: Offspring origins split in the origin plot (network-log ``origin`` values).
ORIGINS: tuple[str, ...] = ("crossover", "mutation", "clone")

_FAILED_CONSTRAINT = [f"failed_{k}" for k in MUTATION_KINDS]




def series(runs: Sequence[RunLogs], column: str) -> pd.DataFrame:
    """One generation-log column of several runs side by side.

    Args:
        runs: the runs (of one experiment).
        column: a :data:`~ecosim.store.logs.GENERATION_SCHEMA` column.

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

    Each failed mutation is counted once, under one reason; the offspring became a clone of its
    parent either way.

    Args:
        gens: generation rows of one run.

    Returns:
        Indexed by generation: ``constraint`` (the sum of the ``failed_<kind>`` columns:
        mutations rejected because they would break a constraint of §III-E) and
        ``species_limit`` (``failed_species_limit``: valid mutations refused because their new
        species did not fit under ``ecosystem.max_species``).

    Logs written before species-limit failures were counted once (their rows have no
    ``quota_reallocated`` value) also counted each of them as ``failed_<kind>``; for those rows
    the species-limit count is subtracted from the constraint count.
    """
    g = gens.set_index("generation")
    constraint = g[_FAILED_CONSTRAINT].astype("float64").fillna(0.0).sum(axis=1)
    species_limit = g["failed_species_limit"].astype("float64").fillna(0.0)
    legacy = g["quota_reallocated"].isna() if "quota_reallocated" in g else pd.Series(True, index=g.index)
    constraint = constraint.where(~legacy, (constraint - species_limit).clip(lower=0.0))
    return pd.DataFrame({"constraint": constraint, "species_limit": species_limit})


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


