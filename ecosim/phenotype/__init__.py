"""Phenotypes: torch modules built from genomes (paper §II-B, §III-E).

* :class:`MixedConv2d`: a conv layer whose kernels have their own odd shapes, stacked along
  their central tile (dense masked or grouped evaluation).
* :class:`Phenotype` / :func:`build_phenotype` / :func:`extract_weights`: genome + gene
  weights ↔ network.
* :func:`save_network` / :func:`load_network`: one network as a safetensors file.
"""

from ecosim.phenotype.conv import (
    MODES,
    MixedConv2d,
    choose_mode,
    grouped_mixed_conv2d,
    kernel_groups,
    kernel_mask,
    kernel_window,
    mixed_conv2d,
)
from ecosim.phenotype.network import (
    ACTIVATIONS,
    Phenotype,
    build_phenotype,
    extract_weights,
    get_activation,
    phenotype_forward,
)
from ecosim.phenotype.serialization import load_network, save_network

__all__ = [
    "ACTIVATIONS",
    "MODES",
    "MixedConv2d",
    "Phenotype",
    "build_phenotype",
    "choose_mode",
    "extract_weights",
    "get_activation",
    "grouped_mixed_conv2d",
    "kernel_groups",
    "kernel_mask",
    "kernel_window",
    "load_network",
    "mixed_conv2d",
    "phenotype_forward",
    "save_network",
]
