"""The Ray-free ecosystem policy (paper §III-A to §III-G; issues 7 and 10): allocation, placement,
culling, the champion, generation rows, failed offspring and its JSON state. No Ray, no torch."""

from __future__ import annotations

import json
import logging
import math
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecosim.config import EcosystemConfig, RunConfig
from ecosim.errors import CheckpointError
from ecosim.evolution import population as population_module
from ecosim.evolution.allocation import largest_remainder
from ecosim.evolution.ecosystem import EcosystemPolicy
from ecosim.evolution.generation_rows import COUNT_COLUMNS, summarise_generation
from ecosim.evolution.initial import initial_networks
from ecosim.evolution.population import Population, ReproductionPolicy
from ecosim.evolution.records import (
    CullCandidate,
    FailReason,
    NetworkRecord,
    Offspring,
    Origin,
    SpeciesState,
    Status,
)
from ecosim.evolution.settling import Settling
from ecosim.genome import ConvLayer, DenseLayer, Genome, MutationParams, init_weights
from ecosim.report.plots import failed_mutations
from ecosim.store.logs import GENERATION_SCHEMA, LogWriter, read_generations

SHAPE = (1, 8, 8)


def genome(conv_nodes: int = 0, hidden: int = 0) -> Genome:
    """A small genome whose species key is ``((conv_nodes,) or (), (hidden,) or ())``."""
    layers = []
    if conv_nodes:
        layers.append(ConvLayer(((1, 1),) * conv_nodes))
    if hidden:
        layers.append(DenseLayer(hidden))
    layers.append(DenseLayer(3))
    return Genome(SHAPE, tuple(layers))


def record(nid: int, g: Genome | None = None, **kw) -> NetworkRecord:
    g = g or genome(1)
    return NetworkRecord(nid, kw.pop("species_id", 0), g, init_weights(g, np.random.default_rng(nid)), **kw)


def policy(**kw) -> EcosystemPolicy:
    base = {"population": 8, "species": 2, "max_species": 4, "max_population": 12, "offspring": 6}
    base.update(kw)
    if base["offspring"] == 0:  # 0 offspring is a fixed-architecture baseline: its layers, one species
        base["initial_layers"] = "C2"
        base["species"] = 1
    return EcosystemPolicy(EcosystemConfig(**base), seed=5)


def with_species(p: EcosystemPolicy, weights, able=None) -> list[int]:
    """Found one species per weight (keys ((i+1,), ())) and record a training result for each."""
    sids = []
    for i, w in enumerate(weights):
        sid = p.found_species(((i + 1,), ()), 0)
        sp = p.species[sid]
        sp.weight = w
        sp.can_reproduce = True if able is None else able[i]
        sids.append(sid)
    return sids


def net_row(nid: int, sid: int = 0, **kw) -> dict:
    row = {
        "generation": 0,
        "network_id": nid,
        "species_id": sid,
        "parent_ids": [],
        "origin": "initial",
        "fitness": 0.5,
        "fitness_before_bp": None,
        "test_accuracy": 0.5,
        "parameters": 100,
        "layers": "F3",
        "conv_layers": 0,
        "status": "ok",
        "message": None,
        "culled": False,
    }
    row.update(kw)
    return row


# ---- offspring allocation ----------------------------------------------------------------------
weights_st = st.lists(st.one_of(st.none(), st.floats(0.0, 1.0)), min_size=1, max_size=8)


allocation_st = st.sampled_from(["relative_fitness", "mean_fitness"])


@settings(max_examples=200, deadline=None)
@given(weights=weights_st, offspring=st.integers(0, 40), allocation=allocation_st, data=st.data())
def test_sync_allocation_sums_exactly_to_the_quota(weights, offspring, allocation, data):
    able = data.draw(st.lists(st.booleans(), min_size=len(weights), max_size=len(weights)))
    able[data.draw(st.integers(0, len(weights) - 1))] = True  # at least one species can reproduce
    p = policy(offspring=offspring, max_species=8, max_population=60, species_allocation=allocation)
    sids = with_species(p, weights, able)
    quotas = p.allocate(0, sids)
    assert sum(quotas.values()) == offspring
    assert all(quotas[s] == 0 for s, a in zip(sids, able) if not a)
    assert p.tally(0).counts["quota_reallocated"] <= offspring
    with pytest.raises(ValueError, match="cannot take an offspring turn"):
        p.allocate(0, sids[:1])  # a species has one turn per generation


@settings(max_examples=200, deadline=None)
@given(weights=weights_st, offspring=st.integers(0, 40), allocation=allocation_st, data=st.data())
def test_async_allocation_sums_exactly_to_the_quota_in_any_step_order(weights, offspring, allocation, data):
    able = data.draw(st.lists(st.booleans(), min_size=len(weights), max_size=len(weights)))
    order = data.draw(st.permutations(range(len(weights))))
    p = policy(offspring=offspring, max_species=8, max_population=60, species_allocation=allocation)
    sids = with_species(p, [None] * len(weights))
    total = 0
    for i in order:  # each species steps alone, with its own fresh measurement
        p.species[sids[i]].weight, p.species[sids[i]].can_reproduce = weights[i], able[i]
        quotas = p.allocate(0, [sids[i]])
        assert all(n == 0 for s, n in quotas.items() if not p.species[s].can_reproduce)
        total += sum(quotas.values())
    stepped_able = any(able)
    assert total == (offspring if stepped_able else 0)


def test_one_rule_gives_a_species_of_one_its_share_in_both_modes():
    # sizes play no part: a species holding one network gets the same share as a large one
    p = policy(offspring=32, max_population=60)
    big, one = with_species(p, [0.9, 0.9])
    assert p.allocate(0, [big, one]) == {big: 16, one: 16}
    q = policy(offspring=32, max_population=60)
    big, one = with_species(q, [0.9, 0.9])
    assert q.allocate(0, [one]) == {one: 16} and q.allocate(0, [big]) == {big: 16}


def test_relative_allocation_is_eq2_across_species_means():
    p = policy(offspring=20, max_population=60, species_allocation="relative_fitness")
    means = [0.90, 0.91, 0.90, 0.96]  # near-uniform as means; the best species stands out under eq. 2
    sids = with_species(p, means)
    z = (np.array(means) - np.mean(means)) / np.std(means)
    expected = largest_remainder(20, dict(zip(sids, 1 / (1 + np.exp(-z)))))
    quotas = p.allocate(0, sids)
    assert quotas == expected
    assert quotas[sids[3]] >= 2 * quotas[sids[0]]
    q = policy(offspring=20, max_population=60, species_allocation="mean_fitness")
    assert max(q.allocate(0, with_species(q, means)).values()) <= 6  # 20 × 0.96 / 3.67 ≈ 5.2


def test_relative_allocation_of_equal_species_is_uniform_and_unmeasured_count_as_mean():
    p = policy(offspring=9, max_population=60, species_allocation="relative_fitness")
    a, b, c = with_species(p, [0.5, 0.5, None])
    assert p.allocate(0, [a, b, c]) == {a: 3, b: 3, c: 3}


