"""Config: TOML round trip, unknown keys, bad values named before any work, derived ecosystem sizes."""

import dataclasses
import itertools
import re
from pathlib import Path

import pytest

from ecosim.config import CHOICES, Config, EcosystemConfig, load_config
from ecosim.config_fields import config_fields
from ecosim.data import DATASETS
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
        ({"ecosystem.species": 8, "ecosystem.max_species": 4}, "ecosystem.max_species"),
        ({"ecosystem.population": 0}, "ecosystem.population"),
        ({"ecosystem.offspring": 0}, "ecosystem.offspring"),
        ({"ecosystem.species": 0}, "ecosystem.species"),
        ({"ecosystem.species": 9, "ecosystem.population": 8}, "ecosystem.species"),
        ({"ecosystem.offspring": "many"}, "ecosystem.offspring"),
        ({"training.train_fraction": 0.0}, "training.train_fraction"),
        ({"training.train_fraction": 1.5}, "training.train_fraction"),
        ({"training.optimiser": "lbfgs2"}, "training.optimiser"),
        ({"run.mode": "fast"}, "run.mode"),
        ({"training.batch_size": "128"}, "training.batch_size"),
        ({"ecosystem.initial_layers": "C10[2x2]"}, "ecosystem.initial_layers"),
        ({"ecosystem.initial_layers": "X5", "mutation.new_kernel_shape": "3x3"}, "ecosystem.initial_layers"),
        ({"ecosystem.protect_removals": False}, "ecosystem.protect_removals"),  # narrows no protection
        ({"mutation.max_macs_doubling": 10.0}, "mutation.max_macs_doubling"),  # doubles no cap
        ({"mutation.cap_crossover": True}, "mutation.cap_crossover"),  # applies no cap
        ({"ecosystem.settle": 0.5, "ecosystem.settle_rungs": 0}, "ecosystem.settle_rungs"),
        ({"ecosystem.settle": 0.5, "ecosystem.settle_keep": 1, "ecosystem.settle_rungs": 2}, "ecosystem.settle_rungs"),
        ({"ecosystem.settle_rungs": 3}, "ecosystem.settle_rungs"),  # halves no kept networks
        ({"ecosystem.settle": 0.5, "ecosystem.settle_lr_decay": 0.0}, "ecosystem.settle_lr_decay"),
        ({"ecosystem.settle": 0.5, "ecosystem.settle_lr_decay": 1.5}, "ecosystem.settle_lr_decay"),
        ({"ecosystem.settle": 0.5, "ecosystem.settle_lr_decay": float("nan")}, "ecosystem.settle_lr_decay"),
        ({"ecosystem.settle_lr_decay": 0.3}, "ecosystem.settle_lr_decay"),  # lowers no rate: never settles
        # session 38, a fresh user's find: inf passed where nan did not, and every network diverged
        ({"training.learning_rate": float("inf")}, "training.learning_rate"),
        ({"mutation.init_std": float("inf")}, "mutation.init_std"),
        ({"resources.cpus_per_task": float("inf")}, "resources.cpus_per_task"),
        ({"resources.gpus_per_task": float("inf")}, "resources.gpus_per_task"),
        ({"resources.task_timeout": float("inf")}, "resources.task_timeout"),
        ({"resources.resource_timeout": float("inf")}, "resources.resource_timeout"),
        ({"resources.stall_timeout": float("inf")}, "resources.stall_timeout"),
        # a typo's width hung the check drawing kernel shapes (C99999999999)
        ({"ecosystem.initial_layers": "C99999999999"}, "ecosystem.initial_layers"),
        ({"ecosystem.initial_layers": "C10-F5000"}, "ecosystem.initial_layers"),
        ({"mutation.new_layer_max_nodes": 5000}, "mutation.new_layer_max_nodes"),
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
    with pytest.raises(ConfigError, match=r"unknown config section \[trainer\]"):
        load_config(p)
    p.write_text("population = 2\n[training]\nbatch_size = 64\n")  # a key above every section: not a section
    with pytest.raises(ConfigError, match=r"key 'population' is outside any section; it belongs in \[ecosystem\];"):
        load_config(p)
    p.write_text("popluation = 2\n")
    with pytest.raises(ConfigError, match=r"key 'popluation' is outside any section; valid sections"):
        load_config(p)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")


def test_species_options_do_not_apply_without_speciation():
    c = Config().with_overrides({"ecosystem.speciation": False, "ecosystem.population": 2, "ecosystem.species": 8})
    assert c.ecosystem.population == 2


