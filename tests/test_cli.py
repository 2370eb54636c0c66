"""The command line as a user meets it, in a subprocess (issue: any budget, clear failures, any terminal).

Every run here is tiny (MNIST, 500 test images, 1% of the training set per network).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecosim.cli import main
from ecosim.config import CHOICES, Config
from ecosim.config_fields import config_fields
from ecosim.store import LogWriter, RunDir, read_generations, save_checkpoint
from ecosim.store.lock import run_lock
from ecosim.store.logs import empty_counts

TINY = ["--set", "data.test_subset=500", "--set", "training.train_fraction=0.01", "--num-cpus", "2"]


def _env(**extra: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, COLUMNS="200")
    env.pop("PYTHONUNBUFFERED", None)  # the CLI must flush its lines itself
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def ecosim(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "ecosim.cli", *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _popen(*args: str, cwd: Path | None = None, merged: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ecosim.cli", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _lines_until(proc: subprocess.Popen, pattern: str, seen: list[str], deadline: float) -> str:
    """Read stdout lines (into ``seen``) until one matches ``pattern``; fail on EOF or timeout."""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return line
    proc.kill()
    pytest.fail(f"no line matching {pattern!r} in time; got {seen!r}; stderr: {proc.stderr.read()}")


# ---- no Ray: help and bad input -----------------------------------------------------------------
def test_run_help_lists_every_config_key_with_default_and_choices():
    out = ecosim("run", "--help").stdout
    flat = " ".join(out.split())
    for f in config_fields():
        flag = "--" + f.key.split(".", 1)[1].replace("_", "-")
        assert flag in out, flag
    options = [ln for ln in out.split("\n  --")[1:] if not ln.startswith(("help", "set ", "verbose"))]
    assert len(options) == len(config_fields())
    assert all("(default:" in " ".join(o.split()) for o in options), [o for o in options if "(default:" not in o]
    for choices in CHOICES.values():
        assert "{" + ",".join(choices) + "}" in out
    assert "--learning-rate X 0 → the optimiser's own default" in flat
    assert "--generations N generations to run (≥ 1; paper: 100). (default: 100)" in flat
    assert "--offspring N|auto" in flat and "(default: derived from the other sizes)" in flat
    assert "--set SECTION.KEY=VALUE" in out


def test_resume_help_offers_data_root_and_address():
    out = ecosim("resume", "--help").stdout
    assert "--data-root" in out and "--address" in out and "--generations" in out and "--population" not in out
    assert "ECOSIM_DATA" in out


@pytest.mark.parametrize(
    "args, named",
    [
        (["--population", "abc"], "--population"),
        (["--optimiser", "lbfgs"], "--optimiser"),
        (["--offspring", "0"], "ecosystem.offspring"),
        (["--population", "8", "--max-population", "6"], "ecosystem.max_population"),
        (["--set", "ecosystem.nokey=1"], "ecosystem.nokey"),
        (["--mode", "fast"], "--mode"),
        # negative values in every float form are values (argparse alone reads -1e-3 and -inf as options)
        (["--learning-rate", "-1e-3"], "'training.learning_rate' = -0.001 is invalid"),
        (["--max-macs", "1e6", "--max-macs-doubling", "-inf"], "'mutation.max_macs_doubling' = -inf is invalid"),
    ],
)
def test_bad_option_values_give_one_line_errors_naming_the_parameter(args, named, tmp_path):
    res = ecosim("run", *args, "--out", str(tmp_path / "run"))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0], res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("layers, why", [("C10[31x31]", "kernel 31x31 exceeds"), ("C10s40", "stride 40x40 exceeds")])
def test_initial_layers_that_do_not_fit_the_images_fail_before_ray_and_the_run_directory(
    layers, why, tmp_path, data_root
):
    res = ecosim(
        "run", "--initial-layers", layers, *TINY, "--out", str(tmp_path / "run"), env=_env(ECOSIM_DATA=str(data_root))
    )
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error")]
    assert res.returncode == 2 and len(errors) == 1, res.stderr
    assert "'ecosystem.initial_layers'" in errors[0] and "mnist images (1, 28, 28)" in errors[0] and why in errors[0]
    assert not (tmp_path / "run").exists() and "run directory" not in res.stdout + res.stderr


def test_a_cost_cap_that_no_growth_fits_fails_founding_species_in_seconds_naming_the_cap(tmp_path, data_root):
    """``--max-macs 1`` searched for initial species for minutes (helper 36, session 42); a cap below
    the starting genome is legal (cheaper mutations fit it), so the founding walk says what stopped it."""
    start = time.monotonic()
    res = ecosim("run", "--max-macs", "1", *TINY, "--out", str(tmp_path / "run"), env=_env(ECOSIM_DATA=str(data_root)))
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("info")]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "rejected" in lines[0] and "over mutation.max_macs = 1" in lines[0], lines[0]
    assert "mutation.max_macs = 1 also caps the mutations that found them" in lines[0]
    assert not (tmp_path / "run").exists() and time.monotonic() - start < 60


def test_initial_species_that_cannot_be_founded_fail_before_ray_and_the_run_directory(tmp_path, data_root):
    res = ecosim(
        "run",
        "--family-weights",
        "remove_layer=1",
        *TINY,
        "--out",
        str(tmp_path / "run"),
        env=_env(ECOSIM_DATA=str(data_root)),
    )
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error")]
    assert res.returncode == 2 and len(errors) == 1, res.stderr
    assert "initial species" in errors[0] and "mutation.family_weights = 'remove_layer=1'" in errors[0]
    assert not (tmp_path / "run").exists() and "run directory" not in res.stdout + res.stderr


def test_initial_layers_ending_in_the_output_layer_warn_that_it_becomes_a_hidden_one(tmp_path, data_root):
    """A logged ``layers`` string pasted back (``C2[3x3]-F10`` on MNIST) would grow ``...-F10-F10``
    (the helper's find, session 37): one warning line, before any work (here the initial species
    then fail, so no Ray starts)."""
    res = ecosim(
        "run",
        "--initial-layers",
        "C2[3x3]-F10",
        "--family-weights",
        "remove_layer=1",
        *TINY,
        "--out",
        str(tmp_path / "run"),
        env=_env(ECOSIM_DATA=str(data_root)),
    )
    warned = [ln for ln in res.stderr.splitlines() if ln.startswith("warning")]
    assert len(warned) == 1 and "ends in F10, which becomes a hidden layer" in warned[0], res.stderr
    assert res.returncode == 2 and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "command, args, named",
    [
        ("run", ["--generations", "5", "--set", "run.generations=7"], ["--generations 5", "--set run.generations=7"]),
        ("run", ["--no-speciation", "--set", "ecosystem.speciation=true"], ["--no-speciation", "ecosystem.speciation"]),
        (
            "run",
            ["--set", "mutation.new_dense_max_nodes=5", "--new-layer-max-nodes", "4"],  # a renamed key too
            ["--new-layer-max-nodes 4", "--set mutation.new_dense_max_nodes=5"],
        ),
        ("resume", ["--data-root", "/x", "--set", "data.data_root=/y"], ["--data-root /x", "--set data.data_root=/y"]),
    ],
)
def test_an_option_and_a_set_of_the_same_key_is_a_one_line_error_naming_both(command, args, named, tmp_path):
    target = [str(tmp_path / "run")] if command == "resume" else ["--out", str(tmp_path / "run")]
    res = ecosim(command, *target, *args)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert all(n in lines[0] for n in named), lines[0]
    assert not (tmp_path / "run").exists()


def test_the_same_key_set_twice_with_set_is_no_conflict():
    from ecosim.cli import build_parser
    from ecosim.cli_options import config_overrides as _overrides

    args = build_parser().parse_args(["run", "--set", "run.generations=7", "--set", "run.generations=8"])
    assert _overrides(args) == {"run.generations": 8}


def test_species_options_without_speciation_warn_once_each_and_set_stays_silent(tmp_path, capsys):
    empty = tmp_path / "no-data"  # the run stops at the data, after the options were read
    empty.mkdir()
    base = ["run", "--dataset", "mnist", "--generations", "1", "--data-root", str(empty)]
    assert main([*base, "--out", str(tmp_path / "a"), "--no-speciation", "--species", "3", "--max-species", "5"]) != 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warned == [
        "warning: --species has no effect without speciation (config 'ecosystem.species' is not used)",
        "warning: --max-species has no effect without speciation (config 'ecosystem.max_species' is not used)",
    ]
    for extra in (["--species", "3"], ["--no-speciation", "--set", "ecosystem.species=3"]):  # with speciation; --set
        assert main([*base, "--out", str(tmp_path / "b"), *extra]) != 0
        assert "warning:" not in capsys.readouterr().err


def test_python_m_ecosim_is_the_ecosim_command():
    import ecosim

    res = subprocess.run([sys.executable, "-m", "ecosim", "--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == f"ecosim {ecosim.__version__}", res.stderr


def test_resume_help_says_generations_is_the_new_total():
    flat = " ".join(ecosim("resume", "--help").stdout.split())
    assert "--generations N the new TOTAL number of generations, not additional ones" in flat


def test_version_is_written_once_and_is_the_one_the_readme_speaks_of():
    import ecosim as package
    from ecosim.config import tomllib  # tomli before Python 3.11

    res = ecosim("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"ecosim {package.__version__}"
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ecosim.version.__version__"}
    moved = re.findall(r"Moved in (\d+)\.(\d+)", (root / "README.md").read_text())
    have = tuple(int(p) for p in package.__version__.split(".")[:2])
    assert moved and all((int(a), int(b)) <= have for a, b in moved), (moved, package.__version__)


def test_wrong_dataset_or_empty_data_root_is_named(tmp_path, data_root):
    # small sizes the user set; the derived ones must not be what the error talks about
    small = ["--population", "8", "--max-population", "12", "--species", "2", "--max-species", "4"]
    res = ecosim("run", "--dataset", "nosuchdataset", *small, "--out", str(tmp_path / "a"))
    assert res.returncode == 2 and "'nosuchdataset'" in res.stderr and "ecosystem" not in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = ecosim("run", "--data-root", str(empty), *small, "--out", str(tmp_path / "b"))
    assert res.returncode == 2 and str(empty) in res.stderr and "ecosystem" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line, however long: no wrapping at 80 columns


def test_an_offline_download_is_one_line_naming_dataset_folder_and_what_to_do_and_no_run_directory(tmp_path):
    env = _env(
        ECOSIM_CACHE=str(tmp_path / "cache"),
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        no_proxy="",
    )  # offline, whatever this machine is
    env.pop("ECOSIM_DATA", None)
    res = ecosim("run", "--population", "1", "--out", str(tmp_path / "run"), env=env, timeout=300)
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if not ln.startswith("info: ")]
    assert len(errors) == 1 and errors[0].startswith("error: dataset 'mnist' could not be downloaded"), res.stderr
    for part in (str(tmp_path / "cache" / "datasets"), "--data-root", "ECOSIM_DATA", "internet"):
        assert part in errors[0], part
    assert "run directory" not in res.stdout and not (tmp_path / "run").exists()  # never created: not named


# ---- stored runs (written with the store's own writers; no Ray) ------------------------------------
def test_ray_that_does_not_start_is_one_line_exit_75_and_no_run_directory(tmp_path, data_root):
    # a real ray.init failure (its session folder under a file); Ray's own 30 s start-up timeout on an
    # overloaded machine takes the same path: a bare Exception from ray.init
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    res = ecosim(
        "run", "--data-root", data_root, *TINY, "--out", str(tmp_path / "run"), env=_env(RAY_TMPDIR=str(blocker))
    )
    errors = [line for line in res.stdout.splitlines() + res.stderr.splitlines() if line.startswith("error")]
    assert res.returncode == 75, res.stderr
    assert len(errors) == 1 and "local Ray did not start (NotADirectoryError" in errors[0]
    assert "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "run").exists()


def _stored_run(run_dir: Path, done: int, total: int, data_root: str) -> Path:
    """A run directory as a run of ``total`` generations leaves it after ``done``: config, logs, checkpoint."""
    cfg = Config().with_overrides({"run.out": str(run_dir), "run.generations": total, "data.data_root": data_root})
    run_dir.mkdir(parents=True)
    RunDir(run_dir).config.write_text(cfg.to_toml(), encoding="utf-8")
    logs = LogWriter(run_dir)
    for g in range(done):
        net = {
            "generation": g,
            "network_id": g,
            "species_id": 0,
            "origin": "initial",
            "parameters": 7850,
            "layers": "F10",
            "fitness": 0.5 + g / 100,
            "status": "ok",
            "culled": False,
        }
        logs.write_networks(g, 0, [net])
        logs.write_generation(
            {
                "generation": g,
                "highest_fitness": 0.5 + g / 100,
                "mean_fitness": 0.5,
                "species_count": 1,
                "network_count": 1,
                "champion_id": g,
                "champion_fitness": 0.5 + g / 100,
                "champion_parameters": 7850,
                **empty_counts(),
            }
        )
    save_checkpoint(run_dir, done - 1, {"best": {"id": done - 1, "fitness": 0.5 + (done - 1) / 100}}, [])
    return run_dir


def test_resume_sets_a_damaged_generation_log_aside_in_one_warning_and_report_works_again(tmp_path, data_root, capsys):
    run = _stored_run(tmp_path / "run", done=3, total=3, data_root=str(data_root))
    damaged = RunDir(run).generation_file(1)
    damaged.write_bytes(damaged.read_bytes()[:40])  # truncated
    assert main(["report", str(run), "--out", str(tmp_path / "r0")]) == 2
    error = capsys.readouterr().err
    assert str(damaged) in error and f"'ecosim resume {run}'" in error  # the damage, named, with the way out
    res = ecosim("resume", str(run), timeout=300)  # all 3 generations done: nothing to run, the log is checked
    assert res.returncode == 0, res.stderr
    warns = [ln for ln in res.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warns) == 2 and "already has all 3 generations" in warns[1], res.stderr
    assert str(damaged) in warns[0] and "is damaged" in warns[0] and "generation 1 has no row" in warns[0]
    assert not damaged.exists() and (run / "damaged" / "generations" / damaged.name).is_file()
    assert list(read_generations(run)["generation"]) == [0, 2]  # what was intact stays
    assert main(["report", str(run), "--out", str(tmp_path / "r1")]) == 0
    capsys.readouterr()
    assert main(["resume", str(run)]) == 0
    assert "is damaged" not in capsys.readouterr().err  # once set aside, nothing more to say


def test_resume_without_its_data_names_the_stored_data_root_and_how_to_give_another(tmp_path):
    gone = tmp_path / "moved-away"
    run = _stored_run(tmp_path / "run", done=2, total=4, data_root=str(gone))
    env = _env()
    env.pop("ECOSIM_DATA", None)
    res = ecosim("resume", str(run), env=env, timeout=300)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert res.returncode == 2 and len(errors) == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"is not in {gone}, the stored data root" in errors[0] and "no longer exists" in errors[0]
    assert f"'ecosim resume {run} --data-root DIR'" in errors[0] and "ECOSIM_DATA=DIR" in errors[0]
    assert "unset" not in errors[0]  # leaving things unset does not help a resume: the stored root is used


# ---- real runs -----------------------------------------------------------------------------------
def test_small_ecosystem_runs_and_piped_output_comes_line_by_line(tmp_path, data_root):
    out = tmp_path / "small"
    proc = _popen(
        "run",
        "--dataset",
        "mnist",
        "--generations",
        "2",
        "--population",
        "8",
        "--max-population",
        "12",
        "--species",
        "2",
        "--max-species",
        "4",
        "--out",
        str(out),
        *TINY,
    )
    seen: list[str] = []
    deadline = time.time() + 150
    first = _lines_until(proc, r".", seen, deadline)
    assert first.strip() == f"run directory: {out}"  # first, before any work
    _lines_until(proc, r"^generation 0 \(1/2\)", seen, deadline)
    assert proc.poll() is None  # the generation's line arrived while the run goes on
    rest, err = proc.communicate(timeout=max(1.0, deadline - time.time()))
    lines = seen + rest.splitlines()
    assert proc.returncode == 0, err
    gen_lines = [ln for ln in lines if ln.startswith("generation ")]
    assert len(gen_lines) == 2
    assert re.match(
        r"generation 1 \(2/2\): best [\d.]+, mean [\d.]+, species \d+, networks \d+, .*[\d.]+ s$", gen_lines[1]
    )
    champion = next(ln for ln in lines if ln.startswith("champion: "))
    assert re.search(r"layers \S+, [\d,]+ parameters", champion)
    toml = (out / "config.toml").read_text()
    assert "offspring = 4" in toml and "max_population = 12" in toml  # derived, stored as a number


def test_population_of_one_sigterm_then_resume_from_another_directory(tmp_path, data_root):
    out = tmp_path / "one"
    proc = _popen("run", "--dataset", "mnist", "--generations", "40", "--population", "1", "--out", str(out), *TINY)
    seen: list[str] = []
    _lines_until(proc, r"^generation 1 ", seen, time.time() + 150)
    proc.send_signal(signal.SIGTERM)  # what a scheduler or `kill` sends
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"ecosim resume {out}" in err and "Traceback" not in err and "SIGABRT" not in err
    networks = [int(m) for m in re.findall(r"networks (\d+)", "\n".join(seen) + rest)]
    assert networks and max(networks) <= 3  # bounded: not 1 → 33 → 65
    toml = (out / "config.toml").read_text()
    assert f'out = "{out}"' in toml and f'data_root = "{os.path.abspath(data_root)}"' in toml
    done = RunDir(out).latest_generation()
    assert done is not None and done >= 1

    with run_lock(out):  # as if another ecosim process were running it
        busy = ecosim("resume", str(out), "--generations", str(done + 2))
    assert busy.returncode != 0 and "in use by ecosim pid" in busy.stderr, busy.stderr
    assert len([ln for ln in busy.stderr.splitlines() if ln.strip()]) == 1, busy.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env()
    env.pop("ECOSIM_DATA", None)  # the stored absolute data root is enough
    res = ecosim(
        "resume", os.path.relpath(out, elsewhere), "--generations", str(done + 2), cwd=elsewhere, env=env, timeout=150
    )  # one more generation
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith(f"run directory: {out}")
    gens = read_generations(out)
    assert list(gens["generation"]) == list(range(done + 2)) and (gens["network_count"] <= 3).all()


def test_a_closed_output_pipe_stops_the_run_resumably_in_one_line(tmp_path):
    out = tmp_path / "piped"
    proc = _popen("run", "--dataset", "mnist", "--generations", "6", "--population", "2", "--out", str(out), *TINY)
    _lines_until(proc, r"^generation 0 ", [], time.time() + 150)
    proc.stdout.close()  # as `| head -2` does after its lines
    err = proc.stderr.read()
    assert proc.wait(timeout=150) == 141, err
    last = [ln for ln in err.splitlines() if ln.strip()][-1]
    assert last.startswith("stopped: the output pipe closed (broken pipe); generation ")
    assert last.endswith(f"continue with: ecosim resume {out}") and "Traceback" not in err


def test_a_closed_pipe_that_also_took_stderr_exits_141_and_keeps_the_run(tmp_path):
    # `ecosim run ... 2>&1 | head`: the stop line has nowhere to go; the status still says SIGPIPE
    out = tmp_path / "merged"
    proc = _popen(
        "run", "--dataset", "mnist", "--generations", "6", "--population", "2", "--out", str(out), *TINY, merged=True
    )
    _lines_until(proc, r"^generation 0 ", [], time.time() + 150)
    proc.stdout.close()
    assert proc.wait(timeout=150) == 141
    assert (out / "checkpoints" / "LATEST").is_file()  # generation 0 is kept: resumable


@pytest.fixture()
def sigint_default():
    """Ctrl-C handled as in a terminal, here and in children started now, even when the suite runs
    with SIGINT ignored (a background job of a non-interactive shell, e.g. ``nohup … &``: a
    child inherits the ignoring and would never see the Ctrl-C)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_under_a_merged_tee_that_the_same_ctrl_c_ended_exits_130_and_keeps_the_run(tmp_path, sigint_default):
    # `ecosim run ... 2>&1 | tee log`, Ctrl-C to the group: tee is gone before the interrupted line is printed
    out = tmp_path / "teed"
    proc = _popen(
        "run", "--dataset", "mnist", "--generations", "30", "--population", "2", "--out", str(out), *TINY, merged=True
    )
    _lines_until(proc, r"^generation 0 ", [], time.time() + 150)
    proc.send_signal(signal.SIGINT)  # first: a generation line into the closed pipe would be a SIGPIPE stop (141)
    proc.stdout.close()
    assert proc.wait(timeout=150) == 130  # was 1: rich's SystemExit from the closed pipe
    assert (out / "checkpoints" / "LATEST").is_file()


