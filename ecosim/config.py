"""Run configuration: typed frozen sections, TOML in and out, every value checked before work starts.

One section per concern. Unknown keys are errors; CLI overrides are applied on top of a file;
the resolved config written to a run directory (``config.toml``) is itself a valid config.
Defaults are the paper's (§IV): 8 initial / 16 maximum species, 64 initial / 111 maximum
networks, N(0, 0.1) weights, batch 128, a random 10% training subset, Adadelta, 100 generations.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

from ecosim.errors import ConfigError
from ecosim.genome.mutation import MutationParams
from ecosim.phenotype.records import TrainingParams
from ecosim.phenotype.registry import ACTIVATIONS, CONV_MODES, OPTIMISERS

MODES = ("sync", "async")


@dataclass(frozen=True)
class RunConfig:
    """Run-level settings.

    Args:
        seed: run seed (≥ 0); every random stream derives from it.
        generations: generations to run (≥ 1; paper: 100).
        mode: ``"sync"`` (generation barrier, bit-reproducible) or ``"async"`` (species advance on their own).
        out: run directory; ``""`` picks ``runs/<dataset>-seed<seed>-<timestamp>``.
        address: Ray cluster address (``""`` starts local Ray).
        dashboard: start Ray's dashboard (local Ray only; listens on ``dashboard_host``).
        dashboard_host: dashboard interface (default 127.0.0.1).
        checkpoint_keep: complete checkpoints kept on disk (≥ 1).
    """

    seed: int = 0
    generations: int = 100
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
        data_root: folder with the data; ``""`` uses ``$ECOSIM_DATA`` then torchvision's download.
        validation_fraction: 0 → fitness is test accuracy (paper); in (0, 1) → fitness on a held-out
            part of the training set, test accuracy reported separately.
        test_subset: evaluate on the first N test (or validation) images; 0 = all (paper).
    """

    dataset: str = "mnist"
    data_root: str = ""
    validation_fraction: float = 0.0
    test_subset: int = 0


@dataclass(frozen=True)
class EcosystemConfig:
    """Ecosystem sizes and speciation (paper §III-A, §III-G, §IV).

    Args:
        population: initial number of networks (64).
        max_population: ecosystem size limit enforced by culling (111).
        speciation: group networks by species key (§III).
        species: initial species with speciation (8).
        max_species: hard species limit (16).
        offspring: new networks per generation (default 32, half the initial population).
        crossover_rate: probability that an offspring comes from crossover rather than mutation
            (with speciation, within the species; without, a pair then mates with probability eq. 7).
    """

    population: int = 64
    max_population: int = 111
    speciation: bool = True
    species: int = 8
    max_species: int = 16
    offspring: int = 32
    crossover_rate: float = 0.5


#: The ``[mutation]`` section is the operators' own settings (paper §III-D, §III-E, §IV):
#: ``init_std`` (0.1), ``function_preserving`` (off: paper), ``new_layer_min_nodes`` (8),
#: ``new_layer_max_nodes`` (64).
MutationConfig = MutationParams


#: The ``[training]`` section is the phenotype's own training settings (paper §III-B, §IV):
#: see :class:`ecosim.phenotype.records.TrainingParams`.
TrainingConfig = TrainingParams


