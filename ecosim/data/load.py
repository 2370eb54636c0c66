"""Load an image dataset by name: :func:`load_dataset` picks the data root and the reader.

Images stay ``uint8`` in ``(N, C, H, W)`` layout until a worker turns a batch into float32 with
:func:`ecosim.phenotype.normalise.normalise`; that keeps the object store four times smaller than
float32 would.

=============  ================================  ===========================  ======================
name           mean (per channel, [0, 1] units)  std (per channel)            read by
=============  ================================  ===========================  ======================
mnist          (0.1307,)                         (0.3081,)                    :mod:`~ecosim.data.mnist`
fashion-mnist  (0.2860,)                         (0.3530,)                    :mod:`~ecosim.data.mnist`
emnist         (0.1751,)                         (0.3332,)                    :mod:`~ecosim.data.mnist`
svhn           (0.4377, 0.4438, 0.4728)          (0.1980, 0.2010, 0.1970)     :mod:`~ecosim.data.svhn`
cifar10        (0.4914, 0.4822, 0.4465)          (0.2470, 0.2435, 0.2616)     :mod:`~ecosim.data.cifar`
folder path    computed from training images     computed (population std)    :mod:`~ecosim.data.folders`
=============  ================================  ===========================  ======================

Each reader's module says which files it reads and how; :mod:`ecosim.data.root` says where they
are looked for. ``download=None`` means download only when no data root is configured (into
``<cache>/datasets``); with an explicit root nothing is downloaded unless ``download=True``
(:mod:`ecosim.data.download`).

Imports neither torch nor torchvision: a reader imports torchvision when it needs it, and the
MNIST family is read without it when its IDX files are present (issue 18).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ecosim.data.cifar import load_cifar10
from ecosim.data.folders import find_folder, load_image_folder, looks_like_path
from ecosim.data.mnist import EMNIST_SPLITS, load_mnist_family
from ecosim.data.record import DATASETS, ImageDataset
from ecosim.data.root import cache_root, resolve_data_root
from ecosim.data.svhn import load_svhn
from ecosim.errors import ConfigError, DatasetError

__all__ = ["load_dataset"]

log = logging.getLogger(__name__)


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
        name: one of :data:`~ecosim.data.record.DATASETS` (case-insensitive), or the path of a
            folder holding ``train/<class>/<image>`` and ``test/<class>/<image>`` (read with
            torchvision's ``ImageFolder``; all images the same size). A relative folder path is
            looked up in the current directory, then under the data root.
        data_root: folder holding the dataset files (see each reader's module for the layout);
            ``None`` falls back to ``$ECOSIM_DATA``, then to ``<cache>/datasets``.
        download: whether torchvision may download missing files. ``None`` downloads only when
            neither ``data_root`` nor ``$ECOSIM_DATA`` is given.
        cache_dir: folder for downloads (when no data root is configured) and for the decoded
            CIFAR-10 tarball's ``.npz``; ``None`` uses ``$ECOSIM_CACHE``, else ``~/.cache/ecosim``.
        emnist_split: the EMNIST split, one of :data:`~ecosim.data.mnist.EMNIST_SPLITS`; ignored
            for other datasets.

    Returns:
        An :class:`~ecosim.data.record.ImageDataset`: ``train_images`` ``(N_train, C, H, W)``
        uint8, ``train_labels`` ``(N_train,)`` int64, likewise for test; MNIST-family
        ``(N, 1, 28, 28)``, SVHN and CIFAR-10 ``(N, 3, 32, 32)``.

    Raises:
        ConfigError: ``name`` is neither a known dataset nor an existing folder (the message lists
            the valid names), or ``emnist_split`` is invalid.
        DatasetError: the files are missing, unreadable or inconsistent, or the download failed;
            the message names the dataset, the folder looked in and how to provide the files
            (:class:`~ecosim.data.download.DataNotFoundError` for a known dataset not found).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"dataset name must be a non-empty string, got {name!r}; valid names: "
            f"{', '.join(DATASETS)}, or a path to an ImageFolder folder"
        )
    key = name.strip().lower()
    configured_root = resolve_data_root(data_root)
    cache = cache_root(cache_dir)

    if key not in DATASETS:
        folder = find_folder(name, configured_root)
        if folder is None:
            if looks_like_path(name):
                raise DatasetError(
                    f"dataset folder {name!r} does not exist (looked in {Path(name).expanduser()}"
                    + (f" and {configured_root / name}" if configured_root else "")
                    + "); a dataset folder needs train/<class>/<image> and test/<class>/<image>"
                )
            raise ConfigError(
                f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, or a path to an "
                "existing folder with train/<class>/<image> and test/<class>/<image> subfolders"
            )
        return load_image_folder(folder)

    if key == "emnist" and emnist_split not in EMNIST_SPLITS:
        raise ConfigError(f"emnist_split={emnist_split!r} is invalid; valid splits: {', '.join(EMNIST_SPLITS)}")

    root = configured_root if configured_root is not None else cache / "datasets"
    if download is None:
        download = configured_root is None

    start = time.perf_counter()
    if key in ("mnist", "fashion-mnist"):
        dataset = load_mnist_family(key, root, download)
    elif key == "emnist":
        dataset = load_mnist_family("emnist", root, download, emnist_split=emnist_split)
    elif key == "svhn":
        dataset = load_svhn(root, download)
    else:
        dataset = load_cifar10(root, download, cache)
    log.info("loaded %r from %s in %.2f s", dataset, root, time.perf_counter() - start)
    return dataset
