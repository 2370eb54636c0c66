"""Report: Table I values from known logs, Fig. 9-style PNGs, origin split, clear errors (paper §IV-B)."""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecosim.cli import main
from ecosim.config import Config, load_config
from ecosim.errors import CheckpointError, EcosimError
from ecosim.report import (
    ReportError,
    default_out_dir,
    failed_mutations,
    group_runs,
    load_runs,
    offspring_by_origin,
    table_one,
    write_report,
)
from ecosim.store.logs import LogWriter, empty_counts

GENERATIONS = 5  # generations 0..4; the third run stops after generation 3


def highest(k: int, g: int) -> float:
    return 0.90 + 0.01 * g + 0.002 * k


def mean(k: int, g: int) -> float:
    return 0.80 + 0.02 * g + 0.010 * k


def offspring(k: int, g: int) -> float | None:
    return None if g == 0 else 0.50 + 0.05 * g - 0.020 * k


# network rows per generation: (origin, fitness_before_bp); the mean per origin is known.
# Crossover and mutation values are shifted by shift(k, g), so that their mean, the clone-free
# offspring fitness before BP that Table I reports, is offspring(k, g); the clone stays at 0.90.
NETWORKS = [
    ("initial", None),
    ("crossover", 0.60),
    ("crossover", 0.70),
    ("mutation", 0.20),
    ("mutation", 0.30),
    ("mutation", 0.40),
    ("clone", 0.90),
]
NON_CLONE_MEAN = 0.44  # mean of the crossover and mutation values above


def shift(k: int, g: int) -> float:
    return 0.0 if g == 0 else offspring(k, g) - NON_CLONE_MEAN


def logged_with_clones(k: int, g: int) -> float | None:
    """What an older engine logged: the mean over every offspring, the clone included."""
    if g == 0:
        return None
    values = [b + (0.0 if o == "clone" else shift(k, g)) for o, b in NETWORKS if b is not None]
    return sum(values) / len(values)


def write_run(run_dir: Path, k: int, generations: int, speciation: bool = True) -> Path:
    cfg = Config().with_overrides(
        {
            "run.seed": k,
            "run.out": str(run_dir),
            "data.dataset": "mnist",
            "ecosystem.speciation": speciation,
        }
    )
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    logs = LogWriter(run_dir)
    for g in range(generations):
        rows = []
        for i, (origin, before) in enumerate(NETWORKS):
            rows.append(
                {
                    "generation": g,
                    "network_id": 100 * g + i,
                    "species_id": 0,
                    "parent_ids": [],
                    "origin": origin,
                    "parameters": 7850 + i,
                    "fitness": 0.9,
                    "test_accuracy": 0.85 + 0.01 * i,
                    "fitness_before_bp": None
                    if g == 0 or before is None
                    else before + (0.0 if origin == "clone" else shift(k, g)),
                    "layers": "C2s1x1[3x3,1x1]-F10" if i % 2 else "F64-F10",
                    "status": "ok",
                    "culled": False,
                }
            )
        logs.write_networks(g, 0, rows)
        counts = empty_counts()
        counts["failed_add_layer"] = g
        counts["failed_remove_node"] = 2 * g
        counts["failed_species_limit"] = 10 + g
        logs.write_generation(
            {
                "generation": g,
                "highest_fitness": highest(k, g),
                "mean_fitness": mean(k, g),
                "best_fitness_so_far": highest(k, g),
                "mean_offspring_fitness_before_bp": logged_with_clones(k, g),
                "species_count": 8 + g,
                "network_count": 64 + 10 * g,
                "networks_evaluated": 64 + 10 * g,
                "champion_id": 100 * g,
                "champion_parameters": 7850 + 100 * g + k,
                "champion_fitness": highest(k, g),
                **counts,
            }
        )
    return run_dir


@pytest.fixture()
def runs(tmp_path: Path) -> list[Path]:
    """Three runs of MNIST with speciation (the third one generation shorter)."""
    base = tmp_path / "table1" / "mnist-speciation"
    return [write_run(base / f"seed{k}", k, GENERATIONS - (k == 2)) for k in range(3)]


