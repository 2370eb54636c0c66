"""A species' population and its decisions: calibration, reproduction, culling candidates (no Ray).

Paper §III-A to §III-G. The Ray actor in :mod:`ecosim.engine.species` is a thin wrapper around
:class:`Population`; everything here is plain Python + numpy, so it is tested without Ray.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ecosim.evolution.calibration import relative_complexity, relative_fitness
from ecosim.evolution.selection import select_parents
from ecosim.genome import Genome, MutationParams, Weights, crossover, mutate, similarity
from ecosim.rng import derive_rng

log = logging.getLogger(__name__)

SpeciesKey = tuple[tuple[int, ...], tuple[int, ...]]

#: species-level random streams use network ids above every real network id
SPECIES_STREAM_BASE = 10**12


@dataclass(frozen=True)
class NetworkRecord:
    """One network of the ecosystem: its genotype, weights and history.

    Attributes:
        id: unique, increasing network id.
        species_id: owning species (0 without speciation).
        genome, weights: the genotype and its weights.
        born_generation: generation whose reproduction step created it (−1 for initial networks).
        parent_ids: ids of its parents (empty for initial networks).
        origin: ``initial``, ``mutation``, ``crossover`` or ``clone``.
        mutation: the mutation kind applied at birth, if any.
        age: generations trained.
        fitness: absolute fitness of the last evaluation (fraction), ``None`` before training.
        fitness_before_bp: score before its first training (offspring), else ``None``.
        relative_fitness, relative_complexity: eq. 2 values of the last calibration.
    """

    id: int
    species_id: int
    genome: Genome
    weights: Weights
    born_generation: int = -1
    parent_ids: tuple[int, ...] = ()
    origin: str = "initial"
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
    status: str = "new"
    message: str = ""

    @property
    def parameters(self) -> int:
        """Parameter count of the phenotype."""
        return self.genome.parameter_count()

    def meta(self) -> dict[str, Any]:
        """JSON-ready fields (everything but the weights)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("genome", "weights")}
        d["parent_ids"] = list(self.parent_ids)
        d["genome"] = self.genome.to_dict()
        return d

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], weights: Weights) -> "NetworkRecord":
        """Inverse of :meth:`meta`."""
        d = dict(meta)
        d["genome"] = Genome.from_dict(d["genome"])
        d["parent_ids"] = tuple(d["parent_ids"])
        return cls(weights=weights, **d)


@dataclass(frozen=True)
class Offspring:
    """A new network and where it belongs.

    Attributes:
        record: the network (``species_id`` is the parent's species).
        key: its species key.
        failed: mutation kinds that failed while producing it (``"species_limit"`` included).
    """

    record: NetworkRecord
    key: SpeciesKey
    failed: tuple[str, ...] = ()


@dataclass
class ReproductionPolicy:
    """Reproduction settings (paper §III-D, §III-F)."""

    speciation: bool = True
    crossover_rate: float = 0.5
    mutation: MutationParams = field(default_factory=MutationParams)


@dataclass(frozen=True)
class _Birth:
    offspring: Offspring
    new_species: bool


