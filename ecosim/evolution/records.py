"""Typed records of the ecosystem: networks, offspring, culling candidates, species state (no Ray, no torch).

Paper §III. These plain, immutable records travel between the species actors and the
coordinator (pickled by Ray) and into checkpoints (as JSON + arrays). Origins, statuses and
failure reasons are ``str`` enums, so they compare equal to, and are logged as, the same strings
as before (``"clone"``, ``"error"``, ``"species_limit"``, ...).

>>> Origin.CLONE == "clone", str(Status.ERROR), FailReason.SPECIES_LIMIT.column
(True, 'error', 'failed_species_limit')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ecosim.genome import Genome, MutationKind, Weights

SpeciesKey = tuple[tuple[int, ...], tuple[int, ...]]
"""A species key: nodes per conv layer, nodes per hidden FC layer (:attr:`Genome.species_key`)."""


class _StrEnum(str, Enum):
    """A ``str`` enum whose ``str()`` and f-string form is its value (as ``enum.StrEnum`` on 3.11+)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Origin(_StrEnum):
    """How a network came to be (the networks log's ``origin`` column; §III-A, §III-D, §III-F)."""

    INITIAL = "initial"
    MUTATION = "mutation"
    CROSSOVER = "crossover"
    CLONE = "clone"  # a copy of its parent: a mutation failed (constraint or species limit)


#: Origins of offspring (everything but the initial networks), in the order the logs list them.
OFFSPRING_ORIGINS: tuple[Origin, ...] = (Origin.CROSSOVER, Origin.MUTATION, Origin.CLONE)


class Status(_StrEnum):
    """State of a network's last step (the networks log's ``status`` column)."""

    NEW = "new"  # not trained yet
    OK = "ok"
    DIVERGED = "diverged"  # non-finite loss or weights: fitness 0
    ERROR = "error"  # training raised, timed out or lost its worker, or the offspring could not be made


class FailReason(_StrEnum):
    """Why an offspring did not become what was drawn for it (generation-log ``failed_<reason>`` columns).

    The mutation kinds (``add_layer``, ..., ``shrink_stride``) are *constraint* rejections: the
    mutation would have broken a constraint of §III-E, so the offspring is a clone. ``species_limit``:
    the mutation was valid but would have founded a species beyond ``ecosystem.max_species``
    (§V), so the offspring is a clone; it is counted there only, not also as ``failed_<kind>``.
    ``reproduction``: creating the offspring raised; it is an ``error`` record (never trained).
    ``cost_cap``: every draw would have made the offspring costlier than ``mutation.max_macs``
    (:data:`~ecosim.genome.mutation.MAX_DRAWS` draws), so it is a clone (issue 17); counted there
    only (logs before 0.6 counted it as ``failed_<kind>`` of the last draw).
    """

    ADD_LAYER = "add_layer"
    REMOVE_LAYER = "remove_layer"
    ADD_NODE = "add_node"
    REMOVE_NODE = "remove_node"
    GROW_KERNEL = "grow_kernel"
    SHRINK_KERNEL = "shrink_kernel"
    GROW_STRIDE = "grow_stride"
    SHRINK_STRIDE = "shrink_stride"
    SPECIES_LIMIT = "species_limit"
    REPRODUCTION = "reproduction"
    COST_CAP = "cost_cap"

    @classmethod
    def constraint(cls, kind: MutationKind | str) -> FailReason:
        """The constraint rejection of a mutation kind.

        Raises:
            ValueError: ``kind`` is not a :class:`MutationKind` value.
        """
        return cls(MutationKind(kind).value)

    @property
    def is_constraint(self) -> bool:
        """``True`` for a mutation kind (a constraint rejection)."""
        return self.value in _MUTATION_VALUES

    @property
    def column(self) -> str:
        """The generation-log count column, ``failed_<value>``."""
        return f"failed_{self.value}"


_MUTATION_VALUES = frozenset(k.value for k in MutationKind)


