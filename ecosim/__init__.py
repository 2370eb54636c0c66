"""ecosim: neuroevolution of deep CNNs with per-kernel shapes, speciation and crossover (PyCortex) on Ray."""

from ecosim.errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    EcosimError,
    ExtinctionError,
    GenomeError,
    MutationRejected,
)
from ecosim.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    MutationKind,
    MutationParams,
    Weights,
    crossover,
    init_weights,
    mutate,
    similarity,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ConvLayer",
    "DatasetError",
    "DenseLayer",
    "EcosimError",
    "ExtinctionError",
    "Genome",
    "GenomeError",
    "MutationKind",
    "MutationParams",
    "MutationRejected",
    "Weights",
    "crossover",
    "init_weights",
    "mutate",
    "similarity",
    "__version__",
]