def test_allocation_follows_mean_fitness_and_matches_largest_remainder():
    p = policy(offspring=7, species_allocation="mean_fitness")
    sids = with_species(p, [0.2, 0.4, 0.8])
    assert p.allocate(0, sids) == largest_remainder(7, {0: 0.2, 1: 0.4, 2: 0.8}) == {0: 1, 1: 2, 2: 4}


def test_a_failed_species_quota_is_reallocated_and_counted_sync():
    p = policy(offspring=8)
    ok, failed = with_species(p, [0.5, 0.5], able=[True, False])
    assert p.allocate(0, [ok, failed]) == {ok: 8, failed: 0}
    assert p.tally(0).counts["quota_reallocated"] == 4


def test_a_failed_last_species_quota_goes_to_those_that_stepped_async():
    p = policy(offspring=8)
    a, b = with_species(p, [0.5, 0.5])
    assert p.allocate(0, [a]) == {a: 4}
    p.species[b].can_reproduce = False
    assert p.allocate(0, [b]) == {a: 4, b: 0}  # the coordinator asks species a for 4 more
    assert p.tally(0).counts["quota_reallocated"] == 4
    assert p.tally(0).given == 8


def test_record_training_ignores_errors_in_the_weight():
    p = policy()
    (sid,) = with_species(p, [0.3])
    p.record_training(0, sid, [net_row(1, fitness=0.8), net_row(2, fitness=0.0, status="error")], True, 2.0)
    assert p.species[sid].weight == pytest.approx(0.8)
    p.record_training(1, sid, [net_row(3, fitness=0.0, status="error")], False)
    assert p.species[sid].weight == pytest.approx(0.8) and not p.species[sid].can_reproduce
    assert p.tally(0).task_time_s == 2.0


# ---- placement under the species limit -------------------------------------------------------------
def offspring_to(nid: int, key_nodes: int, parent: int = 0, origin=Origin.MUTATION, failed=()) -> Offspring:
    g = genome(key_nodes)
    rec = record(
        nid,
        g,
        species_id=parent,
        born_generation=0,
        parent_ids=(1,),
        origin=origin,
        mutation="add_node" if origin == Origin.MUTATION else None,
    )
    fallback = record(nid, genome(1), species_id=parent, born_generation=0, parent_ids=(1,), origin=Origin.CLONE)
    return Offspring(rec, g.species_key, tuple(failed), fallback if g.species_key != genome(1).species_key else None)


@settings(max_examples=150, deadline=None)
@given(max_species=st.integers(1, 5), keys=st.lists(st.integers(1, 7), max_size=20))
def test_placement_never_exceeds_the_species_limit(max_species, keys):
    p = policy(max_species=max_species, species=1, offspring=20, max_population=40)
    parent = p.found_species(genome(1).species_key, 0)
    placement = p.place(0, parent, [offspring_to(100 + i, k) for i, k in enumerate(keys)])
    assert len(p.species) <= max_species
    c = p.tally(0).counts
    assert c["failed_species_limit"] == len(placement.returned)
    assert all(r.origin == Origin.CLONE and r.genome.species_key == genome(1).species_key for r in placement.returned)
    for target, recs in placement.moves.items():
        assert all(r.genome.species_key == p.species[target].key for r in recs)
    assert len(placement.founded) == min(len({k for k in keys if k != 1}), max_species - 1)
    assert c["offspring"] == len(keys)
    assert c["clones"] == len(placement.returned) and c["mutations_add_node"] == len(keys) - len(placement.returned)


def test_species_limit_failure_is_counted_once_and_constraint_rejections_apart(tmp_path):
    p = policy(max_species=1, species=1)
    parent = p.found_species(genome(1).species_key, 0)
    refused = offspring_to(10, 2)  # valid mutation, but no room for its new species
    rejected = offspring_to(11, 1, origin=Origin.CLONE, failed=(FailReason.GROW_KERNEL,))  # constraint
    p.place(0, parent, [refused, rejected])
    row = p.generation_row(0, 1, 3, now=0.0)
    assert row["failed_species_limit"] == 1 and row["failed_grow_kernel"] == 1 and row["failed_add_node"] == 0
    assert row["clones"] == 2 and row["offspring"] == 2
    LogWriter(tmp_path).write_generation(row)
    failed = failed_mutations(read_generations(tmp_path))
    assert failed.loc[0, "constraint"] == 1 and failed.loc[0, "species_limit"] == 1


def test_failed_mutations_corrects_logs_that_counted_species_limit_twice():
    old = pd.DataFrame({"generation": [0], **{c: [0] for c in GENERATION_SCHEMA.names if c.startswith("failed_")}})
    old["failed_add_node"], old["failed_species_limit"] = [3], [2]  # 2 of the 3 were species-limit failures
    old["quota_reallocated"] = [None]
    assert failed_mutations(old).loc[0, "constraint"] == 1


def test_offspring_with_a_known_key_join_that_species_and_a_new_key_founds_one():
    p = policy(max_species=3)
    parent = p.found_species(genome(1).species_key, 0)
    other = p.found_species(genome(2).species_key, 0)
    placement = p.place(4, parent, [offspring_to(10, 2), offspring_to(11, 3), offspring_to(12, 3), offspring_to(13, 1)])
    (new,) = placement.founded
    assert p.species[new].first_generation == 5 and p.species[new].generation == 4
    assert {s: [r.id for r in recs] for s, recs in placement.moves.items()} == {other: [10], new: [11, 12]}
    assert p.free_species_slots() == 0 and not placement.returned


def test_without_speciation_no_species_is_ever_founded():
    p = EcosystemPolicy(EcosystemConfig(speciation=False, population=4, max_population=8, offspring=2), seed=0)
    sid = p.found_species(None, 0)
    o = Offspring(record(10, genome(2), origin=Origin.MUTATION, mutation="add_node"), None)
    placement = p.place(0, sid, [o])
    assert p.free_species_slots() == 0 and not placement.moves and not placement.founded


# ---- culling (eq. 9) --------------------------------------------------------------------------------
cand_st = st.builds(
    CullCandidate,
    network_id=st.integers(0, 10**6),
    species_id=st.integers(0, 3),
    age=st.integers(0, 6),
    relative_fitness=st.floats(0.0, 1.0),
    relative_complexity=st.floats(0.0, 1.0),
    offspring=st.booleans(),
    champion=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    cands=st.lists(cand_st, max_size=30, unique_by=lambda c: c.network_id),
    limit=st.integers(1, 20),
    protect=st.one_of(st.none(), st.sets(st.integers(0, 3))),
)
def test_culling_keeps_offspring_and_champions(cands, limit, protect):
    p = policy(population=1, species=1, max_species=1, max_population=limit, offspring=0)
    removal = p.cull(3, cands, protect)
    removed = {i for ids in removal.values() for i in ids}
    by_id = {c.network_id: c for c in cands}
    safe = {c.network_id for c in cands if c.champion or (c.offspring and (protect is None or c.species_id in protect))}
    assert not removed & safe
    assert len(removed) == min(max(0, len(cands) - limit), len(cands) - len(safe))
    assert all(by_id[i].species_id == s for s, ids in removal.items() for i in ids)
    assert p.tally(3).counts["culled"] == len(removed)


