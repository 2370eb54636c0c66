"""Python API of a run: :func:`run` and :func:`resume`, the same as ``ecosim run`` / ``ecosim resume``.

>>> from ecosim import Config, run                                     # doctest: +SKIP
>>> result = run(Config().with_overrides({"run.generations": 3}), progress=print)  # doctest: +SKIP
run directory: /home/me/runs/mnist-seed0-20260101-120000
generation 0 (1/3): best 0.8123, mean 0.5311, species 8, networks 96, champion C2s1x1[3x3,5x5]-F10, 31.2 s
...
>>> result.run_dir, result.best_fitness                               # doctest: +SKIP

Progress comes as plain lines (:class:`ecosim.progress.LineReporter`): the run directory first, one line per
generation, the champion last. They go to ``progress`` when given (e.g. ``print`` in a
notebook), else to the logger ``ecosim.api`` at INFO level (the library configures no handler).

Paths are stored absolute in ``RUN_DIR/config.toml``, so ``resume`` works from any directory.
The data folder is, in order: ``data.data_root`` (``--data-root``), else ``$ECOSIM_DATA``, else
the dataset cache (``$ECOSIM_CACHE``, default ``~/.cache/ecosim``, downloading if needed); a run
stores the folder it used. On resume, an override (``--data-root``) wins, then the stored folder,
then ``$ECOSIM_DATA`` when the stored folder no longer exists.

Requests beyond what exists warn and use what exists: ``data.test_subset`` above the images of
the fitness set (all are used; stored as 0, all, once it exceeds the test set too) and
``resources.num_cpus`` above this machine's cores (local Ray gets the cores; the stored config
records the cores). A value that cannot work
(``ecosystem.offspring = 0``, a task needing more CPUs or GPUs than the cluster has) is an error.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import shlex
import shutil
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ecosim.atomic import atomic_write, check_writable
from ecosim.config import RESUMABLE_KEYS, Config, load_config
from ecosim.data.arrays import DataArrays, prepare_data
from ecosim.data.download import DataNotFoundError
from ecosim.data.root import ENV_VAR as DATA_ENV_VAR
from ecosim.data.root import cache_root, resolve_data_root
from ecosim.errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    ResumableStop,
    StorageError,
)
from ecosim.machine import host_facts
from ecosim.preflight import check_before_work
from ecosim.progress import LineReporter, Progress, format_champion
from ecosim.store import RunDir
from ecosim.store.checkpoint import checkpoint_settings, edited_settings, intact_checkpoint_generation
from ecosim.store.lock import run_lock
from ecosim.store.logs import LogWriter, logged_train_macs, set_aside_damaged_logs

log = logging.getLogger(__name__)

#: seconds the end of a run waits for tasks left in its event loop to end once cancelled
LEFTOVER_TASKS_S = 10.0


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


def _emitter(progress: Progress | None) -> Progress:
    if progress is not None:
        return progress
    return lambda line: log.info("%s", line)


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def default_run_dir(config: Config) -> Path:
    """``runs/<dataset>-seed<seed>-<timestamp>`` under the current directory (absolute)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(config.data.dataset).name if "/" in config.data.dataset else config.data.dataset
    return _absolute(Path("runs") / f"{name}-seed{config.run.seed}-{stamp}")


def resolve_paths(config: Config) -> Config:
    """``config`` with absolute ``run.out`` (the default name when empty) and ``data.data_root``.

    The data root is ``data.data_root``, else ``$ECOSIM_DATA``, else empty (the dataset cache);
    both paths are made absolute against the current directory. Idempotent; :func:`run` calls it.
    """
    out = _absolute(config.run.out) if config.run.out else default_run_dir(config)
    root = resolve_data_root(config.data.data_root)  # the one place of the option → $ECOSIM_DATA rule
    return config.with_overrides({"run.out": str(out), "data.data_root": str(_absolute(root)) if root else ""})


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _clamp_resources(config: Config) -> Config:
    """``resources.num_cpus`` above this machine's cores → the cores, with a warning (local Ray only)."""
    res = config.resources
    if config.run.address:
        if res.num_cpus:
            log.warning("resources.num_cpus = %d is ignored: run.address joins an existing Ray cluster", res.num_cpus)
        return config
    cores = _available_cpus()
    if res.num_cpus > cores:
        log.warning(
            "config 'resources.num_cpus' = %d exceeds the %d CPU cores of this machine: local Ray gets %d",
            res.num_cpus,
            cores,
            cores,
        )
        return config.with_overrides({"resources.num_cpus": cores})
    return config


