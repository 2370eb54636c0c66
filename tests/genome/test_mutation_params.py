"""The ``[mutation]`` section (paper §III-D, §III-E, §IV): bad values are one-line errors naming the key."""

import re

import pytest

from ecosim.errors import ConfigError
from ecosim.genome import MutationKind, MutationParams
from ecosim.genome.mutation_params import parse_family_weights, parse_kernel_shape


@pytest.mark.parametrize(
    "spec", ["layer", "layer=x", "depth=1", "layer=-1", "layer=0,node=0", "layer=nan", "layer=1;node=1", "add_kernel=1"]
)
def test_bad_family_weights_are_a_one_line_error_naming_the_key(spec):
    with pytest.raises(ConfigError, match="mutation.family_weights"):
        MutationParams(family_weights=spec)


@pytest.mark.parametrize("spec", ["3", "2x3", "3x", "ax3", "3x3x3"])
def test_bad_new_kernel_shape_is_a_one_line_error_naming_the_key(spec):
    with pytest.raises(ConfigError, match="mutation.new_kernel_shape"):
        MutationParams(new_kernel_shape=spec)


@pytest.mark.parametrize(
    "values, key",
    [
        ({"init_std": 0.0}, "init_std"),
        ({"new_layer_min_nodes": 0}, "new_layer_min_nodes"),
        ({"new_layer_min_nodes": 9, "new_layer_max_nodes": 8}, "new_layer_max_nodes"),
        ({"resize_dimension": "both"}, "resize_dimension"),
        ({"max_macs": -1.0}, "max_macs"),
        ({"max_macs": float("inf")}, "max_macs"),
        ({"max_macs": float("nan")}, "max_macs"),
        ({"max_macs": 1e5, "max_macs_doubling": -1.0}, "max_macs_doubling"),
        ({"max_macs": 1e5, "max_macs_doubling": float("inf")}, "max_macs_doubling"),
        ({"max_macs_doubling": 40.0}, "max_macs_doubling"),  # it doubles a cap that is not there
        ({"cap_crossover": True}, "cap_crossover"),  # applies a cap that is not there
    ],
)
def test_out_of_range_values_name_their_key(values, key):
    with pytest.raises(ConfigError, match=rf"mutation\.{key}"):
        MutationParams(**values)


def test_text_options_parse_to_what_the_operators_read():
    assert parse_family_weights("") is None and parse_kernel_shape(" ") is None
    w = parse_family_weights(" layer = 2 , grow_kernel=1 ")
    assert w is not None
    assert (w[MutationKind.ADD_LAYER], w[MutationKind.REMOVE_LAYER], w[MutationKind.GROW_KERNEL]) == (1.0, 1.0, 1.0)
    assert sum(w.values()) == 3.0
    assert parse_kernel_shape("5x3") == (5, 3)


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("node=1,node=2", "'node' is named"),
        ("layer=1,add_layer=2", "add_layer is weighed"),
        ("shrink_kernel=1, kernel=1", "shrink_kernel is weighed"),
    ],
)
def test_a_kind_weighed_twice_is_an_error_not_an_override(spec, kind):
    with pytest.raises(ConfigError, match=rf"mutation\.family_weights.*{kind} twice"):
        parse_family_weights(spec)
    with pytest.raises(ConfigError, match=r"mutation\.family_weights"):
        MutationParams(family_weights=spec)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [("lyer=1", "unknown name 'lyer'"), ("layer=1,", "'' is not name=weight"), ("layer=x", "'x' is not a number")],
)
def test_a_bad_family_weights_item_is_named_first(spec, reason):
    with pytest.raises(ConfigError, match=rf"mutation\.family_weights' = '{re.escape(spec)}' is invalid \({reason}\)"):
        parse_family_weights(spec)


def test_family_weights_are_stored_without_whitespace_so_two_spellings_are_one_setting():
    """``" layer = 1 "`` was stored as written and reported as an experiment of its own (helper 36)."""
    assert MutationParams(family_weights=" layer = 1 , add_node=0.5 ").family_weights == "layer=1,add_node=0.5"
    assert MutationParams(family_weights="layer=1").family_weights == "layer=1"
    # order and number spelling too (helper 37): one setting, one spelling
    for spelling in (" node = 1 , layer = 1 ", "layer=1.0,node=1e0", "node=1_0e-1,layer=1"):
        assert MutationParams(family_weights=spelling).family_weights == "layer=1,node=1", spelling
    assert MutationParams(family_weights="layer=0.1").family_weights == "layer=0.1"
    with pytest.raises(ConfigError, match=r"'layer=0,node=0' is invalid \(every weight is 0\)"):
        MutationParams(family_weights="layer=0,node=0")
