"""Phenotypes: torch modules built from genomes (paper §II-B, §III-E).

* :class:`MixedConv2d`: a conv layer whose kernels have their own odd shapes, stacked along
  their central tile (dense masked or grouped evaluation).
* :class:`Phenotype` / :func:`build_phenotype` / :func:`extract_weights`: genome + gene
  weights ↔ network.
"""

import importlib
from typing import Any

# Names load on first use (PEP 562), so ``ecosim.phenotype.records`` stays importable without torch.
_EXPORTS = {
    "MODES": "conv",
    "MixedConv2d": "conv",
    "choose_mode": "conv",
    "grouped_mixed_conv2d": "conv",
    "kernel_groups": "conv",
    "kernel_mask": "conv",
    "kernel_window": "conv",
    "mixed_conv2d": "conv",
    "ACTIVATIONS": "network",
    "Phenotype": "network",
    "build_phenotype": "network",
    "extract_weights": "network",
    "get_activation": "network",
    "phenotype_forward": "network",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"ecosim.phenotype.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'ecosim.phenotype' has no attribute {name!r}")


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
    "mixed_conv2d",
    "phenotype_forward",
]
