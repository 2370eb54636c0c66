"""ecosim: neuroevolution of deep CNNs with per-kernel shapes, speciation and crossover (PyCortex) on Ray."""

from ecosim.config import Config, load_config
from ecosim.errors import (
    CheckpointError,
    ClusterError,
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
from ecosim.version import __version__  # written in ecosim/version.py only (pyproject.toml reads it there)


def __getattr__(name: str):
    # run/resume import torch and Ray: loaded on first use so genome-only users stay light
    if name in ("run", "resume", "RunResult"):
        from ecosim import api

        return getattr(api, name)
    raise AttributeError(f"module 'ecosim' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "ClusterError",
    "Config",
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
    "RunResult",
    "Weights",
    "crossover",
    "init_weights",
    "load_config",
    "mutate",
    "resume",
    "run",
    "similarity",
    "__version__",
]
