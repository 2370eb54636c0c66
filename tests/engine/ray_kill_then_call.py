"""A call that reaches an actor while Ray force-kills it can abort the actor's process (Ray 2.60).

The abort prints about 80 lines of C++ stack to the driver's terminal (``Unhandled exception:
St19bad_optional_access`` in ``CoreWorker::ExecuteTask``, then ``SIGABRT``), after a run that
otherwise ended well. ecosim ≤ 0.9.0 met it at the end of about one run in ten: its shutdown
killed the species actors and then probed each with ``__ray_ready__`` until the call failed.
The shutdown now sends no call to a killed actor and waits for the processes' ids instead
(:meth:`ecosim.engine.actors.SpeciesActors.shutdown`).

The script repeats, ``ROUNDS`` times per mode, what that shutdown does to 4 async actors that
imported torch (as species actors do; the abort is rare without it): one call each, ``ray.kill``,
then either ``probe`` (a ``__ray_ready__`` call to each, the old way) or ``quiet`` (wait until
the processes have exited, the new way). It prints one JSON object: ``ray`` (version),
``rounds``, ``actors`` per mode, and for each mode the number of actor processes that aborted
(their core-worker logs name ``bad_optional_access``). On this 2-core machine under load
(session 30): ``probe`` aborted about one actor in 100–200; see docs/design.md.

    python tests/engine/ray_kill_then_call.py [ROUNDS]      (default 100; minutes)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

ACTORS = 4


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def run_mode(mode: str, rounds: int) -> int:
    """Run ``rounds`` rounds of ``mode`` on a fresh local Ray; returns the number of aborted actors."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")

    @ray.remote(num_cpus=0)
    class Species:
        def __init__(self) -> None:
            import torch  # noqa: F401  (a species actor's process holds torch)

        @staticmethod
        def where() -> int:
            return os.getpid()

    async def rounds_of() -> None:
        for _ in range(rounds):
            actors = [Species.remote() for _ in range(ACTORS)]
            pids = await asyncio.gather(*(a.where.remote() for a in actors))
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if mode == "probe":
                for actor in actors:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(actor.__ray_ready__.remote(), 10)
            deadline = time.monotonic() + 10
            while any(_alive(p) for p in pids) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)

    asyncio.run(rounds_of())
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    ray.shutdown()
    return sum("bad_optional_access" in p.read_text(errors="replace") for p in logs.glob("python-core-worker-*.log"))


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    import ray

    out = {"ray": ray.__version__, "rounds": rounds, "actors": rounds * ACTORS}
    for mode in ("probe", "quiet"):
        out[mode] = run_mode(mode, rounds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
