"""The one atomic file write of ecosim: a reader sees the old file or the new one, never a half.

Every file of a run directory (logs, checkpoints, the champion, ``LATEST``, ``config.toml``) is
written through :func:`atomic_write`: a temporary file in the target folder, flushed and fsynced,
then ``os.replace``. The temporary file is removed when writing fails.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ecosim.errors import StorageError


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: the umask when ecosim was imported: files and folders get the modes ``open`` and ``mkdir`` would give
UMASK = _process_umask()


def share_as_created(path: str | os.PathLike[str], folder: bool = False) -> None:
    """Give a temporary file (``0600``) or folder (``0700``) the mode a plain ``open`` or ``mkdir``
    would have given it (``0666`` or ``0777`` less the umask), so colleagues can read a run
    directory as they read any other file of its owner.
    """
    os.chmod(path, (0o777 if folder else 0o666) & ~UMASK)


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
        StorageError: the folder cannot be created or written, the disk is full, the file system
            is read-only (one line naming ``path``; no temporary file is left).
    """
    path = Path(path)
    try:
        return _atomic_write(path, write)
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError.from_os(exc, "write", path) from exc


def _atomic_write(path: Path, write: Callable[[str], None] | bytes | str) -> Path:
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
        share_as_created(tmp)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(folder: str | os.PathLike[str], what: str) -> None:
    """Fail now, not at the first write an hour later, if ``folder`` cannot become a writable folder.

    The nearest existing ancestor must be a directory that this process may write (``folder``
    itself when it exists); a file where a folder is expected or a dangling link is a fault too.

    Args:
        folder: the folder that will be written (it may not exist yet).
        what: what it is, in words (e.g. ``"the run directory"``), for the message.

    Raises:
        StorageError: one line naming the path, e.g. ``cannot write the run directory 'x': not a directory``.
    """
    p = Path(folder)
    if p.is_symlink() and not p.exists():
        raise StorageError(p, f"write {what}", "dangling symbolic link", errno.ENOENT)
    probe = p
    while not probe.exists():
        if probe.is_symlink():
            raise StorageError(p, f"write {what}", f"{str(probe)!r} is a dangling symbolic link", errno.ENOENT)
        probe = probe.parent
    where = "" if probe == p else f"{str(probe)!r} is "
    if not probe.is_dir():
        raise StorageError(p, f"write {what}", f"{where}not a directory", errno.ENOTDIR)
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = f"{str(probe)!r} is not writable (permission denied)" if where else "permission denied"
        raise StorageError(p, f"write {what}", reason, errno.EACCES)
    if where:  # a folder to create: try one (access() passes root on /sys, /proc, where mkdir fails)
        try:
            os.rmdir(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=probe))
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise StorageError(
                p, f"write {what}", f"no folder can be created in {str(probe)!r} ({reason})", exc.errno
            ) from exc


__all__ = ["TMP_PREFIX", "UMASK", "atomic_write", "check_writable", "share_as_created"]
