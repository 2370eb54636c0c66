"""The one atomic file write of ecosim: a reader sees the old file or the new one, never a half.

Every file of a run directory (logs, checkpoints, the champion, ``LATEST``, ``config.toml``) is
written through :func:`atomic_write`: a temporary file in the target folder, flushed and fsynced,
then ``os.replace``. The temporary file is removed when writing fails.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

TMP_PREFIX = ".tmp-"
"""Name prefix of temporary files and folders; leftovers of a killed writer are removed on resume."""


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None] | bytes | str) -> Path:
    """Write ``path`` atomically.

    Args:
        path: the final file; its folder is created if needed.
        write: the content (``bytes`` or UTF-8 ``str``), or a callable that writes a file given
            its temporary path (e.g. ``lambda p: pq.write_table(table, p)``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder is not writable or the disk is full (no temporary file is left).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX + path.name + ".")
    try:
        if callable(write):
            os.close(fd)
            fd = -1
            write(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            os.fsync(fd)
        else:
            data = write.encode("utf-8") if isinstance(write, str) else write
            os.write(fd, data)
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = ["TMP_PREFIX", "atomic_write"]
