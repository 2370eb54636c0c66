"""A multi-node Ray cluster on one machine, for tests and benchmarks: ``ray start`` on loopback addresses.

Each node is one ``ray start --block`` process in its own session, with its own temporary folder
and its own loopback address (the head on 127.0.0.1, the others on 127.0.0.2, 127.0.0.3, ...),
as ``docs/cluster.md`` starts nodes on separate machines. :meth:`LocalCluster.remove_node`
SIGKILLs every process of a node (``ray start``, raylet, agents and workers), as a lost machine
would; :meth:`LocalCluster.remove_nodes` loses several at the same instant. The head then sees a
node die after its health checks (made fast here: :data:`HEALTH_CHECK`).

Token authentication is on (``RAY_AUTH_MODE=token``; the token is Ray's, ``~/.ray/auth_token`` or
``RAY_AUTH_TOKEN``); :meth:`LocalCluster.driver_env` is the environment a driver process needs
(``ecosim run --address``). The cluster's address file lives in the cluster's own folder, so a
plain ``ray.init()`` elsewhere on the machine never joins it by accident.

>>> with LocalCluster(head_cpus=0) as cluster:             # doctest: +SKIP
...     nodes = cluster.add_nodes(2, num_cpus=1)
...     subprocess.run(["ecosim", "run", "--address", cluster.address], env=cluster.driver_env())
...     cluster.remove_node(nodes[0])
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecosim.errors import EcosimError

#: the head's health checks: a lost node is declared dead after about 2 s (Ray's default: ~30 s)
HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_timeout_ms": 500, "health_check_failure_threshold": 4}

#: what ``ray start`` prints once its node has joined
_STARTED = "Ray runtime started"

#: object store per node (bytes): enough for MNIST and CIFAR-10 arrays plus results
OBJECT_STORE_BYTES = 400 * 1024**2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    """``{parent pid: [child pids]}`` from ``/proc``."""
    out: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        out.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
    return out


def cmdline(pid: int) -> str:
    """A process's command line (Ray workers show their title, e.g. ``ray::SpeciesActor.train``); ``""`` if gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class LocalNode:
    """One node of a :class:`LocalCluster`.

    Attributes:
        ip: its loopback address. num_cpus: its CPUs. head: whether it is the head.
        temp_dir: its Ray temporary folder (every process of the node names it).
        process: the ``ray start --block`` process. log: its output file.
    """

    ip: str
    num_cpus: float
    head: bool
    temp_dir: Path
    process: subprocess.Popen
    log: Path
    removed: bool = field(default=False)

    def pids(self) -> list[int]:
        """Every living process of the node: ``ray start``'s process tree, and any process naming its folder."""
        children = _children()
        found, todo = set(), [self.process.pid]
        while todo:
            p = todo.pop()
            if p not in found:
                found.add(p)
                todo.extend(children.get(p, []))
        tag = str(self.temp_dir)
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) not in found and tag in cmdline(int(d)):
                found.add(int(d))
        return sorted(p for p in found if os.path.exists(f"/proc/{p}"))


