"""Typed records: str enums that log as the same strings, records that round-trip (issue 10)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from ecosim.evolution import population
from ecosim.evolution.records import (
    OFFSPRING_ORIGINS,
    FailReason,
    NetworkRecord,
    Origin,
    SpeciesState,
    Status,
)
from ecosim.genome import ConvLayer, DenseLayer, Genome, MutationKind, init_weights
from ecosim.store.logs import GENERATION_SCHEMA


def test_enums_are_the_strings_the_logs_always_held():
    assert [o.value for o in Origin] == ["initial", "mutation", "crossover", "clone"]
    assert [s.value for s in Status] == ["new", "ok", "diverged", "error"]
    assert Origin.CLONE == "clone" and str(Status.ERROR) == "error" and f"{Origin.CROSSOVER}" == "crossover"
    assert json.dumps([Origin.MUTATION, Status.OK]) == '["mutation", "ok"]'
    assert pa.array([Origin.CLONE, None], pa.string()).to_pylist() == ["clone", None]
    assert [o.value for o in OFFSPRING_ORIGINS] == ["crossover", "mutation", "clone"]


def test_fail_reasons_are_every_mutation_kind_plus_species_limit_reproduction_and_cost_cap():
    constraint = {r for r in FailReason if r.is_constraint}
    assert {r.value for r in constraint} == {k.value for k in MutationKind}
    assert set(FailReason) - constraint == {FailReason.SPECIES_LIMIT, FailReason.REPRODUCTION, FailReason.COST_CAP}
    assert FailReason.constraint(MutationKind.GROW_KERNEL) is FailReason.GROW_KERNEL
    assert {r.column for r in FailReason} <= set(GENERATION_SCHEMA.names)
    with pytest.raises(ValueError):
        FailReason.constraint("species_limit")


def test_a_record_takes_plain_strings_and_round_trips_through_its_metadata():
    g = Genome((1, 8, 8), (ConvLayer(((1, 1), (3, 3))), DenseLayer(3)))
    rec = NetworkRecord(
        4,
        1,
        g,
        init_weights(g, np.random.default_rng(0)),
        origin="crossover",
        status="ok",
        parent_ids=(1, 2),
        fitness=0.5,
    )
    assert rec.origin is Origin.CROSSOVER and rec.status is Status.OK
    meta = json.loads(json.dumps(rec.meta()))
    assert meta["origin"] == "crossover" and meta["status"] == "ok"
    back = NetworkRecord.from_meta(meta, rec.weights)
    assert back == rec
    with pytest.raises(ValueError):
        NetworkRecord(5, 1, g, rec.weights, origin="spontaneous")


def test_the_old_import_path_still_works():
    assert population.NetworkRecord is NetworkRecord and population.SpeciesState is SpeciesState
    assert population.Offspring.__module__ == "ecosim.evolution.records"
