"""The machine a process runs on, in words: its CPU model, cores, platform and package versions.

Standard library only at import (no torch, no Ray; :func:`cpu_capability` imports torch when
called, unless a cache folder already holds its answer for this machine): read by the measured
layout's cache key
(:func:`ecosim.phenotype.layout.machine_description`) and by the sessions log of a run
(:data:`ecosim.store.logs.SESSION_SCHEMA`), so that every result says what computed it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ecosim.atomic import atomic_write
from ecosim.version import __version__

#: packages whose versions a session records (besides ecosim's own and Python's)
PACKAGES = ("torch", "torchvision", "ray", "numpy", "pyarrow")


def _cpuinfo(fields: tuple[str, ...]) -> str:
    """The first value of one of ``fields`` in ``/proc/cpuinfo`` (Linux); ``""`` where it is absent."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.split(":")[0].strip() in fields), "")
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`), e.g.
    ``"AMD EPYC 7B13"``; the machine type (``"x86_64"``) when neither names it."""
    return _cpuinfo(("model name",)) or platform.processor() or platform.machine()


def cpu_capability(cache_dir: Path | None = None) -> str:
    """The instruction set torch's CPU kernels use here: ATen's dispatch level (``"DEFAULT"``,
    ``"AVX2"``, ``"AVX512"``, ...; ``$ATEN_CPU_CAPABILITY`` lowers it), followed by oneDNN's cap when
    ``$ONEDNN_MAX_CPU_ISA`` (or its older name ``$DNNL_MAX_CPU_ISA``) sets one, e.g.
    ``"AVX2, oneDNN max SSE41"``; ``""`` without torch.

    Both decide the bits a CPU training computes: the same seeded run is bit-identical on machines of
    one such level and one torch, and differs in the last bits (then, as training amplifies them, in
    its fitness values) between levels (``docs/design.md``, "Bit-identical on one machine type").
    oneDNN tells instruction sets apart more finely than ATen's levels (AVX-512 variants).

    Args:
        cache_dir: a folder (the ecosim cache) where ATen's level is kept per machine, keyed by
            the CPU's flags, torch's version and ``$ATEN_CPU_CAPABILITY``: a run's driver, which
            needs no tensor, then imports torch (2–5 s) only on the first run of a machine type
            (issue 18: the first generation is submitted before the driver imports torch).
            ``None`` (default) asks torch. A cache that cannot be read or written is ignored.
    """
    level = _aten_level(cache_dir)
    if not level:
        return ""
    cap = next((v for k in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA") if (v := os.environ.get(k, "").strip())), "")
    return f"{level}, oneDNN max {cap}" if cap else level


def _aten_level(cache_dir: Path | None) -> str:
    """ATen's CPU dispatch level, from ``cache_dir/machine/`` when it holds this machine's, else from
    torch (then stored there); ``""`` without torch. See :func:`cpu_capability`."""
    key = _aten_level_key() if cache_dir is not None else ""
    path = Path(cache_dir) / "machine" / f"aten-level-{key}.txt" if cache_dir is not None and key else None
    if path is not None:
        try:
            stored = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            stored = ""
        if stored:
            return stored
    try:
        torch = importlib.import_module("torch")
        level = str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError):
        return ""
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only cache: ask torch next time too
            atomic_write(path, level + "\n")
    return level


def _aten_level_key() -> str:
    """A digest of what ATen's level depends on: the CPU's flags (``/proc/cpuinfo``), torch's
    installed version and ``$ATEN_CPU_CAPABILITY``; ``""`` where the flags are not readable (then
    nothing is cached)."""
    flags = _cpuinfo(FLAG_FIELDS)
    if not flags:
        return ""
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return ""
    text = "\n".join((platform.machine(), flags, torch_version, os.environ.get("ATEN_CPU_CAPABILITY", "").strip()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: ``/proc/cpuinfo`` fields that list a CPU's instruction-set extensions (x86, then Arm)
FLAG_FIELDS = ("flags", "Features")


def source_commit() -> str:
    """The git commit ecosim is imported from when it runs from a git checkout (an editable install):
    its hash (12 digits), ``-dirty`` when the package folder ``ecosim/`` differs from it (an edited,
    added or deleted file, untracked ones included); ``"unknown (...)"`` with git's reason when git
    cannot tell (not installed, or a checkout owned by another user: "dubious ownership"); ``""``
    for an installed package. Its version number alone does not tell two states of a checkout apart."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["git failed"])[0][:120])
        return done.stdout

    try:
        commit = git("rev-parse", "--short=12", "HEAD").strip()
        changed = git("status", "--porcelain", "--untracked-files=normal", "--", "ecosim").strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__}: no git)"
    except RuntimeError as exc:
        return f"unknown ({exc})"
    return commit + ("-dirty" if changed else "")


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


def host_facts(cache_dir: Path | None = None) -> dict[str, Any]:
    """This process's machine and software, as columns of the sessions log.

    Args:
        cache_dir: where :func:`cpu_capability` keeps torch's CPU kernel level per machine
            (``None``: ask torch, importing it).

    Returns:
        ``{"cpu": model name, "cpu_capability": torch's CPU kernel level (:func:`cpu_capability`),
        "host_cpus": os.cpu_count() (logical CPUs), "platform": platform.platform(),
        "python": "3.11.7", "ecosim": ecosim's version, "ecosim_commit": :func:`source_commit`,
        "torch": ..., "torchvision": ..., "ray": ..., "numpy": ..., "pyarrow": ...}`` (a package not
        installed gives ``""``). No host name: packs of logs are meant to be shared.
    """
    facts: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(cache_dir),
        "host_cpus": os.cpu_count() or 0,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ecosim": __version__,
        "ecosim_commit": source_commit(),
    }
    facts.update({name: package_version(name) for name in PACKAGES})
    return facts


__all__ = ["PACKAGES", "cpu_capability", "cpu_model", "host_facts", "package_version", "source_commit"]
