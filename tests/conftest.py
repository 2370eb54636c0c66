"""Shared fixtures: real data from $ECOSIM_DATA and one local Ray instance per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder of real datasets (``ECOSIM_DATA``); a missing dataset is a failure, not a skip."""
    value = os.environ.get("ECOSIM_DATA")
    if not value:
        pytest.fail("ECOSIM_DATA is not set: point it at the datasets folder (e.g. ../shared/data)")
    root = Path(value)
    if not (root / "MNIST" / "raw").is_dir():
        pytest.fail(f"ECOSIM_DATA={root} has no MNIST/raw folder")
    return root


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs, no dashboard) shared by every Ray test."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