def _start_ray(config: Config) -> None:
    """Start or join Ray; keep the caller's SIGTERM handler (``ray.init`` replaces it with ``sys.exit``)."""
    from ecosim.engine.cluster import check_resources, ensure_ray

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    ours = main and previous not in (None, signal.SIG_DFL, signal.SIG_IGN)
    try:
        ensure_ray(config)
    except SystemExit as exc:  # SIGTERM while ray.init ran, after it set its own handler
        if not (ours and exc.code == signal.SIGTERM and callable(previous)):
            raise
        signal.signal(signal.SIGTERM, previous)
        previous(signal.SIGTERM, None)  # the caller's handler decides (the CLI: interrupted, 143)
        raise
    if ours and signal.getsignal(signal.SIGTERM) is not previous:
        signal.signal(signal.SIGTERM, previous)
    check_resources(config)


async def _end_leftover_tasks(wait_s: float) -> None:
    """Cancel every other task of this event loop, again and again, until all have ended or
    ``wait_s`` seconds have passed; then name those left in a warning.

    ``asyncio.run`` cancels the tasks left at its end once and then waits for them without a
    bound: an interrupted asynchronous resume once hung there for good (session 30; Python 3.11's
    ``asyncio.wait_for`` can swallow a cancellation that meets its inner result). Cancelling
    repeatedly ends such a task; one that still does not end is named, so a hang says why.
    """
    me = asyncio.current_task()
    left = {t for t in asyncio.all_tasks() if t is not me and not t.done()}
    deadline = asyncio.get_running_loop().time() + wait_s
    while left and asyncio.get_running_loop().time() < deadline:
        for task in left:
            task.cancel()
        _, left = await asyncio.wait(left, timeout=0.5)
    if left:
        names = ", ".join(sorted(t.get_coro().__qualname__ for t in left))  # type: ignore[union-attr]
        log.warning("%d task(s) did not end when cancelled at the end of the run: %s", len(left), names)


def _run_until_interrupted(coro: Any) -> Any:
    """``asyncio.run(coro)``, where a broken pipe met while a Ctrl-C is being handled is the Ctrl-C.

    Under ``ecosim run … | tee log`` one Ctrl-C ends ``tee`` and interrupts the run; a line the run
    writes before the interrupt reaches it meets the closed pipe. Which comes first is a race, so
    the broken pipe is raised as the ``KeyboardInterrupt`` it follows (exit 130, not 141).

    Raises:
        KeyboardInterrupt: Ctrl-C (``from`` the ``BrokenPipeError`` when the pipe broke first).
    """
    runner_type = getattr(asyncio, "Runner", None)
    if runner_type is None:  # Python 3.10: Ctrl-C raises KeyboardInterrupt at once, no race
        return asyncio.run(coro)
    with runner_type() as runner:
        try:
            return runner.run(coro)
        except BrokenPipeError as exc:
            if getattr(runner, "_interrupt_count", 0):  # the runner's own Ctrl-C count (CPython 3.11+)
                raise KeyboardInterrupt from exc
            raise


def _execute(
    config: Config,
    run_dir: Path,
    resume_run: bool,
    reporters: Sequence[Any],
    prepared: tuple[DataArrays, tuple[int, int, int], int],
    emit: Progress,
) -> RunResult:
    from ecosim.engine.coordinator import Ecosystem

    data, input_shape, classes = prepared

    budget: list[tuple[int, int, float]] = []  # run.train_macs reached: (at generation, last generation, MACs)
    short: list[str] = []  # run.generations reached first, with a budget: what the budget had left

    async def main() -> dict[str, Any]:
        eco = Ecosystem(
            config,
            run_dir,
            data,
            input_shape,
            classes,
            [*reporters, LineReporter(emit, config.data.validation_fraction > 0)],
        )
        try:
            return await eco.run(resume=resume_run)
        finally:
            p = eco.policy
            if eco.budget_reached is not None:
                budget.append((eco.budget_reached, p.completed_generation, p.train_macs_spent or 0.0))
            elif config.run.train_macs > 0 and p.completed_generation + 1 >= config.run.generations:
                short.append(p.short_of_budget(config.run.train_macs))
            await eco.shutdown()
            await _end_leftover_tasks(LEFTOVER_TASKS_S)

    try:
        best = _run_until_interrupted(main())  # the caller holds the run directory's lock
    except StorageError as exc:  # a full disk mid-run: what is complete is kept (atomic writes)
        if exc.disk_full:
            raise ResumableStop(f"{exc}; free space (or remount read-write), then resume", str(run_dir)) from exc
        raise
    if budget:
        at, last, spent = budget[0]
        started = f" (reached in generation {at}; the generations already started were completed)" if last > at else ""
        more = "--train-macs X" + (" --generations N" if last + 1 >= config.run.generations else "")
        emit(
            f"compute budget reached: {spent:.3g} training multiply-accumulates after generation {last}{started} "
            f"(run.train_macs = {config.run.train_macs:.3g}); spend more with: "
            f"ecosim resume {shlex.quote(str(run_dir))} {more}"
        )
    if short:
        emit(f"{short[0]}; spend the rest with: ecosim resume {shlex.quote(str(run_dir))} --generations N")
    line = format_champion(run_dir, config.data.validation_fraction > 0)
    if line:
        emit(line)
    else:  # the run ended (no stop was raised): every network so far diverged or failed
        log.warning(
            "no champion: every network trained so far diverged or failed (the networks log's status and error "
            "columns say why); a learning rate (training.learning_rate) or weight scale (mutation.init_std) too "
            "large makes every loss non-finite"
        )
    return RunResult(run_dir, best.get("fitness") if best.get("id") is not None else None, best.get("id"))


