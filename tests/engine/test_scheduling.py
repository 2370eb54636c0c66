"""Longest task first (issue 18): predicted cost from multiply-accumulates, deterministic orders."""

from ecosim.evolution.scheduling import (
    Workload,
    costs_of,
    longest_first,
    predicted_cost,
    species_order,
    workload_of,
)
from ecosim.genome import ConvLayer, DenseLayer, Genome

SHAPE = (1, 28, 28)
MLP = Genome(SHAPE, (DenseLayer(64), DenseLayer(10)))
ONE_CONV = Genome(SHAPE, (ConvLayer(((3, 3),) * 10), DenseLayer(10)))
TWO_CONV = Genome(SHAPE, (ConvLayer(((3, 3),) * 10), ConvLayer(((3, 3),) * 20, (2, 2)), DenseLayer(10)))
MNIST = workload_of(60000, 10000, 0, 0.1, 1)


def test_cost_grows_with_compute_and_with_a_scoring_before_training():
    assert Workload(6000, 10000, 0) == MNIST
    trained = [predicted_cost(g, MNIST, True) for g in (MLP, ONE_CONV, TWO_CONV)]
    assert trained == sorted(trained) and len(set(trained)) == 3
    for g in (MLP, ONE_CONV, TWO_CONV):  # a new network is also scored before training
        assert predicted_cost(g, MNIST, False) > predicted_cost(g, MNIST, True)
    assert predicted_cost(MLP, Workload(6000, 10000, 10000), True) > predicted_cost(MLP, MNIST, True)


def test_orders_are_longest_first_and_ties_go_by_id():
    costs = costs_of({7: (MLP, True), 3: (TWO_CONV, True), 5: (ONE_CONV, False), 4: (MLP, True)}, MNIST)
    assert longest_first(costs) == [3, 5, 4, 7]
    assert species_order({2: costs[7], 1: costs[3], 9: costs[4], 0: 0}) == [1, 2, 9, 0]
