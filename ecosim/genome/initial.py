"""The initial ecosystem's genomes (paper §III-A), and initial layers given as text.

Pure functions of their arguments and generator: no torch, no Ray.

* :func:`initial_species_genomes`: with speciation, the first species has the starting genome
  (the minimal one) and each further species the genome of an *isolated network* mutated until
  its species key is new. Only species-changing mutations are drawn
  (:data:`~ecosim.genome.mutation_kinds.SPECIES_KINDS`: add/remove layer, add/remove node, weighted by
  eqs. 3–4), so the walk is a walk over species; kernel shapes and strides are those eq. 1 gives
  new layers and nodes, i.e. mostly minimal (the paper: "most networks start with minimal kernels
  and strides and increase them over the course of the evolution"). Drawing every kind would make
  ~96% of the draws kernel mutations (eq. 6 dominates on small kernels), and the walk would leave
  the initial kernels far from eq. 1.
* :func:`isolated_network`: without speciation, one network of the initial ecosystem: the starting
  genome plus one random species-changing mutation.
* :func:`genome_from_layers`: parse an initial-layers option such as ``"C10-F64"`` (the notation
  of :meth:`Genome.summary`), like the reference implementation's MNIST set-up that starts from a
  predefined conv layer of 10 kernels.
"""

from __future__ import annotations

import re

import numpy as np

from ecosim.errors import GenomeError
from ecosim.genome.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    Layer,
    Shape2,
    max_kernel_size,
    max_stride,
)
from ecosim.genome.mutation import mutate
from ecosim.genome.mutation_kinds import SPECIES_KINDS, MutationKind
from ecosim.genome.mutation_params import MAX_LAYER_NODES, MutationParams
from ecosim.genome.new_structure import new_layer_kernel_shapes
from ecosim.genome.weights import Weights, init_weights

#: Steps an isolated network may take to reach a new species before giving up. From the minimal
#: genome on MNIST, founding 128 species never took more than 200 steps for one of them (5 seeds);
#: a walk the mutation weights keep from new keys fails in seconds, not in half a minute.
MAX_STEPS = 2_000

#: Mutations in a row an isolated network may have rejected (its genome unchanged, so each next draw
#: is the same gamble) before giving up: e.g. a cost cap (``mutation.max_macs``) that every growth
#: of the starting genome exceeds fails in well under a second, not after thousands of rejections.
MAX_REJECTED = 64


def initial_species_genomes(
    minimal: Genome,
    count: int,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    max_steps: int = MAX_STEPS,
    max_rejected: int = MAX_REJECTED,
) -> list[tuple[Genome, Weights]]:
    """Genomes of the ``count`` initial species, with speciation (§III-A).

    Contract:

    * ``result[0][0] is minimal``: the first species always has the starting genome.
    * Species keys (:attr:`Genome.species_key`) are pairwise distinct, and ``len(result) == count``.
    * Species ``k ≥ 1``: an isolated network starts from ``minimal`` with fresh weights and is
      mutated by :func:`~ecosim.genome.mutation.mutate` with ``kinds=SPECIES_KINDS`` (kinds drawn
      by eqs. 3–4 among add/remove layer, add/remove node; each feasible) until its key matches
      none of the species made so far; that genome founds species ``k``. No kernel or stride
      mutation is drawn, so every kernel shape and stride is the one eq. 1 gave it when its layer
      or node was added (or ``minimal``'s own): on MNIST about 76% of kernels 1×1.
    * Weights: each genome comes with fresh weights, every connection and bias N(0,
      ``params.init_std``) (:func:`~ecosim.genome.weights.init_weights`), drawn from ``rng`` after
      that genome is found. A caller that gives each network of a species its own weights (the
      paper: "each network in a species is initialised according to the species genome") draws
      them from the network's own stream and may ignore these.
    * Deterministic: the same ``rng`` state and arguments give the same result; ``rng`` is the
      only source of randomness and is advanced.

    Args:
        minimal: the starting genome: usually :meth:`Genome.minimal`, or the genome of an
            initial-layers option (:func:`genome_from_layers`).
        count: number of initial species (``ecosystem.species``, paper: 8), ≥ 1.
        rng: the initialisation stream.
        params: :class:`~ecosim.genome.mutation_params.MutationParams` (new-layer size rule, ``init_std``,
            ``function_preserving``).
        max_steps: mutations an isolated network may take before giving up (default :data:`MAX_STEPS`).
        max_rejected: rejected mutations in a row before giving up (default :data:`MAX_REJECTED`).

    Returns:
        ``[(genome, weights), ...]`` of length ``count``, in species order.

    Raises:
        ValueError: ``count`` < 1.
        GenomeError: an isolated network found no new species within ``max_steps`` mutations, or had
            ``max_rejected`` in a row rejected (the message gives the last reason).

    >>> species = initial_species_genomes(Genome.minimal((1, 28, 28), 10), 3, np.random.default_rng(0))
    >>> [g.species_key for g, _ in species]
    [((), ()), ((10,), ()), ((), (10,))]
    """
    if count < 1:
        raise ValueError(f"count (initial species) must be ≥ 1, got {count}")
    result = [(minimal, init_weights(minimal, rng, params.init_std))]
    keys = {minimal.species_key}
    while len(result) < count:
        genome, weights = minimal, init_weights(minimal, rng, params.init_std)
        rejected = 0
        for _ in range(max_steps):
            r = mutate(genome, weights, rng, params, kinds=SPECIES_KINDS)
            if r.ok:
                assert r.genome is not None and r.weights is not None
                genome, weights, rejected = r.genome, r.weights, 0
                if genome.species_key not in keys:
                    break
            else:
                rejected += 1
                if rejected >= max_rejected:
                    raise GenomeError(
                        f"initial species {len(result) + 1} of {count}: {rejected} mutations in a row of "
                        f"{genome.summary()} were rejected (the last: {r.reason})"
                    )
        else:
            raise GenomeError(
                f"initial species {len(result) + 1} of {count}: no new species key within {max_steps} "
                f"mutations (keys so far: {sorted(keys)})"
            )
        keys.add(genome.species_key)
        result.append((genome, init_weights(genome, rng, params.init_std)))
    return result


