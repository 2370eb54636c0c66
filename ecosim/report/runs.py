"""Run logs as read back from run directories, and their grouping into experiments (Table I rows).

Reads only what :mod:`ecosim.store` wrote: ``config.toml`` and the Parquet logs of each run.

>>> from ecosim.report.runs import load_runs                              # doctest: +SKIP
>>> runs = load_runs(["runs/table1/mnist-speciation"])                    # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ecosim.config import Config, load_config
from ecosim.errors import CheckpointError, EcosimError
from ecosim.store.logs import read_generations, read_networks
from ecosim.store.rundir import RunDir


class ReportError(EcosimError, ValueError):
    """A report cannot be made from the given runs (e.g. a generation some run never reached)."""


#: Display names (Table I spelling) and row order of the known datasets.
_DATASET_NAMES: dict[str, str] = {
    "mnist": "MNIST",
    "svhn": "SVHN",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "emnist": "EMNIST",
}


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
        generations: generation rows (:data:`ecosim.store.logs.GENERATION_SCHEMA`), sorted, ≥ 1 row.
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
        """Network rows (:data:`ecosim.store.logs.NETWORK_SCHEMA`), read on first use (may be empty)."""
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
    cfg_path = RunDir(path).config
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
    if RunDir(p).config.is_file():
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