def test_offspring_and_champions_must_fit_the_ecosystem_limit_when_both_are_set():
    set_sizes = {"ecosystem.offspring": 100, "ecosystem.max_population": 111, "ecosystem.max_species": 16}
    with pytest.raises(ConfigError, match=r"ecosystem\.offspring' = 100 .*max_population \(111\).*max_species \(16\)"):
        Config().with_overrides(set_sizes)
    grown = Config().with_overrides({"ecosystem.offspring": 100}).ecosystem  # the limit follows
    assert grown.max_population == 116 and grown.offspring == 100
    fitted = Config().with_overrides({"ecosystem.offspring": 100, "ecosystem.max_population": 111}).ecosystem
    assert fitted.max_species == 11  # the species limit follows the sizes that were set


def test_derived_sizes_reproduce_the_paper_and_are_numbers_in_toml(tmp_path):
    c = Config()
    assert c.ecosystem.derived == {"max_population", "species", "max_species", "offspring"}
    assert "offspring = 32" in c.to_toml() and "max_population = 111" in c.to_toml()
    p = tmp_path / "c.toml"
    p.write_text(c.with_overrides({"ecosystem.population": 8}).to_toml())
    stored = load_config(p)  # what resume reads: every size set, same values
    assert stored == c.with_overrides({"ecosystem.population": 8}) and stored.ecosystem.derived == set()


def test_small_ecosystems_need_only_the_sizes_the_user_cares_about():
    e = (
        Config()
        .with_overrides(
            {
                "ecosystem.population": 8,
                "ecosystem.max_population": 12,
                "ecosystem.species": 2,
                "ecosystem.max_species": 4,
            }
        )
        .ecosystem
    )
    assert e.offspring == 4  # issue: the default 32 broke every ecosystem below ~40 networks
    one = Config().with_overrides({"ecosystem.population": 1}).ecosystem
    assert (one.species, one.max_species, one.offspring, one.max_population) == (1, 2, 1, 3)  # not 1 → 33 → 65
    assert EcosystemConfig(population=1) == one  # same rules from the Python API
    eight = Config().with_overrides({"ecosystem.population": 8}).ecosystem
    assert (eight.species, eight.max_species, eight.offspring, eight.max_population) == (8, 16, 4, 20)


def test_a_baseline_has_one_species_and_a_second_is_an_error():
    base = {"ecosystem.population": 4, "ecosystem.offspring": 0, "ecosystem.initial_layers": "C10[3x3]"}
    e = Config().with_overrides(base).ecosystem
    assert (e.species, e.max_species) == (1, 1)  # not 4: initial species would be other architectures
    with pytest.raises(ConfigError, match=r"'ecosystem.species' = 2 .*must be 1 with ecosystem.offspring = 0"):
        Config().with_overrides({**base, "ecosystem.species": 2})
    with pytest.raises(ConfigError, match=r"'ecosystem.speciation' = False .*plus one random mutation"):
        Config().with_overrides({**base, "ecosystem.speciation": False})  # each network mutated once


def test_overrides_re_derive_and_auto_unsets():
    c = Config().with_overrides({"ecosystem.population": 8})
    assert c.with_overrides({"ecosystem.population": 64}).ecosystem == Config().ecosystem
    c = Config().with_overrides({"ecosystem.offspring": 5})
    assert c.with_overrides({"ecosystem.offspring": "auto"}).ecosystem.offspring == 32