@dataclass(frozen=True)
class NetworkRecord:
    """One network of the ecosystem: its genotype, weights and history.

    Attributes:
        id: unique, increasing network id.
        species_id: owning species (0 without speciation).
        genome, weights: the genotype and its weights.
        born_generation: generation whose reproduction step created it (−1 for initial networks).
        parent_ids: ids of its parents (empty for initial networks).
        origin: an :class:`Origin` (a plain string is converted).
        mutation: the mutation kind applied at birth, if any.
        age: generations trained.
        fitness: absolute fitness of the last evaluation (fraction), ``None`` before training.
        fitness_before_bp: score before its first training (offspring), else ``None``.
        test_accuracy, train_loss: of the last evaluation (fraction; mean NLL in nats).
        relative_fitness, relative_complexity: eq. 2 values of the last calibration.
        train_time_s, eval_time_s: seconds inside the last training task.
        train_images, eval_images: images trained on and scored in the last training task.
        status: a :class:`Status` (a plain string is converted).
        message: details for a non-ok status (error message and traceback).
    """

    id: int
    species_id: int
    genome: Genome
    weights: Weights
    born_generation: int = -1
    parent_ids: tuple[int, ...] = ()
    origin: Origin = Origin.INITIAL
    mutation: str | None = None
    age: int = 0
    fitness: float | None = None
    fitness_before_bp: float | None = None
    test_accuracy: float | None = None
    train_loss: float | None = None
    relative_fitness: float = 0.5
    relative_complexity: float = 0.5
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    train_images: int = 0
    eval_images: int = 0
    status: Status = Status.NEW
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", Origin(self.origin))
        object.__setattr__(self, "status", Status(self.status))

    @property
    def parameters(self) -> int:
        """Parameter count of the phenotype."""
        return self.genome.parameter_count()

    def meta(self) -> dict[str, Any]:
        """JSON-ready fields (everything but the weights; enums as their strings)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("genome", "weights")}
        d["origin"] = self.origin.value
        d["status"] = self.status.value
        d["parent_ids"] = list(self.parent_ids)
        d["genome"] = self.genome.to_dict()
        return d

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], weights: Weights) -> NetworkRecord:
        """Inverse of :meth:`meta`."""
        d = dict(meta)
        d["genome"] = Genome.from_dict(d["genome"])
        d["parent_ids"] = tuple(d["parent_ids"])
        return cls(weights=weights, **d)


@dataclass(frozen=True)
class Offspring:
    """A new network and where it belongs (§III-D, §III-F).

    Attributes:
        record: the network (``species_id`` is the parent's species). An offspring whose creation
            raised has status :attr:`Status.ERROR`, the traceback as ``message`` and its first
            parent's genome and weights as placeholders; it is logged, never trained.
        key: its species key.
        failed: why a drawn mutation did not apply (a constraint kind,
            :attr:`FailReason.COST_CAP` or :attr:`FailReason.REPRODUCTION`). The species limit is
            not decided here.
        cap_redraws: mutation draws (and, with ``mutation.cap_crossover``, a crossover)
            discarded because the offspring would have exceeded ``mutation.max_macs`` (0 without
            a cap).
        fallback: for an offspring whose key differs from its species': the clone of its parent
            that replaces it when the ecosystem has no room for a new species, else ``None``.
    """

    record: NetworkRecord
    key: SpeciesKey | None
    failed: tuple[FailReason, ...] = ()
    fallback: NetworkRecord | None = None
    cap_redraws: int = 0


@dataclass(frozen=True)
class CullCandidate:
    """Eq. 9 inputs of one network and the facts that decide its protection (§III-G).

    Attributes:
        network_id, species_id: the network.
        age: generations trained.
        relative_fitness, relative_complexity: eq. 2 values of the last calibration.
        offspring: created by a reproduction step and not trained since.
        champion: the fittest trained network of its species (lowest id on ties).
        born_generation: generation whose reproduction step created it (−1: initial network).
        mutation: the mutation kind that created it (``None``: initial, crossover or clone).
        fitness: its fitness (accuracy in [0, 1]; ``None``: never scored), for
            ``ecosystem.settle_keep`` (:func:`~ecosim.evolution.settling.keep_fittest`).
    """

    network_id: int
    species_id: int
    age: int
    relative_fitness: float
    relative_complexity: float
    offspring: bool = False
    champion: bool = False
    born_generation: int = -1
    mutation: str | None = None
    fitness: float | None = None


@dataclass(frozen=True)
class SpeciesState:
    """The full state of one species' population, as a checkpoint holds it.

    Attributes:
        species_id: the species' id.
        key: its species key (``None`` without speciation: one species holds every network).
        generation: last generation its networks were trained in (−1 before the first).
        networks: ``{network id: NetworkRecord}``.
    """

    species_id: int
    key: SpeciesKey | None
    generation: int = -1
    networks: Mapping[int, NetworkRecord] = field(default_factory=dict)


__all__ = [
    "OFFSPRING_ORIGINS",
    "CullCandidate",
    "FailReason",
    "NetworkRecord",
    "Offspring",
    "Origin",
    "SpeciesKey",
    "SpeciesState",
    "Status",
]
