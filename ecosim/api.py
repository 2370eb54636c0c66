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

from ecosim.config import Config, load_config
from ecosim.data.arrays import prepare_data
from ecosim.errors import CheckpointError, ConfigError
from ecosim.phenotype.records import DataArrays
from ecosim.store import RunDir, atomic_write

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
        return RunDir(self.run_dir).champion

    @property
    def generations_path(self) -> Path:
        return RunDir(self.run_dir).generations

    @property
    def networks_path(self) -> Path:
        return RunDir(self.run_dir).networks






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
    from ecosim.engine.cluster import ensure_ray
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
    if RunDir(run_dir).holds_run():
        raise ConfigError(
            f"config 'run.out' = {str(run_dir)!r} already holds a run; use 'ecosim resume {run_dir}' or another --out"
        )
    config = config.with_overrides({"run.out": str(run_dir)})
    prepared = prepare_data(config)  # bad dataset → error before anything is written
    from ecosim.engine.cluster import check_resources, ensure_ray

    ensure_ray(config)
    check_resources(config)
    layout = RunDir(run_dir)
    for stale in (layout.generations, layout.networks, layout.checkpoints):  # a first generation that never finished
        shutil.rmtree(stale, ignore_errors=True)
    atomic_write(layout.config, config.to_toml())
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
    cfg_path = RunDir(run_dir).config
    if not cfg_path.is_file():
        raise CheckpointError(f"{str(run_dir)!r} is not a run directory: {cfg_path} is missing")
    if not RunDir(run_dir).holds_run():
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
    latest = RunDir(run_dir).latest_generation()
    if latest is None:
        raise CheckpointError(f"run directory {str(run_dir)!r}: {RunDir(run_dir).latest} names no complete checkpoint")
    done = latest + 1
    if config.run.generations < done:
        raise ConfigError(
            f"config 'run.generations' = {config.run.generations} is invalid: must be ≥ the {done} generations already complete"
        )
    if config.run.generations == done:
        log.warning("run %s already has all %d generations; nothing to do", run_dir, done)
        best = _best_on_disk(run_dir)
        return RunResult(run_dir, best.get("fitness"), best.get("id"))
    prepared = prepare_data(config)
    from ecosim.engine.cluster import check_resources, ensure_ray

    ensure_ray(config)
    check_resources(config)
    if overrides:
        atomic_write(RunDir(run_dir).config, config.to_toml())
    return _execute(config, run_dir, True, reporters, prepared)


def _best_on_disk(run_dir: Path) -> dict[str, Any]:
    from ecosim.store.checkpoint import load_checkpoint

    best = load_checkpoint(run_dir)["coordinator"].get("best", {})
    return best if best.get("id") is not None else {}


__all__ = ["RESUMABLE_KEYS", "RunResult", "resume", "run"]
