"""Pure genome operators: genome, gene weights, mutation, crossover, initial species (no torch, no Ray)."""

from ecosim.genome.compute import multiply_accumulates, training_macs
from ecosim.genome.crossover import crossover, overlap, similarity
from ecosim.genome.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    constraint_violation,
    max_kernel_size,
    max_stride,
)
from ecosim.genome.initial import genome_from_layers, initial_species_genomes, isolated_network
from ecosim.genome.mutation import (
    OPERATORS,
    MutationResult,
    add_layer,
    add_node,
    grow_kernel,
    grow_stride,
    mutate,
    remove_layer,
    remove_node,
    shrink_kernel,
    shrink_stride,
)
from ecosim.genome.mutation_choice import has_target, mutation_weights, resize_targets
from ecosim.genome.mutation_kinds import SPECIES_KINDS, MutationKind
from ecosim.genome.mutation_params import MutationParams
from ecosim.genome.new_structure import new_layer_nodes
from ecosim.genome.weights import LayerWeights, Weights, check_weights, init_weights

__all__ = [
    "OPERATORS",
    "SPECIES_KINDS",
    "ConvLayer",
    "DenseLayer",
    "Genome",
    "LayerWeights",
    "MutationKind",
    "MutationParams",
    "MutationResult",
    "Weights",
    "add_layer",
    "add_node",
    "check_weights",
    "constraint_violation",
    "crossover",
    "genome_from_layers",
    "grow_kernel",
    "grow_stride",
    "has_target",
    "init_weights",
    "initial_species_genomes",
    "isolated_network",
    "max_kernel_size",
    "max_stride",
    "multiply_accumulates",
    "mutate",
    "mutation_weights",
    "new_layer_nodes",
    "overlap",
    "remove_layer",
    "remove_node",
    "resize_targets",
    "shrink_kernel",
    "shrink_stride",
    "similarity",
    "training_macs",
]
