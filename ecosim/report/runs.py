"""Run logs as read back from run directories, and their grouping into experiments (Table I rows).

Reads only what :mod:`ecosim.store` wrote: ``config.toml`` and the Parquet logs of each run.

>>> from ecosim.report.runs import load_runs                              # doctest: +SKIP
>>> runs = load_runs(["runs/table1/mnist-speciation"])                    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ecosim.config import Config, load_config
from ecosim.errors import CheckpointError, ConfigError, EcosimError, one_line
from ecosim.store.logs import read_generations, read_networks, read_sessions
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


#: longest :attr:`Experiment.slug` (a file and folder name part); longer ones end in a hash
SLUG_MAX = 60


def _shortened(slug: str, whole: str) -> str:
    """``slug`` itself when it is ``whole`` (nothing replaced) and at most :data:`SLUG_MAX` characters;
    else its beginning (cut at a ``-`` where one is near, no leading or trailing ``-``/``.``) and the
    first 8 hex digits of the SHA-256 of ``whole``, so that names that differ only in characters a
    file name cannot hold (``mnist-café``, ``mnist-cafè``) or beyond the limit stay distinct."""
    if slug == whole and len(slug) <= SLUG_MAX and not slug.startswith((".", "-")):
        return slug
    digest = hashlib.sha256(whole.encode("utf-8")).hexdigest()[:8]
    head = slug.strip("-.")[: SLUG_MAX - len(digest) - 1]
    cut = head.rfind("-")
    if len(head) == SLUG_MAX - len(digest) - 1 and cut >= len(head) - 12:  # end on a whole word near the limit
        head = head[:cut]
    head = head.rstrip("-.")
    return f"{head}-{digest}" if head else digest


@dataclass(frozen=True)
class Experiment:
    """One experiment of Table I: runs of one resolved config, apart from the seed.

    Attributes:
        dataset: ``data.dataset`` of the runs (a name, or an ImageFolder path).
        speciation: ``ecosystem.speciation`` of the runs.
        settings: ``(key, value)`` pairs in which this experiment departs from the others of the
            same dataset and speciation (e.g. ``(("run.mode", "async"),)``): of the keys whose values
            differ among them, those where its value is not the reference one (:func:`group_runs`);
            empty for the reference experiment and when no other shares its dataset and speciation.
        baseline: the fixed architecture of a baseline experiment (``""`` for evolution).
        name: the folder its runs share (``mnist-levers`` for ``runs/mnist-levers/seed0``, as
            ``experiments/run_experiments.py`` lays them out), when that tells it apart from the
            others (:func:`group_runs`); it is then the slug (file names that do not change with
            which other experiments are reported beside it) and the title's qualifier.
    """

    dataset: str
    speciation: bool
    settings: tuple[tuple[str, str], ...] = ()
    baseline: str = ""
    name: str = ""

    @property
    def dataset_slug(self) -> str:
        """The dataset as a file-name part (a folder dataset gives its last path component)."""
        name = self.dataset.rstrip("/\\")
        return os.path.basename(name) if ("/" in name or "\\" in name) else name.lower()

    @property
    def slug(self) -> str:
        """File-name form, as the files in ``experiments/``: ``mnist-speciation``, ``mnist-no-speciation``.

        Distinguishing settings are appended: ``mnist-speciation-mode-async``. A slug longer than
        :data:`SLUG_MAX` characters keeps its beginning and ends in a hash of the whole
        (``mnist-speciation-generations-20-learning-rate-0.5-...-3f2a9c01``): short, stable
        across runs and machines, and distinct for distinct settings (the title keeps them all).
        A folder name (``name``) is shortened the same way, so two long names that share their
        first characters keep distinct file names.
        """
        if self.name:
            return _shortened(re.sub(r"[^A-Za-z0-9._-]+", "-", self.name), self.name)
        base = f"{self.dataset_slug}-{'speciation' if self.speciation else 'no-speciation'}"
        if self.baseline:
            base = f"{self.dataset_slug}-baseline-" + re.sub(r"[^A-Za-z0-9._-]+", "-", self.baseline).strip("-")
        extra = "-".join(f"{k.rpartition('.')[2]}-{v}" for k, v in self.settings)
        full = base + ("-" + re.sub(r"[^A-Za-z0-9._-]+", "-", extra).strip("-") if extra else "")
        return _shortened(full, full)

    @property
    def title(self) -> str:
        """Table I form: ``MNIST (with speciation)``, ``MNIST (no speciation; run.mode=async)``, or
        with a folder name ``MNIST (no speciation; mnist-async)`` (figure titles stay short; the
        report's notes list the settings in which the experiments differ)."""
        name = _DATASET_NAMES.get(self.dataset_slug, self.dataset_slug)
        if self.name:
            extra = f"; {self.name}"
        else:  # an empty value shows as "" (family_weights="")
            extra = "".join(f"; {k}={v}" if v != "" else f'; {k}=""' for k, v in self.settings)
        if self.baseline:
            return f"{name} (fixed baseline {self.baseline}{extra})"
        return f"{name} ({'with' if self.speciation else 'no'} speciation{extra})"

    def sort_key(self) -> tuple[int, str, int, tuple[tuple[str, str], ...]]:
        """Table I row order: MNIST, SVHN, Fashion-MNIST, CIFAR-10, then others; speciation first."""
        order = list(_DATASET_NAMES)
        slug = self.dataset_slug
        return (
            order.index(slug) if slug in order else len(order),
            slug,
            (1 if self.baseline else 0) * 2 + (0 if self.speciation else 1),
            self.settings,
        )


#: per-origin before-BP means of the generation log (issue 7); absent or empty in older logs
OFFSPRING_BY_ORIGIN_COLUMNS: tuple[str, ...] = tuple(
    f"mean_offspring_fitness_before_bp_{o}" for o in ("crossover", "mutation", "clone")
)


def _read_log(read: Any, run_dir: Path, folder: Path, files: str = "gen-*.parquet") -> pd.DataFrame:
    """Read one of a run's Parquet logs (its ``files`` in ``folder``); a damaged file is a one-line error naming it."""
    try:
        return read(run_dir)
    except (OSError, ValueError, pa.ArrowException) as exc:
        for path in sorted(folder.glob(files)):
            try:
                pq.read_metadata(path)
                pq.read_table(path)
            except (OSError, ValueError, pa.ArrowException) as bad:
                raise CheckpointError(
                    f"log file {str(path)!r} is damaged ({one_line(bad, 240)}); restore it from a backup, "
                    f"set it aside with 'ecosim resume {run_dir}' (the rest of the log is kept), "
                    "or report the other runs"
                ) from None
        raise CheckpointError(f"the logs in {str(folder)!r} cannot be read: {one_line(exc, 240)}") from None


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
    _sessions: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def experiment(self) -> Experiment:
        """The run's dataset and speciation (:func:`group_runs` adds distinguishing settings); a
        baseline's layers, ``", settled"`` added when it trains with a schedule (``ecosystem.settle``)."""
        e = self.config.ecosystem
        baseline = e.initial_layers if e.offspring == 0 else ""  # offspring 0: a fixed-architecture baseline
        if baseline and e.settle:  # trained with a schedule (settle_keep, _rungs, _lr_decay): not the paper's way
            baseline += ", settled"
        return Experiment(self.config.data.dataset, e.speciation, baseline=baseline)

    @property
    def last_generation(self) -> int:
        """The last generation logged."""
        return int(self.generations["generation"].max())

    @property
    def sessions(self) -> pd.DataFrame:
        """The run's starts and resumes (:data:`ecosim.store.logs.SESSION_SCHEMA`: machine, cluster,
        versions), read on first use; empty for logs from before ecosim 0.9.11.

        Raises:
            CheckpointError: a damaged sessions-log file (the message names it).
        """
        if self._sessions is None:
            self._sessions = _read_log(read_sessions, self.run_dir, RunDir(self.run_dir).sessions, "session-*.parquet")
        return self._sessions

    @property
    def networks(self) -> pd.DataFrame:
        """Network rows (:data:`ecosim.store.logs.NETWORK_SCHEMA`), read on first use (may be empty).

        Raises:
            CheckpointError: a damaged network-log file (the message names it).
        """
        if self._networks is None:
            self._networks = _read_log(read_networks, self.run_dir, RunDir(self.run_dir).networks)
        return self._networks

    def logged(self, column: str) -> bool:
        """Whether the generation log holds ``column`` with at least one value (older logs may not)."""
        return column in self.generations and bool(self.generations[column].notna().any())

    def column(self, column: str) -> pd.Series:
        """One generation-log column indexed by generation, with fallbacks for older logs.

        * ``mean_offspring_fitness_before_bp``: offspring fitness before BP **without clones**
          (issue 7: a clone's before-BP score is its trained parent's fitness). Logs with the
          per-origin columns (:data:`OFFSPRING_BY_ORIGIN_COLUMNS`) log it so; for older logs it is
          computed from the network log over crossover and mutation offspring (when the network
          log is empty, the logged value, which may include clones, is used).
        * ``conv_share``: older logs: the share of the generation's networks with a fitness whose
          ``layers`` hold a conv layer, from the network log.
        * ``champion_layers``: older logs: the ``layers`` of the ``champion_id`` network.
        * any other column: as logged; absent columns give NaN (or ``None`` for text).
        """
        gens = self.generations.set_index("generation").sort_index()
        if column == "mean_offspring_fitness_before_bp" and not any(
            self.logged(c) for c in OFFSPRING_BY_ORIGIN_COLUMNS
        ):
            nets = self.networks
            if not nets.empty:
                sel = nets[nets["origin"].isin(("crossover", "mutation")) & nets["fitness_before_bp"].notna()]
                means = sel.groupby("generation")["fitness_before_bp"].mean()
                return means.reindex(gens.index).astype("float64").rename(column)
        if column == "conv_share" and not self.logged(column):
            nets = self.networks
            if not nets.empty:
                scored = nets[nets["fitness"].notna()]
                conv = scored["layers"].fillna("").map(lambda s: any(p.startswith("C") for p in s.split("-")))
                share = conv.groupby(scored["generation"]).mean()
                return share.reindex(gens.index).astype("float64").rename(column)
        if column == "champion_layers" and not self.logged(column):
            nets = self.networks
            if not nets.empty and "champion_id" in gens:
                by_id = nets.set_index(["generation", "network_id"])["layers"]
                return pd.Series(
                    [by_id.get((g, int(c))) if not pd.isna(c) else None for g, c in gens["champion_id"].items()],
                    index=gens.index,
                    name=column,
                    dtype="object",
                )
        if column in gens:
            return gens[column]
        return pd.Series(None if column.endswith("_layers") else math.nan, index=gens.index, name=column)


def load_run(run_dir: str | Path) -> RunLogs:
    """Read the config and generation logs of one run directory.

    Args:
        run_dir: a run directory holding ``config.toml`` and ``generations/gen-*.parquet``.

    Returns:
        :class:`RunLogs` (network rows are read lazily).

    Raises:
        CheckpointError: ``config.toml`` missing or unreadable, no generation logged yet, or a
            damaged log file; one line naming the path.
        ConfigError: an invalid ``config.toml`` (the message names the file).
    """
    path = Path(run_dir)
    RunDir(path).require()
    cfg_path = RunDir(path).config
    try:
        config = load_config(cfg_path)
    except ConfigError as exc:
        raise ConfigError(f"{cfg_path}: {one_line(exc, 240)}") from None
    except (OSError, ValueError) as exc:  # binary bytes, broken TOML
        raise CheckpointError(f"config file {str(cfg_path)!r} is damaged ({one_line(exc, 240)})") from None
    gens = _read_log(read_generations, path, RunDir(path).generations)
    if gens.empty:
        raise CheckpointError(
            f"run directory {str(path)!r} has no generation logs yet "
            f"({path / 'generations'}/gen-*.parquet missing): nothing to report"
        )
    return RunLogs(path, config, gens, name=path.resolve().name)


def find_run_dirs(path: str | Path, depth: int = 4) -> list[Path]:
    """Run directories at ``path``: itself if it holds ``config.toml``, else those below it.

    Args:
        path: a run directory, or a folder of run directories (e.g. ``runs/table1`` made by
            ``experiments/run_experiments.py``, holding ``<experiment>/seed<k>/``).
        depth: how many folder levels to search below ``path`` (default 4: a folder of sweeps,
            ``runs/<sweep>/<experiment>/seed<k>/``, and one more; a run directory is not searched).

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

    A run found inside a folder that has not logged a generation yet (a sweep in progress) is left
    out with a :class:`RunSkippedWarning`; named itself, it is an error. A pack of logs
    (:func:`ecosim.store.archive.pack_logs`) whose run is loaded too (the same ``run.out`` and
    ``run.seed``, also when the run was moved or copied since) counts once, as the run, also with
    a :class:`RunSkippedWarning`.

    Raises:
        CheckpointError: a path that is no run directory and holds none, a run directory named
            that has no logs, or no run with logs at all.
    """
    runs: list[RunLogs] = []
    seen: set[Path] = set()
    for p in paths:
        dirs = find_run_dirs(p)
        if not dirs:
            if not Path(p).exists():
                what = "does not exist"
            elif not Path(p).is_dir():
                what = f"is a file, not a run directory (give the folder {str(Path(p).parent)!r})"
            else:
                what = "is not a run directory (no config.toml) and holds none"
            raise CheckpointError(f"{str(p)!r} {what}")
        for d in dirs:
            if d.resolve() in seen:  # a run named twice (itself and its folder) counts once
                continue
            seen.add(d.resolve())
            if Path(p).resolve() != d.resolve() and not any(RunDir(d).generations.glob("gen-*.parquet")):
                warnings.warn(
                    f"{d}: no generation logged yet (a run just started): left out", RunSkippedWarning, stacklevel=2
                )
                continue
            runs.append(load_run(d))
    if not runs:
        raise CheckpointError("none of the run directories found has logged a generation yet: nothing to report")

    def source(r: RunLogs) -> tuple[Path, int] | None:  # where the run was written (a moved run keeps it)
        return (Path(r.config.run.out).resolve(), r.config.run.seed) if r.config.run.out else None

    loaded = {
        k for r in runs if not RunDir(r.run_dir).is_pack for k in (source(r), (r.run_dir.resolve(), r.config.run.seed))
    }
    kept = []
    for r in runs:
        origin = source(r)
        if origin is not None and RunDir(r.run_dir).is_pack and origin in loaded and origin[0] != r.run_dir.resolve():
            warnings.warn(
                f"{r.run_dir}: a pack of {origin[0]}, which is read too: counted once, as the run",
                RunSkippedWarning,
                stacklevel=2,
            )
            continue
        kept.append(r)
    return kept


#: config keys that may differ between replicates of one experiment (with the [resources] section)
_REPLICATE_FREE = {
    ("run", "seed"),
    ("run", "out"),
    ("run", "address"),
    ("run", "dashboard"),
    ("run", "dashboard_host"),
    ("run", "checkpoint_keep"),
    ("data", "data_root"),
    ("run", "generations"),
    ("run", "train_macs"),
    ("training", "eval_split"),
}  # a run extended further (more generations, a larger compute budget) is the same experiment;
# the evaluation split never changes a result (issue 18; a pinned conv_mode or memory_format can)

#: keys that name the experiment itself (:class:`Experiment` ``dataset`` and ``speciation``)
_IDENTITY = {("data", "dataset"), ("ecosystem", "speciation")}


class RunSkippedWarning(UserWarning):
    """A run directory found in a folder was left out of a report (it has not logged a generation yet)."""


class ReplicateWarning(UserWarning):
    """Runs pooled into one experiment are not independent replicates (they share a seed)."""


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_value(x) for x in v)
    return str(v)


