"""Datasets: reading them (torchvision, offline files and folders, a cache) and the arrays a run uses.

* :mod:`ecosim.data.load`: :func:`load_dataset` → :class:`ImageDataset` (uint8 ``(N, C, H, W)``),
  one reader per source: :mod:`~ecosim.data.mnist` (IDX files), :mod:`~ecosim.data.svhn`,
  :mod:`~ecosim.data.cifar` (official or JPEG tarball), :mod:`~ecosim.data.folders` (image
  folders); :mod:`~ecosim.data.download` (torchvision, staged download),
  :mod:`~ecosim.data.cache` (decoded ``.npz``), :mod:`~ecosim.data.images` (Pillow decoding);
* :mod:`ecosim.data.record`: :class:`ImageDataset` and the table of known datasets
  (:data:`DATASETS`, normalisation, files);
* :mod:`ecosim.data.root`: :func:`resolve_data_root` and the cache folder;
* :mod:`ecosim.data.arrays`: :func:`prepare_data` → the training / fitness / test arrays of a run;
* :mod:`ecosim.data.node_cache`: their machine-local, memory-mapped copy.
"""

from ecosim.data.arrays import prepare_data
from ecosim.data.load import load_dataset
from ecosim.data.record import DATASETS, ImageDataset
from ecosim.data.root import resolve_data_root

__all__ = ["DATASETS", "ImageDataset", "load_dataset", "prepare_data", "resolve_data_root"]