@settings(max_examples=150, deadline=None)
@given(
    cands=st.lists(
        st.builds(
            CullCandidate,
            network_id=st.integers(0, 10**6),
            species_id=st.just(0),
            age=st.integers(1, 6),
            relative_fitness=st.floats(0.0, 1.0),
            relative_complexity=st.floats(0.0, 1.0),
            champion=st.booleans(),
            born_generation=st.integers(-1, 10),
            mutation=st.sampled_from([None, "add_layer", "remove_node", "grow_kernel"]),
        ),
        max_size=30,
        unique_by=lambda c: c.network_id,
    ),
    limit=st.integers(1, 20),
    k=st.integers(0, 4),
)
def test_new_structure_is_protected_for_k_generations_while_the_limit_allows(cands, limit, k):
    """``ecosystem.protect_new_structure`` (issue 17 B): an offspring of a layer or node mutation
    born within K generations is not culled, unless the protected alone exceed the limit; then
    the oldest lapse first and the limit still holds as far as champions allow."""
    g = 10
    p = policy(population=1, species=1, max_species=1, max_population=limit, offspring=0, protect_new_structure=k)
    removed = {i for ids in p.cull(g, cands).values() for i in ids}
    champions = sum(c.champion for c in cands)
    assert len(removed) == min(max(0, len(cands) - limit), len(cands) - champions)
    young = [
        c for c in cands if not c.champion and c.mutation in ("add_layer", "remove_node") and g - c.born_generation <= k
    ]
    if k == 0:
        young = []
    room = len(cands) - champions - max(0, len(cands) - limit)
    if len(young) <= room:
        assert not removed & {c.network_id for c in young}
    else:  # the newest keep their protection
        kept = sorted(young, key=lambda c: (-c.born_generation, c.network_id))[: max(0, room)]
        assert not removed & {c.network_id for c in kept}


def test_culling_is_deterministic_for_a_seed():
    cands = [CullCandidate(i, i % 2, 1 + i % 3, 0.5, 0.5) for i in range(10)]
    small = dict(population=4, species=1, max_species=1, max_population=4, offspring=3)
    assert policy(**small).cull(2, cands) == policy(**small).cull(2, list(reversed(cands)))


# ---- settling (ecosystem.settle, issue 17) ------------------------------------------------------------
def settled_policy(settling: Settling, **kw) -> EcosystemPolicy:
    base = {"population": 8, "species": 2, "max_species": 4, "max_population": 12, "offspring": 6}
    base.update(kw)
    return EcosystemPolicy(EcosystemConfig(**base), seed=5, settling=settling)


def test_no_offspring_from_the_settle_generation_on():
    p = settled_policy(Settling(generation=3))
    sids = with_species(p, [0.9, 0.8])
    p.completed_generation = 1
    assert sum(p.allocate(2, sids).values()) == 6
    assert not p.settled(3)  # generation 2 not written yet: a species that ran ahead does not settle
    # ... nor cull the others' networks, but a point that is a generation is known: no offspring
    assert p.allocate(3, sids) == {sids[0]: 0, sids[1]: 0} and p.settle_progress.settled_from is None
    p.completed_generation = 2
    assert p.settled(3)
    assert p.allocate(4, sids) == {sids[0]: 0, sids[1]: 0}
    assert p.settle_progress.settled_from == 3


def test_a_settled_run_stays_settled_when_a_resume_moves_the_point():
    p = settled_policy(Settling(generation=3))
    sids = with_species(p, [0.9, 0.8])
    p.completed_generation = 2
    assert p.settled(3) and not p.settled(2)
    resumed = EcosystemPolicy.from_json(
        json.loads(json.dumps(p.to_json())), p.ecosystem, 5, settling=Settling(generation=7)
    )
    assert resumed.settle_progress.settled_from == 3 and resumed.settled(4)
    assert sum(resumed.allocate(4, sids).values()) == 0
    older = {k: v for k, v in p.to_json().items() if k != "settled_from"}  # a state written before 0.9
    assert EcosystemPolicy.from_json(older, p.ecosystem, 5).settle_progress.settled_from is None


def test_no_offspring_once_the_training_compute_reaches_the_settle_point():
    p = settled_policy(Settling(macs=1e9))
    sids = with_species(p, [0.9, 0.8])
    p.completed_generation, p.train_macs_spent = 4, 0.99e9
    assert sum(p.allocate(5, sids).values()) == 6
    p.completed_generation, p.train_macs_spent = 5, None  # unknown (an older checkpoint): not settled
    assert sum(p.allocate(6, sids).values()) == 6
    p.completed_generation, p.train_macs_spent = 6, 1e9
    assert sum(p.allocate(7, sids).values()) == 0


@settings(max_examples=150, deadline=None)
@given(
    fitness=st.lists(st.one_of(st.none(), st.floats(0.0, 1.0)), max_size=30),
    keep=st.integers(1, 12),
    settled=st.booleans(),
)
def test_past_the_settle_point_only_the_fittest_networks_are_kept(fitness, keep, settled):
    """``ecosystem.settle_keep``: every trained network but the ``keep`` fittest is culled, champions
    included; offspring not yet trained are neither culled nor counted (asynchronous mode: another
    species' last offspring); before the settle point eq. 9's limit alone decides."""
    cands = [
        CullCandidate(i, i % 3, 2, 0.5, 0.5, champion=i < 3, offspring=i == 3, fitness=f) for i, f in enumerate(fitness)
    ]
    p = settled_policy(Settling(generation=4 if settled else 99, keep=keep), max_population=40)
    p.completed_generation = 3
    removed = {i for ids in p.cull(4, cands).values() for i in ids}
    if not settled:
        assert not removed
        return
    assert not removed & {c.network_id for c in cands if c.offspring}
    trained = [c for c in cands if not c.offspring]
    kept = [c for c in trained if c.network_id not in removed]
    assert len(kept) == min(keep, len(trained))
    scored = sorted((c.fitness for c in trained if c.fitness is not None), reverse=True)
    kept_scored = sorted((c.fitness for c in kept if c.fitness is not None), reverse=True)
    assert kept_scored == scored[: len(kept_scored)]  # the fittest, none skipped
    assert len(kept_scored) == min(len(kept), len(scored))  # unscored networks only fill what is left
    assert p.tally(4).counts["culled"] == len(removed)


@settings(max_examples=200, deadline=None)
@given(
    keep=st.integers(0, 64),
    rungs=st.integers(1, 6),
    point=st.integers(0, 20),
    length=st.integers(1, 40),
    budget=st.booleans(),
)
def test_halving_keeps_half_as_many_in_each_equal_part_of_the_rest(keep, rungs, point, length, budget):
    """``ecosystem.settle_rungs`` (successive halving): ``keep`` // 2^r in part r of the rest of the
    run, never fewer than 1, never more than ``keep``, never rising; one rung keeps ``keep``."""
    end = point + length
    if budget:  # the point and the end in training MACs, one generation = 10 MACs
        s = Settling(macs=10.0 * point, keep=keep, rungs=rungs, end_macs=10.0 * end)
        counts = [s.keep_at(99, 10.0 * g) for g in range(point, end)]
    else:
        s = Settling(generation=point, keep=keep, rungs=rungs, end_generation=end)
        counts = [s.keep_at(g, None) for g in range(point, end)]
    assert counts[0] == keep and all(a >= b for a, b in zip(counts, counts[1:]))
    if keep == 0 or rungs == 1:
        assert set(counts) == {keep}
        return
    for g, n in zip(range(point, end), counts):
        rung = (g - point) * rungs // length
        assert n == max(1, keep >> rung) and 1 <= n <= keep
    assert counts[-1] == max(1, keep >> (rungs - 1)) or length < rungs