def test_table_one_gives_highest_mean_and_sample_std_at_a_generation(runs):
    table = table_one(runs, generation=2)
    row = table.loc["mnist-speciation"]
    assert row["runs"] == 3 and row["generation"] == 2 and row["experiment"] == "MNIST (with speciation)"
    for metric, f in [
        ("highest_fitness", highest),
        ("mean_fitness", mean),
        ("mean_offspring_fitness_before_bp", offspring),
    ]:
        values = np.array([f(k, 2) for k in range(3)])
        assert row[f"{metric}_max"] == pytest.approx(values.max(), abs=1e-12)
        assert row[f"{metric}_mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert row[f"{metric}_std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert row[f"{metric}_n"] == 3
    # the numbers themselves: highest fitness 0.92, 0.922, 0.924 → max 0.924, mean 0.922, std 0.002
    assert row["highest_fitness_max"] == pytest.approx(0.924)
    assert row["highest_fitness_mean"] == pytest.approx(0.922)
    assert row["highest_fitness_std"] == pytest.approx(0.002)


def test_default_generation_is_the_last_one_every_run_reached(runs):
    row = table_one(runs).loc["mnist-speciation"]
    assert row["generation"] == GENERATIONS - 2  # the third run stopped one generation early
    assert row["highest_fitness_max"] == pytest.approx(highest(2, 3))


def test_a_run_resumed_with_another_compute_budget_is_the_same_experiment(runs):
    cfg = load_config(runs[0] / "config.toml", {"run.train_macs": 6e8})
    (runs[0] / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    assert list(table_one(runs).index) == ["mnist-speciation"]  # pooled, as a run extended further


def test_runs_that_differ_only_in_the_evaluation_split_are_one_experiment(runs):
    for run, split in zip(runs, ("whole", "halves")):  # it never changes a result (issue 18)
        cfg = load_config(run / "config.toml", {"training.eval_split": split})
        (run / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    assert list(table_one(runs).index) == ["mnist-speciation"]


def test_one_run_has_nan_std_and_experiments_are_grouped(runs, tmp_path):
    single = write_run(tmp_path / "other" / "seed0", 0, 3, speciation=False)
    table = table_one([*runs, single])
    assert list(table.index) == ["mnist-speciation", "mnist-no-speciation"]
    row = table.loc["mnist-no-speciation"]
    assert row["runs"] == 1 and row["generation"] == 2
    assert row["highest_fitness_max"] == row["highest_fitness_mean"] == pytest.approx(highest(0, 2))
    assert math.isnan(row["highest_fitness_std"])


def test_a_generation_some_run_never_reached_is_named(runs, tmp_path):
    with pytest.raises(ReportError, match=r"generation 4 .*seed2.*0\.\.3"):
        table_one(runs, generation=4)
    with pytest.raises(ReportError):
        write_report(runs, tmp_path / "report", generation=4)
    assert not (tmp_path / "report").exists()  # a failed report leaves no empty folder behind


def test_a_run_without_the_row_read_is_left_out_with_one_warning_not_the_whole_report(runs, tmp_path, capsys):
    """A damaged generation file that ``ecosim resume`` moved aside leaves a gap; a report that reads
    that generation (here the last one every run reached) leaves that run out, not every run."""
    short = write_run(tmp_path / "short" / "mnist-speciation" / "seed3", 3, 1)  # reached generation 0 only
    (runs[0] / "generations" / "gen-000000.parquet").unlink()  # the gap: generations 1.. stay
    assert main(["report", *map(str, runs), str(short), "--out", str(tmp_path / "r")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "has no row for generation 0" in err and "seed0" in err and "Traceback" not in err
    table = (tmp_path / "r" / "table1.csv").read_text()
    assert ",3,0," in table  # 3 of the 4 runs read at generation 0
    with pytest.raises(ReportError, match="generation 4"):
        table_one(runs, generation=4)  # a run that never reached it is still an error


def test_missing_offspring_value_is_left_out_of_that_metric(runs):
    row = table_one(runs, generation=0).loc["mnist-speciation"]
    assert row["mean_offspring_fitness_before_bp_n"] == 0
    assert math.isnan(row["mean_offspring_fitness_before_bp_mean"])
    assert row["highest_fitness_n"] == 3


def test_offspring_fitness_before_bp_is_split_by_origin(runs):
    (run,) = load_runs([runs[0]])
    split = offspring_by_origin(run.networks)
    assert list(split.columns) == ["crossover", "mutation", "clone"]
    assert split.loc[1].to_dict() == pytest.approx(
        {"crossover": 0.65 + shift(0, 1), "mutation": 0.30 + shift(0, 1), "clone": 0.90}
    )
    assert 0 not in split.index  # generation 0 has no offspring scored before BP


def test_failed_mutations_sum_constraint_kinds_and_keep_species_limit_apart(runs):
    (run,) = load_runs([runs[0]])
    failed = failed_mutations(run.generations)
    assert failed.loc[3, "constraint"] == 3 + 6
    assert failed.loc[3, "species_limit"] == 13


def test_report_command_writes_table_and_readable_pngs(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} == {
        f"mnist-speciation-{name}.png"
        for name in ("fitness", "offspring-by-origin", "population", "architecture", "failed-mutations")
    }
    for png in pngs:
        assert png.stat().st_size > 0 and str(png) in printed
        with Image.open(png) as im:
            im.verify()
            assert im.format == "PNG"
    # default generation 3 (the shortest run's last): highest fitness 0.930, 0.932, 0.934
    assert "93.40% (93.20 ± 0.20)" in (out / "table1.md").read_text(encoding="utf-8")
    assert (out / "table1.csv").stat().st_size > 0
    # not a terminal: the table is Markdown, one line per row, and the final champions follow
    assert "| MNIST (with speciation) | 3 | 3 | 93.40% (93.20 ± 0.20) |" in printed
    # the run directory as given, not "<experiment>/<run>", which is no folder
    assert (
        f"mnist-speciation, {runs[1]}, generation 4: network 400, F64-F10, 8,251 parameters, fitness 94.20%"
        in " ".join(printed.split())
    )
    assert "Computed on: not recorded for 3 runs (logs from before ecosim 0.9.11)." in printed  # no sessions logs here
    assert captured.err == ""  # no warnings for distinct seeds


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_report_writes_pdf_and_svg_figures(runs, tmp_path, fmt, magic):
    out = tmp_path / fmt
    assert main(["report", str(runs[0]), "--out", str(out), "--format", fmt]) == 0
    figures = sorted(out.glob(f"*.{fmt}"))
    assert len(figures) == 5 and not list(out.glob("*.png"))
    assert all(f.read_bytes().startswith(magic) for f in figures)
    with pytest.raises(EcosimError, match="report format 'gif' is unknown; valid formats: png, pdf, svg"):
        write_report([runs[0]], out, fmt="gif")


def test_one_run_reports_into_its_own_folder_several_into_their_common_one(runs):
    assert default_out_dir([runs[0]]) == runs[0] / "report"
    assert default_out_dir(runs) == runs[0].parent.resolve() / "report"


def test_a_folder_of_runs_is_expanded(runs):
    found = load_runs([runs[0].parent.parent, runs[1]])  # table1/ holds mnist-speciation/seed{0,1,2}
    assert sorted(r.run_dir for r in found) == sorted(runs)
    assert table_one(found).loc["mnist-speciation", "runs"] == 3


def test_a_run_just_started_in_a_folder_is_left_out_with_a_warning(runs, tmp_path):
    started = runs[0].parent.parent / "mnist-levers" / "seed0"  # a sweep in progress: no generation yet
    started.mkdir(parents=True)
    (started / "config.toml").write_text(Config().to_toml(), encoding="utf-8")
    with pytest.warns(UserWarning, match="no generation logged yet"):
        found = load_runs([runs[0].parent.parent])
    assert sorted(r.run_dir for r in found) == sorted(runs)
    with pytest.raises(CheckpointError, match="no generation logs"):
        load_runs([started])  # named itself: an error
    with pytest.raises(CheckpointError, match="nothing to report"), pytest.warns(UserWarning):
        load_runs([started.parent])


def test_run_dir_without_logs_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.toml").write_text(Config().to_toml(), encoding="utf-8")
    with pytest.raises(CheckpointError, match="no generation logs"):
        load_runs([empty])
    with pytest.raises(CheckpointError, match="nowhere' does not exist"):
        load_runs([tmp_path / "nowhere"])
    assert main(["report", str(empty)]) == 2
    assert "nogenerationlogs" in "".join(capsys.readouterr().err.split())  # rich wraps, even mid-word


def test_tensorboard_is_optional_and_says_how_to_install(runs, tmp_path):
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(EcosimError, match=r"pip install 'ecosim\[tensorboard\]'"):
            write_report(runs, tmp_path / "tb", tensorboard=True)
        assert not (tmp_path / "tb").exists()  # failed before any work
    else:
        from ecosim.report.tensorboard import write_scalars

        (run,) = load_runs([runs[0]])
        folder = write_scalars(run.generations, tmp_path / "tb", run.networks)
        assert any(folder.glob("events.out.tfevents.*"))


# ---- experiments/: the Table I configs and their runner ---------------------------------------

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
TABLE_ONE = [f"{d}-{s}" for d in ("mnist", "svhn", "fashion-mnist", "cifar10") for s in ("speciation", "no-speciation")]


def _runner():
    import sys

    spec = importlib.util.spec_from_file_location("run_experiments", EXPERIMENTS / "run_experiments.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", TABLE_ONE)
def test_table_one_configs_load_with_the_papers_settings(name):
    from ecosim.report import Experiment

    cfg = load_config(EXPERIMENTS / f"{name}.toml")
    e, t = cfg.ecosystem, cfg.training
    assert Experiment(cfg.data.dataset, e.speciation).slug == name  # report groups runs under the file's name
    assert (e.species, e.max_species, e.population, e.max_population) == (8, 16, 64, 111)
    assert (cfg.mutation.init_std, t.batch_size, t.train_fraction, t.optimiser) == (
        0.1,
        128,
        0.1,
        "adadelta",
    )
    assert cfg.run.generations == 100 and cfg.data.test_subset == 0 and cfg.data.validation_fraction == 0.0


def test_runner_refuses_a_repeated_seed_or_config_and_a_bad_out_or_data_root_before_any_run(tmp_path, capsys):
    """Each was a failure after a first run (a seed twice: its second run found the first's folder),
    or one failure per seed (the helper's finds, session 39): now one line, exit 2, nothing made."""
    runner = _runner()
    config = str(EXPERIMENTS / "mnist-speciation.toml")
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "out"
    for configs, extra, named in (
        ([config], ["--seeds", "0", "1", "0"], "--seeds: seed 0 is given twice"),
        ([config, config], [], "share the name 'mnist-speciation'"),
        ([config], ["--data-root", str(tmp_path / "none")], f"--data-root {str(tmp_path / 'none')!r} is not a folder"),
        ([config], ["--out", str(tmp_path / "afile" / "runs")], "afile' is not a directory"),
    ):
        assert runner.main([*configs, "--out", str(out), "--dry-run", *extra]) == 2, extra
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and named in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    # nothing to do (every run finished): a read-only --out and a missing data root are fine (review, session 39)
    write_run(out / "mnist-speciation" / "seed0", 0, 5)
    argv = [config, "--out", str(out), "--generations", "5", "--data-root", str(tmp_path / "none")]
    assert runner.main(argv) == 0, capsys.readouterr().err


def test_runner_plans_new_finished_and_resumed_runs(tmp_path, capsys):
    runner = _runner()
    config = EXPERIMENTS / "mnist-speciation.toml"  # Config() defaults apart from generations, like write_run's
    out = tmp_path / "table1"
    write_run(out / "mnist-speciation" / "seed0", 0, 5)
    partial = write_run(out / "mnist-speciation" / "seed1", 1, 3)
    (partial / "checkpoints").mkdir()
    (partial / "checkpoints" / "LATEST").write_text("gen-000002")
    plan = runner.plan([config], [0, 1, 2], out, {"run.generations": 5})
    assert [(p.seed, p.status) for p in plan] == [(0, "finished"), (1, "resume"), (2, "new")]
    assert plan[2].run_dir == out / "mnist-speciation" / "seed2" and plan[2].config.run.seed == 2
    with pytest.raises(EcosimError, match="no checkpoint to resume from"):  # logs are never deleted
        runner.plan([config], [0], out, {"run.generations": 7})
    assert runner.plan([config], [1], out, {"run.generations": 7})[0].status == "resume"  # extends the run
    with pytest.raises(EcosimError, match=r"ecosystem\.offspring: 32 there, 5 requested"):
        runner.plan([config], [0], out, {"ecosystem.offspring": 5})
    argv = [
        str(config),
        "--seeds",
        "0",
        "1",
        "2",
        "--out",
        str(out),
        "--generations",
        "5",
        "--dry-run",
    ]
    import logging

    data_log = logging.getLogger("ecosim.data")
    data_log.setLevel(logging.NOTSET)  # as in a fresh process (the ecosim command sets it too)
    assert runner.main(argv) == 0
    printed = capsys.readouterr().out
    assert "seed 0: finished" in printed and "seed 1: resume" in printed and "seed 2: new" in printed
    assert data_log.level == logging.INFO  # dataset progress lines reach the user, as under `ecosim run`


def test_pooling_runs_that_are_not_replicates_warns(runs, tmp_path):
    from ecosim.report import ReplicateWarning

    twin = write_run(tmp_path / "twin", 0, GENERATIONS)  # same seed as runs[0]
    with pytest.warns(ReplicateWarning, match="share a seed"):
        table_one([*runs, twin])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ReplicateWarning)
        table_one(runs)  # distinct seeds, same settings: no warning


# ---- experiments are resolved configs; warnings once; damaged inputs ---------------------------


def test_runs_with_different_settings_are_separate_experiments_naming_what_differs(runs, tmp_path):
    from ecosim.report import differences, group_runs

    other = write_run(tmp_path / "table1" / "mnist-async" / "seed0", 0, 3)
    cfg = Config().with_overrides({"run.seed": 0, "run.out": str(other), "data.dataset": "mnist", "run.mode": "async"})
    (other / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is pooled that should not be: no warning
        table = table_one([*runs, other])
    # each experiment's runs share a folder of their own: it names them (stable file names)
    assert list(table.index) == ["mnist-speciation", "mnist-async"]  # the paper's set-up first
    assert table.loc["mnist-speciation", "runs"] == 3
    assert table.loc["mnist-async", "experiment"] == "MNIST (with speciation; mnist-async)"
    assert differences(group_runs(load_runs([*runs, other]))) == ["run.mode"]
    assert list(table_one(runs).index) == ["mnist-speciation"]  # alone, no suffix
    # alone, a folder named <dataset>-... in the runner's layout still says more than the default name
    lone = write_run(tmp_path / "sweep" / "mnist-levers" / "seed0", 0, 3, speciation=False)
    assert list(table_one([lone]).index) == ["mnist-levers"]
    assert list(table_one([write_run(tmp_path / "mine" / "seed0", 0, 3, speciation=False)]).index) == [
        "mnist-no-speciation"
    ]
    # runs that share one folder: the settings that differ name them
    loose = tmp_path / "loose"
    shutil.copytree(runs[0], loose / "sync")
    shutil.copytree(other, loose / "async")
    table = table_one([loose / "sync", loose / "async"])
    # only what departs from the paper's default is named (every differing key of each run was, helper 36)
    assert list(table.index) == ["mnist-speciation", "mnist-speciation-mode-async"]
    assert table.loc["mnist-speciation-mode-async", "experiment"] == "MNIST (with speciation; run.mode=async)"
    assert table.loc["mnist-speciation", "experiment"] == "MNIST (with speciation)"


def test_report_warnings_are_printed_once_each_as_one_clean_line(runs, tmp_path, capsys):
    twin = write_run(tmp_path / "twin", 0, GENERATIONS)  # same seed as runs[0]
    assert main(["report", *map(str, runs), str(twin), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("warning: mnist-speciation: several runs share a seed ([0, 0, 1, 2])")
    assert "ReplicateWarning" not in err and ".py:" not in err


def test_table_one_warns_once_per_problem(runs, tmp_path):
    import warnings

    twin = write_run(tmp_path / "twin", 0, GENERATIONS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report([*runs, twin], tmp_path / "r")
    assert len(caught) == 1 and "share a seed" in str(caught[0].message)


def test_damaged_generation_log_is_a_one_line_error_naming_the_file(runs, tmp_path, capsys):
    bad = runs[0] / "generations" / "gen-000002.parquet"
    bad.write_bytes(b"\x00\xff" * 100)
    with pytest.raises(CheckpointError, match=r"log file '.*gen-000002\.parquet' is damaged"):
        load_runs([runs[0]])
    assert main(["report", str(runs[0])]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "gen-000002.parquet" in err.replace(" ", "") and "Traceback" not in err


def test_damaged_network_log_and_config_are_errors_naming_the_file(runs):
    (runs[1] / "networks" / "gen-000001-s0000.parquet").write_bytes(b"PAR1garbage")
    (run,) = load_runs([runs[1]])
    with pytest.raises(CheckpointError, match=r"gen-000001-s0000\.parquet' is damaged"):
        _ = run.networks
    (runs[2] / "config.toml").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(CheckpointError, match=r"config file '.*seed2/config\.toml' is damaged"):
        load_runs([runs[2]])


# ---- issue 7: clone-free offspring metric, conv share, champion layers -------------------------


def test_older_logs_derive_conv_share_and_champion_layers_from_the_network_log(runs):
    from ecosim.report import champions, group_runs, series

    loaded = load_runs(runs)
    share = series(loaded, "conv_share")
    assert share.loc[0, "run0"] == pytest.approx(3 / 7)  # networks 1, 3 and 5 have a conv layer
    assert share.loc[4, "run2"] != share.loc[4, "run2"]  # the third run has no generation 4: NaN
    finals = champions(group_runs(loaded))
    assert list(finals["layers"]) == ["F64-F10"] * 3  # network 100 * g + 0 is the champion
    assert list(finals["generation"]) == [4, 4, 3]


def test_logs_with_per_origin_columns_use_the_logged_values(runs):
    import pandas as pd

    from ecosim.report import RunLogs, champions, group_runs, series

    (old,) = load_runs([runs[0]])
    gens = old.generations.copy()
    gens["mean_offspring_fitness_before_bp"] = 0.123  # the engine's clone-free value
    gens["mean_offspring_fitness_before_bp_crossover"] = 0.2
    gens["mean_offspring_fitness_before_bp_mutation"] = 0.1
    gens["mean_offspring_fitness_before_bp_clone"] = pd.NA
    gens["conv_share"] = 0.75
    gens["champion_layers"] = "C10s1x1[3x3]-F10"
    new = RunLogs(old.run_dir, old.config, gens, name="new")
    assert table_one([new], generation=2).loc["mnist-speciation", "mean_offspring_fitness_before_bp_max"] == 0.123
    assert (series([new], "conv_share")["run0"] == 0.75).all()
    assert champions(group_runs([new])).loc[0, "layers"] == "C10s1x1[3x3]-F10"


def test_table_one_offspring_fitness_excludes_clones_in_older_logs(runs):
    row = table_one(runs, generation=1).loc["mnist-speciation"]
    assert row["mean_offspring_fitness_before_bp_max"] == pytest.approx(offspring(0, 1))
    assert row["mean_offspring_fitness_before_bp_max"] < logged_with_clones(0, 1)


# ---- figures ----------------------------------------------------------------------------------


def test_a_two_generation_run_shows_every_value_with_a_marker(tmp_path):
    from ecosim.report import fitness_figure, offspring_by_origin_figure

    (run,) = load_runs([write_run(tmp_path / "short", 0, 2)])
    fig = fitness_figure([run])
    panel_c = fig.axes[2]
    (line,) = panel_c.get_lines()
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(y[0]) and y[1] == pytest.approx(100 * offspring(0, 1))  # one value, no neighbour
    assert line.get_marker() not in (None, "", "None")
    origin = offspring_by_origin_figure([run]).axes[0]
    assert all(line.get_marker() not in (None, "", "None") for line in origin.get_lines())
    assert [t.get_text() for t in origin.get_legend().get_texts()] == ["crossover", "mutation", "clone"]


def test_an_origin_without_offspring_gets_no_legend_entry(tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from ecosim.report import offspring_by_origin_figure

    run_dir = write_run(tmp_path / "noclones", 0, 3)
    for f in (run_dir / "networks").glob("*.parquet"):
        t = pq.read_table(f)
        pq.write_table(t.filter(pc.not_equal(t["origin"], "clone")), f)
    (run,) = load_runs([run_dir])
    legend = offspring_by_origin_figure([run]).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["crossover", "mutation"]


def test_no_line_is_drawn_across_a_generation_without_data(runs):
    from ecosim.report import fitness_figure

    (runs[0] / "generations" / "gen-000002.parquet").unlink()
    (run,) = load_runs([runs[0]])
    line = fitness_figure([run]).axes[0].get_lines()[0]
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata(), dtype=float)
    assert list(x) == [0, 1, 2, 3, 4] and np.isnan(y[2]) and not np.isnan(y[[0, 1, 3, 4]]).any()


def test_the_pooled_mean_stops_where_a_run_stops_and_panels_share_a_y_range(runs):
    from ecosim.report import fitness_figure

    fig = fitness_figure(load_runs(runs))
    ax = fig.axes[0]
    thin = [line for line in ax.get_lines() if line.get_linewidth() < 1]
    bold = [line for line in ax.get_lines() if line.get_linewidth() > 2]
    assert len(thin) == 3 and len(bold) == 1
    assert max(bold[0].get_xdata()) == 3  # the third run stops after generation 3
    assert max(np.asarray(thin[0].get_xdata())[~np.isnan(np.asarray(thin[0].get_ydata(), dtype=float))]) == 4
    assert "generation 3" in bold[0].get_label()
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim() == fig.axes[2].get_ylim()


def test_counts_have_integer_ticks_from_zero_even_when_constant(tmp_path):
    from ecosim.report import failed_mutations_figure, population_figure

    (run,) = load_runs([write_run(tmp_path / "r", 0, 2)])
    for fig in (population_figure([run]), failed_mutations_figure([run])):
        for ax in fig.axes:
            ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
            assert ax.get_ylim()[0] == 0 and all(float(t).is_integer() for t in ticks), ticks


def test_baselines_are_their_own_labelled_experiments_without_offspring_figures(tmp_path):
    evo = write_run(tmp_path / "evo" / "seed0", 0, 3)
    base = write_run(tmp_path / "base" / "seed0", 0, 3)
    cfg = Config().with_overrides(
        {
            "run.out": str(base),
            "data.dataset": "mnist",
            "ecosystem.initial_layers": "C10[3x3]",
            "ecosystem.offspring": 0,
            "ecosystem.species": 1,
            "ecosystem.max_species": 1,
            "ecosystem.population": 4,
        }
    )
    (base / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    groups = group_runs(load_runs([evo, base]))
    titles = sorted(e.title for e in groups)
    assert titles == ["MNIST (fixed baseline C10[3x3])", "MNIST (with speciation)"]
    written = write_report(load_runs([evo, base]), tmp_path / "report")
    assert "mnist-baseline-C10-3x3/fitness" in written
    assert "mnist-baseline-C10-3x3/offspring-by-origin" not in written
    assert "mnist-speciation/offspring-by-origin" in written


def test_slugs_of_runs_differing_in_many_settings_are_capped_stable_and_distinct(tmp_path):
    from ecosim.report.runs import SLUG_MAX, Experiment

    many = {
        "training.learning_rate": 0.5,
        "training.batch_size": 64,
        "mutation.new_layer_max_nodes": 70,
        "data.test_subset": 500,
        "ecosystem.population": 12,
        "training.train_fraction": 0.2,
    }
    a, b = write_run(tmp_path / "a", 0, 2), write_run(tmp_path / "b", 1, 2)
    cfg = Config().with_overrides({"run.out": str(b), "run.seed": 1, "data.dataset": "mnist", **many})
    (b / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    slugs = [exp.slug for exp in group_runs(load_runs([a, b]))]
    assert len(set(slugs)) == 2 and all(len(s) <= SLUG_MAX for s in slugs), slugs
    long = max(slugs, key=len)
    assert long.startswith("mnist-speciation-") and re.fullmatch(r".*-[0-9a-f]{8}", long), long
    settings = tuple((k, "x" * 20) for k in sorted(many))
    exp = Experiment("mnist", True, settings)
    assert exp.slug == Experiment("mnist", True, settings).slug and len(exp.slug) <= SLUG_MAX
    other = Experiment("mnist", True, settings[:-1] + ((settings[-1][0], "x" * 20 + "y"),))
    assert other.slug != exp.slug  # the same beginning, another hash
    assert Experiment("mnist", True, (("run.mode", "async"),)).slug == "mnist-speciation-mode-async"  # short: as before
    # folder names: two long ones that share their first SLUG_MAX characters keep distinct file names,
    # cut at a word's end (they were cut mid-word, to the same name)
    stem = "fashion-mnist-levers-anneal-seeded-with-the-hand-design-and-a-wider-cap"
    names = [Experiment("fashion-mnist", False, name=stem + end).slug for end in ("-a", "-b")]
    assert len(set(names)) == 2 and all(len(n) <= SLUG_MAX for n in names), names
    head = re.escape("fashion-mnist-levers-anneal-seeded-with-the-hand")
    assert all(re.fullmatch(head + r"-[0-9a-f]{8}", n) for n in names), names
    assert Experiment("mnist", False, name="mnist-levers").slug == "mnist-levers"  # short: as before
    # characters a file name cannot hold: replaced, and a hash keeps the names apart (review, session 39)
    names = ("mnist-café", "mnist-cafè", "первый", "второй", "." * 70)
    lossy = [Experiment("mnist", False, name=n).slug for n in names]
    assert len(set(lossy)) == 5 and all(s and not s.startswith(("-", ".")) for s in lossy), lossy
    assert lossy[0].startswith("mnist-caf-") and re.fullmatch(r"[0-9a-f]{8}", lossy[2]), lossy


def test_runner_compute_budget_is_the_runs_train_macs_and_a_spent_run_is_finished(tmp_path):
    """``--train-macs``: the budget becomes ``run.train_macs`` (stored, so ``ecosim resume`` keeps to
    it); a run whose logs hold 4 generations of 1e9 training MACs is finished for a 4e9 budget
    whatever ``run.generations`` says, and resumed for 1e10, also when it was started without a
    budget (issue 17)."""
    from ecosim.store.logs import LogWriter, empty_counts

    runner = _runner()
    config = EXPERIMENTS / "mnist-speciation.toml"
    out = tmp_path / "budget"
    run_dir = out / "mnist-speciation" / "seed0"
    cfg = load_config(config, {"run.out": str(run_dir), "run.seed": 0})  # stored without a budget
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "LATEST").write_text("gen-000003")
    logs = LogWriter(run_dir)
    for g in range(4):
        logs.write_generation({"generation": g, "train_macs": 1e9, **empty_counts()})
    assert runner.train_macs(run_dir) == (4, 4e9)
    assert runner.plan([config], [0], out, {}, 4e9)[0].status == "finished"
    (planned,) = runner.plan([config], [0], out, {}, 1e10)
    assert planned.status == "resume" and planned.config.run.train_macs == 1e10
    assert runner.plan([config], [0], out, {}, 0.0)[0].config.run.train_macs == 0.0
    budgeted = load_config(config, {"run.out": str(run_dir), "run.seed": 0, "run.train_macs": 4e9})
    (run_dir / "config.toml").write_text(budgeted.to_toml(), encoding="utf-8")
    (kept,) = runner.plan([config], [0], out, {})  # --train-macs left out: the run keeps its budget
    assert kept.config.run.train_macs == 4e9 and kept.status == "finished"
    assert runner.main([str(config), "--out", str(out), "--train-macs", "1e9", "--set", "run.train_macs=2e9"]) == 2
    assert runner.main([str(config), "--out", str(out), "--train-macs", "-1", "--dry-run"]) == 2


def test_the_run_champion_is_the_first_generation_champion_of_the_highest_fitness_and_the_line_names_both():
    import pandas as pd

    from ecosim.report.tables import champion_line, run_champion

    gens = pd.DataFrame(
        {"generation": [0, 1, 2, 3], "champion_id": [2, 5, 9, 7], "champion_fitness": [0.80, 0.93, 0.93, 0.91]}
    )
    assert run_champion(gens) == (5, 0.93, 1)  # the engine saves its champion on a strictly higher fitness only
    assert run_champion(gens.drop(columns="champion_id")) is None
    row = {
        "experiment": "mnist-speciation",
        "run": "seed0",
        "run_dir": "runs/seed0",
        "generation": 3,
        "champion_id": 7,
        "fitness": 0.91,
        "parameters": 7850,
        "layers": "F10",
        "run_champion_id": 5,
        "run_champion_fitness": 0.93,
        "run_champion_generation": 1,
    }
    assert champion_line(row) == (
        "mnist-speciation, runs/seed0, generation 3: network 7, F10, 7,850 parameters, fitness 91.00%; "
        "the run's champion (show, export) is network 5 (93.00% at generation 1)"
    )
    same = {**row, "run_champion_id": 7, "run_champion_fitness": 0.91, "run_champion_generation": 3}
    assert champion_line(same).endswith("fitness 91.00%")  # one network, its last weights: named once
    assert champion_line({**same, "run_champion_fitness": 0.93, "run_champion_generation": 1}).endswith(
        "fitness 91.00%; show and export use its weights of generation 1 (93.00%)"
    )
    assert ", generation 3: network 7, layers not logged, " in champion_line({**row, "layers": float("nan")})
    diverged = {**row, "champion_id": float("nan"), "fitness": float("nan"), "layers": None, "parameters": None}
    assert champion_line(diverged) == (  # session 38: was "layers not logged, ? parameters"
        "mnist-speciation, runs/seed0, generation 3: no champion, every network diverged or failed; "
        "the run's champion (show, export) is network 5 (93.00% at generation 1)"
    )
    # selected on a validation split: the line says so and gives the test accuracy to report (helper 37)
    validated = {**same, "validation": True, "test_accuracy": 0.8975}
    assert champion_line(validated).endswith("fitness 91.00% (validation), test accuracy 89.75%")


def test_final_champions_of_a_run_with_a_validation_split_carry_its_test_accuracy(tmp_path):
    from ecosim.report import group_runs
    from ecosim.report.tables import champions

    run = write_run(tmp_path / "v" / "seed0", 0, 2)
    cfg = Config().with_overrides({"run.out": str(run), "data.dataset": "mnist", "data.validation_fraction": 0.1})
    (run / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    (row,) = champions(group_runs(load_runs([run]))).to_dict("records")
    assert row["validation"] and row["champion_id"] == 100 and row["test_accuracy"] == pytest.approx(0.85)


def test_the_run_length_is_a_setting_only_where_it_places_a_settle_schedule():
    """Runs extended further pool into one experiment; with ``ecosystem.settle`` the length places the
    settle point and its parts (the review's find, session 37), so it tells experiments apart."""
    from ecosim.report.runs import settings

    def cfg(**kw):
        return Config().with_overrides({"data.dataset": "mnist", **kw})

    assert settings(cfg(**{"run.generations": 5})) == settings(cfg(**{"run.generations": 9}))
    settle = {"ecosystem.settle": 0.5, "ecosystem.settle_keep": 4}
    assert settings(cfg(**{"run.generations": 5}, **settle)) != settings(cfg(**{"run.generations": 9}, **settle))
    budget = {"run.train_macs": 1e12, **settle}
    assert settings(cfg(**{"run.generations": 5}, **budget)) == settings(cfg(**{"run.generations": 9}, **budget))
    assert settings(cfg(**budget)) != settings(cfg(**{**budget, "run.train_macs": 2e12}))
