"""Calibration (eq. 2), culling (eq. 9), selection and the Ray-free species population."""

import numpy as np
import pytest

from ecosim.config import EcosystemConfig
from ecosim.evolution import (
    cull,
    cull_weights,
    relative_complexity,
    relative_fitness,
    select_parents,
)
from ecosim.evolution.ecosystem import EcosystemPolicy
from ecosim.evolution.generation_rows import CONSTRAINT_FAILURE_COLUMNS
from ecosim.evolution.population import Population, ReproductionPolicy
from ecosim.evolution.records import NetworkRecord
from ecosim.genome import ConvLayer, DenseLayer, Genome, MutationParams, init_weights
from ecosim.genome.compute import multiply_accumulates
from ecosim.genome.mutation import MAX_DRAWS


def test_relative_fitness_is_logistic_of_z_score():
    f = np.array([0.2, 0.5, 0.8])
    z = (f - f.mean()) / f.std()
    np.testing.assert_allclose(relative_fitness(f), 1 / (1 + np.exp(-z)))


def test_all_equal_fitness_gives_finite_equal_values():
    out = relative_fitness([0.3] * 5)
    assert np.all(out == 0.5)
    assert relative_fitness([0.7]).tolist() == [0.5]
    assert np.isfinite(relative_fitness([np.nan, 0.5, 0.6])).all()


def test_larger_network_has_lower_relative_complexity_and_is_culled_more():
    cr = relative_complexity([100, 1000, 10000])
    assert cr[0] > cr[1] > cr[2]
    w = cull_weights([3, 3, 3], [0.5, 0.5, 0.5], cr)
    assert w[2] > w[1] > w[0]
    rng = np.random.default_rng(0)
    first = [cull(rng, [3, 3, 3], [0.5] * 3, cr, [False] * 3, 1)[0] for _ in range(2000)]
    counts = np.bincount(first, minlength=3)
    assert counts[2] > counts[1] > counts[0]


def test_culling_never_removes_protected_and_stops_at_the_count():
    rng = np.random.default_rng(1)
    removed = cull(rng, [1, 5, 2, 9], [0.1, 0.9, 0.5, 0.2], [0.5] * 4, [True, False, True, False], 5)
    assert sorted(removed) == [1, 3]


def test_older_and_less_fit_are_culled_first_on_average():
    w = cull_weights([1, 10], [0.5, 0.5], [0.5, 0.5])
    assert w[1] == 10 * w[0]
    w = cull_weights([4, 4], [0.9, 0.1], [0.5, 0.5])
    assert w[1] > w[0]


def test_select_parents_prefers_fitter():
    rng = np.random.default_rng(0)
    picks = [select_parents(rng, [0.9, 0.1], k=1)[0] for _ in range(1000)]
    assert 850 < picks.count(0) < 950
    assert select_parents(rng, [0.0, 0.0], k=2) in ([0, 1], [1, 0])
    with pytest.raises(ValueError):
        select_parents(rng, [], k=1)


def _population(n, speciation=True, genome=None, seed=0):
    g = genome or Genome((1, 8, 8), (ConvLayer(((1, 1), (3, 3))), DenseLayer(4), DenseLayer(3)))
    pop = Population(0, g.species_key if speciation else None, seed, ReproductionPolicy(speciation=speciation))
    pop.add([NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(i))) for i in range(n)])
    pop.apply({i: {"fitness": 0.1 * i, "age": 1} for i in range(n)})
    pop.calibrate()
    return pop


def _placed(pop, offspring, generation):
    """Offspring as placed by a policy whose only species is ``pop`` and which has no free slot."""
    policy = EcosystemPolicy(EcosystemConfig(max_species=1), seed=0)
    policy.found_species(pop.key, 0)
    placement = policy.place(generation, 0, offspring)
    refused = {r.id for r in placement.returned}
    kept = list(placement.returned) + [o.record for o in offspring if o.record.id not in refused]
    return sorted(kept, key=lambda r: r.id), refused, policy.tally(generation).counts


def test_reproduction_is_deterministic_and_reports_species_limit():
    a = _population(4).reproduce(3, [10, 11, 12, 13, 14, 15])
    b = _population(4).reproduce(3, [10, 11, 12, 13, 14, 15])
    assert [o.record.genome for o in a] == [o.record.genome for o in b]
    key = _population(1).key
    records, refused, counts = _placed(_population(1), a, 3)
    for r in records:
        assert r.born_generation == 3
        if r.origin == "mutation":  # no free species slot: a structural change must keep the key
            assert r.genome.species_key == key
        if r.id in refused:
            assert r.origin == "clone"
    assert counts["failed_species_limit"] == len(refused)


def test_population_of_one_reproduces_by_mutation():
    out = _population(1).reproduce(0, [5, 6])
    assert all(o.record.origin in ("mutation", "clone") for o in out)


def test_champion_and_new_offspring_are_protected_from_culling():
    pop = _population(4)
    pop.add([o.record for o in pop.reproduce(2, [20])])
    cands = pop.cull_candidates(2)
    policy = EcosystemPolicy(
        EcosystemConfig(population=1, species=1, max_population=2, offspring=1, max_species=1), seed=0
    )
    removed = policy.cull(2, cands)[0]  # 5 networks, room for 2: everything unprotected goes
    assert 3 not in removed and 20 not in removed  # the champion and the new offspring
    assert 0 in removed