@settings(max_examples=200, deadline=None)
@given(
    decay=st.floats(0.01, 1.0),
    keep=st.integers(2, 64),
    rungs=st.integers(1, 6),
    point=st.integers(0, 20),
    length=st.integers(1, 40),
)
def test_the_learning_rate_drops_with_each_part_of_the_rest(decay, keep, rungs, point, length):
    """``ecosystem.settle_lr_decay``: ``decay``^(r+1) in part r, the parts those of the halving, so
    the rate drops where the networks halve; never above 1, never rising."""
    s = Settling(generation=point, keep=keep, rungs=rungs, end_generation=point + length, lr_decay=decay)
    gens = range(point, point + length)
    scales = [s.lr_scale_at(g, None) for g in gens]
    assert all(0.0 < b <= a <= 1.0 for a, b in zip(scales, scales[1:])) and math.isclose(
        scales[0], decay, rel_tol=1e-11
    )
    for g, a in zip(gens, scales):
        part = s.part_at(g, None)
        assert math.isclose(a, decay ** (part + 1), rel_tol=1e-11) and s.keep_at(g, None) == max(1, keep >> part)


def test_the_policy_lowers_the_learning_rate_after_the_settle_generation(caplog):
    """Full rate up to and including the settle generation (it trains every network), then
    ``decay`` and ``decay``² after the halving; the scale survives a checkpoint (``settled_from``)."""
    p = settled_policy(Settling(generation=2, keep=8, rungs=2, end_generation=6, lr_decay=0.5), max_population=40)
    p.completed_generation = 1
    assert [p.learning_rate_scale(g) for g in range(4)] == [1.0] * 4  # not settled yet
    with caplog.at_level(logging.INFO, logger="ecosim.evolution.settling"):
        assert p.settled(2)
        cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
        p.cull(3, cands)
    assert [p.learning_rate_scale(g) for g in range(7)] == [1.0, 1.0, 1.0, 0.5, 0.25, 0.25, 0.25]
    assert [r.getMessage() for r in caplog.records] == [
        "generation 2: settled (ecosystem.settle): no more offspring, the 8 fittest networks train on from "
        "generation 3 at 0.5× the learning rate",
        "generation 3: halved (ecosystem.settle_rungs): the 4 fittest networks train on from generation 4 at 0.25× "
        "the learning rate",
    ]
    state = json.loads(json.dumps(p.to_json()))
    again = EcosystemPolicy.from_json(state, p.ecosystem, 5, settling=p.settling)
    assert [again.learning_rate_scale(g) for g in range(4, 7)] == [0.25] * 3  # the rate reached survives too
    unchanged = settled_policy(Settling(generation=2, keep=8, rungs=2, end_generation=6), max_population=40)
    unchanged.settle_progress.settled_from = 2
    assert [unchanged.learning_rate_scale(g) for g in range(7)] == [1.0] * 7
    assert Settling.of(RunConfig(generations=6), EcosystemConfig(settle=0.5, settle_lr_decay=0.3)).lr_decay == 0.3


def test_the_learning_rate_never_rises_when_a_resume_moves_the_parts_later(caplog):
    """Extending a run moves the parts after the settle point later (as the halving's): the rate
    stays at the lowest reached until the moved parts go lower (the helper's find, session 33).
    A part past the halving's last network lowers the rate alone, with its own line."""
    p = settled_policy(Settling(generation=2, keep=2, rungs=3, end_generation=8, lr_decay=0.5), max_population=40)
    p.completed_generation = 1
    assert p.settled(2)
    caplog.clear()  # the settle line (captured when an earlier test set the logger to INFO, as the CLI does)
    scales = []
    with caplog.at_level(logging.INFO, logger="ecosim.evolution.settling"):
        cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(3)]
        for g in range(2, 7):  # each generation culls, then the next one trains
            p.cull(g, cands)
            scales.append(p.learning_rate_scale(g + 1))
    assert scales == [0.5, 0.25, 0.25, 0.125, 0.125]
    assert [r.getMessage() for r in caplog.records] == [
        "generation 3: halved (ecosystem.settle_rungs): the fittest network trains on from generation 4 at 0.25× "
        "the learning rate",
        "generation 5: the learning rate drops (ecosystem.settle_lr_decay) to 0.125× from generation 6",
    ]
    state = json.loads(json.dumps(p.to_json()))
    longer = Settling(generation=2, keep=2, rungs=3, end_generation=14, lr_decay=0.5)  # resumed to 14 generations
    again = EcosystemPolicy.from_json(state, p.ecosystem, 5, settling=longer)
    assert [again.learning_rate_scale(g) for g in range(8, 14)] == [0.125] * 6  # not 0.25 again


def test_the_settle_line_names_what_the_next_generation_trains_when_a_budget_skips_a_part(caplog):
    """With a compute budget the settle generation's own training can carry the compute past the
    first part: the line names the count and rate the next generation really gets, and no halving
    line repeats it (the helper's find, session 33)."""
    p = settled_policy(Settling(macs=100.0, keep=8, rungs=3, end_macs=400.0, lr_decay=0.5), max_population=40)
    sid = with_species(p, [0.9])[0]
    p.completed_generation, p.train_macs_spent = 4, 110.0  # past the point: generation 5 settles
    p.record_training(5, sid, [{"fitness": 0.9, "macs": 10, "train_images": 4}], True)  # 120 MACs: 230 spent
    with caplog.at_level(logging.INFO, logger="ecosim.evolution.settling"):
        cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
        removed = {i for ids in p.cull(5, cands).values() for i in ids}
    assert len(removed) == 6  # part 1 (200-300): the 4 fittest
    assert [r.getMessage() for r in caplog.records] == [
        "generation 5: settled (ecosystem.settle): no more offspring, the 4 fittest networks train on from "
        "generation 6 at 0.25× the learning rate"
    ]


def test_a_settle_point_on_the_last_generation_warns_that_nothing_trains_after_it(caplog):
    with caplog.at_level(logging.WARNING, logger="ecosim.evolution.settling"):
        Settling.of(RunConfig(generations=5), EcosystemConfig(settle=0.8, settle_lr_decay=0.5))
        Settling.of(RunConfig(generations=5), EcosystemConfig(settle=0.8))  # changes nothing after it: no warning
    assert [r.getMessage() for r in caplog.records] == [
        "ecosystem.settle = 0.8 of run.generations = 5 is generation 4, the last: no generation trains after it "
        "(ecosystem.settle_keep and settle_lr_decay act on none)"
    ]