class LocalCluster:
    """A Ray cluster of several nodes on this machine (see the module docstring).

    Args:
        root: folder for the nodes' temporary folders and logs (default: a new one under /tmp,
            kept short: Ray's socket paths must stay under 108 characters).
        head_cpus: CPUs of the head node (0: training tasks run on the other nodes only).
        env: extra environment of every node (e.g. ``PYTHONPATH``).
        system_config: Ray system settings of the head (default :data:`HEALTH_CHECK`).

    Raises:
        EcosimError: a node did not start within ``timeout`` s (the message ends with its log).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        head_cpus: float = 0,
        env: Mapping[str, str] | None = None,
        system_config: Mapping[str, object] | None = None,
        timeout: float = 120.0,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="eclc-", dir="/tmp")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or {})
        self.system_config = dict(HEALTH_CHECK if system_config is None else system_config)
        self.timeout = timeout
        self.nodes: list[LocalNode] = []
        self.port = _free_port()
        self._next_ip = 2
        self.head = self._start(
            [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--ray-client-server-port={_free_port()}",
                f"--system-config={json.dumps(self.system_config)}",
            ],
            "127.0.0.1",
            head_cpus,
            None,
            head=True,
        )
        self._wait([self.head])

    @property
    def address(self) -> str:
        """The head's GCS address, ``127.0.0.1:PORT`` (``ecosim run --address``)."""
        return f"127.0.0.1:{self.port}"

    def driver_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a driver process joining this cluster (token authentication on)."""
        env = dict(os.environ if base is None else base)
        env.update(self.env)
        env["RAY_AUTH_MODE"] = "token"
        env.pop("RAY_ADDRESS", None)
        return env

    def _start(
        self, args: Sequence[str], ip: str, num_cpus: float, env: Mapping[str, str] | None, head: bool = False
    ) -> LocalNode:
        temp = self.root / f"n{len(self.nodes)}"
        log = self.root / f"n{len(self.nodes)}.log"
        node_env = self.driver_env()
        node_env.update(env or {})
        for k, v in list(node_env.items()):
            if v is None:
                node_env.pop(k)
        cmd = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--block",
            f"--node-ip-address={ip}",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
            f"--num-cpus={num_cpus:g}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--dashboard-agent-listen-port={_free_port()}",
            *args,
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, env=node_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        node = LocalNode(ip, num_cpus, head, temp, proc, log)
        self.nodes.append(node)
        return node

    def _wait(self, nodes: Sequence[LocalNode]) -> None:
        deadline = time.monotonic() + self.timeout
        for node in nodes:
            while _STARTED not in node.log.read_text(errors="replace"):
                if node.process.poll() is not None or time.monotonic() > deadline:
                    tail = node.log.read_text(errors="replace")[-2000:]
                    self.shutdown()
                    raise EcosimError(f"Ray node {node.ip} did not start (log {node.log}):\n{tail}")
                time.sleep(0.1)

    def add_nodes(
        self, count: int, num_cpus: float = 1, env: Mapping[str, str | None] | None = None
    ) -> list[LocalNode]:
        """Start ``count`` nodes (at once) and wait until each has joined.

        Args:
            num_cpus: CPUs of each. env: environment changes of these nodes only; a ``None``
                value removes a variable (e.g. ``{"ECOSIM_DATA": None}``: a node without the data).
        """
        nodes = []
        for _ in range(count):
            ip = f"127.0.0.{self._next_ip}"
            self._next_ip += 1
            nodes.append(self._start([f"--address={self.address}"], ip, num_cpus, env))  # type: ignore[arg-type]
        self._wait(nodes)
        return nodes

    def remove_node(self, node: LocalNode) -> list[int]:
        """SIGKILL every process of ``node`` (a lost machine); returns the pids killed."""
        killed: list[int] = []
        for _ in range(20):  # a process may spawn children while we kill: until none is left
            pids = node.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        node.process.wait(timeout=10)
        node.removed = True
        return killed

    def remove_nodes(self, nodes: Sequence[LocalNode]) -> list[int]:
        """Lose several machines at the same instant; returns the pids killed.

        Every process of every node in ``nodes`` is frozen (SIGSTOP) before any is killed, so no
        node finishes work that another node's loss sent it while :meth:`remove_node` takes the
        nodes one by one (a run of short tasks could otherwise complete on the last node).
        """
        for node in nodes:
            for pid in node.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
        return [pid for node in nodes for pid in self.remove_node(node)]

    def pids(self, title: str) -> list[int]:
        """Living processes of the cluster whose command line contains ``title`` (e.g. ``"ray::SpeciesActor"``)."""
        return sorted(p for n in self.nodes if not n.removed for p in n.pids() if title in cmdline(p))

    def node_of(self, pid: int) -> LocalNode | None:
        """The node a process belongs to, or ``None``."""
        return next((n for n in self.nodes if not n.removed and pid in n.pids()), None)

    def shutdown(self) -> None:
        """Remove every node (the others first, the head last) and delete the cluster's folder if it made it."""
        for node in sorted(self.nodes, key=lambda n: n.head):
            if not node.removed:
                self.remove_node(node)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


__all__ = ["HEALTH_CHECK", "OBJECT_STORE_BYTES", "LocalCluster", "LocalNode", "cmdline"]