@pytest.mark.parametrize("complexity", ["parameters", "macs"])
def test_relative_complexity_measures_parameters_or_multiply_accumulates(complexity):
    """``ecosystem.complexity``: a stride-1 conv net has fewer parameters but more MACs than an MLP,
    so the two measures rank them oppositely (eq. 9's c_r; issue 17)."""
    conv = Genome((1, 28, 28), (ConvLayer(((3, 3),) * 4), DenseLayer(10)))  # 31k params, 340k MACs
    mlp = Genome((1, 28, 28), (DenseLayer(64), DenseLayer(10)))  # 51k params, 51k MACs
    pop = Population(0, None, 0, ReproductionPolicy(speciation=False, complexity=complexity))
    pop.add([NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(i))) for i, g in enumerate((conv, mlp))])
    pop.apply({0: {"fitness": 0.5}, 1: {"fitness": 0.5}})
    pop.calibrate()
    conv_cr, mlp_cr = pop.networks[0].relative_complexity, pop.networks[1].relative_complexity
    assert (conv_cr < mlp_cr) == (complexity == "macs")


@pytest.mark.parametrize("favour", ["smaller", "larger"])
def test_complexity_favours_decides_which_of_two_equal_networks_eq9_culls_more(favour):
    """``ecosystem.complexity_favours`` (issue 17): with equal fitness and age, eq. 9 culls the
    larger network more under ``"smaller"`` (PyCortex's code) and the smaller under ``"larger"``
    (eq. 9's text)."""
    small = Genome((1, 28, 28), (DenseLayer(16), DenseLayer(10)))
    large = Genome((1, 28, 28), (DenseLayer(64), DenseLayer(10)))
    pop = Population(0, None, 0, ReproductionPolicy(speciation=False, complexity_favours=favour))
    pop.add([NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(i))) for i, g in enumerate((small, large))])
    pop.apply({0: {"fitness": 0.5}, 1: {"fitness": 0.5}})
    pop.calibrate()
    cr = [pop.networks[i].relative_complexity for i in (0, 1)]
    w = cull_weights([3, 3], [0.5, 0.5], cr)
    assert (w[1] > w[0]) == (favour == "smaller") and w[0] != w[1]
    with pytest.raises(ValueError, match="favour"):
        relative_complexity([1, 2], "bigger")


def test_cost_cap_failures_and_redraws_are_counted_apart_from_constraint_failures():
    """``mutation.max_macs`` (issue 17): a mutation whose every draw is over the cap is a clone
    counted as ``failed_cost_cap`` (not ``failed_<kind>``), and every discarded draw counts in
    ``cap_redraws``; with a rising cap the same population meets fewer of both later."""
    g = Genome((1, 8, 8), (ConvLayer(((3, 3), (3, 3))), DenseLayer(3)))

    def counts(generation, **mutation):
        params = MutationParams(family_weights="add_layer=1,add_node=1,grow_kernel=1", **mutation)
        pop = Population(0, None, 0, ReproductionPolicy(speciation=False, crossover_rate=0.0, mutation=params))
        pop.add([NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(i))) for i in range(4)])
        pop.apply({i: {"fitness": 0.1 * (i + 1), "age": 1} for i in range(4)})
        pop.calibrate()
        offspring = pop.reproduce(generation, list(range(10, 40)))
        return _placed(pop, offspring, generation)[2]

    own = multiply_accumulates(g)
    free = counts(0)
    assert free["failed_cost_cap"] == 0 and free["cap_redraws"] == 0 and free["clones"] == 0
    tight = counts(0, max_macs=own)  # every drawn kind grows the cost: nothing passes
    assert tight["failed_cost_cap"] == tight["clones"] == 30 and tight["cap_redraws"] == 30 * MAX_DRAWS
    assert sum(tight[c] for c in CONSTRAINT_FAILURE_COLUMNS) == 0
    rising = counts(20, max_macs=own, max_macs_doubling=10)  # the cap is 4× by generation 20
    assert rising["failed_cost_cap"] < 30 and rising["cap_redraws"] < tight["cap_redraws"]


@pytest.mark.parametrize("cap_crossover", [False, True])
def test_capped_crossover_offspring_never_cost_more_than_the_cap_and_both_parents(cap_crossover):
    """``mutation.cap_crossover`` (issue 17): crossover of a few wide kernels with many narrow
    ones inherits the wide kernels and the extra nodes, so without the flag some offspring cost
    more than both parents and the cap; with it, none do, and each one discarded is a redraw."""
    wide = Genome((1, 16, 16), (ConvLayer(((5, 5),) * 2), DenseLayer(3)))
    many = Genome((1, 16, 16), (ConvLayer(((1, 1),) * 8), DenseLayer(3)))
    cap = max(multiply_accumulates(wide), multiply_accumulates(many))
    params = MutationParams(family_weights="remove_node=1", max_macs=cap, cap_crossover=cap_crossover)
    pop = Population(0, None, 0, ReproductionPolicy(speciation=True, crossover_rate=1.0, mutation=params))
    pop.add([NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(i))) for i, g in enumerate((wide, many))])
    pop.apply({0: {"fitness": 0.5, "age": 1}, 1: {"fitness": 0.5, "age": 1}})
    pop.calibrate()
    offspring = pop.reproduce(1, list(range(10, 70)))
    over = [o for o in offspring if multiply_accumulates(o.record.genome) > cap]
    crossed = [o for o in offspring if o.record.origin == "crossover"]
    redraws = sum(o.cap_redraws for o in offspring)
    if cap_crossover:
        assert not over and redraws == len(offspring) - len(crossed) > 0
        assert {o.record.mutation for o in offspring if o.record.origin == "mutation"} == {"remove_node"}
    else:
        assert over and all(o.record.origin == "crossover" for o in over) and redraws == 0