def _recorded_test_subset(config: Config, data: DataArrays) -> Config:
    """``data.test_subset`` as the stored config must say it: ``0`` (all) when it exceeds every set it
    cuts (the fitness set and, with a validation split, the test set), else unchanged.

    One number cannot say "all 6,000 validation images but 8,000 of the 10,000 test images", and a
    value clamped to the fitness set would cut the test set on resume; the user's value, applied
    by the same rule, gives the same images again.
    """
    sizes = [len(data.eval_labels)] + ([len(data.test_labels)] if data.test_labels is not None else [])
    if config.data.test_subset > max(sizes):
        return config.with_overrides({"data.test_subset": 0})
    return config


def run(config: Config, reporters: Sequence[Any] = (), progress: Progress | None = None) -> RunResult:
    """Evolve a population as configured; the Python form of ``ecosim run``.

    A run directory that exists but holds no complete generation (a run stopped during its
    first generation) is started afresh. Paths are made absolute (:func:`resolve_paths`) and
    the resolved config, with every derived size as a number, is written to
    ``RUN_DIR/config.toml``.

    Args:
        config: a validated :class:`Config`.
        reporters: progress hooks (see :class:`ecosim.progress.Reporter`).
        progress: receives the plain progress lines (the run directory first, once it is
            created, after the data is read and Ray started; one per generation; the champion
            last); ``None`` sends them to the logger ``ecosim.api`` at INFO.

    Returns:
        :class:`RunResult` pointing at the run directory.

    Raises:
        ConfigError: the run directory already holds a run, or a task's resources exceed the
            cluster's. DatasetError: missing data (one line naming the dataset, the folder
            and what to do; no run directory is created).
        ExtinctionError: no network left (logs and champion saved first).
    """
    config = resolve_paths(config)
    run_dir = Path(config.run.out)
    if RunDir(run_dir).is_pack:
        raise ConfigError(
            f"config 'run.out' = {str(run_dir)!r} holds a pack of a run's logs (kept results); use another --out"
        )
    if RunDir(run_dir).holds_run():
        raise ConfigError(
            f"config 'run.out' = {str(run_dir)!r} already holds a run; use 'ecosim resume {run_dir}' or another --out"
        )
    check_writable(run_dir, "the run directory")  # before an hour of work, not at its first write
    if run_dir.is_dir():  # another process starting or running here: fail before anything is touched
        with run_lock(run_dir):
            pass
    emit = _emitter(progress)
    prepared = prepare_data(config)  # bad dataset → error before anything is written
    config = _recorded_test_subset(config, prepared[0])
    check_before_work(config, *prepared)
    config = _clamp_resources(config)
    _start_ray(config)  # a task needing more than the cluster has: an error before the folder exists
    layout = RunDir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"config 'run.out' = {str(run_dir)!r} cannot be used as a run directory: {exc.strerror or exc}"
        ) from exc
    with run_lock(run_dir):  # held from here to the end: nothing below runs beside another process
        if layout.holds_run():  # another process completed a generation here meanwhile
            raise ConfigError(
                f"config 'run.out' = {str(run_dir)!r} already holds a run; use 'ecosim resume {run_dir}' or another "
                "--out"
            )
        for stale in (
            layout.generations,
            layout.networks,
            layout.checkpoints,
        ):  # a first generation that never finished
            shutil.rmtree(stale, ignore_errors=True)
        for session in layout.sessions.glob("session-*.parquet"):  # its start: this one replaces it
            session.unlink()
        atomic_write(layout.config, config.to_toml())
        emit(f"run directory: {run_dir}")  # once it exists (a run failing before names no folder)
        _record_session(run_dir, "run", 0)
        return _execute(config, run_dir, False, reporters, prepared, emit)


