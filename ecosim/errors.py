"""Exception hierarchy of ecosim.

Every error raised on purpose by ecosim derives from :class:`EcosimError`, so a
caller can catch the library's errors apart from Python's own.
"""

from __future__ import annotations

import errno
import os
import shlex


class EcosimError(Exception):
    """Base class of every error ecosim raises on purpose."""


class ConfigError(EcosimError, ValueError):
    """A configuration value is invalid; the message names the parameter, its value and what is allowed."""


class GenomeError(EcosimError, ValueError):
    """A genome or its weights violate a structural constraint (paper §III, §III-E)."""


class MutationRejected(EcosimError):
    """A mutation would break a constraint and was rejected before being applied (paper §III-D, §III-E).

    Attributes:
        kind: the mutation kind that failed (a ``MutationKind`` value, e.g. ``"grow_kernel"``).
        reason: why it failed, in words.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"mutation {kind!r} rejected: {reason}")
        self.kind = kind
        self.reason = reason


class DatasetError(EcosimError, FileNotFoundError):
    """A dataset cannot be found or read; the message names the dataset and the folder looked in."""


class CheckpointError(EcosimError, ValueError):
    """A checkpoint or run directory is missing, incomplete or of an unknown version."""


class ExtinctionError(EcosimError, RuntimeError):
    """The whole ecosystem went extinct; logs and the best network were saved first."""


class ClusterError(EcosimError, RuntimeError):
    """The Ray cluster can no longer carry the run (no node left for a training task, or work lost
    more often than ``resources.max_retries`` allows); the last complete generation is kept and
    ``ecosim resume`` continues from it."""


class RayStartError(ClusterError):
    """Ray itself did not start (local) or could not be joined (``run.address``), before any work.

    Ray waits a fixed 30 s for its own processes; on an overloaded machine that wait can run out,
    and Ray then raises a bare ``Exception`` with a traceback. ecosim reports it in one line and
    the command line exits with :attr:`exit_status`, so a job scheduler can retry.

    Attributes:
        exit_status: 75 (``EX_TEMPFAIL``: a temporary failure; retry later).
    """

    exit_status = 75


class ResumableStop(EcosimError, RuntimeError):
    """The run stopped before its last generation and can go on: ``ecosim resume RUN_DIR`` continues it.

    Raised when waiting longer cannot help (a cluster where no training task starts any more,
    issue 19). Nothing written before the stop is lost: the last complete generation is
    checkpointed and the logs end with it (the partial generation is redone on resume). The
    command line reports it as it reports Ctrl-C and SIGTERM, on one line, ``stopped: REASON:
    generation N is the last complete one and is kept; continue with: ecosim resume RUN_DIR``,
    and exits with :attr:`exit_status`.

    Attributes:
        reason: what was seen, one line without the resume advice (the message adds it).
        run_dir: the run directory (``ecosim resume`` continues it).
        exit_status: 75 (``EX_TEMPFAIL``: a temporary failure; retry later).
    """

    exit_status = 75

    def __init__(self, reason: str, run_dir: str | None = None) -> None:
        hint = f"; continue with: ecosim resume {shlex.quote(str(run_dir))}" if run_dir else ""
        super().__init__(f"{reason}{hint}")
        self.reason = reason
        self.run_dir = run_dir


#: errno → the reason a filesystem fault gives, in words (issue 21)
_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.ENOENT: "no such file or directory",
    errno.EEXIST: "already exists",
    errno.ELOOP: "too many levels of symbolic links",
}

#: errnos after which a run can go on once the user frees space or remounts: a resumable stop
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class StorageError(EcosimError, OSError):
    """A file or folder could not be written or read: one line naming the path, what was being
    done and why (issue 21), e.g. ``cannot write '/runs/a/.lock' (the run lock): permission denied``.

    The command line prints it as one ``error:`` line and exits with 1. Mid-run, a full disk
    (:data:`FULL_ERRNOS`) becomes a :class:`ResumableStop` instead.

    Attributes:
        path: the file or folder. operation: what was being done, in words. reason: why.
        errno: the ``errno`` of the underlying :class:`OSError` (``None`` if unknown).
    """

    def __init__(self, path: object, operation: str, reason: str, code: int | None = None) -> None:
        super().__init__(f"cannot {operation} {str(path)!r}: {reason}")
        self.path, self.operation, self.reason, self.code = str(path), operation, reason, code

    @property
    def disk_full(self) -> bool:
        """Whether freeing space (or remounting read-write) lets the work go on."""
        return self.code in FULL_ERRNOS

    @classmethod
    def from_os(cls, exc: OSError, operation: str, path: object | None = None) -> StorageError:
        """The one-line form of ``exc``; ``path`` defaults to the path the error names."""
        if isinstance(exc, StorageError):
            return exc
        where = path if path is not None else (exc.filename or "?")
        reason = _REASONS.get(exc.errno or -1) or (exc.strerror or str(exc)).lower()
        if exc.errno == errno.EEXIST and exc.filename and not os.path.isdir(exc.filename):
            reason = "a file stands where a folder is expected"
        return cls(where, operation, reason, exc.errno)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line (whitespace collapsed), cut to ``limit`` characters.

    For messages that quote a library's error (pyarrow, safetensors, the OS) inside ecosim's
    one-line errors and warnings; an empty message gives the exception's type name.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
