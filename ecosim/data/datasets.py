"""Image datasets as plain uint8 arrays, ready to be put once into a Ray object store.

:func:`load_dataset` reads a dataset with torchvision's dataset classes and returns an
:class:`ImageDataset`: four NumPy arrays (C-contiguous, so Ray shares them zero-copy between
workers) plus the number of classes and the per-channel normalisation constants. Images stay
``uint8`` in ``(N, C, H, W)`` layout until a worker turns a batch into float32 with
:func:`ecosim.phenotype.normalise.normalise`; that keeps the object store four times smaller than
float32 would.

Datasets
--------
``name`` is one of :data:`DATASETS` (case-insensitive) or a path to a folder:

=============  ================================  ===========================
name           mean (per channel, [0, 1] units)  std (per channel)
=============  ================================  ===========================
mnist          (0.1307,)                         (0.3081,)
fashion-mnist  (0.2860,)                         (0.3530,)
cifar10        (0.4914, 0.4822, 0.4465)          (0.2470, 0.2435, 0.2616)
svhn           (0.4377, 0.4438, 0.4728)          (0.1980, 0.2010, 0.1970)
emnist         (0.1751,)                         (0.3332,)
folder path    computed from training images     computed (population std)
=============  ================================  ===========================

Files read, relative to the data root ``DIR``:

=============  =============================================================================
mnist          ``DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
fashion-mnist  ``DIR/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
svhn           ``DIR/SVHN/{train,test}_32x32.mat`` or ``DIR/{train,test}_32x32.mat``
cifar10        ``DIR/cifar-10-batches-py/`` (official), else ``DIR/cifar10-jpeg-q75.tar.gz``
emnist         ``DIR/EMNIST/raw/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte``
folder path    ``<folder>/train/<class>/<image>`` and ``<folder>/test/<class>/<image>``
=============  =============================================================================

Shapes: MNIST, Fashion-MNIST and EMNIST give ``(N, 1, 28, 28)``; SVHN and CIFAR-10 give
``(N, 3, 32, 32)``; a folder gives ``(N, C, H, W)`` with ``C = 1`` when every image is grayscale
and ``C = 3`` otherwise (alpha is dropped). Labels are int64 in ``[0, classes)``: SVHN's label
10 becomes digit 0 (torchvision does this); EMNIST's ``letters`` split has labels 1..26 and 27
classes, the unused class 0 being torchvision's ``"N/A"``. EMNIST's IDX files store every image
transposed, and torchvision does not undo it: :func:`load_dataset` transposes them upright.

Where the files are looked for
------------------------------
1. the ``data_root`` argument (the ``--data-root`` option of the command line),
2. else the environment variable ``ECOSIM_DATA`` (:data:`ENV_VAR`),
3. else ``<cache>/datasets`` (by default ``~/.cache/ecosim/datasets``), downloading if missing.

``download=None`` means download only in case 3; with an explicit root nothing is downloaded
unless ``download=True``. A download goes into a hidden temporary folder under the root and is
moved into place only once complete, so an interrupted or offline download leaves nothing
half-written; it fails with :class:`DataNotFoundError` (a :class:`~ecosim.errors.DatasetError`),
one line naming the dataset, the folder and what to do.

``<cache>`` is the ``cache_dir`` argument, else ``$ECOSIM_CACHE`` (:data:`CACHE_ENV_VAR`), else
``~/.cache/ecosim``.

CIFAR-10 as JPEG tarball
------------------------
Machines without internet get CIFAR-10 as ``cifar10-jpeg-q75.tar.gz`` (JPEG quality-75
re-encodings, ImageFolder layout ``train/<class>/NNNN.jpg``, class folders sorting into the
official label order). On first use its 60,000 JPEGs are decoded straight from the tarball
(read once as a stream; nothing is extracted to disk; about half a minute, with progress logged
at INFO level on ``ecosim.data.datasets``) and the arrays are cached in
``<cache>/cifar10-jpeg-q75-<size>-<mtime_ns>.npz`` (177 MB; written to a temporary file, then
renamed), keyed by the tarball's size and modification time; later loads read only the
``.npz``. Concurrent first loads may each decode, but every file that appears is complete. Old
keys are never deleted; a JPEG folder extracted there by an older ecosim is removed. Members
with unsafe names (absolute, or with ``..``) are refused.

SVHN files are read without checking their MD5 (torchvision checks it; hashing 180 MB on every
load is slow and rejects re-packed copies); a download still verifies it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.error import URLError

import numpy as np

from ecosim.errors import ConfigError, DatasetError

__all__ = [
    "CACHE_ENV_VAR",
    "DATASETS",
    "DataNotFoundError",
    "ENV_VAR",
    "ImageDataset",
    "load_dataset",
    "resolve_data_root",
]

log = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "svhn", "cifar10", "emnist")
"""Names :func:`load_dataset` knows; any other name must be a path to an ImageFolder folder."""

ENV_VAR = "ECOSIM_DATA"
"""Environment variable naming the data root when no ``data_root`` argument is given."""

CACHE_ENV_VAR = "ECOSIM_CACHE"
"""Environment variable naming the cache folder when no ``cache_dir`` argument is given."""

CIFAR10_TARBALL = "cifar10-jpeg-q75.tar.gz"
"""File name of the offline CIFAR-10 JPEG tarball looked for in the data root."""

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""CIFAR-10 class names in official label order (also their sorted order)."""