def resume(
    run_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    reporters: Sequence[Any] = (),
    progress: Progress | None = None,
) -> RunResult:
    """Continue a run from its last complete generation; the Python form of ``ecosim resume``.

    Works from any directory: the stored paths are absolute. The data folder is the override
    ``data.data_root`` if given, else the stored one, else ``$ECOSIM_DATA`` when the stored
    folder no longer exists (with a warning); the folder used is stored.

    Args:
        run_dir: a run directory with ``config.toml`` and a checkpoint.
        overrides: ``{"section.key": value}`` among :data:`RESUMABLE_KEYS`, e.g.
            ``{"run.generations": 200}`` to extend a run, ``{"data.data_root": ...}``,
            ``{"run.address": ...}``. Keys that change what is computed (dataset, sizes,
            seed, ...) are refused: start a new run for those.
        reporters, progress: as for :func:`run`.

    A log file that cannot be read (truncated, overwritten) is set aside into ``RUN_DIR/damaged/``
    with a warning (:func:`ecosim.store.logs.set_aside_damaged_logs`), so that the log reads again;
    a damaged checkpoint falls back to the previous one (:func:`ecosim.store.checkpoint.load_checkpoint`).

    Raises:
        CheckpointError: no config or no complete checkpoint in ``run_dir``, or another process
            is running it (:func:`ecosim.store.lock.run_lock`).
        ConfigError: an override outside :data:`RESUMABLE_KEYS`, fewer generations than
            already complete, or a ``config.toml`` whose keys outside :data:`RESUMABLE_KEYS` were
            edited since the checkpoint was written (one line naming each key, both values).
        DatasetError: the data is not where the run finds it (one line naming the folder used,
            whether it is the stored one, and ``--data-root`` / ``$ECOSIM_DATA``).
    """
    run_dir = _absolute(run_dir)
    RunDir(run_dir).require()
    if RunDir(run_dir).is_pack:
        raise CheckpointError(
            f"run directory {str(run_dir)!r} is a pack of a run's logs (ecosim.store.archive): it holds no checkpoint; "
            "resume the run directory it was packed from"
        )
    with run_lock(run_dir):  # held to the end: another process resuming it is refused before anything is touched
        return _resume_locked(run_dir, overrides, reporters, progress)


def _resume_locked(
    run_dir: Path, overrides: dict[str, Any] | None, reporters: Sequence[Any], progress: Progress | None
) -> RunResult:
    """:func:`resume` once its run lock is held (checks, data, Ray, then the generations)."""
    cfg_path = RunDir(run_dir).config
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
    latest = intact_checkpoint_generation(run_dir)  # looks past a damaged LATEST or checkpoint
    if latest is None:
        raise CheckpointError(f"run directory {str(run_dir)!r} has no intact checkpoint to resume from")
    done = latest + 1
    asked = (overrides or {}).get("run.generations")
    if isinstance(asked, int) and asked < done:  # before validation's "≥ 1", which would hide why
        _too_few_generations(asked, done)
    stored = load_config(cfg_path, run_config=True)
    config = _resume_paths(stored.with_overrides(overrides or {}), run_dir, overrides or {})
    edits = edited_settings(checkpoint_settings(run_dir, latest), stored)
    if edits:  # config.toml edited by hand: the rest of the run would compute something else than its start
        raise ConfigError(
            f"config {str(cfg_path)!r} was edited after generation {latest} was computed: {'; '.join(edits)}; "
            "put the old value back, or start a new run (resume changes only what `ecosim resume --help` lists)"
        )
    set_aside_damaged_logs(run_dir, latest)  # a damaged log file would break every later read of the log (warns)
    if config.run.generations < done:  # a stored total below the checkpoint (config.toml edited)
        _too_few_generations(config.run.generations, done)
    spent = logged_train_macs(run_dir, latest) if config.run.train_macs > 0 else 0.0
    if config.run.generations == done or spent >= config.run.train_macs > 0:
        if config.run.generations == done:
            log.warning("run %s already has all %d generations; nothing to do", run_dir, done)
        else:
            log.warning(
                "run %s already spent its compute budget (%.3g of run.train_macs = %.3g training "
                "multiply-accumulates); nothing to do: give a larger --train-macs, or 0 for none",
                run_dir,
                spent,
                config.run.train_macs,
            )
        best = _best_on_disk(run_dir)
        return RunResult(run_dir, best.get("fitness"), best.get("id"))
    emit = _emitter(progress)
    try:
        prepared = prepare_data(config)
    except DataNotFoundError as exc:
        raise _resume_data_error(exc, run_dir, stored.data.data_root, overrides or {}) from None
    config = _clamp_resources(config)
    _start_ray(config)
    emit(f"run directory: {run_dir} (resuming after generation {latest})")  # as run's: data read, Ray up
    if config != stored:
        atomic_write(RunDir(run_dir).config, config.to_toml())
    _record_session(run_dir, "resume", done)
    return _execute(config, run_dir, True, reporters, prepared, emit)


