"""The MNIST family (MNIST, Fashion-MNIST, EMNIST): IDX files read with NumPy, else torchvision.

Files, relative to the data root ``DIR``:

=============  =============================================================================
mnist          ``DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
fashion-mnist  ``DIR/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
emnist         ``DIR/EMNIST/raw/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte``
=============  =============================================================================

Images are ``(N, 1, 28, 28)`` uint8. EMNIST's ``letters`` split has labels 1..26 and 27 classes,
the unused class 0 being torchvision's ``"N/A"``. EMNIST's IDX files store every image
transposed, and torchvision does not undo it: :func:`load_mnist_family` transposes them upright.

When the uncompressed IDX files are present they are read with NumPy alone, so the driver of a
run imports neither torch nor torchvision (issue 18: start-up). Otherwise torchvision reads
(and, when allowed, downloads) them through :func:`ecosim.data.download.read_or_download`;
torchvision is imported only then. Writes only what such a download writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecosim.data.download import read_or_download
from ecosim.data.record import NORMALISATION, ImageDataset, build_dataset
from ecosim.errors import DatasetError

__all__ = ["EMNIST_SPLITS", "load_mnist_family", "read_idx"]

EMNIST_SPLITS: tuple[str, ...] = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
"""Valid ``emnist_split`` values (torchvision's ``EMNIST.splits``)."""

#: classes per EMNIST split (torchvision's ``EMNIST.classes_split_dict``; ``letters`` counts its "N/A")
_EMNIST_CLASSES = {"byclass": 62, "bymerge": 47, "balanced": 47, "letters": 27, "digits": 10, "mnist": 10}
_IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "emnist": "EMNIST"}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An uncompressed IDX file of unsigned bytes (the MNIST format) as a writable uint8 NumPy array.

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


def _read_idx_files(name: str, root: Path, emnist_split: str) -> ImageDataset | None:
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
            images = read_idx(raw / f"{prefix[part]}-images-idx3-ubyte", 3)
            labels = read_idx(raw / f"{prefix[part]}-labels-idx1-ubyte", 1)
            if name == "emnist":
                images = images.transpose(0, 2, 1)  # stored transposed
            split[part] = (np.ascontiguousarray(images[:, None, :, :]), labels.astype(np.int64))
    except (OSError, ValueError):
        return None
    classes = _EMNIST_CLASSES[emnist_split] if name == "emnist" else 10
    mean, std = NORMALISATION[name]
    try:
        return build_dataset(name, *split["train"], *split["test"], classes, mean, std, raw)
    except DatasetError:
        return None


def load_mnist_family(name: str, root: Path, download: bool, emnist_split: str = "balanced") -> ImageDataset:
    """Load ``name`` (``"mnist"``, ``"fashion-mnist"`` or ``"emnist"``) from the data root ``root``.

    Args:
        name: the dataset. root: the data root (the ``MNIST/raw`` ... folders are under it).
        download: whether torchvision may download missing files.
        emnist_split: one of :data:`EMNIST_SPLITS` (checked by the caller); EMNIST only.

    Returns:
        An :class:`~ecosim.data.record.ImageDataset` of ``(N, 1, 28, 28)`` uint8 images.

    Raises:
        DataNotFoundError: the files are missing or unreadable and could not be downloaded.
        DatasetError: the arrays are inconsistent.
    """
    dataset = _read_idx_files(name, root, emnist_split)
    if dataset is not None:
        return dataset
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "emnist": datasets.EMNIST}[name]
    extra = {"split": emnist_split} if name == "emnist" else {}

    def read(folder: Path, dl: bool) -> tuple[Any, Any]:
        return (cls(str(folder), train=True, download=dl, **extra), cls(str(folder), train=False, download=dl, **extra))

    train, test = read_or_download(name, root, download, "", read)

    def images(ds: Any) -> np.ndarray:
        data = ds.data  # (N, 28, 28) uint8 tensor
        if name == "emnist":
            data = data.transpose(1, 2)  # torchvision's EMNIST images are stored transposed
        return np.ascontiguousarray(data.numpy()[:, None, :, :])

    def labels(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(ds.targets, dtype=np.int64))  # a tensor or a list

    mean, std = NORMALISATION[name]
    return build_dataset(
        name, images(train), labels(train), images(test), labels(test), len(train.classes), mean, std, root
    )