def test_halving_culls_to_half_in_the_next_part_and_says_so(caplog):
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    p = settled_policy(Settling(generation=2, keep=8, rungs=2, end_generation=6), max_population=40)
    p.completed_generation = 1
    # parts of the generations 2-5: 2-3 and 4-5; the culling at the end of generation g decides g + 1
    first = {i for ids in p.cull(2, cands).values() for i in ids}
    assert first == {0, 1}
    with caplog.at_level(logging.INFO, logger="ecosim.evolution.settling"):
        second = {i for ids in p.cull(3, cands[2:]).values() for i in ids}
        assert {i for ids in p.cull(4, cands[6:]).values() for i in ids} == set()
        assert {i for ids in p.cull(5, cands[6:]).values() for i in ids} == set()  # the last: no line
    assert second == {2, 3, 4, 5}  # the 4 fittest of the 8 train in generation 4 on
    assert [r.getMessage() for r in caplog.records if "halved" in r.getMessage()] == [
        "generation 3: halved (ecosystem.settle_rungs): the 4 fittest networks train on from generation 4"
    ]
    assert Settling.of(RunConfig(generations=6), EcosystemConfig(settle=0.5, settle_keep=8, settle_rungs=2)) == (
        Settling(generation=3, keep=8, rungs=2, end_generation=6)
    )


def test_asynchronous_settling_culls_a_species_networks_only_once_it_trained(caplog):
    """A species that steps the settle generation first culls only its own networks; the others'
    are judged once their species trained in that generation (before, they vanished without a row:
    the helper's find, session 32). One halving line, however many species step."""
    cands = [CullCandidate(i, i % 2, 2, 0.5, 0.5, fitness=i / 10) for i in range(8)]  # species 0: even ids
    p = settled_policy(Settling(generation=2, keep=2, rungs=2, end_generation=4), max_population=40)
    p.completed_generation = 1
    with caplog.at_level(logging.INFO, logger="ecosim.evolution.settling"):
        first = {i for ids in p.cull(2, cands, protect_offspring_of={0}).values() for i in ids}
        assert first == {0, 2, 4}  # keep 1 from generation 3 on: species 0's fittest; species 1 has not trained
        p.tally(2).species_done.add(0)
        left = [c for c in cands if c.network_id not in first]
        second = {i for ids in p.cull(2, left, protect_offspring_of={1}).values() for i in ids}
    assert second == {1, 3, 5, 6}  # now species 1's too: the fittest of the ecosystem, 7, stays
    # the settle line names what generation 3 trains (1 network: the halving falls on it), once
    assert [r.getMessage() for r in caplog.records] == [
        "generation 2: settled (ecosystem.settle): no more offspring, the fittest network trains on from generation 3"
    ]


def test_asynchronous_settling_keeps_the_fittest_of_the_generation_whoever_steps_first():
    """A species stepping the settle generation first is not judged against another species'
    stale fitness (the helper's find, session 34: an async run kept a network at 0.748 over one at
    0.766, because the other species' networks still showed their higher fitness of the
    generation before). After both steps the 2 kept are the fittest of the generation."""
    p = settled_policy(Settling(generation=2, keep=2, end_generation=6), max_population=40)
    p.completed_generation = 1
    first = [  # species 0 trained in generation 2; species 1 shows generation 1's fitness
        CullCandidate(0, 0, 2, 0.5, 0.5, fitness=0.766),
        CullCandidate(2, 0, 2, 0.5, 0.5, fitness=0.70),
        CullCandidate(1, 1, 2, 0.5, 0.5, fitness=0.90),
        CullCandidate(3, 1, 2, 0.5, 0.5, fitness=0.80),
    ]
    assert {i for ids in p.cull(2, first, protect_offspring_of={0}).values() for i in ids} == set()
    p.tally(2).species_done.add(0)
    second = first[:2] + [  # species 1 trained: lower now
        CullCandidate(1, 1, 2, 0.5, 0.5, fitness=0.75),
        CullCandidate(3, 1, 2, 0.5, 0.5, fitness=0.748),
    ]
    removed = {i for ids in p.cull(2, second, protect_offspring_of={1}).values() for i in ids}
    assert removed == {2, 3}  # kept: 0 (0.766) and 1 (0.75), the fittest of generation 2


def test_from_the_settle_point_on_a_species_waits_for_the_generation_before():
    """Asynchronous mode: before the settle point species run ahead; from it on (by generation, or
    by the compute logged, open generations included) a species trains generation g only once
    g − 1 is complete, so no species trains networks judged on another generation's fitness (the
    helper's find, session 34)."""
    p = settled_policy(Settling(generation=3, keep=2, end_generation=6), max_population=40)
    p.completed_generation = 0
    assert not p.waits_for(2)  # before the point: ahead freely
    assert p.waits_for(3) and p.waits_for(4)  # the settle generation and after: wait for the one before
    p.completed_generation = 2
    assert not p.waits_for(3) and p.waits_for(4)
    plain = EcosystemPolicy(EcosystemConfig(), seed=0)
    assert not plain.waits_for(9)  # no settling: never
    q = settled_policy(Settling(macs=100.0, keep=2, end_macs=300.0), max_population=40)
    q.completed_generation, q.train_macs_spent = 3, 40.0  # 10 MACs a generation
    assert not q.waits_for(6)  # far from the point: 40 + 2 open generations x 10 < 100
    q.tally(4).rows.append({"fitness": 0.9, "macs": 20, "train_images": 1})  # a step of 4 logged: 60 more, 100
    assert q.waits_for(5) and q.waits_for(6)  # past the point: both wait for the open generation 4
    assert not q.waits_for(4)  # generation 3 is complete
    q.tallies.clear()
    q.train_macs_spent = 90.0  # near the point (22.5 a generation): no running ahead into one it may land on
    assert not q.waits_for(4) and q.waits_for(5)


def test_a_compute_budget_halves_once_the_compute_spent_reaches_the_part():
    """Settled at 100 MACs of a 300 budget, 2 parts: the halving comes once the compute spent, the
    generation just trained included, reaches 200 (the helper's find, session 32: it lagged)."""
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(8)]
    p = settled_policy(Settling(macs=100.0, keep=8, rungs=2, end_macs=300.0), max_population=40)
    sid = with_species(p, [0.9])[0]
    p.completed_generation, p.train_macs_spent = 4, 150.0
    row = {"fitness": 0.9, "macs": 10, "train_images": 2}  # 3 x 10 x 2 = 60 MACs
    p.record_training(5, sid, [row], True)
    assert p.tally(5).trained_macs == 60.0
    removed = {i for ids in p.cull(5, cands).values() for i in ids}
    assert removed == {0, 1, 2, 3}  # 150 + 60 >= 200: the 4 fittest train in generation 6
    state = json.loads(json.dumps(p.to_json()))
    assert EcosystemPolicy.from_json(state, p.ecosystem, 5).tally(5).trained_macs == 60.0