def _record_session(run_dir: Path, command: str, generation: int) -> None:
    """Append this start or resume to the run's sessions log (:data:`ecosim.store.logs.SESSION_SCHEMA`):
    the Ray cluster it computes on, the driver's CPU and the versions, so that results say what made
    them. ``generation``: the first generation this session computes. Ray is up (:func:`_start_ray`)."""
    import ray

    from ecosim.engine.cluster import cluster_facts

    row = {"time": time.time(), "command": command, "generation": generation}
    facts = host_facts(cache_root(None))  # torch's kernel level from the cache: no torch import here
    LogWriter(run_dir).write_session({**row, **cluster_facts(ray.nodes()), **facts})


def _too_few_generations(asked: int, done: int) -> NoReturn:
    """Refuse a resume total below the generations already complete (one line, the parameter named)."""
    raise ConfigError(
        f"config 'run.generations' = {asked} is invalid: must be ≥ the {done} generations already complete "
        "(it is the new total, not the generations to add)"
    )


def _resume_paths(config: Config, run_dir: Path, overrides: dict[str, Any]) -> Config:
    """Absolute ``run.out`` (where the run is now) and the data root by the resume precedence."""
    changes: dict[str, Any] = {"run.out": str(run_dir)}
    root = config.data.data_root
    if "data.data_root" in overrides:
        changes["data.data_root"] = str(_absolute(root)) if root else ""
    elif root and not Path(root).is_dir() and os.environ.get(DATA_ENV_VAR):
        env_root = str(_absolute(os.environ[DATA_ENV_VAR]))
        log.warning("stored data root %s does not exist; using $%s = %s", root, DATA_ENV_VAR, env_root)
        changes["data.data_root"] = env_root
    elif root and not Path(root).is_absolute():  # a run directory from before paths were stored absolute
        changes["data.data_root"] = str(_absolute(root))
    return config.with_overrides(changes)


def _resume_data_error(
    exc: DataNotFoundError, run_dir: Path, stored_root: str, overrides: dict[str, Any]
) -> DatasetError:
    """The data of a resumed run is missing: one line naming the folder used, where it came from, and the fix."""
    stored_gone = not stored_root or not Path(stored_root).is_dir()  # only then does resume read $ECOSIM_DATA
    env_set = bool(os.environ.get(DATA_ENV_VAR, "").strip())
    if "data.data_root" in overrides:
        source = "the data root given with --data-root"
    elif stored_root and stored_gone and env_set:
        source = f"${DATA_ENV_VAR}, as the stored data root {stored_root} no longer exists"
    elif stored_root:
        source = f"the stored data root (data.data_root in {RunDir(run_dir).config})" + (
            ", which no longer exists" if stored_gone else ""
        )
    else:
        source = f"{'$' + DATA_ENV_VAR if env_set else 'the dataset cache'} (the run stored no data root)"
    env = f" (or set {DATA_ENV_VAR}=DIR)" if stored_gone else ""
    online = "; or connect this machine to the internet" if exc.downloaded else ""
    where = "could not be downloaded into" if exc.downloaded else "is not in"
    return DatasetError(
        f"dataset {exc.dataset!r} {where} {exc.folder}, {source} ({exc.reason}): continue with "
        f"'ecosim resume {run_dir} --data-root DIR'{env}, DIR laid out as {exc.layout}{online}"
    )


def _best_on_disk(run_dir: Path) -> dict[str, Any]:
    from ecosim.store.checkpoint import load_checkpoint

    best = load_checkpoint(run_dir)["coordinator"].get("best", {})
    return best if best.get("id") is not None else {}


__all__ = [
    "RESUMABLE_KEYS",
    "RunResult",
    "default_run_dir",
    "resolve_paths",
    "resume",
    "run",
]
