"""Datasets: reading them (torchvision, offline folders, a cache) and the arrays a run uses.

* :mod:`ecosim.data.datasets`: :func:`load_dataset` → :class:`ImageDataset` (uint8 ``(N, C, H, W)``);
* :mod:`ecosim.data.arrays`: :func:`prepare_data` → the training / fitness / test arrays of a run.
"""

from ecosim.data.arrays import prepare_data
from ecosim.data.datasets import DATASETS, ImageDataset, load_dataset, resolve_data_root

__all__ = ["DATASETS", "ImageDataset", "load_dataset", "prepare_data", "resolve_data_root"]