def test_a_broken_pipe_met_before_the_ctrl_c_that_caused_it_is_the_ctrl_c(sigint_default):
    """The race behind ``| tee``: the run writes into the pipe the same Ctrl-C closed before the
    interrupt reaches its event loop. The runner has seen the
    Ctrl-C, so the broken pipe is raised as the KeyboardInterrupt (exit 130); a pipe that breaks
    without one stays a broken pipe (141)."""
    from ecosim.api import _run_until_interrupted

    async def interrupted_then_broken():
        os.kill(os.getpid(), signal.SIGINT)  # the runner's handler runs before the next line
        raise BrokenPipeError(32, "Broken pipe")

    async def broken():
        raise BrokenPipeError(32, "Broken pipe")

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt) as caught:
        _run_until_interrupted(interrupted_then_broken())
    assert isinstance(caught.value.__cause__, BrokenPipeError)
    with pytest.raises(BrokenPipeError):
        _run_until_interrupted(broken())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("command", ["show", "export", "resume", "report"])
def test_commands_on_a_missing_or_foreign_folder_say_which_in_one_line(command, tmp_path, capsys):
    assert main([command, str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]
    assert "does not exist" in err[0]  # every command words a missing path alike
    assert main([command, str(tmp_path)]) == 2  # a folder, but not a run
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a run directory" in err[0] and "champion" not in err[0]
    (tmp_path / "config.toml").write_text("")  # the run's file instead of its folder
    assert main([command, str(tmp_path / "config.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"is a file, not a run directory (give the folder {str(tmp_path)!r})" in err[0]


# ---- issue 21: filesystem faults, one line each ---------------------------------------------------
def _faulty_paths(tmp: Path) -> dict[str, Path]:
    (tmp / "a file").write_text("x")
    (tmp / "dangling ü").symlink_to(tmp / "nowhere")
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return {
        "a file where a folder is expected": tmp / "a file",
        "a folder under a file": tmp / "a file" / "sub ü",
        "a dangling symlink": tmp / "dangling ü",
        "an unwritable folder": locked / "out",
    }


@pytest.mark.parametrize(
    "command",
    [
        ["run", "experiments/quickstart.toml", "--out"],
        ["report", "RUN", "--out"],
        ["show", "RUN", "--out"],
        ["export", "RUN", "--out"],
        ["resume"],
        ["report"],
        ["show"],
        ["run"],  # the config file
        ["run", "experiments/quickstart.toml", "--out", "NEW", "--data-root"],
    ],
    ids=lambda c: " ".join(c),
)
def test_every_path_argument_at_a_faulty_path_gives_one_line_and_writes_nothing(command, tmp_path, capsys):
    """Issue 21's sweep: each fault gives a non-zero exit, at most 3 lines on stderr, no traceback,
    and nothing appears outside the paths set up here."""
    root = Path(__file__).resolve().parents[1]
    faults = _faulty_paths(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for what, path in faults.items():
        if what == "an unwritable folder" and os.geteuid() == 0:
            continue  # root writes anyway (no DAC check): nothing to test
        names = {"RUN": tmp_path / "no-run", "NEW": tmp_path / "new run"}
        argv = [str(root / a) if a.endswith(".toml") else str(names.get(a, a)) for a in command]
        rc = main([*argv, str(path)])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc != 0 and 1 <= len(lines) <= 3 and "Traceback" not in err, (what, rc, err)
        assert str(path) in err or "does not exist" in err or "not a run directory" in err, (what, err)
    if command == ["run"]:  # a folder where the config file is expected
        assert main(["run", str(tmp_path)]) == 2 and "is a folder, not a TOML file" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_storage_error_names_path_operation_and_reason():
    import errno

    from ecosim.errors import StorageError

    e = StorageError.from_os(OSError(errno.ENOSPC, "No space left on device", "/runs/a/x.parquet"), "write")
    assert str(e) == "cannot write '/runs/a/x.parquet': no space left on device" and e.disk_full
    assert not StorageError.from_os(PermissionError(errno.EACCES, "denied", "/r"), "write").disk_full
    assert StorageError.from_os(OSError(errno.EROFS, "ro", "/r"), "write").disk_full


def test_a_run_directory_no_folder_can_be_created_in_is_a_storage_error_before_any_work(capsys):
    """``/proc`` passes ``os.access`` for root, but no folder can be made there (nor in ``/sys``):
    ``ecosim run --out /proc/x`` loaded the dataset and then failed with exit status 2 and the
    wrong reason (the helper's find, session 39). Now a folder is tried first: exit 1, one line."""
    from ecosim.atomic import check_writable
    from ecosim.errors import StorageError

    with pytest.raises(StorageError, match=r"cannot write the run directory '/proc/ecosim-x/y': "):  # any user
        check_writable("/proc/ecosim-x/y", "the run directory")
    assert main(["run", "--dataset", "mnist", "--generations", "1", "--out", "/proc/ecosim-x"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()  # nothing loaded: no info line before it
    assert line.startswith("error: cannot write the run directory '/proc/ecosim-x'"), line


@pytest.mark.parametrize("command", ["run", "resume", "report", "show", "export"])
def test_an_unknown_option_names_the_subcommand_help_in_one_line(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "somewhere", "--no-such-option", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecosim {command}: error: unrecognized arguments: --no-such-option 1 (see ecosim {command} --help)"]


@pytest.mark.parametrize(
    "argv, option",
    [
        (["report", "RUN", "--generation", "-1"], "--generation"),
        (["show", "RUN", "--generation", "-1"], "--generation"),
        (["show", "RUN", "--network", "-3"], "--network"),
    ],
)
def test_a_negative_generation_or_network_is_refused_by_the_parser(argv, option, capsys):
    """A fresh user's find (session 38): ``report --generation -1`` said "a gap in every run's log"."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and f"argument {option}: invalid value" in err[0]
    assert "expected an integer ≥ 0" in err[0]


@pytest.mark.parametrize(
    "argv",
    [["resume", "RUN", "--generation", "9"], ["run", "--gen", "3"], ["run", "--train-mac", "1e9"]],
)
def test_options_are_never_abbreviated(argv, capsys):
    from ecosim.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_a_run_interrupted_before_its_config_was_stored_names_the_command_to_start_again(tmp_path):
    """It printed ``ecosim run ... --out DIR``, which cannot be pasted (helper 36)."""
    from ecosim.cli import _interrupted_message

    command = "ecosim run --population 2 --out '/tmp/a run'"
    assert _interrupted_message(str(tmp_path / "new"), command).endswith(f"start again with: {command}")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "config.toml").write_text("")
    assert _interrupted_message(str(tmp_path / "new"), command).endswith(
        f"ecosim run {tmp_path / 'new' / 'config.toml'}"
    )


def test_function_preserving_growth_with_another_activation_than_relu_warns_once(caplog):
    from ecosim.preflight import warn_inexact_growth as _warn_inexact_growth

    cfg = Config().with_overrides({"mutation.function_preserving": True, "training.activation": "tanh"})
    with caplog.at_level("WARNING"):
        _warn_inexact_growth(cfg)
        _warn_inexact_growth(cfg.with_overrides({"training.activation": "relu"}))
    assert [r.getMessage() for r in caplog.records] == [
        "mutation.function_preserving with training.activation = 'tanh': new nodes and grown kernels keep the "
        "parent's function exactly, a new layer does not (its identity needs relu)"
    ]