def isolated_network(
    minimal: Genome,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
) -> tuple[Genome, Weights, MutationKind | None]:
    """One network of the initial ecosystem without speciation (§III-A).

    "Networks are generated one at a time with a minimal genome, and a random mutation is applied
    to each network to promote initial diversity": fresh N(0, ``init_std``) weights for
    ``minimal``, then one mutation drawn by eqs. 3–4 among the species-changing kinds (from the
    minimal genome: adding a layer, conv or FC, of :func:`~ecosim.genome.new_structure.new_layer_nodes`
    nodes, kernels and stride by eq. 1).

    Args:
        minimal: the starting genome.
        rng: this network's initialisation stream.
        params: mutation settings.

    Returns:
        ``(genome, weights, kind)``; ``kind`` is ``None`` (and the genome ``minimal``) only if the
        mutation was rejected, which does not happen for a valid ``minimal``.
    """
    weights = init_weights(minimal, rng, params.init_std)
    r = mutate(minimal, weights, rng, params, kinds=SPECIES_KINDS)
    if not r.ok:
        return minimal, weights, None
    assert r.genome is not None and r.weights is not None
    return r.genome, r.weights, r.kind


_CONV = re.compile(r"C(?P<n>\d+)(?:s(?P<sh>\d+)(?:x(?P<sw>\d+))?)?(?:\[(?P<kernels>[^\]]*)\])?", re.IGNORECASE)
_DENSE = re.compile(r"F(?P<n>\d+)", re.IGNORECASE)
_SHAPE = re.compile(r"(\d+)x(\d+)", re.IGNORECASE)


