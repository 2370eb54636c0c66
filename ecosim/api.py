"""Python API of a run: :func:`run` and :func:`resume`, the same as ``ecosim run`` / ``ecosim resume``.

>>> from ecosim import Config, run                                     # doctest: +SKIP
>>> result = run(Config().with_overrides({"run.generations": 3}))     # doctest: +SKIP
>>> result.run_dir, result.best_fitness                               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ecosim.errors import CheckpointError, ConfigError
from ecosim.io.config import Config, load_config
from ecosim.io.data import load_dataset
from ecosim.phenotype.records import DataArrays

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """Where a finished run left its results.

    Attributes:
        run_dir: the run directory.
        best_fitness: fitness (fraction in [0, 1]) of the best network ever seen.
        best_network_id: its id.
        champion_path: ``champion.safetensors`` (genome + weights + metadata).
        generations_path, networks_path: the Parquet log folders.
    """

    run_dir: Path
    best_fitness: float | None
    best_network_id: int | None

    @property
    def champion_path(self) -> Path:
        return self.run_dir / "champion.safetensors"

    @property
    def generations_path(self) -> Path:
        return self.run_dir / "generations"

    @property
    def networks_path(self) -> Path:
        return self.run_dir / "networks"


def prepare_data(config: Config) -> tuple[DataArrays, tuple[int, int, int], int]:
    """Load the dataset of ``config`` and split it into training / fitness / test arrays.

    With ``data.validation_fraction`` > 0, that fraction of the training set (drawn with the run
    seed) is held out for fitness and the test set is reported separately. ``data.test_subset``
    keeps the first N fitness (and test) images.

    Returns:
        ``(DataArrays, (C, H, W), classes)``.

    Raises:
        ConfigError: unknown dataset name. DatasetError: files missing (message says where).
    """
    d = config.data
    ds = load_dataset(d.dataset, d.data_root or None)
    train_x, train_y = ds.train_images, ds.train_labels
    test_x, test_y = ds.test_images, ds.test_labels
    eval_x, eval_y = test_x, test_y
    separate_test = False
    if d.validation_fraction > 0:
        rng = np.random.default_rng([config.run.seed, 0xDA7A])
        perm = rng.permutation(len(train_y))
        n_val = max(1, int(round(d.validation_fraction * len(train_y))))
        val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        eval_x, eval_y = train_x[val], train_y[val]
        train_x, train_y = train_x[tr], train_y[tr]
        separate_test = True
    if d.test_subset:
        eval_x, eval_y = eval_x[: d.test_subset], eval_y[: d.test_subset]
        test_x, test_y = test_x[: d.test_subset], test_y[: d.test_subset]
    data = DataArrays(
        train_images=np.ascontiguousarray(train_x),
        train_labels=np.ascontiguousarray(train_y),
        eval_images=np.ascontiguousarray(eval_x),
        eval_labels=np.ascontiguousarray(eval_y),
        mean=tuple(ds.mean),
        std=tuple(ds.std),
        test_images=np.ascontiguousarray(test_x) if separate_test else None,
        test_labels=np.ascontiguousarray(test_y) if separate_test else None,
    )
    return data, tuple(ds.input_shape), int(ds.classes)  # type: ignore[return-value]


def ensure_ray(config: Config) -> None:
    """Start local Ray, or join ``run.address``; reuse a Ray already initialised in this process.

    Token authentication is left as Ray configures it (on by default for local clusters since
    Ray 2.59); the dashboard, when enabled, listens on ``run.dashboard_host`` (127.0.0.1).
    """
    import ray

    if ray.is_initialized():
        return
    r = config.run
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if r.address:
        ray.init(address=r.address, **kwargs)
        return
    ray.init(
        num_cpus=config.resources.num_cpus or None,
        include_dashboard=r.dashboard,
        dashboard_host=r.dashboard_host,
        **kwargs,
    )


def _default_run_dir(config: Config) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(config.data.dataset).name if "/" in config.data.dataset else config.data.dataset
    return Path("runs") / f"{name}-seed{config.run.seed}-{stamp}"


def _execute(
    config: Config,
    run_dir: Path,
    resume_run: bool,
    reporters: Sequence[Any],
    prepared: tuple[DataArrays, tuple[int, int, int], int],
) -> RunResult:
    from ecosim.engine.coordinator import Ecosystem

    data, input_shape, classes = prepared
    ensure_ray(config)

    async def main() -> dict[str, Any]:
        eco = Ecosystem(config, run_dir, data, input_shape, classes, reporters)
        try:
            return await eco.run(resume=resume_run)
        finally:
            await eco.shutdown()

    best = asyncio.run(main())
    return RunResult(run_dir, best.get("fitness") if best.get("id") is not None else None, best.get("id"))


#: keys ``resume`` may change: they alter how a run executes, not what it computes
RESUMABLE_KEYS = frozenset(
    {"run.generations", "run.address", "run.dashboard", "run.dashboard_host", "run.checkpoint_keep"}
    | {f"resources.{k}" for k in ("cpus_per_task", "gpus_per_task", "max_retries", "task_timeout", "num_cpus")}
    | {"data.data_root"}
)


def check_resources(config: Config) -> None:
    """Check that one training task's CPU/GPU request fits the Ray cluster, before any work.

    Raises:
        ConfigError: ``resources.cpus_per_task`` or ``resources.gpus_per_task`` exceeds what the
            cluster has (a task that can never be scheduled would wait forever).
    """
    import ray

    total = ray.cluster_resources()
    res = config.resources
    cpus, gpus = float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0))
    if res.cpus_per_task > cpus:
        raise ConfigError(
            f"config 'resources.cpus_per_task' = {res.cpus_per_task} is invalid: must be ≤ the cluster's {cpus:g} CPUs"
        )
    if res.gpus_per_task > gpus:
        raise ConfigError(
            f"config 'resources.gpus_per_task' = {res.gpus_per_task} is invalid: must be ≤ the cluster's "
            f"{gpus:g} GPUs (0 runs on CPUs)"
        )


def _holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds at least one complete generation (a checkpoint)."""
    return (run_dir / "checkpoints" / "LATEST").is_file()