def settings(cfg: Config) -> dict[str, str]:
    """The resolved settings that define an experiment: every config key but the replicate-free ones.

    Replicate-free: ``run.seed``, ``run.out``, ``run.address``, ``run.dashboard``,
    ``run.dashboard_host``, ``run.checkpoint_keep``, ``data.data_root``, ``training.eval_split``
    and the ``[resources]`` section (where and how a run executes, not what it computes), and
    ``run.generations`` and ``run.train_macs`` (how far it ran), except with a settle schedule
    (``ecosystem.settle`` > 0): there the run's length places the settle point and its parts, so
    the one that does (``run.train_macs`` with a compute budget, else ``run.generations``) is a
    setting.

    Returns:
        ``{"section.key": value as text}``.
    """
    out = {
        f"{sec}.{k}": _value(v)
        for sec, table in cfg.to_dict().items()
        for k, v in table.items()
        if (sec, k) not in _REPLICATE_FREE and sec != "resources"
    }
    if cfg.ecosystem.settle > 0:  # the schedule is a share of the run's length
        key = "train_macs" if cfg.run.train_macs > 0 else "generations"
        out[f"run.{key}"] = _value(getattr(cfg.run, key))
    return out


#: the paper's set-up as :func:`settings` writes it: the reference values of experiment titles
_DEFAULT_SETTINGS = settings(Config())


