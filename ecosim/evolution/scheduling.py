"""Which training task goes first: the longest, predicted from the genome's multiply-accumulates (issue 18).

A generation ends when its last task ends, so a long task started last holds every core but one
idle (a straggler). Longest-processing-time-first (LPT) order starts the long tasks while the
short ones can still fill the gaps. Ray runs an owner's tasks in the order it submits them and
keeps a leased worker for the same owner while it has tasks queued, so the order is set in two
places: each species actor submits its networks longest first (:func:`longest_first`), and the
coordinator starts the species in order of their longest task (:func:`species_order`).

Predicted cost of one task, in multiply-accumulate units (:func:`predicted_cost`):
``MACs × (3 × training images + scored images) + PER_IMAGE_MACS × (training + scored images)``,
the forward MACs per image from :func:`ecosim.genome.compute.multiply_accumulates`, training
counted as three forward passes (:data:`~ecosim.genome.compute.TRAINING_MAC_FACTOR`) and a
network never trained scored twice (before and after training). Only the order matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ecosim.genome.compute import TRAINING_MAC_FACTOR, multiply_accumulates
from ecosim.genome.genome import Genome

#: cost of one image's data path and small ops (normalisation, loss, argmax), in MAC units; keeps
#: the order of tiny MLPs sensible (they are not free)
PER_IMAGE_MACS = 20_000


@dataclass(frozen=True)
class Workload:
    """The images a training task handles, from the dataset sizes and the training settings.

    Attributes:
        train_images: images trained on per generation (``train_fraction × N_train × epochs``).
        eval_images: images of the fitness set (one scoring).
        test_images: images of a separate test set (0 when the fitness set is the test set).
    """

    train_images: int
    eval_images: int
    test_images: int = 0


def predicted_cost(genome: Genome, workload: Workload, trained_before: bool) -> int:
    """Predicted compute of one training task for ``genome``, in multiply-accumulate units.

    Args:
        genome: the network.
        workload: images trained and scored.
        trained_before: ``False`` for a new network (scored before training too).

    Returns:
        ``macs × (3·train + scored) + PER_IMAGE_MACS × (train + scored)`` (an ``int`` ≥ 0), with
        ``scored = eval_images × (1 or 2) + test_images``.

    >>> from ecosim.genome.genome import DenseLayer
    >>> g = Genome((1, 28, 28), (DenseLayer(10),))
    >>> predicted_cost(g, Workload(100, 50), True) < predicted_cost(g, Workload(100, 50), False)
    True
    """
    scored = workload.eval_images * (1 if trained_before else 2) + workload.test_images
    macs = multiply_accumulates(genome)
    return macs * (TRAINING_MAC_FACTOR * workload.train_images + scored) + PER_IMAGE_MACS * (
        workload.train_images + scored
    )


def longest_first(costs: Mapping[int, int]) -> list[int]:
    """Network ids ordered by decreasing predicted cost; ties by increasing id (deterministic).

    >>> longest_first({3: 10, 1: 50, 2: 10})
    [1, 2, 3]
    """
    return sorted(costs, key=lambda i: (-costs[i], i))


def species_order(longest: Mapping[int, int]) -> list[int]:
    """Species ids ordered by their longest task, decreasing; ties by increasing id.

    Args:
        longest: ``{species id: predicted cost of its longest task}`` (0 for an empty species).

    >>> species_order({1: 5, 2: 9, 3: 5})
    [2, 1, 3]
    """
    return sorted(longest, key=lambda s: (-longest[s], s))


def costs_of(genomes: Mapping[int, tuple[Genome, bool]], workload: Workload) -> dict[int, int]:
    """``{id: predicted_cost(genome, workload, trained_before)}`` for ``{id: (genome, trained_before)}``."""
    return {i: predicted_cost(g, workload, trained) for i, (g, trained) in genomes.items()}


def workload_of(train_size: int, eval_size: int, test_size: int, train_fraction: float, epochs: int) -> Workload:
    """The :class:`Workload` of a run: ``round(train_fraction · train_size) · epochs`` training images.

    >>> workload_of(60000, 10000, 0, 0.1, 1)
    Workload(train_images=6000, eval_images=10000, test_images=0)
    """
    k = max(1, int(round(train_fraction * train_size)))
    return Workload(k * max(1, epochs), eval_size, test_size)


__all__ = [
    "PER_IMAGE_MACS",
    "Workload",
    "costs_of",
    "longest_first",
    "predicted_cost",
    "species_order",
    "workload_of",
]