def test_a_run_the_generation_cap_ends_before_its_budget_says_what_the_schedule_missed():
    """run.generations can end a budgeted run first: the last line says how much of the budget was
    spent and which parts of the settle schedule never began (a budgeted comparison must not read
    such a run as a finished one)."""
    p = settled_policy(Settling(macs=100.0, keep=8, rungs=3, end_macs=400.0, lr_decay=0.5), max_population=40)
    p.completed_generation, p.train_macs_spent = 9, 250.0
    assert p.short_of_budget(400.0) == (
        "run.generations ended the run after generation 9, before its compute budget: 250 (62%) of "
        "run.train_macs = 400 training multiply-accumulates spent; the settle schedule ended in part 2 of 3 "
        "(part 3 never began)"
    )
    p.train_macs_spent = 50.0
    assert p.short_of_budget(400.0).endswith("; the run never reached its settle point (100 MACs)")
    p.train_macs_spent = 350.0
    assert p.short_of_budget(400.0).endswith("spent")  # in the last part: nothing of the schedule missed
    p.train_macs_spent = 120.0
    assert p.short_of_budget(400.0).endswith("; the settle schedule ended in part 1 of 3 (parts 2–3 never began)")
    p.settle_progress.settled_from = 9  # settled in the last generation: nothing trained after the point
    assert p.short_of_budget(400.0).endswith(
        "; it settled in its last generation (9): no network trained after the point"
    )
    plain = EcosystemPolicy(EcosystemConfig(), seed=0)
    plain.completed_generation, plain.train_macs_spent = 3, 10.0
    assert plain.short_of_budget(40.0).endswith("10 (25%) of run.train_macs = 40 training multiply-accumulates spent")
    plain.train_macs_spent = 1.78e9
    assert "1.78e+09 (0.18%) of run.train_macs = 1e+12" in plain.short_of_budget(1e12)  # not "(0%)"


def test_settle_keep_then_the_population_limit():
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    p = settled_policy(
        Settling(generation=0, keep=6), population=2, species=1, max_species=1, offspring=1, max_population=4
    )
    removed = {i for ids in p.cull(0, cands).values() for i in ids}
    assert {0, 1, 2, 3} <= removed and len(removed) == 6  # 6 fittest kept, then eq. 9 culls to 4


def test_settling_that_cannot_act_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="ecosim.evolution.settling"):
        Settling.of(RunConfig(generations=1), EcosystemConfig(population=6, settle=0.99))
        Settling.of(RunConfig(generations=8), EcosystemConfig(population=6, settle=0.5, settle_keep=100))
        Settling.of(RunConfig(generations=8), EcosystemConfig(population=6, settle=0.5, settle_keep=4))
        Settling.of(
            RunConfig(generations=6),
            EcosystemConfig(population=4, max_population=8, settle=0.5, settle_keep=8, settle_rungs=5),
        )
    assert [r.getMessage()[:40] for r in caplog.records] == [
        "ecosystem.settle = 0.99 of run.generatio",
        "ecosystem.settle_keep = 100 is not below",
        "ecosystem.settle_keep = 8 is not below e",  # ... until a halving cuts them
        "ecosystem.settle_rungs = 5 halves ecosys",  # 8, 4, 2, 1, then 1 again
        "ecosystem.settle_rungs = 5 parts of the ",  # 3 generations left
    ]
    assert "until a halving" in caplog.records[2].getMessage()


def test_rungs_that_get_no_generation_after_the_settle_generation_warn(caplog):
    """The helper's find, session 35: 3 generations, settle point 1, 2 rungs: the settle generation
    trains every network, generation 2 is already part 2, so the first rung's 2 networks never
    train; the warning counted the settle generation as a generation of the parts and said nothing."""
    run, eco = RunConfig(generations=3), EcosystemConfig(population=4, settle=0.3, settle_keep=2, settle_rungs=2)
    with caplog.at_level(logging.WARNING, logger="ecosim.evolution.settling"):
        s = Settling.of(run, eco)
        five = Settling.of(RunConfig(generations=5), eco)  # settle generation 2; 3 and 4: one per part
    assert s.generation == 1 and s.keep_at(2, None) == 1  # the settle generation's culling keeps 1, not 2
    assert [five.keep_at(g, None) for g in (3, 4)] == [2, 1]
    assert [r.getMessage()[:64] for r in caplog.records] == [
        "ecosystem.settle_rungs = 2 parts of the 1 generations after the "
    ]


def test_settling_of_a_run():
    assert Settling.of(RunConfig(generations=7), EcosystemConfig()) is None
    assert Settling.of(RunConfig(generations=7), EcosystemConfig(settle=0.5)) == Settling(
        generation=4, end_generation=7
    )
    assert Settling.of(RunConfig(train_macs=2e12, generations=7), EcosystemConfig(settle=0.5, settle_keep=3)) == (
        Settling(macs=1e12, keep=3, end_macs=2e12, end_generation=7)  # the cap that may end it first
    )


# ---- species stagnation (ecosystem.species_stagnation) -------------------------------------------------
def trained(p: EcosystemPolicy, generation: int, best: dict[int, float]) -> None:
    """Record one training result per species, its best network at ``best[species]``."""
    for sid, f in best.items():
        p.record_training(
            generation, sid, [net_row(sid * 100, sid, fitness=f), net_row(sid * 100 + 1, sid, fitness=f - 0.1)], True
        )


def test_a_species_whose_best_fitness_stops_rising_goes_stagnant_after_n_generations():
    p = policy(offspring=4, max_species=4, max_population=30, species_stagnation=3)
    a, b, c = with_species(p, [None, None, None])
    trained(p, 0, {a: 0.5, b: 0.9, c: 0.4})
    for g in range(1, 6):  # a improves every generation, b leads but is flat, c is flat
        trained(p, g, {a: 0.5 + 0.01 * g, b: 0.9, c: 0.4})
        assert p.stagnant(g) == ({c} if g >= 3 else set())  # b holds the best fitness: never stagnant
    assert p.species[c].improved_generation == 0 and p.species[a].improved_generation == 5
    assert policy(species_stagnation=0).stagnant(99) == set()


def test_an_extinct_species_loses_every_network_first_and_frees_its_slot():
    p = policy(population=4, species=2, offspring=2, max_species=3, max_population=5, species_stagnation=2)
    a, b, c = with_species(p, [None, None, None])
    for g in range(3):
        trained(p, g, {a: 0.8 + 0.01 * g, b: 0.6, c: 0.7 + 0.01 * g})
    assert p.stagnant(2) == {b} and p.free_species_slots() == 0
    cands = [
        CullCandidate(i, sid, 2, 0.5, 0.5, offspring=i % 3 == 0, champion=i % 3 == 1)
        for i, sid in enumerate([a, a, a, b, b, b, c, c])
    ]
    removal = p.cull(2, cands)
    assert removal[b] == [3, 4, 5]  # champion (4) and offspring (3) included
    kept = [cand for cand in cands if cand.species_id != b]
    assert sum(len(ids) for s, ids in removal.items() if s != b) == len(kept) - 5
    assert p.tally(2).counts["species_extinct"] == 1 and p.tally(2).counts["culled"] == 3 + len(kept) - 5
    p.retire_species(b)  # the engine does this when a species has no network left
    assert p.free_species_slots() == 1


def test_a_stagnant_species_gets_no_offspring_and_its_part_is_reallocated():
    p = policy(offspring=9, max_species=3, max_population=30, species_stagnation=1)
    a, b, c = with_species(p, [None, None, None])
    trained(p, 0, {a: 0.8, b: 0.6, c: 0.7})
    trained(p, 1, {a: 0.81, b: 0.6, c: 0.71})
    quotas = p.allocate(1, [a, b, c])
    assert quotas[b] == 0 and sum(quotas.values()) == 9
    assert p.tally(1).counts["quota_reallocated"] > 0


def test_stagnation_state_survives_the_checkpoint_round_trip():
    p = policy(species_stagnation=2)
    (a,) = with_species(p, [None])
    trained(p, 4, {a: 0.7})
    q = EcosystemPolicy.from_json(p.to_json(), p.ecosystem, p.seed)
    assert (q.species[a].best_fitness, q.species[a].improved_generation) == (0.7, 4)