EMNIST_SPLITS: tuple[str, ...] = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
"""Valid ``emnist_split`` values (torchvision's ``EMNIST.splits``)."""

_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "emnist": ((0.1751,), (0.3332,)),
}

_LAYOUTS: dict[str, str] = {
    "mnist": "DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (uncompressed IDX)",
    "fashion-mnist": "DIR/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte "
    "(uncompressed IDX)",
    "svhn": "DIR/SVHN/{train,test}_32x32.mat or DIR/{train,test}_32x32.mat (official .mat files)",
    "cifar10": f"DIR/cifar-10-batches-py/ (the official python version) or DIR/{CIFAR10_TARBALL} "
    "(train/<class>/*.jpg, test/<class>/*.jpg)",
    "emnist": "DIR/EMNIST/raw/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte "
    "(uncompressed IDX)",
}

# Errors torchvision (and the files it reads) raise for missing, corrupt or undownloadable data.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError, OSError, URLError, ValueError, EOFError, AssertionError, KeyError,
    tarfile.TarError, zipfile.BadZipFile,
)

_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "I;16L", "I;16B", "F"})
_NPZ_VERSION = 1


# --------------------------------------------------------------------------------------------
# The dataset record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled image dataset held as uint8 NumPy arrays.

    Instances are immutable records (the arrays themselves are not copied or locked) and pickle
    cheaply: put one into a Ray object store and every worker maps the same arrays. Equality is
    identity (``eq=False``), since element-wise comparison of the arrays has no truth value.

    Attributes:
        name: ``"mnist"``, ``"fashion-mnist"``, ``"svhn"``, ``"cifar10"``, ``"emnist"``, or the
            absolute path of an ImageFolder folder.
        train_images: uint8 array of shape ``(N_train, C, H, W)``.
        train_labels: int64 array of shape ``(N_train,)``, values in ``[0, classes)``.
        test_images: uint8 array of shape ``(N_test, C, H, W)``.
        test_labels: int64 array of shape ``(N_test,)``, values in ``[0, classes)``.
        classes: number of classes.
        mean: per-channel mean in ``[0, 1]`` pixel units, ``len(mean) == C``.
        std: per-channel standard deviation, ``len(std) == C``, all positive.

    Raises:
        DatasetError: on construction, if dtypes, shapes, label ranges or the length of
            ``mean``/``std`` are inconsistent.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        problems: list[str] = []
        shapes = []
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
                problems.append(f"{split}_images must be a uint8 array of shape (N, C, H, W), got "
                                f"{_describe(images)}")
                continue
            if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
                problems.append(f"{split}_labels must be an int64 array of shape (N,), got "
                                f"{_describe(labels)}")
                continue
            if len(labels) != len(images):
                problems.append(f"{split}: {len(images)} images but {len(labels)} labels")
            if len(labels) and (labels.min() < 0 or labels.max() >= self.classes):
                problems.append(f"{split}_labels span [{labels.min()}, {labels.max()}], outside "
                                f"[0, {self.classes})")
            shapes.append(images.shape[1:])
        if len(shapes) == 2 and shapes[0] != shapes[1]:
            problems.append(f"train images are {shapes[0]} but test images are {shapes[1]}")
        if shapes:
            channels = shapes[0][0]
            if len(self.mean) != channels or len(self.std) != channels:
                problems.append(f"mean {self.mean} and std {self.std} need {channels} values each")
            if any(not s > 0 for s in self.std):
                problems.append(f"std {self.std} must be positive")
        if self.classes < 1:
            problems.append(f"classes must be >= 1, got {self.classes}")
        if problems:
            raise DatasetError(f"inconsistent dataset {self.name!r}: " + "; ".join(problems))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, train={len(self.train_labels)}, "
                f"test={len(self.test_labels)}, input_shape={self.input_shape}, "
                f"classes={self.classes}, mean={self.mean}, std={self.std})")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


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


