"""TrainingParams checks itself when built, as MutationParams and EcosystemConfig do (issue 20)."""

from __future__ import annotations

import pytest

from ecosim.errors import ConfigError
from ecosim.phenotype.records import TrainingParams


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("learning_rate", -1.0),
        ("batch_size", 0),
        ("train_fraction", 0.0),
        ("train_fraction", 1.5),
        ("epochs", 0),
        ("eval_batch_size", 0),
        ("optimiser", "sgd2"),
        ("activation", "swish2"),
        ("conv_mode", "sparse"),
        ("memory_format", "nhwc"),
        ("eval_split", "thirds"),
    ],
)
def test_a_bad_training_value_is_refused_when_built_naming_its_key(key, value):
    with pytest.raises(ConfigError, match=rf"^config 'training\.{key}' = .* is invalid: must be "):
        TrainingParams(**{key: value})


def test_the_defaults_are_valid():
    assert TrainingParams().optimiser == "adadelta"