# ---- the champion ---------------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["ok", "ok", "diverged", "error"])), max_size=6), max_size=6
    )
)
def test_the_champion_is_the_best_network_ever_trained(generations):
    p = policy()
    nid = 0
    best = None
    for g, gen in enumerate(generations):
        rows = []
        for fitness, status in gen:
            rows.append(net_row(nid, fitness=fitness, status=status))
            if status == "ok" and (best is None or fitness > best[1]):
                best = (nid, fitness)
            nid += 1
        top = p.champion_candidate(rows)
        if top is not None:
            p.crown(top, g)
    if best is None:
        assert p.champion.id is None
    else:
        assert p.champion.fitness == best[1]
        assert p.champion.id == best[0]  # the first to reach the best fitness: a tie never replaces it


# ---- generation rows ---------------------------------------------------------------------------------
def test_generation_row_from_known_records():
    rows = [
        net_row(0, fitness=0.90, parameters=1000, layers="C2s1x1[1x1,3x3]-F10", conv_layers=1),
        net_row(5, origin="crossover", fitness=0.80, fitness_before_bp=0.60, parameters=500, layers="F10"),
        net_row(6, origin="mutation", fitness=0.70, fitness_before_bp=0.40, parameters=600, layers="F10"),
        net_row(7, origin="mutation", fitness=0.60, fitness_before_bp=0.20, parameters=700, layers="F10"),
        net_row(8, origin="clone", fitness=0.85, fitness_before_bp=0.88, parameters=900, layers="F10"),
    ]
    s = summarise_generation(rows)
    assert s["mean_offspring_fitness_before_bp"] == pytest.approx(0.40)  # (0.6 + 0.4 + 0.2) / 3: no clone
    assert s["mean_offspring_fitness_before_bp_crossover"] == pytest.approx(0.60)
    assert s["mean_offspring_fitness_before_bp_mutation"] == pytest.approx(0.30)
    assert s["mean_offspring_fitness_before_bp_clone"] == pytest.approx(0.88)
    assert s["highest_fitness"] == 0.90 and s["mean_fitness"] == pytest.approx(0.77)
    assert (s["champion_id"], s["champion_layers"], s["champion_parameters"]) == (0, "C2s1x1[1x1,3x3]-F10", 1000)
    assert s["conv_share"] == pytest.approx(0.2) and s["networks_evaluated"] == 5
    assert s["mean_parameters"] == pytest.approx(740.0)
    empty = summarise_generation([])
    assert empty["mean_offspring_fitness_before_bp"] is None and empty["champion_layers"] is None
    assert empty["conv_share"] is None and empty["networks_evaluated"] == 0


def test_a_generation_whose_networks_all_diverged_has_no_champion():
    """A fresh user's find (session 38): with every network diverged (fitness 0), the generations log
    named network 0 the champion at 0.0, and ``ecosim report`` listed it as the final champion."""
    rows = [net_row(0, fitness=0.0, status="diverged"), net_row(1, fitness=0.0, status="error")]
    s = summarise_generation(rows)
    assert s["champion_id"] is None and s["champion_fitness"] is None and s["highest_fitness"] == 0.0
    s = summarise_generation([*rows, net_row(2, fitness=0.0)])  # an ok network at 0.0 still is one
    assert s["champion_id"] == 2


def test_best_fitness_so_far_counts_only_the_generations_up_to_the_row_even_when_a_species_ran_ahead():
    """Asynchronous mode: species 0 finishes generation 1 and crowns a champion of 0.9 before
    species 1 finishes generation 0; generation 0's row still says the best up to generation 0
    (0.7, not the champion's 0.9), and the state carries it through a checkpoint."""
    from ecosim.evolution.state import policy_to_json, restore_policy

    p = policy()
    a, b = with_species(p, [0.5, 0.5])
    for g, sid, fit, nid in [(0, a, 0.7, 0), (1, a, 0.9, 1), (0, b, 0.6, 2)]:
        p.tally(g, now=0.0)
        rows = [net_row(nid, sid, generation=g, fitness=fit)]
        p.record_training(g, sid, rows, True)
        p.finish_species_step(g, sid, rows, culled=())
        top = p.champion_candidate(rows)
        if top is not None:
            p.crown(top, g)
    assert p.champion.fitness == 0.9 and p.generation_complete(0)
    assert p.generation_row(0, species_count=2, network_count=3, now=1.0)["best_fitness_so_far"] == 0.7
    again = policy()
    state = json.loads(json.dumps(policy_to_json(p)))
    restore_policy(again, state)
    assert again.best_fitness_logged == 0.7
    del state["best_logged"]  # a checkpoint before 0.9.8: the champion, as the column was then
    restore_policy(again, state)
    assert again.best_fitness_logged == 0.9
    p.tally(1).species_done.add(b)
    assert p.generation_row(1, species_count=2, network_count=3, now=2.0)["best_fitness_so_far"] == 0.9


def test_generation_row_has_every_schema_column_and_the_counts(tmp_path):
    p = policy()
    (sid,) = with_species(p, [0.5])
    p.tally(0, now=100.0)
    rows = [net_row(0, fitness=0.7, status="ok"), net_row(1, fitness=0.0, status="diverged")]
    p.record_training(0, sid, rows, True, 3.0)
    written = p.finish_species_step(0, sid, rows, culled={1})
    assert [r["culled"] for r in written] == [False, True]
    p.crown(p.champion_candidate(rows), 0)
    assert p.generation_complete(0)
    row = p.generation_row(0, species_count=1, network_count=5, now=104.0)
    assert set(row) <= set(GENERATION_SCHEMA.names)
    assert set(COUNT_COLUMNS) <= set(row)
    assert row["diverged"] == 1 and row["best_fitness_so_far"] == 0.7 and row["wall_time_s"] == 4.0
    assert row["task_time_s"] == 3.0 and p.completed_generation == 0 and 0 not in p.tallies
    LogWriter(tmp_path).write_generation(row)
    assert read_generations(tmp_path).loc[0, "champion_layers"] == "F3"


# ---- a failed offspring is an error record -----------------------------------------------------
def _trained_population(n: int = 3) -> Population:
    g = genome(1, 4)
    pop = Population(0, g.species_key, 0, ReproductionPolicy())
    pop.add([record(i, g) for i in range(n)])
    pop.apply({i: {"fitness": 0.2 + 0.1 * i, "age": 1, "status": Status.OK} for i in range(n)})
    pop.calibrate()
    return pop


