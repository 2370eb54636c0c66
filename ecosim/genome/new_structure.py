"""The size and shape of new structure: nodes of a new layer, shapes of its kernels (eq. 1).

§III-A, §III-D. One rule each, read wherever structure is made: by the mutation operators
(:func:`~ecosim.genome.mutation.add_layer`, :func:`~ecosim.genome.mutation.add_node`) and by the
initial layers of :func:`~ecosim.genome.initial.genome_from_layers`. In particular the
function-preserving rule "the kernels of a new conv layer are 1×1" lives only in
:func:`new_layer_kernel_shapes`.

Pure numpy: no torch, no Ray.
"""

from __future__ import annotations

import numpy as np

from ecosim.genome.genome import Genome, Shape2
from ecosim.genome.mutation_params import MutationParams, parse_kernel_shape
from ecosim.genome.sampling import sample_kernel_shape


def new_layer_nodes(genome: Genome, params: MutationParams = MutationParams()) -> int:
    """Nodes of a new layer, conv or FC: ``clip(floor(µn), new_layer_min_nodes, new_layer_max_nodes)``.

    ``µn`` is the mean number of nodes per layer over every layer of ``genome``, the output layer
    included (§III-D; the reference implementation sizes a new layer of either type with
    ``floor(mean nodes per layer)``).

    >>> new_layer_nodes(Genome.minimal((1, 28, 28), classes=10))
    10
    """
    mean = sum(layer.nodes for layer in genome.layers) / len(genome.layers)
    return int(min(max(int(np.floor(mean)), params.new_layer_min_nodes), params.new_layer_max_nodes))


def new_kernel_shape(rng: np.random.Generator, params: MutationParams, max_h: int, max_w: int) -> Shape2:
    """The shape of one new kernel on an input allowing at most ``max_h × max_w`` (§III-A, §III-E).

    ``params.new_kernel_shape`` when set (clipped to the limit, staying odd), else eq. 1. With
    ``function_preserving`` and no shape set, new kernels of a new layer are 1×1
    (:func:`new_layer_kernel_shapes`); this function is for the eq. 1 / fixed-shape cases.
    """
    fixed = parse_kernel_shape(params.new_kernel_shape)
    if fixed is not None:
        return min(fixed[0], max_h), min(fixed[1], max_w)
    return sample_kernel_shape(rng, max_h, max_w)


def new_layer_kernel_shapes(
    rng: np.random.Generator, params: MutationParams, n: int, max_h: int, max_w: int
) -> tuple[Shape2, ...]:
    """Shapes of the ``n`` kernels of a new conv layer (new layers and initial layers alike).

    ``params.new_kernel_shape`` when set; else 1×1 with ``function_preserving`` (an identity
    needs only the centre tap; the reference shape of an inserted layer); else eq. 1 each.
    The one place this rule lives (:func:`~ecosim.genome.mutation.add_layer`,
    :func:`~ecosim.genome.initial.genome_from_layers`).
    """
    if parse_kernel_shape(params.new_kernel_shape) is None and params.function_preserving:
        return ((1, 1),) * n
    return tuple(new_kernel_shape(rng, params, max_h, max_w) for _ in range(n))


__all__ = ["new_kernel_shape", "new_layer_kernel_shapes", "new_layer_nodes"]
