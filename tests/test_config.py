"""Config: TOML round trip, unknown keys, bad values named before any work (issue: bad input)."""

import pytest

from ecosim.config import Config, load_config
from ecosim.errors import ConfigError


def test_defaults_are_the_papers():
    c = Config()
    assert (c.ecosystem.species, c.ecosystem.max_species) == (8, 16)
    assert (c.ecosystem.population, c.ecosystem.max_population) == (64, 111)
    assert c.training.batch_size == 128 and c.training.train_fraction == 0.1
    assert c.training.optimiser == "adadelta" and c.mutation.init_std == 0.1 and c.run.generations == 100


def test_resolved_config_round_trips_through_toml(tmp_path):
    c = Config().with_overrides({"run.seed": 7, "ecosystem.speciation": False, "data.dataset": "fashion-mnist"})
    p = tmp_path / "c.toml"
    p.write_text(c.to_toml())
    assert load_config(p) == c


@pytest.mark.parametrize(
    "override, name",
    [
        ({"ecosystem.population": -1}, "ecosystem.population"),
        ({"ecosystem.max_population": 10}, "ecosystem.max_population"),
        ({"ecosystem.max_species": 4}, "ecosystem.max_species"),
        ({"training.train_fraction": 0.0}, "training.train_fraction"),
        ({"training.train_fraction": 1.5}, "training.train_fraction"),
        ({"training.optimiser": "lbfgs2"}, "training.optimiser"),
        ({"run.mode": "fast"}, "run.mode"),
        ({"training.batch_size": "128"}, "training.batch_size"),
    ],
)
def test_bad_values_are_rejected_naming_the_parameter(override, name):
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        Config().with_overrides(override)


def test_unknown_keys_are_errors(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[training]\nbatchsize = 64\n")
    with pytest.raises(ConfigError, match="training.batchsize"):
        load_config(p)
    p.write_text("[trainer]\n")
    with pytest.raises(ConfigError, match="trainer"):
        load_config(p)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")


def test_species_options_do_not_apply_without_speciation():
    c = Config().with_overrides({"ecosystem.speciation": False, "ecosystem.population": 2, "ecosystem.species": 8})
    assert c.ecosystem.population == 2


def test_offspring_and_champions_must_fit_the_ecosystem_limit():
    with pytest.raises(ConfigError, match="ecosystem.offspring"):
        Config().with_overrides({"ecosystem.offspring": 100})


def test_cli_errors_keep_bracketed_names(tmp_path, capsys):
    from ecosim.cli import main

    p = tmp_path / "c.toml"
    p.write_text("[runn]\nseed = 1\n")
    assert main(["run", str(p)]) == 2
    assert "[runn]" in capsys.readouterr().err
