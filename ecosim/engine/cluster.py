"""Ray set-up of a run: start a local Ray or join a cluster, and check that a task fits it.

A **local** Ray (``run.address`` empty) listens on the loopback interface only: Ray's
single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its default on macOS and Windows)
is switched on for the start, so the GCS, the raylet, the dashboard agent, the runtime-env agent
and the workers bind 127.0.0.1 instead of every interface. **Joining a cluster**
(``run.address``) keeps Ray's normal binding, which a multi-node cluster needs. Token
authentication stays on in both cases; see ``docs/security.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ray

from ecosim.config import Config
from ecosim.errors import ConfigError, EcosimError, RayStartError

#: Ray's switch for its single-machine mode (every listener on loopback)
_SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

#: seconds to wait for a TCP connection to ``run.address`` before giving up
CONNECT_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)

_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
_TOKEN_ENABLED = "Token authentication is enabled"


class _DropTokenEnabledNotice(logging.Filter):
    """Drops Ray's "Token authentication is enabled" notice; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_TOKEN_ENABLED)


_TOKEN_FILTER = _DropTokenEnabledNotice()


def _quiet_token_notice() -> None:
    """Silence Ray's notice that token authentication is on (it is on by design; see docs/security.md).

    Only that one message of that one logger is dropped; the warning that authentication is
    *disabled* still appears.
    """
    logger = logging.getLogger(_TOKEN_LOGGER)
    if _TOKEN_FILTER not in logger.filters:
        logger.addFilter(_TOKEN_FILTER)


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """Ray's single-machine mode while a local Ray starts: every process it spawns binds 127.0.0.1.

    The processes Ray starts inherit the environment variable; this (driver) process read it when
    ``ray`` was imported, so its copy of the flag is switched as well. Both are restored after
    the start, so that a later ``ray.init(address=...)`` in the same process joins a cluster
    normally.
    """
    from ray._private import ray_constants

    old_env = os.environ.get(_SINGLE_MACHINE_ENV)
    old_flag = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_SINGLE_MACHINE_ENV] = "0"
    if old_flag is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(_SINGLE_MACHINE_ENV, None)
        else:
            os.environ[_SINGLE_MACHINE_ENV] = old_env
        if old_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = old_flag


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address; ``None`` for ``auto`` etc."""
    rest = address.strip()
    if "://" in rest:
        scheme, _, rest = rest.partition("://")
        if scheme != "ray":
            return None
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def check_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast when nothing accepts connections at a Ray cluster address.

    ``ray.init(address=...)`` retries for minutes when nothing listens there (about 40 s per
    attempt, 20 attempts); a TCP connection attempt answers within ``timeout`` seconds. A port
    that answers but is no Ray head is still left to Ray's own retries.

    Args:
        address: ``host:port`` (the head's GCS port, 6379 by default) or ``ray://host:port``
            (Ray Client, 10001 by default); other forms (``auto``) are left to Ray.
        timeout: seconds to wait for the connection (default :data:`CONNECT_TIMEOUT_S`).

    Raises:
        EcosimError: the connection is refused, times out or the host is unknown; the message
            names the address and what to check.

    >>> check_address("127.0.0.1:1", timeout=1.0)  # doctest: +SKIP
    Traceback (most recent call last):
    ecosim.errors.EcosimError: cannot reach the Ray cluster at run.address = '127.0.0.1:1' ...
    """
    target = _host_port(address)
    if target is None:
        return
    host, port = target
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, (TimeoutError, socket.timeout)):
            reason = f"no answer within {time.monotonic() - start:.0f} s"
        raise EcosimError(
            f"cannot reach the Ray cluster at run.address = {address!r} ({reason}): check that the "
            f"head node is running (`ray start --head` there; `ray status --address {host}:{port}`), "
            "that the address is the head's GCS port (6379 unless `ray start --port` set another; "
            "ray://host:10001 for Ray Client), and that no firewall blocks it; "
            "omit --address to start a local Ray"
        ) from None


def _plain_worker_lines_off_a_terminal() -> None:
    """Workers' lines that Ray prints in this process, such as ``(raylet)`` warnings, carry colour
    codes whether or not the output is a terminal; piped to a file they read ``\x1b[33m``. Off a
    terminal, ``RAY_COLOR_PREFIX=0`` (Ray's own switch) prints them plain, unless the user set it."""
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")


