"""The initial ecosystem (paper §III-A): the starting genome and the initial networks by species.

No Ray, no torch: :class:`~ecosim.evolution.ecosystem.EcosystemPolicy` founds the species these
functions return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecosim.errors import EcosimError, GenomeError
from ecosim.evolution.records import NetworkRecord, SpeciesKey
from ecosim.genome import Genome, MutationParams, init_weights
from ecosim.genome.initial import genome_from_layers, initial_species_genomes, isolated_network
from ecosim.rng import SPECIES_STREAM_BASE, derive_rng

if TYPE_CHECKING:  # reads the section's fields; does not depend on the config module
    from ecosim.config import EcosystemConfig


def starting_genome(
    input_shape: tuple[int, int, int], classes: int, ecosystem: EcosystemConfig, mutation: MutationParams, seed: int
) -> Genome:
    """The genome the initial ecosystem grows from (paper §III-A).

    The minimal genome (the output layer on the input) unless ``ecosystem.initial_layers`` names
    hidden layers (e.g. ``"C10"``, the reference implementation's MNIST set-up); kernel shapes it
    leaves open are drawn by eq. 1 from the stream ``(seed, 0, SPECIES_STREAM_BASE, "init")``.

    Raises:
        GenomeError: ``initial_layers`` cannot be parsed or does not fit ``input_shape``.
    """
    spec = getattr(ecosystem, "initial_layers", "")
    if not spec:
        return Genome.minimal(input_shape, classes)
    rng = derive_rng(seed, 0, SPECIES_STREAM_BASE + 1, "init")
    return genome_from_layers(spec, input_shape, classes, rng, mutation)


def initial_networks(
    input_shape: tuple[int, int, int],
    classes: int,
    ecosystem: EcosystemConfig,
    mutation: MutationParams,
    seed: int,
    first_id: int = 0,
) -> list[tuple[SpeciesKey | None, list[NetworkRecord]]]:
    """The initial networks, grouped by species (paper §III-A).

    Every genome grows from :func:`starting_genome` (the minimal genome by default). With
    speciation, ``ecosystem.species`` distinct genomes from
    :func:`~ecosim.genome.initial.initial_species_genomes`: the starting genome, then isolated
    networks mutated with species-changing mutations only (add/remove layer or node, eqs. 3–4)
    until their species key is new, so kernels and strides keep the minimal shapes eq. 1 gave
    them (stream ``(seed, 0, SPECIES_STREAM_BASE, "init")``). The ``ecosystem.population`` networks
    are split over them as evenly as possible (the first species get one more), each with fresh
    N(0, ``mutation.init_std``) weights from its own stream. Without speciation, every network is
    the starting genome plus one species-changing mutation from its own stream
    (:func:`~ecosim.genome.initial.isolated_network`).

    Args:
        input_shape: ``(C, H, W)`` of the images. classes: number of classes.
        ecosystem: the ``[ecosystem]`` section (``speciation``, ``species``, ``population``,
            ``initial_layers``).
        mutation: the ``[mutation]`` section.
        seed: the run seed. first_id: id of the first network (ids follow consecutively).

    Returns:
        ``[(species key or None, records)]`` in species order; records have ``species_id`` −1
        (with speciation; set when a species adopts them) or 0, and origin ``initial``.

    Raises:
        EcosimError: ``ecosystem.species`` distinct species could not be reached.
        GenomeError: a bad ``ecosystem.initial_layers``.
    """
    next_id = first_id
    start = starting_genome(input_shape, classes, ecosystem, mutation, seed)
    groups: list[tuple[SpeciesKey | None, list[NetworkRecord]]] = []
    if ecosystem.speciation:
        rng = derive_rng(seed, 0, SPECIES_STREAM_BASE, "init")
        try:
            genomes = [g for g, _ in initial_species_genomes(start, ecosystem.species, rng, mutation)]
        except GenomeError as exc:
            hint = (
                f"; mutation.family_weights = {mutation.family_weights!r} also weighs the species-changing "
                "mutations that found them (add/remove layer, add/remove node): give add_layer or add_node a weight"
                if mutation.family_weights
                else ""
            )
            if mutation.max_macs:
                hint += (
                    f"; mutation.max_macs = {mutation.max_macs:g} also caps the mutations that found them: raise it "
                    "above the cost named, found fewer species, or evolve without speciation"
                )
            raise EcosimError(
                f"could not create {ecosystem.species} distinct initial species (ecosystem.species): {exc}{hint}"
            ) from exc
        n, k = ecosystem.population, ecosystem.species
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        for g, size in zip(genomes, sizes):
            recs = []
            for _ in range(size):
                w = init_weights(g, derive_rng(seed, 0, next_id, "init"), mutation.init_std)
                recs.append(NetworkRecord(id=next_id, species_id=-1, genome=g, weights=w))
                next_id += 1
            groups.append((g.species_key, recs))
    else:
        recs = []
        for _ in range(ecosystem.population):
            g, w, kind = isolated_network(start, derive_rng(seed, 0, next_id, "init"), mutation)
            recs.append(
                NetworkRecord(id=next_id, species_id=0, genome=g, weights=w, mutation=kind.value if kind else None)
            )
            next_id += 1
        groups.append((None, recs))
    return groups


__all__ = ["initial_networks", "starting_genome"]
