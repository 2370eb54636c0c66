"""Where dataset files are looked for (the data root) and where downloads and decoded arrays go (the cache).

Data root, in this order:

1. the ``data_root`` argument (the ``--data-root`` option of the command line),
2. else the environment variable ``ECOSIM_DATA`` (:data:`ENV_VAR`),
3. else ``<cache>/datasets``, downloading if missing (decided in :func:`ecosim.data.load.load_dataset`).

``<cache>`` is the ``cache_dir`` argument, else ``$ECOSIM_CACHE`` (:data:`CACHE_ENV_VAR`), else
``~/.cache/ecosim``.

Reads the environment only; touches no file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "ENV_VAR", "cache_root", "resolve_data_root"]

ENV_VAR = "ECOSIM_DATA"
"""Environment variable naming the data root when no ``data_root`` argument is given."""

CACHE_ENV_VAR = "ECOSIM_CACHE"
"""Environment variable naming the cache folder when no ``cache_dir`` argument is given."""


def resolve_data_root(data_root: str | os.PathLike[str] | None) -> Path | None:
    """Return the folder datasets are read from, or ``None`` when none was configured.

    Args:
        data_root: an explicit folder (``~`` is expanded); ``None`` to fall back to the
            environment variable ``ECOSIM_DATA``. The folder is not checked for existence.

    Returns:
        ``Path(data_root)``, else ``Path($ECOSIM_DATA)`` when that variable is set and
        non-empty, else ``None`` (meaning: use the download cache).

    Raises:
        Nothing.
    """
    if data_root is not None and str(data_root) != "":
        return Path(data_root).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return None


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """Return the cache folder: ``cache_dir`` (``~`` expanded), else ``$ECOSIM_CACHE``, else ``~/.cache/ecosim``.

    The folder is not checked for existence. Raises nothing.
    """
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ecosim"