def run(config: Config, reporters: Sequence[Any] = ()) -> RunResult:
    """Evolve a population as configured; the Python form of ``ecosim run``.

    A run directory that exists but holds no complete generation (a run stopped during its
    first generation) is started afresh.

    Args:
        config: a validated :class:`Config`.
        reporters: progress hooks (see :class:`ecosim.engine.coordinator.Reporter`).

    Returns:
        :class:`RunResult` pointing at the run directory.

    Raises:
        ConfigError: the run directory already holds a run, or a task's resources exceed the
            cluster's. DatasetError: missing data.
        ExtinctionError: no network left (logs and champion saved first).
    """
    run_dir = Path(config.run.out) if config.run.out else _default_run_dir(config)
    if _holds_run(run_dir):
        raise ConfigError(
            f"config 'run.out' = {str(run_dir)!r} already holds a run; use 'ecosim resume {run_dir}' or another --out"
        )
    config = config.with_overrides({"run.out": str(run_dir)})
    prepared = prepare_data(config)  # bad dataset → error before anything is written
    ensure_ray(config)
    check_resources(config)
    for stale in ("generations", "networks", "checkpoints"):  # a first generation that never finished
        shutil.rmtree(run_dir / stale, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    return _execute(config, run_dir, False, reporters, prepared)


def resume(run_dir: str | Path, overrides: dict[str, Any] | None = None, reporters: Sequence[Any] = ()) -> RunResult:
    """Continue a run from its last complete generation; the Python form of ``ecosim resume``.

    Args:
        run_dir: a run directory with ``config.toml`` and a checkpoint.
        overrides: ``{"section.key": value}`` among :data:`RESUMABLE_KEYS`, e.g.
            ``{"run.generations": 200}`` to extend a run. Keys that change what is computed
            (dataset, sizes, seed, ...) are refused: start a new run for those.

    Raises:
        CheckpointError: no config or no complete checkpoint in ``run_dir``.
        ConfigError: an override outside :data:`RESUMABLE_KEYS`, or fewer generations than
            already complete.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file():
        raise CheckpointError(f"{str(run_dir)!r} is not a run directory: {cfg_path} is missing")
    if not _holds_run(run_dir):
        raise CheckpointError(
            f"run directory {str(run_dir)!r} has no complete generation to resume from; "
            f"start it again with 'ecosim run --out {run_dir}'"
        )
    for key in overrides or {}:
        if key not in RESUMABLE_KEYS:
            raise ConfigError(
                f"config '{key}' cannot change on resume (it changes what the run computes); "
                f"resumable keys: {', '.join(sorted(RESUMABLE_KEYS))}"
            )
    config = load_config(cfg_path, overrides)
    done = int((run_dir / "checkpoints" / "LATEST").read_text(encoding="utf-8").strip().split("-")[-1]) + 1
    if config.run.generations < done:
        raise ConfigError(
            f"config 'run.generations' = {config.run.generations} is invalid: must be ≥ the {done} generations already complete"
        )
    if config.run.generations == done:
        log.warning("run %s already has all %d generations; nothing to do", run_dir, done)
        best = _best_on_disk(run_dir)
        return RunResult(run_dir, best.get("fitness"), best.get("id"))
    prepared = prepare_data(config)
    ensure_ray(config)
    check_resources(config)
    if overrides:
        (run_dir / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    return _execute(config, run_dir, True, reporters, prepared)


def _best_on_disk(run_dir: Path) -> dict[str, Any]:
    from ecosim.io.checkpoint import load_checkpoint

    best = load_checkpoint(run_dir)["coordinator"].get("best", {})
    return best if best.get("id") is not None else {}


__all__ = ["RESUMABLE_KEYS", "RunResult", "check_resources", "ensure_ray", "prepare_data", "resume", "run"]