def test_auto_in_toml_means_derived(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[ecosystem]\npopulation = 4\noffspring = "auto"\n')
    assert load_config(p).ecosystem.offspring == 2
    p.write_text('[ecosystem]\npopulation = "auto"\n')
    with pytest.raises(ConfigError, match="ecosystem.population"):
        load_config(p)


def _feasible(spec, pop, max_pop, species, max_species, offspring):
    s = species or 1
    big_s = max_species or s
    o = offspring or 1
    m = max_pop or 10**6
    if not spec:
        return m >= pop and o + 1 <= m
    return m >= pop and s <= pop and big_s >= s and o + big_s <= m


def test_every_feasible_choice_of_set_sizes_is_accepted_and_errors_name_a_set_size():
    sizes = [None, 1, 2, 3, 5, 7]
    for spec, pop in itertools.product((True, False), (1, 2, 3, 6)):
        for max_pop, species, max_species, offspring in itertools.product(sizes, repeat=4):
            given = {"max_population": max_pop, "species": species, "max_species": max_species, "offspring": offspring}
            try:
                e = EcosystemConfig(population=pop, speciation=spec, **given)
            except ConfigError as exc:
                assert not _feasible(spec, pop, max_pop, species, max_species, offspring), (given, exc)
                named = re.search(r"'ecosystem\.(\w+)'", str(exc)).group(1)
                assert named == "population" or given[named] is not None, (given, exc)
                continue
            assert all(getattr(e, k) == v for k, v in given.items() if v is not None)
            champions = e.max_species if spec else 1
            assert pop <= e.max_population and e.offspring >= 1 and e.offspring + champions <= e.max_population
            if spec:
                assert 1 <= e.species <= pop and e.max_species >= e.species


def test_replace_keeps_derived_numbers_as_set():
    e = dataclasses.replace(Config().ecosystem, population=16)
    assert e.offspring == 32 and e.derived == set()  # documented: use with_overrides to re-derive


def test_config_fields_describe_every_key_with_help_and_choices():
    fields = config_fields()
    assert {f.key for f in fields} >= {"run.seed", "ecosystem.offspring", "training.learning_rate"}
    assert all(f.help for f in fields), [f.key for f in fields if not f.help]
    by_key = {f.key: f for f in fields}
    for key, choices in CHOICES.items():
        assert by_key[key].choices == choices
    assert "0 →" in by_key["training.learning_rate"].help and "adam" in by_key["training.optimiser"].help
    assert {f.key for f in fields if f.derived} == {
        f"ecosystem.{k}" for k in ("max_population", "species", "max_species", "offspring")
    }


def test_cli_errors_keep_bracketed_names(tmp_path, capsys):
    from ecosim.cli import main

    p = tmp_path / "c.toml"
    p.write_text("[runn]\nseed = 1\n")
    assert main(["run", str(p)]) == 2
    assert "[runn]" in capsys.readouterr().err


def test_a_run_config_written_before_a_default_changed_keeps_the_old_value(tmp_path):
    """0.3 made the resize dimension the paper's uniform rule; an older run resumes with eq. 1."""
    from ecosim.config import CHANGED_DEFAULTS, Config, load_config

    old = Config().to_dict()
    del old["mutation"]["resize_dimension"]
    import tomli_w

    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(old))
    assert (
        load_config(path, run_config=True).mutation.resize_dimension
        == CHANGED_DEFAULTS[("mutation", "resize_dimension")]
        == "eq1"
    )
    assert load_config(path).mutation.resize_dimension == "uniform"  # a user's config file: today's default
    path.write_text(Config().to_toml())
    assert load_config(path, run_config=True).mutation.resize_dimension == "uniform"


def test_a_toml_with_a_renamed_key_and_its_new_name_is_refused_naming_both(tmp_path):
    path = tmp_path / "clash.toml"
    path.write_text("[mutation]\nnew_dense_max_nodes = 32\nnew_layer_max_nodes = 16\n")
    both = r"'mutation.new_dense_max_nodes' .* 'mutation.new_layer_max_nodes' are both set"
    with pytest.raises(ConfigError, match=both):
        load_config(path)
    path.write_text("[mutation]\nnew_dense_max_nodes = 32\n")  # the old name alone still loads
    assert load_config(path).mutation.new_layer_max_nodes == 32


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).parents[1] / "experiments").rglob("*.toml")),
    ids=lambda p: str(p.relative_to(Path(__file__).parents[1] / "experiments")),
)
def test_every_shipped_experiment_config_loads_and_validates(path):
    # the sweep scripts start hours of runs from these files: a typo must fail here, not at run 20
    cfg = load_config(path)
    named = [d for d in DATASETS if path.name.startswith(f"{d}-")]
    assert named in ([], [cfg.data.dataset]), f"{path.name} names another dataset than {cfg.data.dataset}"


def test_an_unknown_override_lists_the_valid_keys_as_a_file_does():
    """``--set ecosystem.populaton=6`` named the key but not the valid ones, unlike the same typo in a
    config file (the helper's find, session 34)."""
    with pytest.raises(ConfigError, match=r"'ecosystem.populaton'; valid keys: population, max_population"):
        Config().with_overrides({"ecosystem.populaton": 6})
    with pytest.raises(ConfigError, match=r"'ecosytem.population'; valid sections: run, data, ecosystem"):
        Config().with_overrides({"ecosytem.population": 6})
