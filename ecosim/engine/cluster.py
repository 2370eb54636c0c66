"""Ray set-up of a run: start a local Ray or join a cluster, and check that a task fits it."""

from __future__ import annotations

import logging
from typing import Any

import ray

from ecosim.config import Config
from ecosim.errors import ConfigError


def ensure_ray(config: Config) -> None:
    """Start local Ray, or join ``run.address``; reuse a Ray already initialised in this process.

    Token authentication is left as Ray configures it (on by default for local clusters since
    Ray 2.59); the dashboard, when enabled, listens on ``run.dashboard_host`` (127.0.0.1).
    """
    if ray.is_initialized():
        return
    r = config.run
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if r.address:
        ray.init(address=r.address, **kwargs)
        return
    ray.init(
        num_cpus=config.resources.num_cpus or None,
        include_dashboard=r.dashboard,
        dashboard_host=r.dashboard_host,
        **kwargs,
    )


def check_resources(config: Config) -> None:
    """Check that one training task's CPU/GPU request fits the Ray cluster, before any work.

    Raises:
        ConfigError: ``resources.cpus_per_task`` or ``resources.gpus_per_task`` exceeds what the
            cluster has (a task that can never be scheduled would wait forever).
    """
    total = ray.cluster_resources()
    res = config.resources
    cpus, gpus = float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0))
    if res.cpus_per_task > cpus:
        raise ConfigError(
            f"config 'resources.cpus_per_task' = {res.cpus_per_task} is invalid: must be ≤ the cluster's {cpus:g} CPUs"
        )
    if res.gpus_per_task > gpus:
        raise ConfigError(
            f"config 'resources.gpus_per_task' = {res.gpus_per_task} is invalid: must be ≤ the cluster's "
            f"{gpus:g} GPUs (0 runs on CPUs)"
        )


__all__ = ["check_resources", "ensure_ray"]
