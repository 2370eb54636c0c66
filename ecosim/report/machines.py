"""What computed a set of runs, in words, from their sessions logs (ecosim ≥ 0.9.11; ``docs/logs.md``).

The machine line of ``ecosim report`` ("Computed on: ...") and of ``experiments/make_results.py``:
each Ray cluster and driver CPU a run computed on, with torch's CPU kernel level where recorded
(runs of one level reproduce each other's bits, ``docs/design.md`` "Bit-identical on one machine
type").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ecosim.errors import CheckpointError
from ecosim.report.runs import RunLogs, RunSkippedWarning
from ecosim.store.rundir import RunDir


def session_machine(row: Mapping[str, Any]) -> str:
    """One session of a run (a row of :func:`ecosim.store.logs.read_sessions`) in words: the Ray cluster
    when it began (a snapshot), its GPUs' types, and the CPU model of the machine that ran the driver
    (the only CPU model recorded: beside the count on one node, after ``driver CPU`` on several),
    with torch's CPU kernel level where recorded (ecosim ≥ 0.9.12: runs of one level reproduce each
    other's bits, :func:`ecosim.machine.cpu_capability`).

    >>> session_machine({"nodes": 1, "cluster_cpus": 2.0, "cluster_gpus": 0.0, "cpu": "AMD EPYC"})
    '1 node, 2 CPUs (AMD EPYC), no GPU'
    >>> session_machine({"nodes": 1, "cluster_cpus": 2, "cluster_gpus": 0, "cpu": "AMD EPYC", "cpu_capability": "AVX2"})
    '1 node, 2 CPUs (AMD EPYC, AVX2), no GPU'
    >>> session_machine({"nodes": 2, "cluster_cpus": 32.0, "cluster_gpus": 2.0, "gpu_types": "H100", "cpu": "Xeon"})
    '2 nodes, 32 CPUs, 2 GPUs (H100), driver CPU Xeon'
    """

    def number(key: str) -> float:
        v = row.get(key)
        return 0.0 if v is None or pd.isna(v) else float(v)

    def text(key: str) -> str:
        v = row.get(key)
        return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    nodes, cpus, gpus = int(number("nodes")), number("cluster_cpus"), number("cluster_gpus")
    cpu, types = text("cpu"), text("gpu_types")
    cpu = ", ".join(x for x in (cpu, text("cpu_capability")) if x)
    out = f"{nodes} node{'' if nodes == 1 else 's'}, {cpus:g} CPU{'' if cpus == 1 else 's'}"
    out += f" ({cpu})" if cpu and nodes == 1 else ""
    out += ", no GPU" if gpus == 0 else f", {gpus:g} GPU{'' if gpus == 1 else 's'}" + (f" ({types})" if types else "")
    return out + (f", driver CPU {cpu}" if cpu and nodes != 1 else "")


def machines_text(runs: Sequence[RunLogs], given: str = "") -> str:
    """What computed the runs, from their sessions logs (ecosim ≥ 0.9.11; :func:`session_machine`): each
    distinct machine with the number of runs that computed on it, the most common first. A run that
    computed on more than one machine (resumed elsewhere, or under another CPU kernel level) counts
    for each, and the text says how many runs did so: their bits follow more than one machine.

    Counted apart, with the reason: runs whose start is not recorded because their logs are older
    than the sessions log (0.9.11; described by ``given``, ``make_results.py --machine``, when the
    caller knows), runs whose start's sessions file was damaged and set aside
    (``RUN_DIR/damaged/sessions/``), and runs whose sessions log cannot be read now (warned,
    :class:`RunSkippedWarning`; ``ecosim resume`` sets the file aside). ``"no run"`` for none.

    >>> machines_text([])
    'no run'
    """
    seen: dict[str, int] = {}
    older = set_aside = unreadable = several = 0
    for r in runs:
        try:
            sessions = r.sessions
        except CheckpointError as exc:
            warnings.warn(f"{exc} (its machine is counted as not readable)", RunSkippedWarning, stacklevel=2)
            unreadable += 1
            continue
        machines = list(dict.fromkeys(session_machine(row) for row in sessions.to_dict("records")))
        if "run" not in set(sessions["command"]):  # its start (at least) is not recorded
            if any((RunDir(r.run_dir).damaged / "sessions").glob("session-*.parquet")):
                set_aside += 1
            else:
                older += 1
        several += len(machines) > 1
        for machine in machines:
            seen[machine] = seen.get(machine, 0) + 1
    parts = [f"{machine} ({_count_runs(n)})" for machine, n in sorted(seen.items(), key=lambda kv: -kv[1])]
    if several:
        parts.append(f"{_count_runs(several)} computed on more than one of these")
    if older:
        parts.append(
            f"{given} ({_count_runs(older)}, as `--machine` says: logs from before the sessions log)"
            if given
            else f"not recorded for {_count_runs(older)} (logs from before ecosim 0.9.11)"
        )
    if set_aside:
        parts.append(f"start not recorded for {_count_runs(set_aside)} (a damaged sessions file, set aside)")
    if unreadable:
        parts.append(
            f"not readable for {_count_runs(unreadable)} (a damaged sessions file; `ecosim resume` sets it aside)"
        )
    return "; ".join(parts) or "no run"


def _count_runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


__all__ = ["machines_text", "session_machine"]
