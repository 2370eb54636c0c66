"""Run configuration: typed frozen sections, TOML in and out, every value checked before work starts.

One section per concern. Unknown keys are errors; CLI overrides are applied on top of a file;
the resolved config written to a run directory (``config.toml``) is itself a valid config.
Defaults are the paper's (§IV): 8 initial / 16 maximum species, 64 initial / 111 maximum
networks, N(0, 0.1) weights, batch 128, a random 10% training subset, Adadelta, 100 generations.
Ecosystem sizes left unset are derived from those set, by the rules of :class:`EcosystemConfig`,
so a smaller (or larger) ecosystem needs only ``population``; only a value that was set can be
reported invalid. :func:`ecosim.config_fields.config_fields` describes every key (type, default,
help, choices): the command line's options are generated from it. The ``[ecosystem]`` section, its
size rules and checks live in :mod:`ecosim.config_ecosystem`; its public names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

from ecosim.config_ecosystem import (
    AUTO,
    COMPLEXITY_FAVOURS,
    COMPLEXITY_MEASURES,
    DERIVED_SIZES,
    PAPER_MAX_POPULATION,
    PAPER_POPULATION,
    PAPER_SPECIES,
    SPECIES_ALLOCATIONS,
    EcosystemConfig,
    _check_layers_spec,
    _require,
)
from ecosim.errors import ConfigError
from ecosim.genome.mutation_params import RESIZE_DIMENSIONS, MutationParams
from ecosim.phenotype.records import TrainingParams
from ecosim.phenotype.registry import ACTIVATIONS, CONV_MODES, EVAL_SPLITS, MEMORY_FORMATS, OPTIMISERS

MODES = ("sync", "async")

#: config key → its valid values (the CLI offers them as choices)
CHOICES: dict[str, tuple[str, ...]] = {
    "run.mode": MODES,
    "training.optimiser": tuple(OPTIMISERS),
    "training.activation": tuple(ACTIVATIONS),
    "training.conv_mode": tuple(CONV_MODES),
    "training.memory_format": tuple(MEMORY_FORMATS),
    "training.eval_split": tuple(EVAL_SPLITS),
    "ecosystem.species_allocation": SPECIES_ALLOCATIONS,
    "mutation.resize_dimension": RESIZE_DIMENSIONS,
    "ecosystem.complexity": COMPLEXITY_MEASURES,
    "ecosystem.complexity_favours": COMPLEXITY_FAVOURS,
}


@dataclass(frozen=True)
class RunConfig:
    """Run-level settings.

    Args:
        seed: run seed (≥ 0); every random stream derives from it.
        generations: generations to run (≥ 1; paper: 100).
        train_macs: compute budget in training multiply-accumulates (3 × forward MACs × training
            images, summed over the networks trained: the generations log's train_macs); the run
            stops after the first generation that brings the total to it, so that set-ups of
            different cost compare at equal compute (issue 17). 0 = no budget;
            run.generations still bounds the run.
        mode: ``"sync"`` (generation barrier, bit-reproducible) or ``"async"`` (species advance on their own).
        out: run directory; ``""`` picks ``runs/<dataset>-seed<seed>-<timestamp>`` (stored absolute).
        address: Ray cluster address (``""`` starts local Ray).
        dashboard: start Ray's dashboard (local Ray only; listens on ``dashboard_host``).
        dashboard_host: dashboard interface (default 127.0.0.1).
        checkpoint_keep: complete checkpoints kept on disk (≥ 1).
    """

    seed: int = 0
    generations: int = 100
    train_macs: float = 0.0
    mode: str = "sync"
    out: str = ""
    address: str = ""
    dashboard: bool = False
    dashboard_host: str = "127.0.0.1"
    checkpoint_keep: int = 2


@dataclass(frozen=True)
class DataConfig:
    """Dataset settings (paper §IV-A).

    Args:
        dataset: ``mnist``, ``fashion-mnist``, ``svhn``, ``cifar10``, ``emnist`` or an ImageFolder path.
        data_root: folder with the data; ``""`` uses ``$ECOSIM_DATA``, else the dataset cache
            (``$ECOSIM_CACHE``, default ``~/.cache/ecosim``; torchvision downloads into it).
            The folder used is stored absolute.
        validation_fraction: 0 → fitness is test accuracy (paper); in (0, 1) → fitness on a held-out
            part of the training set, test accuracy reported separately.
        test_subset: evaluate on N test (or validation) images, a fixed random subset (the same
            for every run); 0 = all (paper). More
            than there are warns and uses all.
    """

    dataset: str = "mnist"
    data_root: str = ""
    validation_fraction: float = 0.0
    test_subset: int = 0


@dataclass(frozen=True)
class ResourcesConfig:
    """Ray resources of each training task.

    Args:
        cpus_per_task: CPUs per task (also torch threads in the task).
        gpus_per_task: fraction of a GPU per task (e.g. 0.25 → four networks share one GPU).
        max_retries: retries of a task lost with its worker or node; also how often a species
            whose actor was lost is re-created and its step redone within one generation.
        task_timeout: seconds before a task is cancelled and recorded as an error (0 = none).
        resource_timeout: seconds the run waits, once the Ray cluster has no node left that can
            run a training task (nodes lost), for one to come back before it stops with a
            resumable state (0 = stop at once).
        stall_timeout: seconds without a training task starting or finishing, while tasks wait
            to start, before the run warns (naming what waits and what the Ray cluster reports);
            after as long again it stops as a resumable stop (exit status 75; ``ecosim resume``
            continues). −1 (default): 10 × the longest task so far (running ones included), at
            least 300 s; 0: no watchdog.
        num_cpus: CPUs of a local Ray instance (0 = all); more than the machine's cores warns and
            uses the cores; ignored with ``run.address``.
    """

    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 2
    task_timeout: float = 0.0
    resource_timeout: float = 60.0
    stall_timeout: float = -1.0
    num_cpus: int = 0


@dataclass(frozen=True)
class Config:
    """The whole configuration; sections mirror the TOML tables ``[run]``, ``[data]``, ...

    >>> cfg = Config()
    >>> cfg.ecosystem.max_population
    111
    """

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    ecosystem: EcosystemConfig = field(default_factory=EcosystemConfig)
    mutation: MutationParams = field(default_factory=MutationParams)  # the operators' own settings
    training: TrainingParams = field(default_factory=TrainingParams)  # the phenotype's own settings
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    def __post_init__(self) -> None:
        validate_config(self)

    # ---- conversion ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain dict (TOML tables)."""
        return {f.name: dataclasses.asdict(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build from nested tables; unknown sections or keys raise :class:`ConfigError`."""
        sections: dict[str, Any] = {}
        types = {f.name: f.default_factory for f in fields(cls)}  # type: ignore[misc]
        for name, table in data.items():
            if name not in types and not isinstance(table, Mapping):  # `population = 2` above every [section]
                owners = [f"[{sec}]" for sec, keys in cls().to_dict().items() if name in keys]
                where = f"; it belongs in {' or '.join(owners)}" if owners else ""
                raise ConfigError(
                    f"config key '{name}' is outside any section{where}; valid sections: {', '.join(types)}"
                )
            if name not in types:
                raise ConfigError(f"unknown config section [{name}]; valid sections: {', '.join(types)}")
            if not isinstance(table, Mapping):
                raise ConfigError(f"config section [{name}] must be a table, got {type(table).__name__}")
            sections[name] = _build_section(name, types[name](), table)  # type: ignore[operator]
        return cls(**sections)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        """A copy with ``{"section.key": value}`` overrides applied (unknown keys raise).

        Derived ecosystem sizes stay derived (they follow the overridden values); a value of
        ``None`` or ``"auto"`` makes a size derived again.
        """
        data = self.given()
        overrides = {current_key(k): v for k, v in overrides.items()}
        for dotted, value in overrides.items():
            if "." not in dotted:
                raise ConfigError(f"override {dotted!r} must be 'section.key'")
            section, key = dotted.split(".", 1)
            if section not in data:
                raise ConfigError(f"unknown config key {dotted!r}; valid sections: {', '.join(data)}")
            if key not in _field_names(section):
                raise ConfigError(f"unknown config key {dotted!r}; valid keys: {', '.join(_field_names(section))}")
            if value is None or (value == "auto" and key in DERIVED_SIZES and section == "ecosystem"):
                data[section].pop(key, None)
            else:
                data[section][key] = value
        return Config.from_dict(data)

    def given(self) -> dict[str, dict[str, Any]]:
        """Like :meth:`to_dict`, without the derived ecosystem sizes (see :class:`EcosystemConfig`)."""
        data = self.to_dict()
        data["ecosystem"] = self.ecosystem.given()
        return data

    def to_toml(self) -> str:
        """TOML text that :func:`load_config` reads back to an equal config."""
        return tomli_w.dumps(self.to_dict())


#: section name → section class, in TOML order
SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(Config)}  # type: ignore[misc]


def _field_names(section: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(SECTIONS[section]))


def _field_type(cls: type, name: str) -> tuple[type, bool]:
    """``(type, derived)`` of a section field; a field whose default is :data:`AUTO` is derived when unset."""
    hint = typing.get_type_hints(cls)[name]
    default = next(f.default for f in fields(cls) if f.name == name)
    return hint, default is AUTO


#: keys renamed since 0.1: ``(section, old) → new``; configs of older runs still load (resume)
RENAMED_KEYS: dict[tuple[str, str], str] = {("mutation", "new_dense_max_nodes"): "new_layer_max_nodes"}


def current_key(dotted: str) -> str:
    """``"section.old"`` → ``"section.new"`` for a key in :data:`RENAMED_KEYS`, else unchanged."""
    section, _, key = dotted.partition(".")
    new = RENAMED_KEYS.get((section, key))
    return f"{section}.{new}" if new else dotted


def _build_section(name: str, default: Any, table: Mapping[str, Any]) -> Any:
    cls = type(default)
    valid = {f.name: f for f in fields(default)}
    kwargs: dict[str, Any] = {}
    for k in table:
        new = RENAMED_KEYS.get((name, k))
        if new is not None and new in table:  # the old name and the new one: which is meant?
            raise ConfigError(f"config keys '{name}.{k}' (the old name) and '{name}.{new}' are both set; keep '{new}'")
    table = {RENAMED_KEYS.get((name, k), k): v for k, v in table.items()}
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"unknown config key '{name}.{key}'; valid keys: {', '.join(valid)}")
        expected, optional = _field_type(cls, key)
        if optional and value == "auto":
            kwargs[key] = None
            continue
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            auto = ' or "auto"' if optional else ""
            raise ConfigError(
                f"config '{name}.{key}' must be {expected.__name__}{auto}, got {value!r} ({type(value).__name__})"
            )
        kwargs[key] = value
    return cls(**kwargs)


def validate_config(cfg: Config) -> None:
    """Check every value; raise :class:`ConfigError` naming the first bad parameter.

    The ecosystem sizes are checked (and derived) when :class:`EcosystemConfig` is built.

    Raises:
        ConfigError: negative values, fractions outside their range, a value outside its
            :data:`CHOICES` (optimiser, activation, mode, conv mode), ``ecosystem.initial_layers``
            that cannot be parsed.
    """
    r, d, res = cfg.run, cfg.data, cfg.resources
    _require(r.seed >= 0, "run.seed", r.seed, "≥ 0")
    _require(r.generations >= 1, "run.generations", r.generations, "≥ 1")
    _require(
        math.isfinite(r.train_macs) and r.train_macs >= 0,
        "run.train_macs",
        r.train_macs,
        "finite and ≥ 0 (0 = no budget)",
    )
    _require(r.checkpoint_keep >= 1, "run.checkpoint_keep", r.checkpoint_keep, "≥ 1")
    _require(bool(d.dataset), "data.dataset", d.dataset, "a dataset name or folder")
    _require(0.0 <= d.validation_fraction < 1.0, "data.validation_fraction", d.validation_fraction, "in [0, 1)")
    _require(d.test_subset >= 0, "data.test_subset", d.test_subset, "≥ 0")
    # [mutation] and [training] check themselves when built (their __post_init__), the ecosystem
    # sizes when EcosystemConfig is; the initial layers need the [mutation] section
    if cfg.ecosystem.initial_layers:
        _check_layers_spec(cfg.ecosystem.initial_layers, cfg.mutation)
    for key, choices in CHOICES.items():
        section, name = key.split(".")
        if section in ("mutation", "training"):
            continue
        value = getattr(getattr(cfg, section), name)
        _require(value in choices, key, value, f"one of {', '.join(choices)}")
    _require(0 < res.cpus_per_task < math.inf, "resources.cpus_per_task", res.cpus_per_task, "a finite number > 0")
    _require(0 <= res.gpus_per_task < math.inf, "resources.gpus_per_task", res.gpus_per_task, "a finite number ≥ 0")
    _require(res.max_retries >= 0, "resources.max_retries", res.max_retries, "≥ 0")
    _require(
        0 <= res.task_timeout < math.inf, "resources.task_timeout", res.task_timeout, "a finite number ≥ 0 (0 = none)"
    )
    _require(
        0 <= res.resource_timeout < math.inf, "resources.resource_timeout", res.resource_timeout, "a finite number ≥ 0"
    )
    _require(
        0 <= res.stall_timeout < math.inf or res.stall_timeout == -1,
        "resources.stall_timeout",
        res.stall_timeout,
        "a finite number ≥ 0 (0 = off) or -1 (derived from the task durations)",
    )
    _require(res.num_cpus >= 0, "resources.num_cpus", res.num_cpus, "≥ 0")


#: keys ``resume`` may change: they alter where and how a run executes, not what it computes
RESUMABLE_KEYS = frozenset(
    {"run.generations", "run.train_macs", "run.address", "run.dashboard", "run.dashboard_host", "run.checkpoint_keep"}
    | {
        f"resources.{k}"
        for k in (
            "cpus_per_task",
            "gpus_per_task",
            "max_retries",
            "task_timeout",
            "resource_timeout",
            "stall_timeout",
            "num_cpus",
        )
    }
    | {"data.data_root"}
)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["section.key=value", ...]`` (the CLI's ``--set``) → ``{"section.key": value}``.

    Values are read as TOML (``5``, ``true``, ``"x"``, ``0.1``); anything else is kept as a string.

    Raises:
        ConfigError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


#: Defaults that changed since runs were written: ``(section, key) → the value older runs used``.
#: A stored run config (``RUN_DIR/config.toml``) without the key keeps that value, so ``ecosim
#: resume`` continues an older run as it started (0.3: ``resize_dimension`` became the paper's
#: uniform rule, issue 17).
CHANGED_DEFAULTS: dict[tuple[str, str], Any] = {("mutation", "resize_dimension"): "eq1"}


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None, *, run_config: bool = False
) -> Config:
    """Read a TOML config (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: a TOML file, or ``None`` for the defaults.
        overrides: ``{"section.key": value}`` applied last.
        run_config: ``path`` is a run's stored ``config.toml``: keys it lacks whose default has
            changed since (:data:`CHANGED_DEFAULTS`) take the value the run was written with.

    Raises:
        ConfigError: missing/unreadable file, TOML syntax error, unknown key or invalid value.
    """
    cfg = Config()
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"config file {str(p)!r} is a folder, not a TOML file")
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from exc
        if run_config:
            for (section, key), old in CHANGED_DEFAULTS.items():
                table = data.setdefault(section, {})
                if isinstance(table, dict):
                    table.setdefault(key, old)
        cfg = Config.from_dict(data)
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg


__all__ = [
    "ACTIVATIONS",
    "CHOICES",
    "CONV_MODES",
    "AUTO",
    "CHANGED_DEFAULTS",
    "COMPLEXITY_FAVOURS",
    "COMPLEXITY_MEASURES",
    "DERIVED_SIZES",
    "PAPER_MAX_POPULATION",
    "PAPER_POPULATION",
    "PAPER_SPECIES",
    "RESUMABLE_KEYS",
    "SECTIONS",
    "SPECIES_ALLOCATIONS",
    "current_key",
    "MODES",
    "OPTIMISERS",
    "Config",
    "DataConfig",
    "EcosystemConfig",
    "ResourcesConfig",
    "RunConfig",
    "load_config",
    "parse_overrides",
    "validate_config",
]
