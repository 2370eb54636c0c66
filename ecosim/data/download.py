"""Reading a known dataset with torchvision, downloading it first when allowed, and the error when neither works.

:func:`read_or_download` runs a reader (torchvision's dataset classes, given by the caller) on
the data root; when the files are missing and ``download`` is true, it downloads into a hidden
temporary folder under the root and moves the files into place only once complete, so an
interrupted or offline download leaves nothing half-written. Failure is a
:class:`DataNotFoundError`: one line naming the dataset, the folder and what to do.

Writes only under the data root it is given (the staging folder, then the downloaded files).
Imports neither torch nor torchvision itself: the callers pass the reader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.error import URLError

from ecosim.data.record import LAYOUTS
from ecosim.data.root import ENV_VAR
from ecosim.errors import DatasetError

__all__ = ["DataNotFoundError", "read_or_download"]

log = logging.getLogger(__name__)

# Errors torchvision (and the files it reads) raise for missing, corrupt or undownloadable data.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    OSError,
    URLError,
    ValueError,
    EOFError,
    AssertionError,
    KeyError,
    tarfile.TarError,
    zipfile.BadZipFile,
)


class DataNotFoundError(DatasetError):
    """A known dataset is not in its folder (and was not, or could not be, downloaded there).

    The message is one line naming the dataset, the folder and what to do.

    Attributes:
        dataset: the dataset name (``"mnist"``, ...).
        folder: the folder looked in (or downloaded into).
        reason: why reading (or downloading) failed, one short line.
        downloaded: whether a download was tried.
        layout: the files expected under a data root (``DIR/MNIST/raw/...``).
    """

    def __init__(
        self, dataset: str, folder: Path, reason: str, downloaded: bool = False, after_download: bool = False
    ) -> None:
        self.dataset, self.folder, self.reason, self.downloaded = dataset, folder, reason, downloaded
        self.layout = LAYOUTS[dataset]
        give = f"give the folder that holds it with --data-root DIR or {ENV_VAR}=DIR (laid out as {self.layout})"
        if after_download:
            text = (
                f"dataset {dataset!r} downloaded into {folder} is unreadable ({reason}): delete "
                f"{folder} and retry, or {give}"
            )
        elif downloaded:
            text = (
                f"dataset {dataset!r} could not be downloaded into {folder} ({reason}): connect "
                f"this machine to the internet and retry, or {give}"
            )
        else:
            text = (
                f"dataset {dataset!r} is not in {folder} ({reason}): {give}, or leave both unset "
                "on a machine with internet access to download it"
            )
        super().__init__(text)


def _reason(exc: BaseException) -> str:
    """A short one-line reason from a torchvision (or file) error: no URLs tried, no advice of its own."""
    text = " ".join(str(exc).split())
    offline = re.search(r"<urlopen error ([^>]*)>", text)
    if offline:
        return f"no connection: {offline.group(1)}"
    text = text.replace(" You can use download=True to download it", "").strip().rstrip(".") or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _merge_into(source: Path, target: Path) -> None:
    """Move every file under ``source`` into the same place under ``target`` (file by file)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if destination.is_dir():
                _merge_into(entry, destination)
            else:
                if destination.exists():
                    destination.unlink()
                os.replace(entry, destination)
        else:
            os.replace(entry, destination)


def read_or_download(
    name: str,
    root: Path,
    download: bool,
    subdir: str,
    read: Callable[[Path, bool], Any],
) -> Any:
    """Run ``read(folder, download=False)``; if that fails and ``download``, download then reread.

    Args:
        name: the dataset, one of :data:`~ecosim.data.record.DATASETS` (names the error).
        root: the data root.
        download: whether a download may be tried.
        subdir: the folder under ``root`` that ``read`` takes as its root (``""`` for ``root``
            itself).
        read: ``read(folder, download)`` returns what the caller needs (torchvision datasets);
            raises one of torchvision's errors when the files are missing or bad.

    Returns:
        What ``read`` returned on the final folder.

    Raises:
        DataNotFoundError: reading failed and no download was allowed, the download failed, or
            the downloaded files are unreadable. The staging folder and the folders this call
            created are removed.
    """
    folder = root / subdir if subdir else root
    try:
        return read(folder, False)
    except _DATA_ERRORS as exc:
        first_error = exc
    if not download:
        raise DataNotFoundError(name, folder, _reason(first_error)) from first_error

    staging: Path | None = None
    created = [p for p in (root, *root.parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".ecosim-download-{name}-", dir=root))
        staging_root = staging / subdir if subdir else staging
        staging_root.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s into %s", name, folder)
        read(staging_root, True)
        _merge_into(staging_root, folder)
    except _DATA_ERRORS as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for path in created:  # remove the folders this call created, innermost first
            with contextlib.suppress(OSError):
                path.rmdir()
        raise DataNotFoundError(name, folder, _reason(exc), downloaded=True) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    try:
        return read(folder, False)
    except _DATA_ERRORS as exc:
        raise DataNotFoundError(name, folder, _reason(exc), downloaded=True, after_download=True) from exc
