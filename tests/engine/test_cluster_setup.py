"""Ray set-up: a local Ray listens on loopback only, auth stays on quietly, a dead address fails fast."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ecosim.engine.cluster import _host_port, check_address
from ecosim.errors import EcosimError

REPO = Path(__file__).resolve().parents[2]

# Starts a local Ray through ecosim in a fresh interpreter, runs one task (so a worker exists),
# then prints every TCP listener of this process tree, one "address port name" per line.
_LISTENERS = textwrap.dedent(
    """
    import os, re, subprocess, time
    import ray
    from ecosim.config import Config
    from ecosim.engine.cluster import ensure_ray

    def tree(root):
        children = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = open(f"/proc/{d}/stat").read()
                except OSError:
                    continue
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
        out, todo = set(), [root]
        while todo:
            p = todo.pop()
            out.add(p)
            todo.extend(children.get(p, []))
        return out

    ensure_ray(Config().with_overrides({"resources.num_cpus": 1}))
    print("AUTH", os.environ.get("RAY_AUTH_MODE"), flush=True)
    assert ray.get(ray.remote(lambda: 1).remote()) == 1
    time.sleep(2)  # agents bind their ports while starting
    pids = tree(os.getpid())
    ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    for line in ss.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\\d+)", line)}
        if owners & pids:
            local = line.split()[3]
            host, _, port = local.rpartition(":")
            name = re.search(r'"([^"]+)"', line).group(1)
            print("LISTEN", host, port, name, flush=True)
    ray.shutdown()
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for var in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_ADDRESS"):
        env.pop(var, None)  # Ray's defaults, as a user has them
    return env


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[len("::ffff:") :]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", "0.0.0.0%lo"...
        return False


@pytest.mark.ray
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists listeners with ss and /proc")
def test_local_ray_listens_on_loopback_only_and_keeps_token_auth_quietly():
    proc = subprocess.run([sys.executable, "-c", _LISTENERS], env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listeners = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("LISTEN")]
    names = {name for _, _, name in listeners}
    assert {"gcs_server", "raylet"} <= names, proc.stdout  # the listing sees Ray's processes
    exposed = [entry for entry in listeners if not _is_loopback(entry[0])]
    assert exposed == [], f"listeners outside loopback: {exposed}"
    assert "AUTH token" in proc.stdout  # token authentication is on ...
    assert "Token authentication is enabled" not in proc.stderr  # ... without Ray's notice
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in proc.stdout


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head.example:10001", ("head.example", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        ("auto", None),
        ("http://head:8265", None),
    ],
)
def test_addresses_that_are_probed(address, expected):
    assert _host_port(address) == expected


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free again once closed: nothing listens there


def test_an_address_where_nothing_listens_fails_at_once_naming_it():
    address = f"127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    with pytest.raises(EcosimError, match=rf"run\.address = '{address}' \(.*\): check that the head node"):
        check_address(address, timeout=5.0)
    assert time.monotonic() - start < 5.0


def test_an_address_that_answers_passes_the_probe():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        check_address(f"127.0.0.1:{server.getsockname()[1]}", timeout=5.0)


def test_cli_run_with_a_dead_address_fails_within_seconds(tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    argv = ["run", "--dataset", "mnist", "--address", address, "--out", str(tmp_path / "run")]
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "ecosim.cli", *argv], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and time.monotonic() - start < 30.0, proc.stderr[-3000:]
    err = " ".join(proc.stderr.split())
    assert address in err and "ray start --head" in err and "Traceback" not in err


@pytest.mark.parametrize("tty, preset, expected", [(False, None, "0"), (True, None, None), (False, "1", "1")])
def test_worker_lines_are_plain_off_a_terminal_unless_the_user_chose(tty, preset, expected, monkeypatch):
    """A fresh user's find (session 38): in ``ecosim run ... > file`` Ray's ``(raylet)`` and
    ``(SpeciesActor …)`` lines carried colour codes (``\\x1b[33m``)."""
    from ecosim.engine.cluster import _plain_worker_lines_off_a_terminal

    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    if preset is None:
        monkeypatch.delenv("RAY_COLOR_PREFIX", raising=False)
    else:
        monkeypatch.setenv("RAY_COLOR_PREFIX", preset)
    _plain_worker_lines_off_a_terminal()
    assert os.environ.get("RAY_COLOR_PREFIX") == expected
    monkeypatch.delenv("RAY_COLOR_PREFIX", raising=False)