def test_a_failed_offspring_becomes_an_error_record_counted_and_logged(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("mutation exploded")

    monkeypatch.setattr(population_module, "mutate", broken)
    monkeypatch.setattr(population_module, "crossover", broken)
    pop = _trained_population()
    out = pop.reproduce(2, [10, 11])
    assert [o.record.id for o in out] == [10, 11]  # no id is dropped
    for o in out:
        assert o.record.status == Status.ERROR and o.failed == (FailReason.REPRODUCTION,)
        assert "mutation exploded" in o.record.message and "Traceback" in o.record.message
        assert o.record.parent_ids
    p = policy()
    sid = p.found_species(pop.key, 0)
    placement = p.place(2, sid, out)
    assert [r.id for r in placement.failed] == [10, 11] and not placement.moves and not placement.returned
    rows = p.finish_species_step(2, sid, [net_row(0, generation=2)], culled=set())
    failed_rows = [r for r in rows if r["network_id"] in (10, 11)]
    assert all(r["status"] == "error" and "mutation exploded" in r["message"] for r in failed_rows)
    row = p.generation_row(2, 1, 3, now=0.0)
    assert row["failed_reproduction"] == 2 and row["offspring"] == 2 and row["networks_evaluated"] == 1


def test_a_species_without_a_parent_cannot_be_asked_for_offspring():
    pop = _trained_population(1)
    pop.apply({0: {"status": Status.ERROR}})
    assert not pop.can_reproduce() and pop.reproduce(0, []) == []
    with pytest.raises(Exception, match="cannot reproduce"):
        pop.reproduce(0, [5])


def test_reproduction_decides_no_placement_and_marks_leavers_with_a_fallback_clone():
    pop = _trained_population(4)
    out = pop.reproduce(1, list(range(20, 40)))
    for o in out:
        if o.key != pop.key:
            assert o.fallback is not None and o.fallback.origin == Origin.CLONE and o.fallback.id == o.record.id
            assert o.fallback.genome.species_key == pop.key
        else:
            assert o.fallback is None


# ---- initial species and state ---------------------------------------------------------------
def test_initial_species_are_distinct_and_hold_the_population():
    cfg = EcosystemConfig(population=10, species=3, max_species=5, max_population=20, offspring=5)
    groups = initial_networks((1, 12, 12), 10, cfg, MutationParams(), seed=2)
    assert len(groups) == 3 and len({k for k, _ in groups}) == 3
    assert [len(r) for _, r in groups] == [4, 3, 3]
    assert [r.id for _, recs in groups for r in recs] == list(range(10))
    p = EcosystemPolicy(cfg, seed=2)
    founded = p.initial_species((1, 12, 12), 10)
    assert [sid for sid, _ in founded] == [0, 1, 2] and p.next_network_id == 10
    assert [p.species[s].key for s, _ in founded] == [k for k, _ in groups]
    assert all(r.origin == Origin.INITIAL for _, recs in founded for r in recs)


def test_state_round_trips_through_json_with_open_tallies():
    p = policy()
    sids = with_species(p, [0.4, 0.6])
    p.take_ids(7)
    p.tally(3, now=12.5)
    p.allocate(3, [sids[0]])
    p.finish_species_step(3, sids[0], [net_row(4, sid=sids[0], generation=3, train_loss=float("nan"))], set())
    p.crown(net_row(4, fitness=0.8), 2)
    back = EcosystemPolicy.from_json(json.loads(json.dumps(p.to_json())), p.ecosystem, p.seed)
    assert back.to_json().keys() == p.to_json().keys()
    assert json.dumps(back.to_json()) == json.dumps(p.to_json())  # NaN survives too
    assert back.tallies[3].rows[0]["network_id"] == 4 and back.tallies[3].allocated == {sids[0]}
    assert back.species[sids[1]].weight == 0.6 and back.champion == p.champion


def test_an_older_state_without_rows_restores_sync_and_refuses_async_in_progress():
    old = {
        "next_network_id": 9,
        "next_species_id": 2,
        "best": {"id": 3, "fitness": 0.7, "generation": 1, "parameters": 10},
        "species_gen": {"0": 4},
        "species_first": {"0": 0, "1": 5},
        "tallies": {},
    }
    states = [SpeciesState(0, ((1,), ()), 4, {}), SpeciesState(1, ((2,), ()), -1, {})]
    p = EcosystemPolicy.from_json(old, EcosystemConfig(), 0, species=states, completed_generation=4)
    assert p.species[0].generation == 4 and p.species[1].first_generation == 5 and p.species[1].generation == 4
    assert p.champion.id == 3 and p.next_network_id == 9
    old["tallies"] = {"5": {"counts": {}, "species_done": [0], "started": 0.0, "task_time_s": 0.0}}
    with pytest.raises(CheckpointError, match="older ecosim"):
        EcosystemPolicy.from_json(old, EcosystemConfig(), 0, species=states, completed_generation=4)


def test_the_policy_imports_neither_ray_nor_torch():
    import subprocess

    code = "import sys, ecosim.evolution.ecosystem; print('ray' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_training_compute_spent_adds_up_the_rows_and_survives_the_checkpoint():
    p = policy()
    (a,) = with_species(p, [None])
    for g in (0, 1):
        rows = [{**net_row(10 * g + k, a, fitness=0.7), "macs": 1000, "train_images": 60} for k in range(2)]
        p.finish_species_step(g, a, rows, ())
        p.generation_row(g, 1, 2, 0.0)
    assert p.train_macs_spent == 2 * 2 * 3 * 1000 * 60  # two generations of two networks: Σ 3 · macs · images
    q = EcosystemPolicy.from_json(p.to_json(), p.ecosystem, p.seed)
    assert q.train_macs_spent == p.train_macs_spent
    older = {k: v for k, v in p.to_json().items() if k != "train_macs_spent"}
    assert EcosystemPolicy.from_json(older, p.ecosystem, p.seed).train_macs_spent is None  # unknown: from the log


def test_the_budget_ends_the_run_after_every_generation_already_started():
    p = policy()
    (a,) = with_species(p, [None])
    rows = [{**net_row(k, a, fitness=0.7), "macs": 1000, "train_images": 60} for k in range(2)]  # 360,000 MACs
    p.finish_species_step(0, a, rows, ())
    p.generation_row(0, 1, 2, 0.0)
    assert p.budget_limit(0.0) is None and p.budget_limit(1e6) is None  # no budget; not reached
    assert p.budget_limit(3e5) == 1  # reached in generation 0: no generation starts after it
    p.tally(2, 0.0)  # asynchronous mode: a species already started generation 2
    p.finish_species_step(1, a, [dict(r, network_id=r["network_id"] + 10) for r in rows], ())  # open, counted
    assert p.budget_limit(7e5) == 3  # generations 1 and 2 complete first


def test_protect_removals_false_protects_only_added_layers_and_nodes():
    """``ecosystem.protect_removals = false``: offspring of a layer or node removal are culled as any
    other network; added layers and nodes keep their K generations (issue 17)."""
    muts = ["add_layer", "add_node", "remove_layer", "remove_node"]
    cands = [CullCandidate(i, 0, 2, 0.1, 0.1, born_generation=9, mutation=muts[i % 4]) for i in range(8)]
    cands += [CullCandidate(100 + i, 0, 3, 0.9, 0.9) for i in range(8)]
    for removals in (True, False):
        p = policy(
            population=1,
            species=1,
            max_species=1,
            max_population=12,
            offspring=0,
            protect_new_structure=3,
            protect_removals=removals,
        )
        removed = {i for ids in p.cull(10, cands).values() for i in ids}
        assert len(removed) == 4
        hit = {cands[i].mutation for i in range(8) if cands[i].network_id in removed}
        assert not hit & {"add_layer", "add_node"}
        if removals:
            assert not hit  # every structural offspring protected: the 4 others go
        else:
            assert hit  # weak removal offspring are no longer protected