def group_runs(runs: Sequence[RunLogs]) -> dict[Experiment, list[RunLogs]]:
    """Runs grouped by their resolved config (:func:`settings`), in Table I order.

    Runs whose settings differ in anything but the replicate-free keys (the seed, where they
    ran, how long they ran: ``run.generations`` and ``run.train_macs``) are different experiments,
    even with the same dataset and speciation (sync and async runs, another cost cap); such
    experiments carry the settings in which they depart from a reference (:attr:`Experiment.settings`)
    in their slug and title: for each key whose values differ, the paper's default where one of the
    experiments has it, else the value most of them share, so an experiment with the defaults reads
    ``MNIST (with speciation)`` and one with a lever ``MNIST (with speciation;
    mutation.function_preserving=true)`` rather than every differing key of each. Where every experiment's runs sit in a
    folder of their own as the experiment runner lays them out (``runs/mnist-levers/seed0``), that
    folder's name names the experiment (:attr:`Experiment.name`) when it tells them apart or, named
    ``<dataset>-...`` as the configs in ``experiments/`` are, says more than the default slug
    (``mnist-levers`` for a no-speciation experiment beside no other). Use
    :func:`replicate_problems` to check the replicates of each group.
    """
    by_setting: dict[tuple[tuple[str, str], ...], list[RunLogs]] = {}
    for r in runs:
        by_setting.setdefault(tuple(sorted(settings(r.config).items())), []).append(r)
    families: dict[tuple[str, bool, str], list[tuple[dict[str, str], list[RunLogs]]]] = {}
    for key, group in by_setting.items():
        base = group[0].experiment
        families.setdefault((base.dataset, base.speciation, base.baseline), []).append((dict(key), group))
    groups: dict[Experiment, list[RunLogs]] = {}
    # the runner's layout, <experiment>/seed<k>: a folder per experiment, named after its config
    folders = {
        id(group): {r.run_dir.resolve().parent.name for r in group}
        if all(re.fullmatch(r"seed\d+", r.run_dir.resolve().name) for r in group)
        else set()
        for group in by_setting.values()
    }
    own = [next(iter(f)) for f in folders.values() if len(f) == 1]
    by_folder = len(own) == len(folders) and len(set(own)) == len(own)  # each experiment its own folder
    for (dataset, speciation, baseline), members in families.items():
        keys = sorted({k for s, _ in members for k in s})
        differing = [k for k in keys if len({s.get(k) for s, _ in members}) > 1]
        reference = {k: _reference_value(k, [s.get(k, "") for s, _ in members]) for k in differing}
        for s, group in members:
            departs = tuple((k, s.get(k, "")) for k in differing if s.get(k, "") != reference[k])
            exp = Experiment(dataset, speciation, departs, baseline)
            folder = next(iter(folders[id(group)])) if by_folder else ""
            more = folder != exp.slug and folder.startswith(f"{exp.dataset_slug}-") and not baseline
            if folder and (differing or more):  # it tells experiments apart, or says more than the default
                exp = replace(exp, name=folder)
            groups[exp] = group
    return dict(sorted(groups.items(), key=lambda kv: kv[0].sort_key()))


