"""The rows of the generation and networks logs, built from what the species report (issue 20).

One definition of the counter columns (:data:`COUNT_COLUMNS`) and of how a generation row's
statistics come from its networks' rows (:func:`summarise_generation`, Fig. 9 and Table I's
quantities; compute accounting, issue 17). The Parquet schema that stores them is in
:mod:`ecosim.store.logs`; ``docs/logs.md`` describes every column. No Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ecosim.evolution.records import OFFSPRING_ORIGINS, FailReason, NetworkRecord, Origin, Status
from ecosim.genome import MutationKind
from ecosim.genome.compute import TRAINING_MAC_FACTOR, multiply_accumulates

#: ``failed_<kind>``: mutations of each kind rejected because they would break a constraint.
CONSTRAINT_FAILURE_COLUMNS: tuple[str, ...] = tuple(FailReason.constraint(k).column for k in MutationKind)

#: Generation-log count columns, in schema order (see ``docs/logs.md``).
COUNT_COLUMNS: tuple[str, ...] = (
    *(f"mutations_{k.value}" for k in MutationKind),
    *CONSTRAINT_FAILURE_COLUMNS,
    FailReason.SPECIES_LIMIT.column,
    FailReason.REPRODUCTION.column,
    FailReason.COST_CAP.column,
    "cap_redraws",
    "crossovers",
    "clones",
    "offspring",
    "culled",
    "diverged",
    "errors",
    "quota_reallocated",
    "species_extinct",
)


def empty_counts() -> dict[str, int]:
    """Zeroed per-generation counters, one per :data:`COUNT_COLUMNS` entry."""
    return {k: 0 for k in COUNT_COLUMNS}


def _mean(values: Iterable[float]) -> float | None:
    vals = [float(v) for v in values]
    return float(np.mean(vals)) if vals else None


def summarise_generation(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The statistics columns of a generation row, from the network rows of that generation.

    Args:
        rows: one row per network trained in the generation (networks-log columns: ``network_id``,
            ``origin``, ``fitness``, ``fitness_before_bp``, ``test_accuracy``, ``parameters``,
            ``layers``, ``conv_layers``).

    Returns:
        ``highest_fitness``, ``mean_fitness``, ``mean_test_accuracy``, ``networks_evaluated``,
        ``mean_parameters``; ``mean_offspring_fitness_before_bp`` (the paper's "average offspring
        fitness before BP", Fig. 9c: offspring from crossover or mutation only, since a clone is
        a copy of a trained parent and would report the parent's fitness) and one mean per origin,
        ``mean_offspring_fitness_before_bp_<crossover|mutation|clone>``; ``champion_id``,
        ``champion_parameters``, ``champion_fitness``, ``champion_layers`` (the fittest network
        whose ``status`` is ``ok``, lowest id on ties; ``None`` when every one diverged or
        failed); ``conv_share`` (fraction of the networks with at least one conv layer). Means
        are over non-null values and ``None`` when there are none. Fitness values are fractions
        in [0, 1]. Compute (issue 17): ``train_macs`` = Σ 3 · macs · train_images
        (:data:`~ecosim.genome.compute.TRAINING_MAC_FACTOR`), ``eval_macs`` = Σ macs ·
        eval_images, ``trainings`` and ``test_evaluations`` (networks trained, networks whose
        test accuracy was measured); a run's cumulative compute is their running sum.
        ``lr_scale``: the smallest factor on the learning rate the rows trained at
        (``ecosystem.settle_lr_decay``), ``None`` when no row says.
    """
    fit = [r["fitness"] for r in rows if r.get("fitness") is not None]
    tests = [r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None]

    def before(origins: Collection[str]) -> float | None:
        return _mean(
            r["fitness_before_bp"]
            for r in rows
            if r.get("fitness_before_bp") is not None and r.get("origin") in origins
        )

    trained = [r for r in rows if r.get("status", Status.OK) == Status.OK]  # a diverged network is no champion
    champ = max(trained, key=lambda r: (r.get("fitness") or 0.0, -r["network_id"])) if trained else None
    convs = [r["conv_layers"] for r in rows if r.get("conv_layers") is not None]
    out: dict[str, Any] = {
        "highest_fitness": max(fit) if fit else None,
        "mean_fitness": _mean(fit),
        "mean_offspring_fitness_before_bp": before((Origin.CROSSOVER, Origin.MUTATION)),
        **{f"mean_offspring_fitness_before_bp_{o.value}": before((o,)) for o in OFFSPRING_ORIGINS},
        "mean_test_accuracy": _mean(tests),
        "networks_evaluated": len(rows),
        "champion_id": champ["network_id"] if champ else None,
        "champion_parameters": champ.get("parameters") if champ else None,
        "champion_fitness": champ.get("fitness") if champ else None,
        "champion_layers": champ.get("layers") if champ else None,
        "mean_parameters": _mean(r["parameters"] for r in rows if r.get("parameters") is not None),
        "conv_share": float(np.mean([c > 0 for c in convs])) if convs else None,
        "train_macs": train_macs_of(rows),
        "eval_macs": float(sum((r.get("macs") or 0) * (r.get("eval_images") or 0) for r in rows)),
        "trainings": sum(1 for r in rows if (r.get("train_images") or 0) > 0),
        "test_evaluations": sum(1 for r in rows if r.get("status") == "ok" and r.get("test_accuracy") is not None),
        "lr_scale": min(scales) if (scales := [r["lr_scale"] for r in rows if r.get("lr_scale") is not None]) else None,
    }
    return out


