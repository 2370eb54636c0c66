"""The ``[ecosystem]`` section of the run configuration: sizes, speciation, culling and settling levers.

:class:`EcosystemConfig` (paper §III-A, §III-G, §IV) with the rules that derive the sizes left unset
(:data:`AUTO`, :data:`DERIVED_SIZES`) from those set, the checks of its values, the valid values of its
string keys (:data:`SPECIES_ALLOCATIONS`, :data:`COMPLEXITY_MEASURES`, :data:`COMPLEXITY_FAVOURS`)
and the check of ``ecosystem.initial_layers`` that :func:`ecosim.config.validate_config` runs.
:mod:`ecosim.config` re-exports every public name here and assembles the sections; this module never
imports it. Pure Python: no torch, no Ray (``initial_layers`` is parsed by the numpy genome code,
imported on first use).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecosim.errors import ConfigError

if TYPE_CHECKING:
    from ecosim.genome.mutation_params import MutationParams


#: ecosystem.species_allocation: how offspring are split over species (see EcosystemConfig)
SPECIES_ALLOCATIONS = ("relative_fitness", "mean_fitness")

#: ecosystem.complexity: what eq. 9's relative complexity measures (see EcosystemConfig)
COMPLEXITY_MEASURES = ("parameters", "macs")

#: ecosystem.complexity_favours: which of two equally fit, equally old networks eq. 9 culls less
COMPLEXITY_FAVOURS = ("smaller", "larger")


#: The paper's ecosystem (§IV): 64 initial networks, at most 111; 8 initial species, at most 16;
#: ecosim's default of 32 offspring per generation (half the initial population).
PAPER_POPULATION, PAPER_MAX_POPULATION, PAPER_SPECIES = 64, 111, 8

#: ecosystem sizes that are derived from the others when left unset (see :class:`EcosystemConfig`)
DERIVED_SIZES = ("max_population", "species", "max_species", "offspring")

#: the default of a size derived from the others: ``None`` until the section is built, a number
#: afterwards (typed ``Any`` so that the fields read as the ``int`` they are once built)
AUTO: Any = None


@dataclass(frozen=True)
class EcosystemConfig:
    """Ecosystem sizes and speciation (paper §III-A, §III-G, §IV).

    Args:
        population: initial number of networks (≥ 1; paper: 64).
        max_population: ecosystem size limit enforced by culling (paper: 111). Unset: the paper's
            ratio ⌈population × 111/64⌉, raised to offspring + max_species so that offspring and
            species champions always survive culling.
        speciation: group networks by species key (§III).
        species: initial species with speciation (paper: 8). Unset: min(8, population,
            max_species, max_population − offspring) with the offspring set (else 1), at least 1;
            1 with ``offspring = 0`` (a baseline: set, it must be 1).
        max_species: hard species limit (≥ species; paper: 16). Unset: 2 × species (with
            max_population set: at most max_population − offspring, at least species); with
            ``offspring = 0``, species.
        offspring: new networks per generation (≥ 1; 0 only with ``initial_layers``: a baseline). Unset: ⌈population /
        2⌉ (32 for 64; with
            max_population set: at most max_population − max_species, at least 1).
        crossover_rate: probability that an offspring comes from crossover rather than mutation
            (with speciation, within the species; without, a pair then mates with probability eq. 7).
        species_allocation: how a generation's offspring are split over species (largest
            remainder, in proportion to a weight per species): ``"relative_fitness"``, eq. 2
            applied across the species' mean fitness (a species one standard deviation above
            the mean weighs g(1) ≈ 0.73, one below g(−1) ≈ 0.27), or ``"mean_fitness"``, the
            mean fitness itself (near-uniform: 0.96 vs 0.90). The paper does not say;
            see ``docs/design.md``.
        species_stagnation: generations without a rise of a species' best fitness after which
            the species goes extinct (every network removed, its slot under ``max_species``
            freed), as in NEAT; the species with the highest best fitness never does. 0
            (default, the paper): species never die, so once ``max_species`` species exist no
            offspring that changes the genome can found one.
        protect_new_structure: generations during which an offspring of a structural mutation
            (a layer or a node added or removed) is not culled after its first training, so new
            structure gets K trainings before eq. 9 judges it (an issue-17 lever beyond the paper,
            where protection ends at the first training). When the protected networks alone would
            exceed ``max_population``, the oldest protections lapse first. 0 (default): the paper.
        protect_removals: whether ``protect_new_structure`` also protects an offspring of a layer or
            node *removal* (default on, the behaviour since 0.4). Off (``--no-protect-removals``,
            needs ``protect_new_structure``) protects only
            added layers and nodes: a removal builds nothing new to learn, starts far below its
            parent (issue 17 logs: −38 points before BP for a removed layer) and rarely recovers,
            so its protected trainings are compute the search spends on dead ends.
        complexity: what eq. 9's relative complexity ``c_r`` measures (undefined in the paper):
            ``"parameters"`` (default) or ``"macs"``, the forward multiply-accumulates per image,
            so that culling weighs what a network costs to train rather than its size (a conv
            layer at stride 1 has few parameters and many multiply-accumulates).
        complexity_favours: which of two equally fit, equally old networks eq. 9 culls less.
            ``"smaller"`` (default, PyCortex's code: ``c_r = g(−z)`` of the complexity, so the
            larger network has the larger culling weight ``age / (f_r · c_r)``) or ``"larger"``
            (eq. 9 read as its text reads, ``c_r = g(+z)`` like ``f_r``, and as PyCortex's comment
            says: "old, unfit and simple networks are more likely to be eliminated"). An issue-17
            lever: under the default, selection kept the networks far below a cost cap.
        settle: fraction of the run after which reproduction stops and the networks only train
            (search, then train: an issue-17 lever beyond the paper). The fraction is of
            ``run.train_macs`` when a compute budget is set, else of ``run.generations``; the
            first generation that starts past it makes no offspring, and so does every later one
            (a resume that extends a settled run trains longer, it does not search again); in
            [0, 1), 0 (default): the paper, reproduction never stops. The switch is an ``info:``
            line.
        settle_keep: with ``settle``, how many of the fittest networks train on after the settle
            point (the others are culled there, so the rest of the budget goes to them; e.g. a
            fixed baseline's population); 0 (default): every network trains on.
        settle_rungs: with ``settle_keep``, successive halving (Jamieson & Talwalkar, 2016) of
            the networks that train on: the rest of the run after the settle point is split into
            ``settle_rungs`` equal parts (of ``run.train_macs``, else of ``run.generations``), and
            from part r on (0, 1, …) only the ``settle_keep`` / 2^r fittest train on (at least 1),
            so fitness is judged again after longer training, and the last part's few networks
            train longest. 1 (default): the ``settle_keep`` fittest train to the end. An issue-17
            lever: the fittest at the settle point are not always those with capacity to gain.
        settle_lr_decay: with ``settle``, the factor on the learning rate of every training after
            the settle generation, applied once more at each halving (``settle_rungs``): part r
            trains at ``settle_lr_decay``^(r+1) times ``training.learning_rate`` (the
            optimiser's own rate when that is 0). In (0, 1]; 1 (default): the rate never changes
            (the paper). An issue-17 lever: the networks that train on plateau at Adadelta's rate
            of 1.0, their fitness varying by 0.1–0.2 points from one training to the next.
        initial_layers: hidden layers of the genome the initial ecosystem grows from, in the
            notation of the logs' ``layers`` column without the output layer (e.g. ``"C10"``,
            ``"C10[3x3]-F64"``, ``"C10s2-F32"``; kernel shapes not given are drawn by eq. 1);
            ``""`` (default) is the paper's minimal genome (§III-A). With ``offspring = 0`` and
            ``species = max_species = 1`` this is a fixed-architecture baseline: every network
            keeps the given layers and only trains (``experiments/baselines/``).

    The four sizes left unset (:data:`AUTO`, i.e. ``None``; ``"auto"`` in TOML or on the command
    line) follow the others by the rules above, so every ecosystem from one network up is valid and the defaults
    are the paper's (64 / 111 networks, 8 / 16 species, 32 offspring). A value that is set is
    never changed: a conflict between set values is an error naming the value set. Without
    speciation, ``species`` and ``max_species`` are not used and read as 1 in the rules.
    Once built, every size is a number (:attr:`derived` names those computed); the resolved
    numbers are what ``RUN_DIR/config.toml`` stores. ``dataclasses.replace`` passes the derived
    numbers on as if set: use :meth:`Config.with_overrides` to change a size and re-derive.

    >>> e = EcosystemConfig(population=8, max_population=12, species=2, max_species=4)
    >>> e.offspring, sorted(e.derived)
    (4, ['offspring'])
    >>> EcosystemConfig(population=1).max_population
    3
    """

    population: int = PAPER_POPULATION
    max_population: int = AUTO
    speciation: bool = True
    species: int = AUTO
    max_species: int = AUTO
    offspring: int = AUTO
    crossover_rate: float = 0.5
    initial_layers: str = ""
    species_allocation: str = "mean_fitness"
    species_stagnation: int = 0
    protect_new_structure: int = 0
    protect_removals: bool = True
    complexity: str = "parameters"
    complexity_favours: str = "smaller"
    settle: float = 0.0
    settle_keep: int = 0
    settle_rungs: int = 1
    settle_lr_decay: float = 1.0

    def __post_init__(self) -> None:
        derived = frozenset(k for k in DERIVED_SIZES if getattr(self, k) is None)
        _check_ecosystem_values(self)
        for key, value in _derive_sizes(self).items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_derived", derived)
        _check_ecosystem_sizes(self, derived)

    @property
    def derived(self) -> frozenset[str]:
        """Names of the sizes computed by the rules (not set)."""
        return getattr(self, "_derived", frozenset())

    def given(self) -> dict[str, Any]:
        """The values as set: every field except the :attr:`derived` sizes."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.derived}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _derive_sizes(e: EcosystemConfig) -> dict[str, int]:
    """The rules of :class:`EcosystemConfig`: unset sizes from the set ones (checked values)."""
    pop, max_pop = e.population, e.max_population
    species = e.species
    baseline = e.offspring == 0  # nothing evolves: one architecture, so one species
    if species is None and baseline:
        species = 1
    if species is None:
        species = min(PAPER_SPECIES, pop)
        if e.max_species is not None:
            species = min(species, e.max_species)
        if max_pop is not None and e.speciation:
            species = min(species, max_pop - (e.offspring or 1))
        species = max(1, species)
    champions_floor = (e.max_species if e.max_species is not None else species) if e.speciation else 1
    offspring = e.offspring
    if offspring is None:
        offspring = _ceil_div(pop, 2)
        if max_pop is not None:
            offspring = max(1, min(offspring, max_pop - champions_floor))
    max_species = e.max_species
    if max_species is None and baseline:
        max_species = species
    if max_species is None:
        max_species = 2 * species
        if max_pop is not None and e.speciation:
            max_species = max(species, min(max_species, max_pop - offspring))
    if max_pop is None:
        champions = max_species if e.speciation else 1
        max_pop = max(_ceil_div(pop * PAPER_MAX_POPULATION, PAPER_POPULATION), offspring + champions)
    return {"max_population": max_pop, "species": species, "max_species": max_species, "offspring": offspring}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ecosystem_values(e: EcosystemConfig) -> None:
    """Each value that is set, on its own."""
    for key in ("population", *DERIVED_SIZES):
        value = getattr(e, key)
        if value is not None and not _is_int(value):
            raise ConfigError(f"config 'ecosystem.{key}' must be int, got {value!r} ({type(value).__name__})")
    _require(e.population >= 1, "ecosystem.population", e.population, "≥ 1")
    if e.max_population is not None:
        _require(e.max_population >= 1, "ecosystem.max_population", e.max_population, "≥ 1")
    if e.species is not None:
        _require(e.species >= 1, "ecosystem.species", e.species, "≥ 1")
    if e.max_species is not None:
        _require(e.max_species >= 1, "ecosystem.max_species", e.max_species, "≥ 1")
    if e.offspring is not None:
        if e.offspring == 0:  # a fixed-architecture baseline: needs the architecture
            _require(
                bool(e.initial_layers),
                "ecosystem.offspring",
                e.offspring,
                "≥ 1 (0 offspring, i.e. nothing evolves, is a fixed-architecture baseline and needs "
                'ecosystem.initial_layers, e.g. "C10[3x3]"; leave offspring unset to derive it from the population)',
            )
        _require(e.offspring >= 0, "ecosystem.offspring", e.offspring, "≥ 0")
    if not isinstance(e.initial_layers, str):
        raise ConfigError(f"config 'ecosystem.initial_layers' must be str, got {e.initial_layers!r}")
    _require(0.0 <= e.crossover_rate <= 1.0, "ecosystem.crossover_rate", e.crossover_rate, "in [0, 1]")
    _require(e.species_stagnation >= 0, "ecosystem.species_stagnation", e.species_stagnation, "≥ 0 (0 = never)")
    _require(
        e.protect_new_structure >= 0, "ecosystem.protect_new_structure", e.protect_new_structure, "≥ 0 (0 = the paper)"
    )
    _require(
        isinstance(e.settle, (int, float)) and not isinstance(e.settle, bool) and 0.0 <= e.settle < 1.0,
        "ecosystem.settle",
        e.settle,
        "in [0, 1): the fraction of the run after which reproduction stops (0 = never, the paper)",
    )
    _require(e.settle_keep >= 0, "ecosystem.settle_keep", e.settle_keep, "≥ 0 (0 = every network trains on)")
    _require(
        e.settle_keep == 0 or e.settle > 0,
        "ecosystem.settle_keep",
        e.settle_keep,
        "0 unless ecosystem.settle > 0 (it says how many networks train on after the settle point)",
    )
    _require(
        _is_int(e.settle_rungs) and e.settle_rungs >= 1,
        "ecosystem.settle_rungs",
        e.settle_rungs,
        "≥ 1 (1 = no halving)",
    )
    _require(
        e.settle_rungs == 1 or e.settle_keep >= 2,
        "ecosystem.settle_rungs",
        e.settle_rungs,
        "1 unless ecosystem.settle_keep ≥ 2 (it halves the networks that train on after the settle point)",
    )
    _require(
        0.0 < e.settle_lr_decay <= 1.0,
        "ecosystem.settle_lr_decay",
        e.settle_lr_decay,
        "in (0, 1]: the factor on the learning rate after the settle point (1 = unchanged)",
    )
    _require(
        e.settle_lr_decay == 1.0 or e.settle > 0,
        "ecosystem.settle_lr_decay",
        e.settle_lr_decay,
        "1 unless ecosystem.settle > 0 (it lowers the learning rate after the settle point)",
    )
    _require(
        e.protect_removals or e.protect_new_structure > 0,
        "ecosystem.protect_removals",
        e.protect_removals,
        "true unless ecosystem.protect_new_structure > 0 (it narrows that protection)",
    )


def _check_layers_spec(spec: str, mutation: MutationParams) -> None:
    """Parse ``ecosystem.initial_layers`` on a large dummy input, so syntax errors show before any work.

    With the configured ``[mutation]`` section, which shapes the kernels a token leaves open, as
    the run will (:func:`ecosim.evolution.initial.starting_genome`); whether ``spec`` fits the
    dataset's real input is checked once the data is known (``ecosim.api``).
    """
    import numpy as np

    from ecosim.errors import GenomeError
    from ecosim.genome.initial import genome_from_layers

    try:
        genome_from_layers(spec, (1, 1024, 1024), 2, np.random.default_rng(0), mutation)
    except (GenomeError, ValueError) as exc:
        raise ConfigError(f"config 'ecosystem.initial_layers' = {spec!r} is invalid: {exc}") from exc


def _check_ecosystem_sizes(e: EcosystemConfig, derived: frozenset[str]) -> None:
    """Constraints between sizes; a failure names a size that was set (derived ones fit by construction)."""

    def shown(key: str) -> str:
        return f"ecosystem.{key} ({getattr(e, key)}{', derived' if key in derived else ''})"

    _require(e.max_population >= e.population, "ecosystem.max_population", e.max_population, f"≥ {shown('population')}")
    _require(
        e.speciation or e.offspring != 0,
        "ecosystem.speciation",
        e.speciation,
        "true with ecosystem.offspring = 0: without speciation every initial network is the starting "
        "genome plus one random mutation (§III-A), not one fixed architecture",
    )
    if e.speciation and e.offspring == 0:
        _require(
            e.species == 1,
            "ecosystem.species",
            e.species,
            "1 with ecosystem.offspring = 0: a fixed-architecture baseline trains one architecture, and "
            "further initial species would be mutated from it (§III-A)",
        )
    if e.speciation:
        _require(e.species <= e.population, "ecosystem.species", e.species, f"≤ {shown('population')}")
        _require(e.max_species >= e.species, "ecosystem.max_species", e.max_species, f"≥ {shown('species')}")
    champions = "max_species" if e.speciation else None
    n_champions = e.max_species if e.speciation else 1
    if e.offspring + n_champions <= e.max_population:
        return
    why = "offspring and species champions always survive culling"
    if "offspring" not in derived:
        room = f"{shown('max_population')} − {shown(champions) if champions else '1 champion'}"
        _require(False, "ecosystem.offspring", e.offspring, f"≤ {room} = {e.max_population - n_champions}: {why}")
    need = f"{shown(champions) if champions else '1 champion'} + 1 offspring = {n_champions + 1}"
    _require(False, "ecosystem.max_population", e.max_population, f"≥ {need}: {why}")


def _require(cond: bool, key: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"config '{key}' = {value!r} is invalid: must be {allowed}")


__all__ = [
    "AUTO",
    "COMPLEXITY_FAVOURS",
    "COMPLEXITY_MEASURES",
    "DERIVED_SIZES",
    "PAPER_MAX_POPULATION",
    "PAPER_POPULATION",
    "PAPER_SPECIES",
    "SPECIES_ALLOCATIONS",
    "EcosystemConfig",
]
