"""Plug-in registries (optimisers, activations, conv modes): defined once, importable without torch."""

import subprocess
import sys

import pytest
import torch

from ecosim.config import Config
from ecosim.errors import ConfigError
from ecosim.phenotype.network import get_activation
from ecosim.phenotype.registry import ACTIVATIONS, CONV_MODES, OPTIMISERS, Registry


def test_config_reads_the_registries_without_importing_torch():
    code = (
        "import sys, ecosim.config as c, ecosim.phenotype.registry as r\n"
        "assert c.OPTIMISERS is r.OPTIMISERS and c.ACTIVATIONS is r.ACTIVATIONS\n"
        "c.Config()\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_every_optimiser_name_resolves_to_a_torch_optimiser(name):
    opt = OPTIMISERS[name]([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert isinstance(opt, torch.optim.Optimizer)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_name_resolves_to_an_elementwise_function(name):
    x = torch.linspace(-2, 2, 7)
    assert get_activation(name)(x).shape == x.shape


@pytest.mark.parametrize(
    "key, value, registry",
    [
        ("training.optimiser", "lbfgs2", OPTIMISERS),
        ("training.activation", "swish2", ACTIVATIONS),
        ("training.conv_mode", "fft", CONV_MODES),
    ],
)
def test_config_rejects_unregistered_names_listing_the_registered_ones(key, value, registry):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        Config().with_overrides({key: value})
    assert all(name in str(info.value) for name in registry)


def test_unknown_name_is_a_value_error_listing_valid_names():
    with pytest.raises(ValueError, match="'relu'.*got 'nope'"):
        ACTIVATIONS.get_valid("nope")
    with pytest.raises(KeyError):
        OPTIMISERS["nope"]
    assert None not in ACTIVATIONS and 3 not in OPTIMISERS


def test_registry_rejects_malformed_paths_and_resolves_lazily():
    with pytest.raises(ValueError, match="module:attribute"):
        Registry("thing", {"a": "torch.tanh"})
    reg = Registry("thing", {"a": "ecosim_no_such_module:x"})
    assert "a" in reg and list(reg) == ["a"] and len(reg) == 1  # nothing imported yet
    with pytest.raises(ModuleNotFoundError):
        reg["a"]
