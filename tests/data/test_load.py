"""load_dataset (ecosim.data.load): names, data roots (ecosim.data.root), missing files
(ecosim.data.download), and no torch on import."""

from __future__ import annotations

import pytest

from ecosim.data.load import load_dataset
from ecosim.data.record import DATASETS
from ecosim.data.root import ENV_VAR, resolve_data_root
from ecosim.errors import ConfigError, DatasetError


def test_unknown_name_is_a_config_error_listing_valid_names(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_dataset("imagenet", tmp_path)
    for name in DATASETS:
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_emnist_split_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="balanced"):
        load_dataset("emnist", tmp_path, emnist_split="nope")


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("download", [False, None])  # None: explicit root, so no download
def test_missing_files_offline_is_a_dataset_error(tmp_path, name, download):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset(name, root, download=download, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert repr(name) in message
    assert str(root) in message
    assert "ECOSIM_DATA" in message and "--data-root" in message and "\n" not in message
    assert list(root.iterdir()) == []  # nothing half-written
    assert isinstance(info.value, FileNotFoundError)


def test_missing_folder_path_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(str(tmp_path / "no-such-folder"))


def test_resolve_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_data_root(None) is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_root(None) == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(str(tmp_path)) == tmp_path


def test_env_var_is_used_when_no_root_is_given(monkeypatch, data_root):
    monkeypatch.setenv(ENV_VAR, str(data_root))
    ds = load_dataset("fashion-mnist")  # download=None, but a root is configured
    assert ds.train_images.shape == (60000, 1, 28, 28)


def test_data_modules_do_not_import_torch():
    """Commands that only read a run (``resume`` with nothing to do, ``report``) must not pay for
    importing torch (about 1 s) through any module of ecosim.data; torchvision is imported where a
    dataset is read."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, ecosim.data\n"
        "for m in pkgutil.iter_modules(ecosim.data.__path__):\n"
        "    importlib.import_module('ecosim.data.' + m.name)\n"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