class Population:
    """The networks of one species and the decisions the species owns.

    Args:
        species_id: the species' id.
        key: its species key (``None`` without speciation: one species holds everything).
        seed: the run seed.
        policy: reproduction settings.
    """

    def __init__(self, species_id: int, key: SpeciesKey | None, seed: int, policy: ReproductionPolicy) -> None:
        self.species_id = species_id
        self.key = key
        self.seed = seed
        self.policy = policy
        self.networks: dict[int, NetworkRecord] = {}
        self.generation = -1  # last generation trained

    # ---- membership -------------------------------------------------------------------------
    def add(self, records: Sequence[NetworkRecord]) -> None:
        """Adopt networks (initial ones, offspring, migrants)."""
        for r in records:
            self.networks[r.id] = dataclasses.replace(r, species_id=self.species_id)

    def remove(self, ids: Sequence[int]) -> list[int]:
        """Remove networks by id; returns the ids actually removed."""
        return [i for i in ids if self.networks.pop(i, None) is not None]

    def __len__(self) -> int:
        return len(self.networks)

    def sorted(self) -> list[NetworkRecord]:
        """Networks in id order (every decision iterates in this order)."""
        return [self.networks[i] for i in sorted(self.networks)]

    # ---- training results and calibration ---------------------------------------------------
    def apply(self, updates: Mapping[int, Mapping[str, Any]]) -> None:
        """Apply per-network field updates (training results); unknown ids are ignored."""
        for i, upd in updates.items():
            if i in self.networks:
                self.networks[i] = dataclasses.replace(self.networks[i], **upd)

    def calibrate(self) -> None:
        """Relative fitness and complexity within the species (eq. 2; see calibration module)."""
        recs = self.sorted()
        if not recs:
            return
        fr = relative_fitness([r.fitness if r.fitness is not None else 0.0 for r in recs])
        cr = relative_complexity([r.parameters for r in recs])
        for r, f, c in zip(recs, fr, cr):
            self.networks[r.id] = dataclasses.replace(r, relative_fitness=float(f), relative_complexity=float(c))

    def champion(self) -> NetworkRecord | None:
        """Fittest trained network (lowest id on ties), or ``None``."""
        trained = [r for r in self.sorted() if r.fitness is not None]
        return max(trained, key=lambda r: (r.fitness, -r.id)) if trained else None

    def mean_fitness(self) -> float:
        """Mean absolute fitness of trained networks (0 if none)."""
        vals = [r.fitness for r in self.networks.values() if r.fitness is not None]
        return float(np.mean(vals)) if vals else 0.0

    # ---- reproduction -----------------------------------------------------------------------
    def reproduce(
        self,
        generation: int,
        ids: Sequence[int],
        known_keys: Mapping[SpeciesKey, int],
        free_species_slots: int,
    ) -> list[Offspring]:
        """Create one offspring per id in ``ids`` (§III-D, §III-F).

        Parents are drawn by relative fitness. With probability ``crossover_rate`` (and at least
        two trained networks) an offspring comes from crossover: within the species with
        speciation; without speciation the pair mates with probability eq. 7 and otherwise the
        first parent is mutated. A mutation is drawn by eqs. 3–6. With speciation, an offspring
        whose key leaves the species goes to the species with that key, or founds a new species
        while ``free_species_slots`` last; otherwise the mutation fails (``species_limit``) and
        the offspring is a clone of its parent.

        Returns:
            the offspring, in ``ids`` order; the caller places those whose key differs.
        """
        recs = [r for r in self.sorted() if r.fitness is not None and r.status != "error"]
        recs = recs or [r for r in self.sorted() if r.status != "error"]
        if not recs:
            return []
        rel = [r.relative_fitness for r in recs]
        out: list[Offspring] = []
        slots = free_species_slots
        new_keys: set[SpeciesKey] = set()
        for oid in ids:
            try:
                o = self._offspring(generation, oid, recs, rel, known_keys, new_keys, slots)
            except Exception as exc:  # a broken parent must not stop the species
                log.warning("species %d: offspring %d failed: %s", self.species_id, oid, exc)
                continue
            if o.new_species:
                slots -= 1
                new_keys.add(o.offspring.key)
            out.append(o.offspring)
        return out

    def _offspring(
        self, generation: int, oid: int, recs: list[NetworkRecord], rel: list[float],
        known_keys: Mapping[SpeciesKey, int], new_keys: set[SpeciesKey], slots: int,
    ) -> "_Birth":
        """One offspring (see :meth:`reproduce`)."""
        rng_sel = derive_rng(self.seed, generation, oid, "selection")
        parents = [recs[i] for i in select_parents(rng_sel, rel, k=2)]
        failed: list[str] = []
        child = None
        new_species = False
        if len(parents) == 2 and rng_sel.random() < self.policy.crossover_rate:
            a, b = parents
            mate = True if self.policy.speciation else rng_sel.random() < similarity(a.genome, b.genome)
            if mate:
                rng = derive_rng(self.seed, generation, oid, "crossover")
                g, w = crossover(
                    a.genome, a.weights, a.relative_fitness, b.genome, b.weights, b.relative_fitness, rng, self.policy.mutation
                )
                child = self._child(oid, generation, g, w, (a.id, b.id), "crossover", None)
        if child is None:
            p = parents[0]
            rng = derive_rng(self.seed, generation, oid, "mutation")
            res = mutate(p.genome, p.weights, rng, self.policy.mutation)
            if not res.ok:
                failed.append(res.kind.value)
                child = self._clone(oid, generation, p)
            else:
                assert res.genome is not None and res.weights is not None
                key = res.genome.species_key
                if self.policy.speciation and key != self.key and key not in known_keys and key not in new_keys:
                    if slots > 0:
                        new_species = True
                    else:
                        failed.append(res.kind.value)
                        failed.append("species_limit")
                if failed:
                    child = self._clone(oid, generation, p)
                else:
                    child = self._child(oid, generation, res.genome, res.weights, (p.id,), "mutation", res.kind.value)
        return _Birth(Offspring(child, child.genome.species_key, tuple(failed)), new_species)

    def _child(self, oid, generation, g, w, parents, origin, mutation) -> NetworkRecord:
        return NetworkRecord(
            id=oid,
            species_id=self.species_id,
            genome=g,
            weights=w,
            born_generation=generation,
            parent_ids=tuple(parents),
            origin=origin,
            mutation=mutation,
        )

    def _clone(self, oid: int, generation: int, parent: NetworkRecord) -> NetworkRecord:
        return self._child(oid, generation, parent.genome, parent.weights.copy(), (parent.id,), "clone", None)

    # ---- culling ---------------------------------------------------------------------------
    def cull_candidates(self, generation: int, protect_offspring: bool = True) -> list[dict[str, Any]]:
        """Eq. 9 inputs per network: id, age, relative fitness/complexity, protected.

        Protected: the species champion and, when ``protect_offspring``, the untrained offspring
        (§III-G). Unprotected untrained networks have age 0, hence eq. 9 weight 0: they go last.
        """
        champ = self.champion()
        out = []
        for r in self.sorted():
            new = r.fitness is None or r.born_generation >= generation
            protected = (protect_offspring and new) or (champ is not None and r.id == champ.id)
            out.append(
                {
                    "id": r.id,
                    "species_id": self.species_id,
                    "age": r.age,
                    "relative_fitness": r.relative_fitness,
                    "relative_complexity": r.relative_complexity,
                    "protected": bool(protected),
                }
            )
        return out

    # ---- state ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain state (records are immutable, so this is a cheap shallow copy)."""
        return {
            "species_id": self.species_id,
            "key": self.key,
            "generation": self.generation,
            "networks": dict(self.networks),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`snapshot`."""
        self.generation = int(state["generation"])
        self.networks = dict(state["networks"])


__all__ = ["SPECIES_STREAM_BASE", "NetworkRecord", "Offspring", "Population", "ReproductionPolicy", "SpeciesKey"]
