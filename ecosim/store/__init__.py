"""Run storage: the run-directory layout, Parquet logs, checkpoints, network files (written with
:func:`ecosim.atomic.atomic_write`).

Numpy, pyarrow and safetensors only (no torch, no Ray):

* :class:`RunDir` (:mod:`ecosim.store.rundir`): every path of a run directory;
* :mod:`ecosim.store.logs`: generation, network, event and session logs (:class:`LogWriter`,
  :func:`read_generations`, :func:`read_networks`, :func:`read_events`, :func:`read_sessions`);
* :mod:`ecosim.store.checkpoint`: the whole ecosystem after a generation;
* :mod:`ecosim.store.networks`: one network (genome + genes + metadata) as a safetensors file.
"""

from ecosim.store.checkpoint import load_checkpoint, save_checkpoint
from ecosim.store.logs import (
    GENERATION_SCHEMA,
    NETWORK_SCHEMA,
    SESSION_SCHEMA,
    LogWriter,
    read_events,
    read_generations,
    read_networks,
    read_sessions,
)
from ecosim.store.networks import load_network, save_network
from ecosim.store.rundir import RunDir

__all__ = [
    "GENERATION_SCHEMA",
    "NETWORK_SCHEMA",
    "SESSION_SCHEMA",
    "LogWriter",
    "RunDir",
    "load_checkpoint",
    "load_network",
    "read_events",
    "read_generations",
    "read_networks",
    "read_sessions",
    "save_checkpoint",
    "save_network",
]