@dataclass(frozen=True)
class ResourcesConfig:
    """Ray resources of each training task.

    Args:
        cpus_per_task: CPUs per task (also torch threads in the task).
        gpus_per_task: fraction of a GPU per task (e.g. 0.25 → four networks share one GPU).
        max_retries: retries of a task lost with its worker.
        task_timeout: seconds before a task is cancelled and recorded as an error (0 = none).
        num_cpus: CPUs of a local Ray instance (0 = all).
    """

    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 2
    task_timeout: float = 0.0
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
    mutation: MutationConfig = field(default_factory=MutationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    def __post_init__(self) -> None:
        validate_config(self)

    # ---- conversion ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain dict (TOML tables)."""
        return {f.name: dataclasses.asdict(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Config":
        """Build from nested tables; unknown sections or keys raise :class:`ConfigError`."""
        sections: dict[str, Any] = {}
        types = {f.name: f.default_factory for f in fields(cls)}  # type: ignore[misc]
        for name, table in data.items():
            if name not in types:
                raise ConfigError(f"unknown config section [{name}]; valid sections: {', '.join(types)}")
            if not isinstance(table, Mapping):
                raise ConfigError(f"config section [{name}] must be a table, got {type(table).__name__}")
            sections[name] = _build_section(name, types[name](), table)  # type: ignore[operator]
        return cls(**sections)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Config":
        """A copy with ``{"section.key": value}`` overrides applied (unknown keys raise)."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            if "." not in dotted:
                raise ConfigError(f"override {dotted!r} must be 'section.key'")
            section, key = dotted.split(".", 1)
            if section not in data or key not in data[section]:
                raise ConfigError(f"unknown config key {dotted!r}")
            data[section][key] = value
        return Config.from_dict(data)

    def to_toml(self) -> str:
        """TOML text that :func:`load_config` reads back to an equal config."""
        return tomli_w.dumps(self.to_dict())


def _build_section(name: str, default: Any, table: Mapping[str, Any]) -> Any:
    valid = {f.name: f for f in fields(default)}
    kwargs = {}
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"unknown config key '{name}.{key}'; valid keys: {', '.join(valid)}")
        expected = type(getattr(default, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"config '{name}.{key}' must be {expected.__name__}, got {value!r} ({type(value).__name__})"
            )
        kwargs[key] = value
    return dataclasses.replace(default, **kwargs)


def _require(cond: bool, key: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"config '{key}' = {value!r} is invalid: must be {allowed}")


def validate_config(cfg: Config) -> None:
    """Check every value; raise :class:`ConfigError` naming the first bad parameter.

    Raises:
        ConfigError: negative sizes, limits below initial counts, fractions outside their
            range, unknown optimiser/activation/mode.
    """
    r, d, e, m, t, res = cfg.run, cfg.data, cfg.ecosystem, cfg.mutation, cfg.training, cfg.resources
    _require(r.seed >= 0, "run.seed", r.seed, "≥ 0")
    _require(r.generations >= 1, "run.generations", r.generations, "≥ 1")
    _require(r.mode in MODES, "run.mode", r.mode, f"one of {', '.join(MODES)}")
    _require(r.checkpoint_keep >= 1, "run.checkpoint_keep", r.checkpoint_keep, "≥ 1")
    _require(bool(d.dataset), "data.dataset", d.dataset, "a dataset name or folder")
    _require(0.0 <= d.validation_fraction < 1.0, "data.validation_fraction", d.validation_fraction, "in [0, 1)")
    _require(d.test_subset >= 0, "data.test_subset", d.test_subset, "≥ 0")
    _require(e.population >= 1, "ecosystem.population", e.population, "≥ 1")
    _require(
        e.max_population >= e.population,
        "ecosystem.max_population",
        e.max_population,
        f"≥ ecosystem.population ({e.population})",
    )
    _require(e.species >= 1, "ecosystem.species", e.species, "≥ 1")
    if e.speciation:
        _require(
            e.species <= e.population,
            "ecosystem.species",
            e.species,
            f"≤ ecosystem.population ({e.population})",
        )
        _require(
            e.max_species >= e.species, "ecosystem.max_species", e.max_species, f"≥ ecosystem.species ({e.species})"
        )
    _require(e.offspring >= 0, "ecosystem.offspring", e.offspring, "≥ 0")
    champions = e.max_species if e.speciation else 1
    _require(
        e.offspring + champions <= e.max_population,
        "ecosystem.offspring",
        e.offspring,
        f"≤ ecosystem.max_population − {'ecosystem.max_species' if e.speciation else '1'} "
        f"({e.max_population - champions}): offspring and champions always survive culling",
    )
    _require(0.0 <= e.crossover_rate <= 1.0, "ecosystem.crossover_rate", e.crossover_rate, "in [0, 1]")
    _require(m.init_std > 0, "mutation.init_std", m.init_std, "> 0")
    _require(m.new_layer_min_nodes >= 1, "mutation.new_layer_min_nodes", m.new_layer_min_nodes, "≥ 1")
    _require(
        m.new_layer_max_nodes >= m.new_layer_min_nodes,
        "mutation.new_layer_max_nodes",
        m.new_layer_max_nodes,
        f"≥ mutation.new_layer_min_nodes ({m.new_layer_min_nodes})",
    )
    _require(t.optimiser in OPTIMISERS, "training.optimiser", t.optimiser, f"one of {', '.join(OPTIMISERS)}")
    _require(t.learning_rate >= 0, "training.learning_rate", t.learning_rate, "≥ 0 (0 = optimiser default)")
    _require(t.batch_size >= 1, "training.batch_size", t.batch_size, "≥ 1")
    _require(0.0 < t.train_fraction <= 1.0, "training.train_fraction", t.train_fraction, "in (0, 1]")
    _require(t.epochs >= 1, "training.epochs", t.epochs, "≥ 1")
    _require(t.activation in ACTIVATIONS, "training.activation", t.activation, f"one of {', '.join(ACTIVATIONS)}")
    _require(t.eval_batch_size >= 1, "training.eval_batch_size", t.eval_batch_size, "≥ 1")
    _require(t.conv_mode in CONV_MODES, "training.conv_mode", t.conv_mode, f"one of {', '.join(CONV_MODES)}")
    _require(res.cpus_per_task > 0, "resources.cpus_per_task", res.cpus_per_task, "> 0")
    _require(res.gpus_per_task >= 0, "resources.gpus_per_task", res.gpus_per_task, "≥ 0")
    _require(res.max_retries >= 0, "resources.max_retries", res.max_retries, "≥ 0")
    _require(res.task_timeout >= 0, "resources.task_timeout", res.task_timeout, "≥ 0")
    _require(res.num_cpus >= 0, "resources.num_cpus", res.num_cpus, "≥ 0")


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


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a TOML config (or the defaults when ``path`` is None) and apply overrides.

    Raises:
        ConfigError: missing/unreadable file, TOML syntax error, unknown key or invalid value.
    """
    cfg = Config()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from exc
        cfg = Config.from_dict(data)
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg


__all__ = [
    "ACTIVATIONS",
    "MODES",
    "OPTIMISERS",
    "Config",
    "DataConfig",
    "EcosystemConfig",
    "MutationConfig",
    "ResourcesConfig",
    "RunConfig",
    "TrainingConfig",
    "load_config",
    "parse_overrides",
    "validate_config",
]
