"""The ecosystem's state between and during generations, as checkpoints hold it (JSON round trip).

:class:`Species` (the ecosystem's view of one species), :class:`GenerationTally` (what is known
of a generation in progress), :class:`Champion` and :class:`Placement` (where offspring go), and
the policy's whole state (:func:`policy_to_json` / :func:`restore_policy`, older formats included;
the settle keys are written and read by :class:`~ecosim.evolution.settle_progress.SettleProgress`).
Owned and changed by :class:`~ecosim.evolution.ecosystem.EcosystemPolicy`. No Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ecosim.errors import CheckpointError
from ecosim.evolution.generation_rows import empty_counts
from ecosim.evolution.records import NetworkRecord, SpeciesKey, SpeciesState
from ecosim.evolution.settle_progress import SettleProgress

#: Format of :meth:`EcosystemPolicy.to_json` (checkpoints written before it have none).
STATE_FORMAT = 2


@dataclass
class Species:
    """The ecosystem's view of one species (the population itself lives in its actor).

    Attributes:
        species_id: the species' id. key: its species key (``None`` without speciation).
        first_generation: the first generation it trains in (a species founded during
            generation ``g`` starts at ``g + 1``).
        generation: the last generation whose step it finished (``first_generation − 1`` before).
        weight: its offspring-allocation weight, the mean fitness of its networks in its latest
            evaluation (networks that failed with an error left out); ``None`` before any.
        can_reproduce: whether it has a network that can be a parent (not every one failed).
        best_fitness: the highest fitness any of its networks reached (``None`` before any).
        improved_generation: the generation in which ``best_fitness`` last rose (stagnation,
            ``ecosystem.species_stagnation``).
    """

    species_id: int
    key: SpeciesKey | None
    first_generation: int = 0
    generation: int = -1
    weight: float | None = None
    can_reproduce: bool = True
    best_fitness: float | None = None
    improved_generation: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "species_id": self.species_id,
            "key": None if self.key is None else [list(self.key[0]), list(self.key[1])],
            "first_generation": self.first_generation,
            "generation": self.generation,
            "weight": self.weight,
            "can_reproduce": self.can_reproduce,
            "best_fitness": self.best_fitness,
            "improved_generation": self.improved_generation,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Species:
        """Inverse of :meth:`to_json`."""
        key = d["key"]
        return cls(
            species_id=int(d["species_id"]),
            key=None if key is None else (tuple(key[0]), tuple(key[1])),
            first_generation=int(d["first_generation"]),
            generation=int(d["generation"]),
            weight=d.get("weight"),
            can_reproduce=bool(d.get("can_reproduce", True)),
            best_fitness=d.get("best_fitness"),
            improved_generation=d.get("improved_generation"),
        )


@dataclass
class GenerationTally:
    """What is known so far about one generation (in asynchronous mode, several are open at once).

    Attributes:
        started: wall-clock time (``time.time()``, s) the generation began.
        rows: networks-log rows of the networks trained in it.
        failed_rows: networks-log rows of offspring whose creation raised.
        counts: the :data:`COUNT_COLUMNS` counters.
        species_done: species that finished their step of this generation.
        allocated: species that had their offspring-allocation turn.
        given: offspring allotted so far (ends at ``ecosystem.offspring``).
        freed: offspring given up by species that could not reproduce, not yet handed on.
        task_time_s: compute time inside training tasks, summed (s).
        trained_macs: training multiply-accumulates of the species that trained so far (their
            rows' ``train_macs``, counted when they report, before their step is finished).
        phases: synchronous mode: ``train_phase_s`` and ``evolve_phase_s`` (s).
    """

    started: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed_rows: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=empty_counts)
    species_done: set[int] = field(default_factory=set)
    allocated: set[int] = field(default_factory=set)
    given: int = 0
    freed: int = 0
    task_time_s: float = 0.0
    trained_macs: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields, rows included."""
        return {
            "started": self.started,
            "rows": [_plain(r) for r in self.rows],
            "failed_rows": [_plain(r) for r in self.failed_rows],
            "counts": dict(self.counts),
            "species_done": sorted(self.species_done),
            "allocated": sorted(self.allocated),
            "given": self.given,
            "freed": self.freed,
            "task_time_s": self.task_time_s,
            "trained_macs": self.trained_macs,
            "phases": dict(self.phases),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GenerationTally:
        """Inverse of :meth:`to_json`."""
        return cls(
            started=float(d["started"]),
            rows=[dict(r) for r in d.get("rows", [])],
            failed_rows=[dict(r) for r in d.get("failed_rows", [])],
            counts={**empty_counts(), **d["counts"]},
            species_done={int(s) for s in d["species_done"]},
            allocated={int(s) for s in d.get("allocated", [])},
            given=int(d.get("given", 0)),
            freed=int(d.get("freed", 0)),
            task_time_s=float(d.get("task_time_s", 0.0)),
            trained_macs=float(d.get("trained_macs", 0.0)),
            phases={k: float(v) for k, v in d.get("phases", {}).items()},
        )


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with numpy scalars turned into Python ones (for JSON)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


@dataclass(frozen=True)
class Champion:
    """The best network ever trained (status ``ok``), saved to ``champion/`` by the coordinator.

    Attributes:
        id: its network id (``None`` before any). fitness: its fitness then (fraction; −1 before any).
        generation: the generation it scored it in. parameters: its parameter count.
    """

    id: int | None = None
    fitness: float = -1.0
    generation: int | None = None
    parameters: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"id", "fitness", "generation", "parameters"}`` (the checkpoint's ``best``)."""
        return {"id": self.id, "fitness": self.fitness, "generation": self.generation, "parameters": self.parameters}


@dataclass
class Placement:
    """What to do with one species' offspring (:meth:`EcosystemPolicy.place`).

    Attributes:
        founded: ids of species founded for them, in founding order (start their actors first).
        moves: ``{species id: records}`` to add to other species (existing or just founded).
        returned: clones to add to the parent species (offspring refused by the species limit).
        failed: error records of offspring whose creation raised (logged, never trained).
    """

    founded: list[int] = field(default_factory=list)
    moves: dict[int, list[NetworkRecord]] = field(default_factory=dict)
    returned: list[NetworkRecord] = field(default_factory=list)
    failed: list[NetworkRecord] = field(default_factory=list)


# ---- the policy's whole state ----------------------------------------------------------------------
class PolicyState(Protocol):
    """The fields of :class:`~ecosim.evolution.ecosystem.EcosystemPolicy` a checkpoint holds: what
    :func:`policy_to_json` reads and :func:`restore_policy` fills (so this module needs not import the policy)."""

    next_network_id: int
    next_species_id: int
    champion: Champion
    best_fitness_logged: float | None
    completed_generation: int
    train_macs_spent: float | None
    settle_progress: SettleProgress
    species: dict[int, Species]
    tallies: dict[int, GenerationTally]


def policy_to_json(policy: PolicyState) -> dict[str, Any]:
    """The policy's whole state, JSON-ready (the checkpoint's ``coordinator`` entry), tallies of
    generations in progress included, so a checkpoint restores it without reading logs."""
    return {
        "format": STATE_FORMAT,
        "next_network_id": policy.next_network_id,
        "next_species_id": policy.next_species_id,
        "best": policy.champion.to_json(),
        "best_logged": policy.best_fitness_logged,
        "completed_generation": policy.completed_generation,
        "train_macs_spent": policy.train_macs_spent,
        **policy.settle_progress.to_json(),  # settled_from, lowest_lr_scale, part_shown
        "species": [policy.species[s].to_json() for s in sorted(policy.species)],
        "tallies": {str(g): t.to_json() for g, t in sorted(policy.tallies.items())},
    }


def restore_policy(
    policy: PolicyState,
    state: Mapping[str, Any],
    species: Sequence[SpeciesState] = (),
    completed_generation: int | None = None,
) -> None:
    """Fill a new policy with a state from :func:`policy_to_json` (inverse).

    Args:
        policy: a policy just constructed with the run's config (its fields are overwritten).
        state: the checkpoint's ``coordinator`` entry (any format; keys added later default).
        species, completed_generation: from the checkpoint; only needed for a state written
            before :data:`STATE_FORMAT` 2, which kept per-species generations apart.

    Raises:
        CheckpointError: an older state of a generation in progress (asynchronous mode), whose
            network rows it did not keep.
    """
    policy.next_network_id = int(state["next_network_id"])
    policy.next_species_id = int(state["next_species_id"])
    best = state.get("best") or {}
    policy.champion = Champion(
        best.get("id"), float(best.get("fitness", -1.0)), best.get("generation"), best.get("parameters")
    )
    if "best_logged" in state:
        logged = state["best_logged"]
        policy.best_fitness_logged = None if logged is None else float(logged)
    else:  # before 0.9.8: the champion, which a row written later than its generation may not hold yet
        champ = policy.champion
        policy.best_fitness_logged = champ.fitness if champ.id is not None else None
    spent = state.get("train_macs_spent")
    policy.train_macs_spent = None if spent is None else float(spent)
    policy.settle_progress.restore(state)  # settled_from (absent before 0.9), lowest_lr_scale (0.9.4), part_shown
    if state.get("format") == STATE_FORMAT:
        policy.completed_generation = int(state["completed_generation"])
        policy.species = {int(d["species_id"]): Species.from_json(d) for d in state["species"]}
        policy.tallies = {int(g): GenerationTally.from_json(t) for g, t in state["tallies"].items()}
        return
    # format 1: species generations in separate maps, tallies without rows
    policy.completed_generation = -1 if completed_generation is None else int(completed_generation)
    first = {int(k): int(v) for k, v in state.get("species_first", {}).items()}
    last = {int(k): int(v) for k, v in state.get("species_gen", {}).items()}
    for st in species:
        sid = st.species_id
        f = first.get(sid, 0)
        policy.species[sid] = Species(sid, st.key, f, last.get(sid, max(st.generation, f - 1)))
    pending = {int(g): t for g, t in state.get("tallies", {}).items() if t.get("species_done")}
    if pending:
        raise CheckpointError(
            f"this checkpoint was written by an older ecosim while generations {sorted(pending)} were in "
            "progress (asynchronous mode) and lacks their network rows; resume it with that version"
        )


__all__ = [
    "STATE_FORMAT",
    "Champion",
    "GenerationTally",
    "Placement",
    "PolicyState",
    "Species",
    "policy_to_json",
    "restore_policy",
]