def load_dataset(
    name: str,
    data_root: str | os.PathLike[str] | None = None,
    *,
    download: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    emnist_split: str = "balanced",
) -> ImageDataset:
    """Load a dataset into uint8 arrays.

    Args:
        name: one of :data:`DATASETS` (case-insensitive), or the path of a folder holding
            ``train/<class>/<image>`` and ``test/<class>/<image>`` (read with torchvision's
            ``ImageFolder``; all images the same size). A relative folder path is looked up in
            the current directory, then under the data root.
        data_root: folder holding the dataset files (see the module docstring for the layout);
            ``None`` falls back to ``$ECOSIM_DATA``, then to ``<cache>/datasets``.
        download: whether torchvision may download missing files. ``None`` downloads only when
            neither ``data_root`` nor ``$ECOSIM_DATA`` is given.
        cache_dir: folder for downloads (when no data root is configured) and for the extracted
            CIFAR-10 tarball and its decoded ``.npz``; ``None`` uses ``$ECOSIM_CACHE``, else
            ``~/.cache/ecosim``.
        emnist_split: the EMNIST split, one of :data:`EMNIST_SPLITS`; ignored for other datasets.

    Returns:
        An :class:`ImageDataset`: ``train_images`` ``(N_train, C, H, W)`` uint8, ``train_labels``
        ``(N_train,)`` int64, likewise for test; MNIST-family ``(N, 1, 28, 28)``, SVHN and
        CIFAR-10 ``(N, 3, 32, 32)``.

    Raises:
        ConfigError: ``name`` is neither a known dataset nor an existing folder (the message lists
            the valid names), or ``emnist_split`` is invalid.
        DatasetError: the files are missing, unreadable or inconsistent, or the download failed;
            the message names the dataset, the folder looked in and how to provide the files.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"dataset name must be a non-empty string, got {name!r}; valid names: "
                          f"{', '.join(DATASETS)}, or a path to an ImageFolder folder")
    key = name.strip().lower()
    configured_root = resolve_data_root(data_root)
    cache = _cache_root(cache_dir)

    if key not in DATASETS:
        folder = _find_folder(name, configured_root)
        if folder is None:
            if _looks_like_path(name):
                raise DatasetError(
                    f"dataset folder {name!r} does not exist (looked in {Path(name).expanduser()}"
                    + (f" and {configured_root / name}" if configured_root else "")
                    + "); a dataset folder needs train/<class>/<image> and test/<class>/<image>")
            raise ConfigError(
                f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, or a path to an "
                "existing folder with train/<class>/<image> and test/<class>/<image> subfolders")
        return _load_image_folder(folder)

    if key == "emnist" and emnist_split not in EMNIST_SPLITS:
        raise ConfigError(f"emnist_split={emnist_split!r} is invalid; valid splits: "
                          f"{', '.join(EMNIST_SPLITS)}")

    root = configured_root if configured_root is not None else cache / "datasets"
    if download is None:
        download = configured_root is None

    start = time.perf_counter()
    if key == "mnist":
        dataset = _load_mnist_family("mnist", root, download)
    elif key == "fashion-mnist":
        dataset = _load_mnist_family("fashion-mnist", root, download)
    elif key == "emnist":
        dataset = _load_mnist_family("emnist", root, download, emnist_split=emnist_split)
    elif key == "svhn":
        dataset = _load_svhn(root, download)
    else:
        dataset = _load_cifar10(root, download, cache)
    log.info("loaded %r from %s in %.2f s", dataset, root, time.perf_counter() - start)
    return dataset


# --------------------------------------------------------------------------------------------
# Roots, folders and downloads
# --------------------------------------------------------------------------------------------


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ecosim"


def _looks_like_path(name: str) -> bool:
    return (os.sep in name or (os.altsep is not None and os.altsep in name)
            or name.startswith((".", "~")))


def _find_folder(name: str, root: Path | None) -> Path | None:
    candidates = [Path(name).expanduser()]
    if root is not None and not Path(name).expanduser().is_absolute():
        candidates.append(root / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


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

    def __init__(self, dataset: str, folder: Path, reason: str, downloaded: bool = False,
                 after_download: bool = False) -> None:
        self.dataset, self.folder, self.reason, self.downloaded = dataset, folder, reason, downloaded
        self.layout = _LAYOUTS[dataset]
        give = (f"give the folder that holds it with --data-root DIR or {ENV_VAR}=DIR "
                f"(laid out as {self.layout})")
        if after_download:
            text = (f"dataset {dataset!r} downloaded into {folder} is unreadable ({reason}): delete "
                    f"{folder} and retry, or {give}")
        elif downloaded:
            text = (f"dataset {dataset!r} could not be downloaded into {folder} ({reason}): connect "
                    f"this machine to the internet and retry, or {give}")
        else:
            text = (f"dataset {dataset!r} is not in {folder} ({reason}): {give}, or leave both unset "
                    "on a machine with internet access to download it")
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


def _read_or_download(
    name: str,
    root: Path,
    download: bool,
    subdir: str,
    read: Callable[[Path, bool], Any],
) -> Any:
    """Run ``read(folder, download=False)``; if that fails and ``download``, download then reread.

    ``subdir`` is the folder under ``root`` that ``read`` takes as its root (``""`` for ``root``
    itself). The download runs into a hidden temporary folder under ``root``, whose content is
    moved into place only after torchvision finished without error.
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


