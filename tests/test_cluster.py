"""Surviving lost actors and nodes; multi-node runs on a real Ray cluster on this machine (issue 8)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ecosim.config import Config


def tiny(out: Path, data_root: Path, **kw) -> Config:
    """A run small enough for 2 shared cores: 4 networks in 2 species, 500 test images."""
    base = {
        "run.out": str(out),
        "run.seed": 11,
        "run.generations": 3,
        "data.dataset": "mnist",
        "data.data_root": str(data_root),
        "data.test_subset": 500,
        "ecosystem.population": 4,
        "ecosystem.species": 2,
        "ecosystem.max_species": 2,
        "ecosystem.max_population": 6,
        "ecosystem.offspring": 2,
        "training.train_fraction": 0.01,
        "resources.num_cpus": 2,
    }
    base.update(kw)
    return Config().with_overrides(base)


# ---- async: the retire-while-training race (unit level, one local Ray) -----------------------------
@pytest.mark.ray
def test_a_species_retired_while_its_training_is_in_flight_ends_its_loop_without_error(tmp_path, data_root, ray_local):
    from ecosim.data import prepare_data
    from ecosim.engine.coordinator import Ecosystem

    cfg = tiny(tmp_path / "race", data_root, **{"run.mode": "async", "run.generations": 2})
    data, shape, classes = prepare_data(cfg)

    async def scenario() -> None:
        eco = Ecosystem(cfg, tmp_path / "race", data, shape, classes)
        try:
            await eco.initialise()
            training = asyncio.Event()
            real_train = eco._train

            async def spy(*args, **kw):
                training.set()
                return await real_train(*args, **kw)

            eco._train = spy
            loop = asyncio.ensure_future(eco._species_loop(0, 2))
            await asyncio.wait_for(training.wait(), 60)
            await asyncio.sleep(0.5)  # the train call has reached the actor
            async with eco.lock:  # another species' step culls species 0's last network
                await eco._retire(0)
            await asyncio.wait_for(loop, 120)  # before the fix: ActorDiedError from the killed actor
            assert 0 not in eco.actors and 0 not in eco.policy.species
        finally:
            await eco.shutdown()

    asyncio.run(scenario())
