"""The machine a process runs on, in words: its CPU model, cores, platform and package versions.

Standard library only at import (no torch, no Ray; :func:`cpu_capability` imports torch when
called): read by the measured layout's cache key
(:func:`ecosim.phenotype.layout.machine_description`) and by the sessions log of a run
(:data:`ecosim.store.logs.SESSION_SCHEMA`), so that every result says what computed it.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ecosim.version import __version__

#: packages whose versions a session records (besides ecosim's own and Python's)
PACKAGES = ("torch", "torchvision", "ray", "numpy", "pyarrow")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`), e.g.
    ``"AMD EPYC 7B13"``; the machine type (``"x86_64"``) when neither names it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return cpu


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels use here (ATen's dispatch level: ``"DEFAULT"``,
    ``"AVX2"``, ``"AVX512"``, ...; ``$ATEN_CPU_CAPABILITY`` lowers it); ``""`` without torch.

    It decides the bits a CPU training computes: the same seeded run is bit-identical on machines of
    one level and one torch, and differs in the last bits (then, as training amplifies them, in its
    fitness values) between levels (``docs/design.md``, "Bit-identical on one machine type").
    """
    try:
        torch = importlib.import_module("torch")
        return str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError):
        return ""


def source_commit() -> str:
    """The git commit ecosim is imported from, ``git describe --always --dirty --abbrev=12`` (a hash,
    ``-dirty`` when the checkout has uncommitted changes), when it runs from a git checkout (an
    editable install); ``""`` for an installed package, or without git. Its version number alone
    does not tell two states of a checkout apart."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def package_version(name: str) -> str:
    """The version of a package: its module's ``__version__`` when it is imported already (torch's
    names its build, ``"2.14.1+cu130"``), else the installed distribution's; ``""`` when not installed."""
    loaded = getattr(sys.modules.get(name), "__version__", None)
    if isinstance(loaded, str) and loaded:
        return loaded
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def host_facts() -> dict[str, Any]:
    """This process's machine and software, as columns of the sessions log.

    Returns:
        ``{"cpu": model name, "cpu_capability": torch's CPU kernel level (:func:`cpu_capability`),
        "host_cpus": os.cpu_count() (logical CPUs), "platform": platform.platform(),
        "python": "3.11.7", "ecosim": ecosim's version, "ecosim_commit": :func:`source_commit`,
        "torch": ..., "torchvision": ..., "ray": ..., "numpy": ..., "pyarrow": ...}`` (a package not
        installed gives ``""``). No host name: packs of logs are meant to be shared.
    """
    facts: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "host_cpus": os.cpu_count() or 0,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ecosim": __version__,
        "ecosim_commit": source_commit(),
    }
    facts.update({name: package_version(name) for name in PACKAGES})
    return facts


__all__ = ["PACKAGES", "cpu_capability", "cpu_model", "host_facts", "package_version", "source_commit"]