def _reference_value(key: str, values: list[str]) -> str:
    """The value an experiment's title leaves out for ``key``: the paper's default (:class:`Config`) when
    one of ``values`` is it, else the most common of ``values`` (ties: the first in sorted order)."""
    default = _DEFAULT_SETTINGS.get(key)
    if default is not None and default in values:
        return default
    return min(set(values), key=lambda v: (-values.count(v), v))


def differences(groups: dict[Experiment, list[RunLogs]]) -> list[str]:
    """Config keys whose values differ between the given experiments' runs.

    Args:
        groups: the output of :func:`group_runs`.

    Returns:
        Sorted ``"section.key"`` names (empty for one experiment).
    """
    values: dict[str, set[str]] = {}
    per_group = [settings(rs[0].config) for rs in groups.values()]
    keys = {k for s in per_group for k in s}
    for k in keys:
        values[k] = {s.get(k, "") for s in per_group}
    return sorted(k for k, v in values.items() if len(v) > 1)


def replicate_problems(groups: dict[Experiment, list[RunLogs]]) -> list[str]:
    """Why runs pooled into one experiment are not independent replicates, one message per group.

    Returns:
        e.g. ``["mnist-speciation: several runs share a seed ([0, 0, 1]): ..."]``; empty when fine.
    """
    out = []
    for exp, group in groups.items():
        seeds = sorted(r.config.run.seed for r in group)
        if len(set(seeds)) < len(seeds):
            out.append(f"{exp.slug}: several runs share a seed ({seeds}): they are not independent replicates")
    return out


def warn_replicates(groups: dict[Experiment, list[RunLogs]]) -> None:
    """Warn (:class:`ReplicateWarning`) once per message of :func:`replicate_problems`."""
    for message in replicate_problems(groups):
        warnings.warn(message, ReplicateWarning, stacklevel=3)


def _as_runs(runs: Sequence[RunLogs | str | Path]) -> list[RunLogs]:
    out: list[RunLogs] = []
    for r in runs:
        out.extend([r] if isinstance(r, RunLogs) else load_runs([r]))
    return out