def train_macs_of(rows: Iterable[Mapping[str, Any]]) -> float:
    """Training multiply-accumulates of networks-log rows: Σ 3 · ``macs`` · ``train_images`` (issue 17)."""
    return float(sum(TRAINING_MAC_FACTOR * (r.get("macs") or 0) * (r.get("train_images") or 0) for r in rows))


def network_row(
    generation: int, record: NetworkRecord, species_id: int, first_training: bool, lr_scale: float = 1.0
) -> dict[str, Any]:
    """The networks-log row of a network trained in ``generation`` (``docs/logs.md``).

    Args:
        generation: the generation it was trained in.
        record: the network after its training (fitness, test accuracy, times, images).
        species_id: the species that trained it.
        first_training: whether this was its first training (its before-BP score is logged).
        lr_scale: the factor on the learning rate it trained at (``ecosystem.settle_lr_decay``).

    Returns:
        one row with every column of the networks log but ``culled`` set ``False`` (culling
        marks it later); ``macs`` is the forward multiply-accumulates per image of its genome.
    """
    return {
        "generation": generation,
        "network_id": record.id,
        "species_id": species_id,
        "parent_ids": list(record.parent_ids),
        "origin": record.origin.value,
        "mutation": record.mutation,
        "born_generation": record.born_generation,
        "age": record.age,
        "parameters": int(record.parameters),
        "layers": record.genome.summary(),
        "conv_layers": int(record.genome.n_conv),
        "fitness": record.fitness,
        "fitness_before_bp": record.fitness_before_bp if first_training else None,
        "test_accuracy": record.test_accuracy,
        "relative_fitness": record.relative_fitness,
        "relative_complexity": record.relative_complexity,
        "train_loss": record.train_loss,
        "train_time_s": record.train_time_s,
        "eval_time_s": record.eval_time_s,
        "macs": multiply_accumulates(record.genome),
        "train_images": record.train_images,
        "eval_images": record.eval_images,
        "lr_scale": float(f"{lr_scale:.12g}"),  # 0.027 for 0.3³, not 0.026999999999999996
        "status": record.status.value,
        "message": record.message or None,
        "culled": False,
    }


def failed_offspring_row(generation: int, record: NetworkRecord) -> dict[str, Any]:
    """The networks-log row of an offspring whose creation raised (status ``error``, never trained).

    It appears once, in the generation that created it, with age 0, null fitness and size
    columns, and the error message with its traceback in ``message``.
    """
    return {
        "generation": generation,
        "network_id": record.id,
        "species_id": record.species_id,
        "parent_ids": list(record.parent_ids),
        "origin": record.origin.value,
        "mutation": record.mutation,
        "born_generation": record.born_generation,
        "age": 0,
        "status": Status.ERROR.value,
        "message": record.message or None,
        "culled": False,
    }


__all__ = [
    "CONSTRAINT_FAILURE_COLUMNS",
    "COUNT_COLUMNS",
    "empty_counts",
    "failed_offspring_row",
    "network_row",
    "summarise_generation",
    "train_macs_of",
]
