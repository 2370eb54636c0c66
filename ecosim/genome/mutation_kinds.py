"""The structural mutation kinds (paper §III-D, §III-E) and the groups the settings name.

Pure Python: no numpy arrays, no torch, no Ray. Every other mutation module, the logs' counter
columns (``mutations_<kind>``, ``failed_<kind>``) and the network records speak these names.
"""

from __future__ import annotations

from enum import Enum


class MutationKind(str, Enum):
    """The structural mutations of §III-D/§III-E, each direction its own kind."""

    ADD_LAYER = "add_layer"
    REMOVE_LAYER = "remove_layer"
    ADD_NODE = "add_node"
    REMOVE_NODE = "remove_node"
    GROW_KERNEL = "grow_kernel"
    SHRINK_KERNEL = "shrink_kernel"
    GROW_STRIDE = "grow_stride"
    SHRINK_STRIDE = "shrink_stride"


#: Mutations that change the species key (§III: layers of each type, nodes per layer); the only
#: ones drawn while generating the initial species (§III-A, :mod:`ecosim.genome.initial`).
SPECIES_KINDS: tuple[MutationKind, ...] = (
    MutationKind.ADD_LAYER,
    MutationKind.REMOVE_LAYER,
    MutationKind.ADD_NODE,
    MutationKind.REMOVE_NODE,
)

#: The mutation families of ``mutation.family_weights``: each the two directions of one operator
#: pair, sharing one probability of eqs. 3–6 (§III-D).
FAMILIES: dict[str, tuple[MutationKind, MutationKind]] = {
    "layer": (MutationKind.ADD_LAYER, MutationKind.REMOVE_LAYER),
    "node": (MutationKind.ADD_NODE, MutationKind.REMOVE_NODE),
    "kernel": (MutationKind.GROW_KERNEL, MutationKind.SHRINK_KERNEL),
    "stride": (MutationKind.GROW_STRIDE, MutationKind.SHRINK_STRIDE),
}

__all__ = ["FAMILIES", "SPECIES_KINDS", "MutationKind"]
