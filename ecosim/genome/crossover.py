"""Crossover of layered genotypes and genome similarity (paper §II-B, §III-F, eqs. 7–8).

A gene is a node with all its input weights. Layers of the same type (conv, hidden FC, output)
are aligned in order, and nodes within aligned layers by index. Pure numpy: no torch, no Ray.
"""

from __future__ import annotations

import numpy as np

from ecosim.genome.genome import ConvLayer, DenseLayer, Genome, Layer, max_kernel_size, max_stride
from ecosim.genome.mutation_params import MutationParams
from ecosim.genome.weights import LayerWeights, Weights, conform_weights


def _groups(genome: Genome) -> tuple[list[int], list[int], int]:
    n = len(genome.layers)
    conv = [i for i, l in enumerate(genome.layers) if isinstance(l, ConvLayer)]
    hidden = [i for i in range(len(conv), n - 1)]
    return conv, hidden, n - 1


def overlap(a: Genome, b: Genome) -> int:
    """Total intersection ``O_ij`` of eq. 8: Σ_k min(nodes) over aligned layers of the same type."""
    ca, ha, oa = _groups(a)
    cb, hb, ob = _groups(b)
    total = sum(min(a.layers[i].nodes, b.layers[j].nodes) for i, j in zip(ca, cb))
    total += sum(min(a.layers[i].nodes, b.layers[j].nodes) for i, j in zip(ha, hb))
    return total + min(a.layers[oa].nodes, b.layers[ob].nodes)


def similarity(a: Genome, b: Genome) -> float:
    """Genome similarity ``s = O / (N_i + N_j − O)`` (eq. 7), in [0, 1]; 1 for identical species keys.

    Used as the crossover probability of two networks without speciation (§III-F).
    """
    o = overlap(a, b)
    return o / (a.node_count + b.node_count - o)


def crossover(
    genome_a: Genome,
    weights_a: Weights,
    fitness_a: float,
    genome_b: Genome,
    weights_b: Weights,
    fitness_b: float,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
) -> tuple[Genome, Weights]:
    """Offspring of two parents by gene inheritance (§II-B, §III-F).

    Args:
        genome_a, weights_a, fitness_a: first parent and its relative fitness in [0, 1] (eq. 2).
        genome_b, weights_b, fitness_b: second parent.
        rng: the crossover stream.
        params: ``init_std`` / ``function_preserving`` for input channels that must be created.

    Rules:
        * a gene present in both parents comes from ``a`` with probability ``f_a / (f_a + f_b)``
          (½ if both are 0); a conv layer's stride likewise;
        * excess nodes of the larger layer, and excess layers of the parent with more layers of a
          type, are each inherited with that parent's relative fitness as probability;
        * then inputs are fixed up so the offspring always runs: input channels are matched by
          index (missing ones drawn N(0, σ), surplus dropped), FC spatial blocks area-resampled,
          kernels cropped to half their new input and strides clamped to the input size.

    Returns:
        ``(genome, weights)``; the parents are not modified and share no arrays with it. With
        speciation both parents have the same species key, so only strides differ in geometry.
    """
    total = fitness_a + fitness_b
    p_a = 0.5 if total <= 0 else fitness_a / total
    parents = ((genome_a, weights_a, fitness_a), (genome_b, weights_b, fitness_b))
    ga, gb = _groups(genome_a), _groups(genome_b)

    def pick() -> int:
        return 0 if rng.random() < p_a else 1

    def layer_pair(ia: int | None, ib: int | None) -> tuple[Layer, LayerWeights] | None:
        if ia is not None and ib is not None:
            la, lb = genome_a.layers[ia], genome_b.layers[ib]
            wa, wb = weights_a.layers[ia], weights_b.layers[ib]
            n_common = min(la.nodes, lb.nodes)
            larger = 0 if la.nodes >= lb.nodes else 1
            sources = []
            for j in range(max(la.nodes, lb.nodes)):
                if j < n_common:
                    sources.append((pick(), j))
                elif rng.random() < parents[larger][2]:
                    sources.append((larger, j))
            weights_src = (wa, wb)
            nodes = tuple(weights_src[p].nodes[j].copy() for p, j in sources)
            bias = np.array([weights_src[p].bias[j] for p, j in sources], dtype=np.float32)
            if isinstance(la, ConvLayer):
                assert isinstance(lb, ConvLayer)
                convs = (la, lb)
                stride = convs[pick()].stride
                kernels = tuple(convs[p].kernels[j] for p, j in sources)
                return ConvLayer(kernels, stride), LayerWeights(nodes, bias)
            return DenseLayer(len(sources)), LayerWeights(nodes, bias)
        p = 0 if ia is not None else 1
        i = ia if ia is not None else ib
        assert i is not None
        if rng.random() >= parents[p][2]:
            return None
        lw = parents[p][1].layers[i]
        return parents[p][0].layers[i], LayerWeights(tuple(n.copy() for n in lw.nodes), lw.bias.copy())

    out: list[tuple[Layer, LayerWeights]] = []
    for la_idx, lb_idx in ((ga[0], gb[0]), (ga[1], gb[1])):
        for k in range(max(len(la_idx), len(lb_idx))):
            pair = layer_pair(la_idx[k] if k < len(la_idx) else None, lb_idx[k] if k < len(lb_idx) else None)
            if pair is not None:
                out.append(pair)
    out_pair = layer_pair(ga[2], gb[2])
    assert out_pair is not None
    out.append(out_pair)

    # fit kernels and strides to the offspring's actual geometry
    layers: list[Layer] = []
    lws: list[LayerWeights] = []
    c, h, w = genome_a.input_shape
    size = (h, w)
    for layer, lw in out:
        if isinstance(layer, ConvLayer):
            kh, kw = max_kernel_size(size[0]), max_kernel_size(size[1])
            stride = (min(layer.stride[0], max_stride(size[0])), min(layer.stride[1], max_stride(size[1])))
            kernels, nodes = [], []
            for (kh0, kw0), node in zip(layer.kernels, lw.nodes):
                nh, nw = min(kh0, kh), min(kw0, kw)
                top, left = (kh0 - nh) // 2, (kw0 - nw) // 2
                kernels.append((nh, nw))
                nodes.append(node[:, top : top + nh, left : left + nw])
            layer = ConvLayer(tuple(kernels), stride)
            lw = LayerWeights(tuple(nodes), lw.bias)
            size = layer.output_size(size)
        layers.append(layer)
        lws.append(lw)
    child = genome_a.replace_layers(tuple(layers))
    return child, conform_weights(child, lws, rng, params.init_std, params.function_preserving)


__all__ = ["crossover", "overlap", "similarity"]