def ensure_ray(config: Config) -> None:
    """Start local Ray, or join ``run.address``; reuse a Ray already initialised in this process.

    A local Ray listens on 127.0.0.1 only (module docstring); the dashboard, when enabled,
    listens on ``run.dashboard_host`` (127.0.0.1 by default). Token authentication is left on
    (Ray's default for local clusters since 2.59); only Ray's notice saying so is silenced.

    Raises:
        EcosimError: ``run.address`` does not accept connections (:func:`check_address`).
        RayStartError: ``ray.init`` failed (local Ray did not start, or the cluster refused to be
            joined): one line naming Ray's error.
    """
    if ray.is_initialized():
        return
    _quiet_token_notice()
    _plain_worker_lines_off_a_terminal()
    r = config.run
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if r.address:
        check_address(r.address)
        try:
            ray.init(address=r.address, **kwargs)
        except Exception as exc:
            raise RayStartError(f"could not join the Ray cluster at {r.address!r} ({_first_line(exc)})") from exc
        return
    try:
        with _single_machine():
            ray.init(
                num_cpus=config.resources.num_cpus or None,
                include_dashboard=r.dashboard,
                dashboard_host=r.dashboard_host,
                _node_ip_address="127.0.0.1",
                **kwargs,
            )
    except Exception as exc:  # Ray's own start-up (e.g. its fixed 30 s wait on a loaded machine)
        with contextlib.suppress(Exception):
            ray.shutdown()  # what did start
        raise RayStartError(
            f"local Ray did not start ({_first_line(exc)}); nothing was run: on an overloaded machine (Ray "
            "waits 30 s for its own processes) retry later, or start Ray once with `ray start --head` and pass "
            "its address with --address"
        ) from exc


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception raised by Ray."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def task_fits(nodes: Sequence[Mapping[str, Any]], cpus: float, gpus: float) -> bool:
    """Whether one living node has the CPUs and GPUs of one training task.

    Args:
        nodes: Ray's node table (:func:`ray.nodes`): dicts with ``Alive`` and ``Resources``.
        cpus: ``resources.cpus_per_task``; gpus: ``resources.gpus_per_task`` (fractions allowed).

    Returns:
        ``True`` when some node that is alive has at least ``cpus`` CPUs and ``gpus`` GPUs in
        total (busy or not: a busy node runs the task later).

    >>> task_fits([{"Alive": True, "Resources": {"CPU": 2.0}}], cpus=1.0, gpus=0.0)
    True
    >>> task_fits([{"Alive": False, "Resources": {"CPU": 2.0}}], cpus=1.0, gpus=0.0)
    False
    """
    for node in nodes:
        res = node.get("Resources") or {}
        if node.get("Alive") and float(res.get("CPU", 0.0)) >= cpus and float(res.get("GPU", 0.0)) >= gpus:
            return True
    return False


def cluster_summary(nodes: Sequence[Mapping[str, Any]]) -> str:
    """The living nodes and their CPUs/GPUs in words, e.g. ``"2 nodes, 3 CPUs, 0 GPUs"``."""
    facts = cluster_facts(nodes)
    n, cpus, gpus = facts["nodes"], facts["cluster_cpus"], facts["cluster_gpus"]
    plural = {True: "s", False: ""}
    return f"{n} node{plural[n != 1]}, {cpus:g} CPU{plural[cpus != 1]}, {gpus:g} GPU{plural[gpus != 1]}"


def cluster_facts(nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The living nodes, their CPUs and GPUs and the GPUs' types, as columns of the sessions log
    (:data:`ecosim.store.logs.SESSION_SCHEMA`).

    Args:
        nodes: Ray's node table (:func:`ray.nodes`): dicts with ``Alive`` and ``Resources``, whose
            ``accelerator_type:<name>`` keys name the GPU type.

    >>> cluster_facts([{"Alive": True, "Resources": {"CPU": 16.0, "GPU": 1.0, "accelerator_type:H100": 1.0}},
    ...                {"Alive": False, "Resources": {"CPU": 2.0}}])
    {'nodes': 1, 'cluster_cpus': 16.0, 'cluster_gpus': 1.0, 'gpu_types': 'H100'}
    """
    alive = [n.get("Resources") or {} for n in nodes if n.get("Alive")]
    types = sorted({k.split(":", 1)[1] for res in alive for k in res if k.startswith("accelerator_type:")})
    return {
        "nodes": len(alive),
        "cluster_cpus": sum(float(res.get("CPU", 0.0)) for res in alive),
        "cluster_gpus": sum(float(res.get("GPU", 0.0)) for res in alive),
        "gpu_types": ",".join(types),
    }


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


__all__ = [
    "CONNECT_TIMEOUT_S",
    "check_address",
    "check_resources",
    "cluster_facts",
    "cluster_summary",
    "ensure_ray",
    "task_fits",
]
