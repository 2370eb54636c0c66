"""TensorBoard scalars from run logs, as the paper tracked its runs (§IV-B, with tensorboardX).

Optional: needs the ``tensorboard`` package (``pip install 'ecosim[tensorboard]'``); the events
are written with :class:`torch.utils.tensorboard.SummaryWriter`, one event folder per run,
step = generation. Scalars (fitness in percent, as in Fig. 9):

* ``fitness/highest``, ``fitness/average``, ``fitness/offspring_before_bp``, ``fitness/best_so_far``;
* ``offspring_before_bp/<origin>`` (crossover, mutation, clone) when network rows are given;
* ``ecosystem/species``, ``ecosystem/networks``, ``ecosystem/champion_parameters``;
* ``architecture/conv_share`` (percent of networks with a conv layer), when the log has it;
* ``failed_mutations/constraint``, ``failed_mutations/species_limit``, ``failed_mutations/cost_cap``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ecosim.errors import EcosimError

#: scalar tag → generation-log column, and the factor applied (percent for fitness).
SCALARS: dict[str, tuple[str, float]] = {
    "fitness/highest": ("highest_fitness", 100.0),
    "fitness/average": ("mean_fitness", 100.0),
    "fitness/offspring_before_bp": ("mean_offspring_fitness_before_bp", 100.0),
    "fitness/best_so_far": ("best_fitness_so_far", 100.0),
    "ecosystem/species": ("species_count", 1.0),
    "ecosystem/networks": ("network_count", 1.0),
    "ecosystem/champion_parameters": ("champion_parameters", 1.0),
    "architecture/conv_share": ("conv_share", 100.0),
}


def require_tensorboard() -> Any:
    """The ``SummaryWriter`` class, or a clear error when ``tensorboard`` is not installed.

    Returns:
        :class:`torch.utils.tensorboard.SummaryWriter`.

    Raises:
        EcosimError: the ``tensorboard`` package is missing; the message says how to install it.
    """
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise EcosimError(
            f"--tensorboard needs the 'tensorboard' package, which is not installed ({exc}); "
            "install it with: pip install 'ecosim[tensorboard]'"
        ) from exc
    return SummaryWriter


def write_scalars(generations: pd.DataFrame, log_dir: str | Path, networks: pd.DataFrame | None = None) -> Path:
    """Write one run's per-generation scalars as TensorBoard events in ``log_dir``.

    Args:
        generations: generation rows of the run (:func:`ecosim.store.logs.read_generations`).
        log_dir: event folder (created).
        networks: network rows, for ``offspring_before_bp/<origin>``; ``None`` to skip.

    Returns:
        ``log_dir``.

    Raises:
        EcosimError: ``tensorboard`` is not installed (see :func:`require_tensorboard`).
    """
    from ecosim.report.plots import failed_mutations, offspring_by_origin

    writer_cls = require_tensorboard()
    out = Path(log_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = writer_cls(log_dir=str(out))
    try:
        gens = generations.set_index("generation").sort_index()
        for tag, (col, scale) in SCALARS.items():
            if col not in gens:  # e.g. conv_share in older logs
                continue
            for g, v in gens[col].items():
                if v is not None and not pd.isna(v):
                    writer.add_scalar(tag, float(v) * scale, int(g))
        for col, v_series in failed_mutations(generations).items():
            for g, v in v_series.items():
                writer.add_scalar(f"failed_mutations/{col}", float(v), int(g))
        if networks is not None and not networks.empty:
            for origin, v_series in offspring_by_origin(networks).items():
                for g, v in v_series.items():
                    if not math.isnan(v):
                        writer.add_scalar(f"offspring_before_bp/{origin}", 100.0 * float(v), int(g))
        writer.flush()
    finally:
        writer.close()
    return out


__all__ = ["SCALARS", "require_tensorboard", "write_scalars"]