# --------------------------------------------------------------------------------------------
# MNIST, Fashion-MNIST, EMNIST, SVHN, CIFAR-10 (python version)
# --------------------------------------------------------------------------------------------


#: classes per EMNIST split (torchvision's ``EMNIST.classes_split_dict``; ``letters`` counts its "N/A")
_EMNIST_CLASSES = {"byclass": 62, "bymerge": 47, "balanced": 47, "letters": 27, "digits": 10, "mnist": 10}
_IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "emnist": "EMNIST"}


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An uncompressed IDX file of unsigned bytes (the MNIST format) as a NumPy array.

    Raises:
        OSError: unreadable. ValueError: not a ubyte IDX file of ``ndim`` dimensions, or truncated.
    """
    raw = np.fromfile(path, dtype=np.uint8)  # writable, unlike a view of bytes
    if raw.size < 4 + 4 * ndim or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != ndim:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes with {ndim} dimensions")
    shape = tuple(int(v) for v in raw[4 : 4 + 4 * ndim].view(">u4"))
    data = raw[4 + 4 * ndim :]
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {data.size} bytes of data, its header says {shape}")
    return data.reshape(shape)


def _read_mnist_family_files(name: str, root: Path, emnist_split: str) -> ImageDataset | None:
    """The dataset straight from its IDX files with NumPy, or ``None`` when a file is missing or bad.

    The same arrays torchvision's ``MNIST``/``FashionMNIST``/``EMNIST`` give, without importing
    torchvision (and torch) in the driver (issue 18: start-up). ``None`` leaves the files, and any
    error or download, to the torchvision path.
    """
    raw = root / _IDX_FOLDERS[name] / "raw"
    prefix = {"train": "train", "test": "t10k"}
    if name == "emnist":
        prefix = {part: f"emnist-{emnist_split}-{part}" for part in ("train", "test")}
    try:
        split: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for part in ("train", "test"):
            images = _read_idx(raw / f"{prefix[part]}-images-idx3-ubyte", 3)
            labels = _read_idx(raw / f"{prefix[part]}-labels-idx1-ubyte", 1)
            if name == "emnist":
                images = images.transpose(0, 2, 1)  # stored transposed
            split[part] = (np.ascontiguousarray(images[:, None, :, :]), labels.astype(np.int64))
    except (OSError, ValueError):
        return None
    classes = _EMNIST_CLASSES[emnist_split] if name == "emnist" else 10
    mean, std = _STATS[name]
    try:
        return _build(name, *split["train"], *split["test"], classes, mean, std, raw)
    except DatasetError:
        return None


def _load_mnist_family(
    name: str, root: Path, download: bool, emnist_split: str = "balanced"
) -> ImageDataset:
    dataset = _read_mnist_family_files(name, root, emnist_split)
    if dataset is not None:
        return dataset
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST,
           "emnist": datasets.EMNIST}[name]
    extra = {"split": emnist_split} if name == "emnist" else {}

    def read(folder: Path, dl: bool) -> tuple[Any, Any]:
        return (cls(str(folder), train=True, download=dl, **extra),
                cls(str(folder), train=False, download=dl, **extra))

    train, test = _read_or_download(name, root, download, "", read)

    def images(ds: Any) -> np.ndarray:
        data = ds.data  # (N, 28, 28) uint8 tensor
        if name == "emnist":
            data = data.transpose(1, 2)  # torchvision's EMNIST images are stored transposed
        return np.ascontiguousarray(data.numpy()[:, None, :, :])

    def labels(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(ds.targets, dtype=np.int64))  # a tensor or a list

    mean, std = _STATS[name]
    return _build(name, images(train), labels(train), images(test), labels(test),
                  len(train.classes), mean, std, root)


def _svhn_class() -> type:
    from torchvision import datasets

    class _LocalSVHN(datasets.SVHN):
        """torchvision's SVHN that accepts any present file (no MD5 check) when reading."""

        def _check_integrity(self) -> bool:
            return os.path.isfile(os.path.join(self.root, self.filename))

    return _LocalSVHN