def genome_from_layers(
    spec: str,
    input_shape: tuple[int, int, int],
    classes: int,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
) -> Genome:
    """The genome whose layers below the output layer are ``spec`` (the initial-layers option).

    ``spec`` lists the conv and hidden FC layers, separated by ``-``, in the notation of
    :meth:`Genome.summary`; the output layer ``F{classes}`` is always added and must not be
    listed. An empty string (or ``"none"``) gives the minimal genome. Tokens (case-insensitive):

    * ``F64``: a hidden FC layer of 64 neurons.
    * ``C10``: a conv layer of 10 kernels, stride 1×1, kernel shapes drawn by eq. 1 within half
      the layer's input (1×1 each with ``params.function_preserving``), as for a new layer.
    * ``C10s2`` / ``C10s2x1``: stride 2×2 / 2×1 (height × width).
    * ``C10[3x3]``: every kernel 3×3; ``C2[3x3,1x5]``: one shape per kernel (``h x w``, odd).

    Conv layers come before FC layers; every kernel must be ≤ half of its layer's input and every
    stride ≤ the input size (§III-E).

    Args:
        spec: e.g. ``"C10"``, ``"C10-F64"``, ``"C10s2[3x3]-F32"``.
        input_shape: ``(C, H, W)`` of the images.
        classes: nodes of the output layer.
        rng: draws the kernel shapes a token leaves open.
        params: mutation settings (``function_preserving`` makes open kernel shapes 1×1).

    Returns:
        A :class:`Genome` satisfying every constraint.

    Raises:
        GenomeError: naming the first bad layer (``layer 2 (C10s40): ...`` when there are
            several) and what is allowed (unknown syntax, zero nodes or more than
            ``MAX_LAYER_NODES``, a kernel list of the wrong length, an even kernel, a kernel larger
            than half its input, a stride below 1 or larger than its input, a conv after an FC layer).

    >>> genome_from_layers("C10s2[3x3]-F32", (1, 28, 28), 10, np.random.default_rng(0)).summary()[:20]
    'C10s2x2[3x3,3x3,3x3,'
    >>> genome_from_layers("C10-F64", (1, 28, 28), 10, np.random.default_rng(0)).species_key
    ((10,), (64,))
    """
    text = spec.strip()
    if text.lower() in ("", "none"):
        return Genome.minimal(input_shape, classes)
    size: Shape2 = (input_shape[1], input_shape[2])
    layers: list[Layer] = []
    seen_dense = False
    tokens = text.split("-")
    for pos, raw in enumerate(tokens, start=1):
        token = raw.strip()

        def bad(why: str, token: str = token, pos: int = pos) -> GenomeError:
            return GenomeError(f"layer {pos} ({token}): {why}" if len(tokens) > 1 else why)

        dense = _DENSE.fullmatch(token)
        conv = _CONV.fullmatch(token)
        if dense:
            n = int(dense["n"])
            if not 1 <= n <= MAX_LAYER_NODES:
                raise bad(f"an FC layer needs 1 to {MAX_LAYER_NODES} neurons")
            layers.append(DenseLayer(n))
            seen_dense = True
            continue
        if not conv:
            raise bad("expected 'F<n>' or 'C<n>[s<sh>[x<sw>]][[<h>x<w>,...]]', e.g. 'F64', 'C10', 'C10s2[3x3]'")
        if seen_dense:
            raise bad("a conv layer cannot follow an FC layer")
        n = int(conv["n"])
        if not 1 <= n <= MAX_LAYER_NODES:
            raise bad(f"a conv layer needs 1 to {MAX_LAYER_NODES} kernels")
        sh = int(conv["sh"]) if conv["sh"] else 1
        sw = int(conv["sw"]) if conv["sw"] else sh
        limit = (max_stride(size[0]), max_stride(size[1]))
        if sh < 1 or sw < 1:
            raise bad(f"stride {sh}x{sw} must be ≥ 1 in both dimensions")
        if sh > limit[0] or sw > limit[1]:
            raise bad(f"stride {sh}x{sw} exceeds the largest allowed {limit[0]}x{limit[1]} on input {size}")
        kmax = (max_kernel_size(size[0]), max_kernel_size(size[1]))
        kernels: tuple[Shape2, ...]
        if conv["kernels"] is None:
            kernels = new_layer_kernel_shapes(rng, params, n, *kmax)
        else:
            shapes = []
            for item in conv["kernels"].split(","):
                m = _SHAPE.fullmatch(item.strip())
                if not m:
                    raise bad(f"kernel {item.strip()!r} must be '<h>x<w>', e.g. '3x3'")
                shapes.append((int(m[1]), int(m[2])))
            if len(shapes) == 1:
                shapes *= n
            if len(shapes) != n:
                raise bad(f"{len(shapes)} kernel shapes for {n} kernels: give one shape, or one per kernel")
            for kh, kw in shapes:
                if kh % 2 == 0 or kw % 2 == 0 or kh < 1 or kw < 1:
                    raise bad(f"kernel {kh}x{kw} must be odd and ≥ 1 in both dimensions")
                if kh > kmax[0] or kw > kmax[1]:
                    raise bad(f"kernel {kh}x{kw} exceeds the largest allowed {kmax[0]}x{kmax[1]} on input {size}")
            kernels = tuple(shapes)
        layer = ConvLayer(kernels, (sh, sw))
        layers.append(layer)
        size = layer.output_size(size)
    layers.append(DenseLayer(classes))
    return Genome(input_shape, tuple(layers))


__all__ = ["MAX_STEPS", "genome_from_layers", "initial_species_genomes", "isolated_network"]