def _load_svhn(root: Path, download: bool) -> ImageDataset:
    from torchvision import datasets

    local = _svhn_class()

    def read(folder: Path, dl: bool) -> tuple[Any, Any]:
        cls = datasets.SVHN if dl else local  # a download verifies the MD5
        return cls(str(folder), split="train", download=dl), cls(str(folder), split="test",
                                                                 download=dl)

    subdir = "SVHN"
    if (root / "train_32x32.mat").is_file() and not (root / "SVHN" / "train_32x32.mat").is_file():
        subdir = ""  # files straight in the root, as torchvision itself lays them out
    train, test = _read_or_download("svhn", root, download, subdir, read)

    def images(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(ds.data, dtype=np.uint8)  # (N, 3, 32, 32)

    def labels(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(ds.labels, dtype=np.int64).reshape(-1)

    mean, std = _STATS["svhn"]
    return _build("svhn", images(train), labels(train), images(test), labels(test), 10, mean, std,
                  root / subdir if subdir else root)


def _load_cifar10(root: Path, download: bool, cache: Path) -> ImageDataset:
    mean, std = _STATS["cifar10"]
    tarball = root / CIFAR10_TARBALL
    if not (root / "cifar-10-batches-py").is_dir() and tarball.is_file():
        train_x, train_y, test_x, test_y = _cifar10_from_tarball(tarball, cache)
        return _build("cifar10", train_x, train_y, test_x, test_y, 10, mean, std, root)
    from torchvision import datasets

    def read(folder: Path, dl: bool) -> tuple[Any, Any]:
        return (datasets.CIFAR10(str(folder), train=True, download=dl),
                datasets.CIFAR10(str(folder), train=False, download=dl))

    train, test = _read_or_download("cifar10", root, download, "", read)

    def images(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(ds.data, dtype=np.uint8).transpose(0, 3, 1, 2))

    def labels(ds: Any) -> np.ndarray:
        return np.asarray(ds.targets, dtype=np.int64)

    return _build("cifar10", images(train), labels(train), images(test), labels(test), 10,
                  mean, std, root)


def _build(name: str, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
           test_y: np.ndarray, classes: int, mean: Sequence[float], std: Sequence[float],
           folder: Path) -> ImageDataset:
    try:
        return ImageDataset(name, train_x, train_y, test_x, test_y, int(classes),
                            tuple(float(m) for m in mean), tuple(float(s) for s in std))
    except DatasetError as exc:
        raise DatasetError(f"{exc} (read from {folder})") from exc


# --------------------------------------------------------------------------------------------
# CIFAR-10 JPEG tarball
# --------------------------------------------------------------------------------------------


def _cifar10_from_tarball(
    tarball: Path, cache: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the decoded arrays of the CIFAR-10 JPEG tarball, from the ``.npz`` when current.

    On first use the JPEGs are decoded straight from the tarball (nothing is extracted to disk)
    and the arrays cached; progress is logged at INFO level on this module's logger.
    """
    stat = tarball.stat()
    stem = f"{CIFAR10_TARBALL.removesuffix('.tar.gz')}-{stat.st_size}-{stat.st_mtime_ns}"
    npz_path = cache / f"{stem}.npz"
    stale = cache / stem  # the JPEG folder older versions extracted beside the arrays
    cached = _read_npz(npz_path)
    if cached is not None:
        log.info("CIFAR-10 read from cache %s", npz_path)
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        return cached

    log.info("CIFAR-10 first use: decoding the 60,000 JPEGs of %s once (about half a minute); "
             "the arrays are cached in %s", tarball, npz_path)
    start = time.perf_counter()
    (train_x, train_y, train_classes), (test_x, test_y, test_classes) = _read_tarball_splits(
        tarball)
    log.info("decoded %d CIFAR-10 JPEGs in %.1f s", len(train_y) + len(test_y),
             time.perf_counter() - start)
    for classes in (train_classes, test_classes):
        if tuple(classes) != CIFAR10_CLASSES:
            raise DatasetError(
                f"dataset 'cifar10': the class folders in {tarball} are {classes}, expected "
                f"{list(CIFAR10_CLASSES)}")
    if train_x.shape[1:] != (3, 32, 32):
        raise DatasetError(f"dataset 'cifar10': images in {tarball} are "
                           f"{train_x.shape[1:]} (C, H, W), expected (3, 32, 32)")
    _write_npz(npz_path, train_images=train_x, train_labels=train_y, test_images=test_x,
               test_labels=test_y, version=np.asarray(_NPZ_VERSION, dtype=np.int64))
    if stale.is_dir():
        shutil.rmtree(stale, ignore_errors=True)
    return train_x, train_y, test_x, test_y


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (progress through a compressed stream)."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n


_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff",
                             ".webp"})  # torchvision's ImageFolder extensions


def _split_member(name: str) -> tuple[str, str, str] | None:
    """``(split, class, path within the class)`` of a tarball member in ImageFolder layout.

    The layout may sit at the top of the tarball or inside one top-level folder
    (``[top/]train|test/<class>/.../<image>``); other members (a README) give ``None``.
    """
    parts = PurePosixPath(name).parts
    for skip in (0, 1):
        rest = parts[skip:]
        if len(rest) >= 3 and rest[0] in ("train", "test"):
            if PurePosixPath(rest[-1]).suffix.lower() not in _IMAGE_SUFFIXES:
                return None
            return rest[0], rest[1], "/".join(rest[2:])
    return None


def _read_tarball_splits(
    tarball: Path,
) -> tuple[tuple[np.ndarray, np.ndarray, list[str]], tuple[np.ndarray, np.ndarray, list[str]]]:
    """Decode the ``train/`` and ``test/`` images of an ImageFolder-layout tarball into ``(N, C, H, W)`` uint8.

    The tarball is read once as a stream; nothing is written to disk. Classes and images come
    in ImageFolder's order (sorted class folders, sorted paths within each), so the labels
    equal those of the extracted folder read by ImageFolder.

    Raises:
        DatasetError: an unreadable tarball, a member with an unsafe name (absolute, or with
            ``..``), an undecodable image, images of different sizes, or no ``train/``+``test/``.
    """
    decoded: dict[str, dict[str, list[tuple[str, np.ndarray]]]] = {"train": {}, "test": {}}
    total = max(1, tarball.stat().st_size)
    next_report, count = 0.1, 0
    try:
        with open(tarball, "rb") as raw:
            reader = _CountingReader(raw)
            with tarfile.open(fileobj=io.BufferedReader(reader), mode="r|*") as archive:
                for member in archive:
                    path = PurePosixPath(member.name)
                    if path.is_absolute() or ".." in path.parts:
                        raise tarfile.TarError(f"refusing unsafe member {member.name!r}")
                    where = _split_member(member.name) if member.isfile() else None
                    if where is None:
                        continue
                    fh = archive.extractfile(member)
                    if fh is None:
                        continue
                    try:
                        image = _decode_bytes(fh.read())
                    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises
                        raise DatasetError(f"dataset 'cifar10': cannot decode {member.name} in "
                                           f"{tarball}: {exc}") from exc
                    split, cls, rel = where
                    decoded[split].setdefault(cls, []).append((rel, image))
                    count += 1
                    if reader.count / total >= next_report:
                        log.info("CIFAR-10: %3.0f%% of %s read, %d images decoded",
                                 100 * reader.count / total, tarball.name, count)
                        next_report += 0.1
    except DatasetError:
        raise
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DatasetError(f"dataset 'cifar10': cannot read {tarball}: {type(exc).__name__}: "
                           f"{exc}") from exc
    if not decoded["train"] or not decoded["test"]:
        raise DatasetError(
            f"dataset 'cifar10': the tarball {tarball} holds no train/ and test/ folders; "
            "expected train/<class>/NNNN.jpg and test/<class>/NNNN.jpg")
    out = []
    size: tuple[int, ...] | None = None
    channels = 3 if any(a.ndim == 3 for split in decoded.values() for items in split.values()
                        for _, a in items) else 1
    for split in ("train", "test"):
        classes = sorted(decoded[split])
        images: list[tuple[np.ndarray, str]] = []
        labels: list[int] = []
        for label, cls in enumerate(classes):
            for rel, array in sorted(decoded[split][cls], key=lambda item: item[0]):
                if size is None:
                    size = array.shape[:2]
                elif array.shape[:2] != size:
                    raise DatasetError(
                        f"dataset 'cifar10': images in {tarball} differ in size: "
                        f"{split}/{cls}/{rel} is {array.shape[1]}x{array.shape[0]}, others "
                        f"{size[1]}x{size[0]} (width x height)")
                images.append((array, f"{split}/{cls}/{rel}"))
                labels.append(label)
        out.append((_stack(images, channels), np.asarray(labels, dtype=np.int64), classes))
    return out[0], out[1]


def _decode_bytes(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        mode = "L" if image.mode in _GRAY_MODES else "RGB"
        return np.asarray(image.convert(mode))


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["version"]) != _NPZ_VERSION:
                return None
            arrays = tuple(np.ascontiguousarray(npz[key]) for key in (
                "train_images", "train_labels", "test_images", "test_labels"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"ignoring unreadable dataset cache {path}: {exc}", stacklevel=3)
        return None
    train_x, train_y, test_x, test_y = arrays
    if (train_x.dtype != np.uint8 or test_x.dtype != np.uint8 or train_x.ndim != 4
            or train_y.dtype != np.int64 or test_y.dtype != np.int64
            or len(train_x) != len(train_y) or len(test_x) != len(test_y)):
        warnings.warn(f"ignoring inconsistent dataset cache {path}", stacklevel=3)
        return None
    return train_x, train_y, test_x, test_y


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` atomically (:func:`~ecosim.store.atomic.atomic_write`); on failure warn."""
    from ecosim.store.atomic import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    try:
        atomic_write(path, write)
    except OSError as exc:
        warnings.warn(f"could not write the dataset cache {path}: {exc}", stacklevel=3)


# --------------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------------


def _load_image_folder(folder: Path) -> ImageDataset:
    if not ((folder / "train").is_dir() and (folder / "test").is_dir()):
        raise DatasetError(
            f"dataset folder {folder} needs train/ and test/ subfolders, each laid out as "
            f"<class>/<image>; found {sorted(p.name for p in folder.iterdir())}")
    (train_x, train_y, train_classes), (test_x, test_y, test_classes) = _read_image_folder_splits(
        folder)
    if train_classes != test_classes:
        raise DatasetError(f"dataset folder {folder}: train/ has classes {train_classes} but "
                           f"test/ has {test_classes}; both need the same class folders")
    mean, std = _channel_stats(train_x)
    return _build(str(folder), train_x, train_y, test_x, test_y, len(train_classes), mean, std,
                  folder)


def _read_image_folder_splits(
    folder: Path,
) -> tuple[tuple[np.ndarray, np.ndarray, list[str]], tuple[np.ndarray, np.ndarray, list[str]]]:
    """Decode ``folder/train`` and ``folder/test`` with ImageFolder into ``(N, C, H, W)`` uint8.

    Both splits get the same channel count: 1 if every image is grayscale, else 3.
    """
    from torchvision import datasets

    decoded = []
    for split in ("train", "test"):
        split_dir = folder / split
        try:
            image_folder = datasets.ImageFolder(str(split_dir))
        except (FileNotFoundError, OSError) as exc:
            raise DatasetError(f"dataset folder {folder}: cannot read {split_dir} as "
                               f"<class>/<image> folders: {exc}") from exc
        paths = [path for path, _ in image_folder.samples]
        labels = np.asarray([label for _, label in image_folder.samples], dtype=np.int64)
        decoded.append((_decode_all(paths, split_dir), labels, list(image_folder.classes)))

    first_path = decoded[0][0][0][1] if decoded[0][0] else None
    size = None
    for images, _, _ in decoded:
        for array, path in images:
            if size is None:
                size = array.shape[:2]
            elif array.shape[:2] != size:
                raise DatasetError(
                    f"dataset folder {folder}: images differ in size: {first_path} is "
                    f"{size[1]}x{size[0]} but {path} is {array.shape[1]}x{array.shape[0]} "
                    "(width x height); all images must have the same size")
    channels = 3 if any(a.ndim == 3 for images, _, _ in decoded for a, _ in images) else 1
    return tuple((_stack(images, channels), labels, classes)  # type: ignore[return-value]
                 for images, labels, classes in decoded)


def _decode_one(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        mode = "L" if image.mode in _GRAY_MODES else "RGB"
        return np.asarray(image.convert(mode))


def _decode_all(paths: list[str], folder: Path) -> list[tuple[np.ndarray, str]]:
    """Decode image files one by one, in order.

    Threads gave no speed-up on 32x32 JPEGs: Pillow's per-file Python overhead dominates.
    """
    out = []
    for path in paths:
        try:
            out.append((_decode_one(path), path))
        except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for bad files
            raise DatasetError(f"dataset folder {folder}: cannot decode {path}: {exc}") from exc
    return out


def _stack(images: list[tuple[np.ndarray, str]], channels: int) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 3)`` arrays to one ``(N, channels, H, W)`` uint8 array."""
    if not images:
        return np.zeros((0, channels, 0, 0), dtype=np.uint8)
    arrays = [a for a, _ in images]
    if all(a.ndim == 3 for a in arrays):
        return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))
    if all(a.ndim == 2 for a in arrays):
        stacked = np.stack(arrays)[:, None, :, :]
        return np.ascontiguousarray(np.repeat(stacked, channels, axis=1) if channels > 1
                                    else stacked)
    h, w = arrays[0].shape[:2]
    out = np.empty((len(arrays), channels, h, w), dtype=np.uint8)
    for i, a in enumerate(arrays):
        out[i] = a if a.ndim == 2 else a.transpose(2, 0, 1)
    return out


def _channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of ``(N, C, H, W)`` uint8 images, in [0,1] units.

    A channel with zero spread gets std 1.0 so that :func:`ecosim.phenotype.normalise.normalise` stays finite.
    """
    channels = images.shape[1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(images), 4096):
        chunk = images[start:start + 4096].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        total_sq += np.square(chunk).sum(axis=(0, 2, 3))
    count = max(1, images.shape[0] * images.shape[2] * images.shape[3])
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std = np.where(std > 1e-8, std, 1.0)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
