"""experiments/make_results.py: the per-offspring analysis behind docs/results.md, on logs written
by the run store (known values), so that each number the results page prints can be checked."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
from pathlib import Path

import pytest

from ecosim.config import Config
from ecosim.report import load_runs
from ecosim.report.machines import machines_text
from ecosim.store.logs import LogWriter, empty_counts

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "make_results.py"


@pytest.fixture(scope="module")
def make_results():
    spec = importlib.util.spec_from_file_location("make_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def row(g, nid, fitness, *, origin="initial", parents=(), mutation=None, born=0, before=None, culled=False):
    return {
        "generation": g,
        "network_id": nid,
        "species_id": 0,
        "parent_ids": list(parents),
        "origin": origin,
        "mutation": mutation,
        "born_generation": born,
        "parameters": 100,
        "fitness": fitness,
        "fitness_before_bp": before,
        "layers": "F10",
        "status": "ok",
        "culled": culled,
    }


def write(run_dir: Path, generations: dict[int, list[dict]], gen_fields=None, **overrides) -> Path:
    """A run of these network rows per generation; ``gen_fields(g)``: extra generation-log values."""
    cfg = Config().with_overrides({"run.out": str(run_dir), "data.dataset": "mnist", **overrides})
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    logs = LogWriter(run_dir)
    for g, rows in generations.items():
        logs.write_networks(g, 0, rows)
        logs.write_generation(
            {
                "generation": g,
                "highest_fitness": 0.9,
                "mean_fitness": 0.8,
                "best_fitness_so_far": 0.9,
                "species_count": 1,
                "network_count": len(rows),
                "networks_evaluated": len(rows),
                "champion_id": rows[0]["network_id"],
                "champion_parameters": 100,
                "champion_layers": "F10",
                "conv_share": 0.0,
                "wall_time_s": 1.0,
                **empty_counts(),
                **(gen_fields(g) if gen_fields else {}),
            }
        )
    return run_dir


def test_mutation_fate_measures_each_offspring_against_its_parent(tmp_path, make_results):
    run = write(
        tmp_path / "run",
        {
            0: [row(0, 1, 0.90), row(0, 2, 0.80)],
            1: [
                row(1, 1, 0.92),  # parent 2 was culled after generation 0: no row here
                row(1, 5, 0.85, origin="mutation", parents=[1], mutation="add_layer", before=0.20, culled=True),
                row(1, 6, 0.79, origin="mutation", parents=[2], mutation="grow_kernel", before=0.78),
                row(1, 7, 0.91, origin="crossover", parents=[1, 2], before=0.88),
            ],
            2: [
                row(2, 5, 0.93, origin="mutation", parents=[1], mutation="add_layer", born=0)
            ],  # not its first training
        },
    )
    (logs,) = load_runs([run])
    fate = make_results.mutation_fate(logs).set_index("mutation")
    assert list(fate.index) == ["add_layer", "grow_kernel"]  # mutation offspring at their first training only
    assert math.isclose(fate.loc["add_layer", "before"], 0.20 - 0.90)
    assert math.isclose(fate.loc["add_layer", "after"], 0.85 - 0.92)
    assert fate.loc["add_layer", "culled"] and not fate.loc["grow_kernel", "culled"]
    assert math.isclose(fate.loc["grow_kernel", "before"], 0.78 - 0.80)
    assert math.isnan(fate.loc["grow_kernel", "after"])  # the parent was gone


def test_variant_labels_every_option_off_the_papers_set_up(tmp_path, make_results):
    gens = {0: [row(0, 1, 0.9)]}
    paper = write(tmp_path / "paper", gens)
    fp = write(tmp_path / "fp", gens, **{"mutation.function_preserving": True, "ecosystem.species_stagnation": 10})
    steady = write(tmp_path / "steady", gens, **{"ecosystem.population": 16, "ecosystem.offspring": 4})
    half = write(tmp_path / "half", gens, **{"ecosystem.population": 16, "ecosystem.offspring": 8})
    settle = write(tmp_path / "settle", gens, **{"ecosystem.settle": 0.5, "ecosystem.settle_keep": 16})
    halving = write(
        tmp_path / "halving",
        gens,
        **{"ecosystem.settle": 0.5, "ecosystem.settle_keep": 16, "ecosystem.settle_rungs": 3},
    )
    a, b, c, d, e, h = load_runs([paper, fp, steady, half, settle, halving])
    assert make_results.variant(a) == make_results.variant(d) == ""
    assert make_results.variant(e) == "no offspring after 50% of the generations, then the 16 fittest networks train on"
    assert make_results.variant(h) == make_results.variant(e) + (
        ", halved twice in equal parts of the rest (successive halving)"
    )
    assert make_results.variant(b) == "species stagnation 10, function-preserving new structure"
    assert make_results.variant(c) == "4 offspring per generation"
    assert make_results.offspring_counts([c, d, d]) == "8 (4 in the set-ups that say so)"  # the Budget line
    assert make_results.offspring_counts([d]) == "8"
    # more runs that name their count than runs at the default: the default is still the usual one
    assert make_results.offspring_counts([c, c, d]) == "8 (4 in the set-ups that say so)"


def test_runs_shorter_than_every_budget_are_reported_at_their_own_length(tmp_path, make_results, monkeypatch):
    gens = {g: [row(g, 1, 0.80 + 0.01 * g)] for g in range(3)}
    run = write(tmp_path / "runs" / "mnist-speciation" / "seed0", gens, **{"run.generations": 3})
    out = tmp_path / "results.md"
    monkeypatch.setattr(
        sys, "argv", ["make_results.py", str(run), "--out", str(out), "--plots", str(tmp_path / "plots")]
    )
    make_results.main()
    page = out.read_text(encoding="utf-8")
    assert "## Table I (ecosim, 3 generations)" in page
    assert "| MNIST (with speciation) | 1 | 3 | ecosim | 90.00%" in page  # highest fitness, from the log


def test_runs_still_in_progress_are_left_out_and_listed(tmp_path, make_results, monkeypatch):
    """A sweep in progress: seed 1 has 2 of its 5 generations; pooled with seed 0's 3 of 3 it would
    make a mean of runs of different lengths (seen in session 25)."""
    gens = {g: [row(g, 1, 0.80 + 0.01 * g)] for g in range(3)}
    done = write(tmp_path / "runs" / "mnist-speciation" / "seed0", gens, **{"run.generations": 3})
    busy = write(
        tmp_path / "runs" / "mnist-speciation" / "seed1", {g: gens[g] for g in range(2)}, **{"run.generations": 5}
    )
    out = tmp_path / "results.md"
    for extra, runs in (([], 1), (["--include-unfinished"], 2)):
        argv = ["make_results.py", str(done), str(busy), "--out", str(out), "--plots", str(tmp_path / "plots"), *extra]
        monkeypatch.setattr(sys, "argv", argv)
        make_results.main()
        page = out.read_text(encoding="utf-8")
        assert f"| MNIST (with speciation) | {runs} |" in page
        assert ("left out, still in progress: `mnist-speciation/seed1` (2 generations)" in page) == (not extra)


def test_a_variant_is_named_by_its_experiment_folder_and_spelled_out_once(tmp_path, make_results):
    gens = {0: [row(0, 1, 0.9)]}
    fp = {"mutation.function_preserving": True}
    named = write(tmp_path / "runs" / "mnist-levers" / "seed0", gens, **fp)
    loose = write(tmp_path / "elsewhere" / "seed0", gens, **fp)
    a, b = load_runs([named, loose])
    assert make_results.label(a) == "mnist, with speciation, levers"
    assert make_results.label(b) == "mnist, with speciation, function-preserving new structure"  # no name to use
    assert "- **levers**: function-preserving new structure." in make_results.setups([a])


def test_compute_fate_splits_training_compute_by_origin_and_by_what_reached_the_end(tmp_path, make_results):
    """Every training costs 3 · macs · train_images; each share is checked against known rows."""

    def r(g, nid, fitness, macs, **kw):
        return {**row(g, nid, fitness, **kw), "macs": macs, "train_images": 10}

    run = write(
        tmp_path / "run",
        {
            0: [r(0, 1, 0.90, 100), r(0, 2, 0.80, 100)],
            1: [
                r(1, 1, 0.92, 100),
                r(1, 3, 0.50, 200, origin="mutation", parents=[2], mutation="remove_layer", culled=True),
                r(1, 4, 0.95, 300, origin="mutation", parents=[1], mutation="add_layer"),
                r(1, 5, 0.70, 100, origin="crossover", parents=[1, 2], culled=True),
            ],
            2: [r(2, 1, 0.93, 100), r(2, 4, 0.97, 300, origin="mutation", parents=[1], mutation="add_layer")],
        },
        **{
            "mutation.function_preserving": True,
            "mutation.max_macs": 5e5,
            "mutation.max_macs_doubling": 80,
            "mutation.cap_crossover": True,
        },
    )
    (logs,) = load_runs([run])
    fate = make_results.compute_fate(logs)
    total = 100 + 100 + 100 + 200 + 300 + 100 + 100 + 300  # per unit of 3 · 10 images
    assert math.isclose(fate["initial"], 400 / total) and math.isclose(fate["crossover"], 100 / total)
    assert math.isclose(fate["added structure"], 600 / total) and math.isclose(fate["removed structure"], 200 / total)
    assert fate["resized"] == 0 and fate["clone"] == 0
    assert math.isclose(fate["final lineage"], (300 + 600) / total)  # networks 1 and 4; network 2 died out
    assert math.isclose(fate["champion lineage"], (300 + 600) / total)  # 4, and its parent 1
    assert math.isclose(fate["one training"], 300 / total)  # 3 and 5, culled after their first training
    assert "doubling every 80 generations, crossover included" in make_results.variant(logs)
    assert math.isclose(make_results.trained_per_generation(logs, 2), (2 + 4 + 2) / 3)
    assert math.isclose(make_results.trained_per_generation(logs, 0), 2)
    assert make_results.champion_changes(logs, 0) == 1.0  # 3 generations: too few to say it settled


def test_a_plots_folder_that_holds_or_is_a_run_is_refused_before_anything_is_deleted(tmp_path):
    """A ``--plots`` folder that is, holds or lies inside a run directory, holds an input, or holds
    files without the list of what an earlier make_results wrote there (figures included), is refused
    in one line and nothing is touched."""
    import subprocess

    runs = tmp_path / "exp"
    run = write(runs / "mnist-x" / "seed0", {0: [row(0, 1, 0.9)]})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.py").write_text("keep me")
    docs = tmp_path / "docs"  # pages, tables and figures only: a docs folder (the helper's find, session 32)
    (docs / "figs").mkdir(parents=True)
    (docs / "design.md").write_text("keep me")
    (docs / "figs" / "a.png").write_bytes(b"")
    earlier = tmp_path / "old" / "compute.csv"  # an input of this very page
    earlier.parent.mkdir()
    earlier.write_text("keep me")
    for plots, extra in (
        (runs / "mnist-x", []),
        (runs, []),
        (run / "figs", []),
        (tmp_path / "mine", []),
        (docs, []),
        (earlier.parent, ["--earlier", str(earlier)]),
    ):
        out = subprocess.run(
            [sys.executable, str(SCRIPT), str(runs), "--out", str(tmp_path / "r.md"), "--plots", str(plots), *extra],
            capture_output=True,
            text=True,
        )
        assert out.returncode != 0 and "--plots" in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert (run / "config.toml").exists() and (tmp_path / "mine" / "notes.py").exists()
        assert (docs / "design.md").exists() and earlier.exists()
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "nowhere"), "--out", "x.md", "--plots", "p"],
        capture_output=True,
        text=True,
    )
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_plots_keeps_a_users_own_files_and_replaces_only_what_make_results_wrote(tmp_path, make_results, monkeypatch):
    """Session 37's notes: ``--plots DIR`` deleted the whole folder first, a user's own figures
    included. Now only the files on the folder's list (what the last run wrote) are removed."""
    gens = {g: [row(g, 1, 0.9)] for g in range(3)}
    run = write(tmp_path / "runs" / "mnist-speciation" / "seed0", gens, **{"run.generations": 3})
    plots = tmp_path / "plots"
    argv = ["make_results.py", str(run), "--out", str(tmp_path / "r.md"), "--plots", str(plots)]
    monkeypatch.setattr(sys, "argv", argv)
    make_results.main()
    listed = (plots / make_results.PLOTS_MANIFEST).read_text().splitlines()
    assert "table1.csv" in listed and all((plots / name).is_file() for name in listed)
    (plots / "mine.png").write_bytes(b"my own figure")  # a user's file beside the figures
    (plots / "stale.png").write_bytes(b"")  # a figure an earlier page wrote and this one does not
    (plots / make_results.PLOTS_MANIFEST).write_text("\n".join([*listed, "stale.png", "../r.md"]) + "\n")
    make_results.main()
    assert (plots / "mine.png").read_bytes() == b"my own figure" and not (plots / "stale.png").exists()
    assert (tmp_path / "r.md").exists()  # a name that leaves the folder is never removed
    again = (plots / make_results.PLOTS_MANIFEST).read_text().splitlines()
    assert sorted(again) == sorted(listed) and "mine.png" not in again
    (plots / make_results.PLOTS_MANIFEST).unlink()  # no list: the folder's files are unknown, refused
    why = make_results.plots_conflict(plots, [run])
    assert why.startswith("holds files and no") and make_results.PLOTS_MANIFEST in why


def test_clearing_plots_leaves_a_users_folders_and_links_and_never_follows_a_listed_link(tmp_path, make_results):
    """The review's finds (session 38): every empty folder was removed, a link to an empty folder
    crashed, and a list naming itself raised."""
    plots, outside = tmp_path / "plots", tmp_path / "outside"
    (plots / "sub").mkdir(parents=True)
    (plots / "drafts").mkdir()  # a user's empty folder
    outside.mkdir()
    (outside / "keep.png").write_bytes(b"keep")
    (plots / "sub" / "fig.png").write_bytes(b"")
    (plots / "link.png").symlink_to(outside / "keep.png")  # listed, but a link now
    (plots / "empty-link").symlink_to(tmp_path / "empty", target_is_directory=True)
    (tmp_path / "empty").mkdir()
    names = ["sub/fig.png", "link.png", make_results.PLOTS_MANIFEST, "../outside/keep.png"]
    (plots / make_results.PLOTS_MANIFEST).write_text("\n".join(names) + "\n")
    make_results.clear_plots(plots)
    assert not (plots / "sub").exists() and (plots / "drafts").is_dir()  # only what removal emptied
    assert (plots / "link.png").is_symlink() and (outside / "keep.png").read_bytes() == b"keep"
    assert (plots / "empty-link").is_symlink() and not (plots / make_results.PLOTS_MANIFEST).exists()


def test_a_set_up_with_no_reading_at_the_budget_is_a_row_not_a_crash(tmp_path, make_results):
    """The review's find (session 38): once a run over the budget in its first generation had no
    reading, a set-up whose every run was so crashed the equal-compute table (Welch of no values)."""
    earlier, runs = earlier_rows_and_logged_runs(tmp_path, make_results, train_macs=20000.0)  # budget 8,000
    lines = make_results.equal_compute(runs, [], tmp_path / "plots", Path("plots"), horizon=4, earlier=earlier)
    text = "\n".join(lines)
    assert f"| evolution, no speciation | 0 | {make_results.NO_READING} |" in text
    assert f"not decidable ({make_results.NO_READING})" in text


def test_out_and_plots_inside_any_run_are_refused_before_anything_is_written(make_results, tmp_path):
    """The helper's finds, session 34: ``--out RUN/config.toml`` replaced a run's config with the page
    (the run could no longer be resumed), and ``--plots OTHER_RUN/report`` emptied a run that was not
    an input. Both are refused in one line, nothing touched; ``--out`` must be a Markdown page."""
    import subprocess

    runs = tmp_path / "exp"
    run = write(runs / "mnist-x" / "seed0", {0: [row(0, 1, 0.9)]})
    other = write(tmp_path / "other" / "seed0", {0: [row(0, 1, 0.9)]})  # not an input
    for r in (run, other):
        (r / "checkpoints").mkdir()
    (other / "report").mkdir()
    (other / "report" / "fitness.png").write_bytes(b"keep")
    config = (other / "config.toml").read_text()
    for out, plots, flag in (
        (run / "config.toml", tmp_path / "p", "--out"),
        (other / "config.toml", tmp_path / "p", "--out"),
        (other / "page.md", tmp_path / "p", "--out"),
        (tmp_path / "page.txt", tmp_path / "p", "--out"),
        (tmp_path / "r.md", other / "report", "--plots"),
    ):
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(runs), "--out", str(out), "--plots", str(plots)],
            capture_output=True,
            text=True,
        )
        assert done.returncode != 0 and flag in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert (other / "config.toml").read_text() == config and (other / "report" / "fitness.png").exists()
        assert not (tmp_path / "p").exists() and not (other / "page.md").exists()
    assert make_results.out_conflict(tmp_path / "new" / "folder" / "r.md", [run]) == ""  # created when written


def test_a_relative_run_is_labelled_by_its_folders_and_a_page_not_written_yet_is_would_hold(
    make_results, tmp_path, monkeypatch
):
    """Session 34's notes: a run named by a relative path was labelled ``/seed0`` (its parent's name
    is empty), and ``--plots`` was said to hold a page that did not exist yet."""
    write(tmp_path / "mnist-x" / "seed0", {0: [row(0, 1, 0.9)]})
    monkeypatch.chdir(tmp_path / "mnist-x")
    (run,) = load_runs([Path("seed0")])
    assert make_results.run_label(run) == "mnist-x/seed0"
    pages = tmp_path / "pages"
    why = make_results.plots_conflict(pages, [], page=pages / "r.md")
    assert why.startswith("would hold") and "an input or the page itself" in why
    pages.mkdir()
    (pages / "r.md").write_text("x")
    assert make_results.plots_conflict(pages, [], page=pages / "r.md").startswith("holds")


def test_runs_nested_below_a_folder_of_sweeps_are_found(tmp_path):
    """``runs/<sweep>/<experiment>/seed<k>`` and a run beside them: every run is loaded once
    (two levels only, before, silently dropped the deeper ones)."""
    gens = {0: [row(0, 1, 0.9)]}
    runs = [
        write(tmp_path / "top" / "cli" / "seed0", gens),
        write(tmp_path / "top" / "sweep" / "mnist-x" / "seed0", gens),
        write(tmp_path / "top" / "sweep" / "mnist-x" / "seed1", gens),
    ]
    found = load_runs([tmp_path / "top", runs[1]])
    assert sorted(r.run_dir for r in found) == sorted(runs)


def test_the_budget_line_states_what_fitness_was_measured_on(tmp_path, make_results):
    gens = {0: [row(0, 1, 0.9)]}
    plain = write(tmp_path / "a", gens)
    held = write(tmp_path / "b", gens, **{"data.validation_fraction": 0.1, "data.test_subset": 500})
    a, b = load_runs([plain, held])
    assert make_results.fitness_source(a) == "accuracy on the whole test set"
    assert (
        make_results.fitness_source(b)
        == "accuracy on a 10% validation split (test accuracy on 500 test images logged beside)"
    )


def test_the_machine_line_comes_from_the_sessions_logs_and_names_runs_that_recorded_none(tmp_path, make_results):
    gens = {0: [row(0, 1, 0.9)]}
    cpu = write(tmp_path / "cpu", gens)
    gpu = write(tmp_path / "gpu", gens)
    old = write(tmp_path / "old", gens)  # logs from before the sessions log
    session = {"time": 1.0, "command": "run", "generation": 0, "nodes": 1, "cluster_cpus": 2.0, "cluster_gpus": 0.0}
    LogWriter(cpu).write_session({**session, "cpu": "AMD EPYC"})
    LogWriter(gpu).write_session({**session, "cpu": "AMD EPYC"})  # started on the CPU machine,
    LogWriter(gpu).write_session(  # resumed on a GPU cluster: both machines count for it
        {**session, "time": 2.0, "command": "resume", "nodes": 2, "cluster_cpus": 32.0, "cluster_gpus": 2.0}
        | {"gpu_types": "H100", "cpu": "Intel Xeon"}
    )
    runs = load_runs([cpu, gpu, old])
    assert machines_text(runs) == (
        "1 node, 2 CPUs (AMD EPYC), no GPU (2 runs); 2 nodes, 32 CPUs, 2 GPUs (H100), driver CPU Intel Xeon (1 run); "
        "1 run computed on more than one of these; not recorded for 1 run (logs from before ecosim 0.9.11)"
    )
    assert machines_text(runs[2:], "1 node, 2 CPUs, no GPU") == (
        "1 node, 2 CPUs, no GPU (1 run, as `--machine` says: logs from before the sessions log)"
    )


def test_equal_generations_table_gives_cost_trainings_and_turnover(tmp_path, make_results):
    """The table that explains equal compute: generation reached, cost per image, networks trained
    per generation and the mean age of the generation's networks (the population's turnover)."""

    def net(g, nid, fitness, age, macs):
        return {**row(g, nid, fitness), "age": age, "macs": macs, "train_images": 10, "test_accuracy": fitness}

    def spent(per_generation):
        return lambda g: {"train_macs": per_generation, "eval_macs": 0.0}  # the log holds each generation's own

    base = write(
        tmp_path / "base",
        {g: [net(g, 0, 0.90 + 0.01 * g, g + 1, 100), net(g, 1, 0.5, g + 1, 100)] for g in range(4)},
        gen_fields=spent(2e3),
        **{"ecosystem.offspring": 0, "ecosystem.initial_layers": "C2"},
    )
    evo = write(
        tmp_path / "evo",
        {g: [net(g, 10 + g, 0.95, 1, 300), net(g, 2, 0.6, 2 * g + 1, 100)] for g in range(4)},
        gen_fields=spent(4e3),
    )
    b, e = load_runs([base, evo])
    lines = make_results.cost_and_generations({"baseline C2": [b], "evolution": [e]}, "baseline C2", 8e3)
    assert lines[-4].startswith("| set-up |") and lines[-4].endswith("| mean age |")
    assert lines[-1] == "| baseline C2 | 4 | 93.00% | 93.00% | 0.00 M | 2.0 | 4.0 |"
    assert lines[-2] == "| evolution | 2 | 95.00% | 91.00% | 0.00 M | 2.0 | 2.0 |"


def test_the_verdict_on_the_difference_is_welchs_interval(make_results):
    """Issue 17's target reads Welch's 95% interval: with 3 runs a side the one a percentile
    bootstrap gave, (-0.03, +0.25) here, is far too narrow."""
    base = [0.9865, 0.9867, 0.9841]
    settle = [0.9870, 0.9869, 0.9860]
    assert make_results.interval_text(settle, base) == "+0.09 (-0.23, +0.40): includes 0"
    assert make_results.target_text(settle, base) == (
        "missed: Δ +0.09 points, interval (-0.23, +0.40); "
        "at this Δ and spread about 27 runs a side would put it above 0 (80% power)"
    )
    assert make_results.interval_text([0.987], base) == "+0.12 (no interval: 1 run against 3 runs)"
    assert make_results.target_text([0.987], base) == "not decidable yet (1 run against 3 runs; Δ +0.12 points)"
    assert make_results.interval_text([0.987, 0.987], [0.986, 0.986]) == "+0.10 (no interval: no spread on either side)"
    # a bound that rounds to 0.00 keeps its sign and a third decimal (-0.003, not -0.00)
    assert make_results._points(-0.0031) == "-0.003" and make_results._points(-0.31) == "-0.31"
    clear = [0.995, 0.996, 0.994]
    assert make_results.interval_text(clear, base).endswith(": above 0")
    assert make_results.target_text(clear, base) == "met"
    assert make_results.interval_text([0.97, 0.971, 0.969], base).endswith(": below 0")
    assert make_results.target_text([0.97, 0.971, 0.969], base) == "missed: Δ -1.58 points, interval (-1.87, -1.28)"


EARLIER_ROWS = (
    "experiment,run_dir,seed,generations,train_macs,eval_macs,trainings,test_evaluations,selected_id,"
    "selected_fitness,selected_test_accuracy,best_test_accuracy\n"
    """MNIST (fixed baseline C2),/lost/compare/mnist-C2/seed0,0,4,8000,0,8,8,1,0.9,0.9300,0.94
MNIST (fixed baseline C2),/lost/compare/mnist-C2/seed1,1,4,8000,0,8,8,1,0.9,0.9200,0.93
MNIST (fixed baseline C2),/lost/compare/mnist-C2/seed2,2,4,8000,0,8,8,1,0.9,0.9250,0.93
MNIST (no speciation; mnist-levers-x),/lost/compare/mnist-levers-x/seed0,0,3,8100,0,8,8,1,0.9,0.9600,0.97
MNIST (no speciation; mnist-levers-x),/lost/compare/mnist-levers-x/seed1,1,9,24000,0,8,8,1,0.9,0.9900,0.99
MNIST (with speciation),/lost/compare/mnist-speciation/seed0,0,4,2000,0,8,8,1,0.9,0.8000,0.81
"""
)


def test_earlier_rows_name_dataset_group_and_champion_and_bad_files_are_one_line(tmp_path, make_results):
    csv = tmp_path / "compute.csv"
    csv.write_text(EARLIER_ROWS, encoding="utf-8")
    (tmp_path / "champions.csv").write_text(
        "experiment,run,run_dir,generation,champion_id,fitness,parameters,layers\n"
        'mnist-levers-x,seed0,/lost/compare/mnist-levers-x/seed0,2,7,0.9,100,"C2s1x1[3x3,3x3]-C2s1x1[3x3,3x3]-F10"\n',
        encoding="utf-8",
    )
    rows = make_results.read_earlier([csv])
    assert [(r.dataset, r.group, r.label) for r in rows[2:5]] == [
        ("mnist", "baseline C2-F10", "mnist-C2/seed2"),
        ("mnist", "evolution, no speciation, levers-x", "mnist-levers-x/seed0"),
        ("mnist", "evolution, no speciation, levers-x", "mnist-levers-x/seed1"),
    ]
    assert rows[5].group == "evolution, with speciation" and rows[5].generation == 3
    assert rows[3].champion.startswith("C2s1x1") and rows[4].champion == ""
    bad = tmp_path / "bad" / "compute.csv"
    bad.parent.mkdir()
    bad.write_text(EARLIER_ROWS.replace("MNIST (with", "Kuzushiji (with"), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"row 7: experiment 'Kuzushiji \(with speciation\)' names no known dataset"):
        make_results.read_earlier([bad])
    bad.write_text("experiment,run_dir\nMNIST (with speciation),x\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="lacks the columns best_test_accuracy, generations"):
        make_results.read_earlier([bad])
    with pytest.raises(SystemExit, match="cannot be read"):
        make_results.read_earlier([tmp_path / "none.csv"])
    bad.write_text(EARLIER_ROWS.replace("0.9250,0.93", "nan,0.93"), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"row 4: selected_test_accuracy = nan is not a finite number"):
        make_results.read_earlier([bad])
    bad.write_text(EARLIER_ROWS.replace("seed1,1,4,", "seed1,1,4.5,"), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"row 3: generations = 4.5 is not a whole number"):
        make_results.read_earlier([bad])
    assert make_results.read_earlier([csv, csv]) == rows  # a file given twice counts once


def earlier_rows_and_logged_runs(tmp_path, make_results, train_macs: float, seed_step: float = 0.0):
    """An earlier page's rows (:data:`EARLIER_ROWS`) and two logged ``mnist-levers-y`` runs of 4
    generations, each spending ``train_macs`` a generation; seed k adds ``k · seed_step`` to fitness."""
    csv = tmp_path / "compute.csv"
    csv.write_text(EARLIER_ROWS, encoding="utf-8")

    def net(g, nid, fitness):
        return {**row(g, nid, fitness), "macs": 100, "train_images": 10, "test_accuracy": fitness, "age": 1}

    evo = [
        write(
            tmp_path / "runs" / "mnist-levers-y" / f"seed{k}",
            {g: [net(g, 0, 0.93 + 0.01 * g + seed_step * k)] for g in range(4)},
            gen_fields=lambda g: {"train_macs": train_macs, "eval_macs": 0.0},
            **{"run.seed": k, "ecosystem.speciation": False},
        )
        for k in range(2)
    ]
    return make_results.read_earlier([csv]), load_runs(evo)


def test_earlier_rows_join_the_equal_compute_table_where_logs_are_gone(tmp_path, make_results):
    """Runs of an earlier page (their logs gone) are compared as their rows give them: the reference
    baseline's budget and spread come from its rows, a row past the budget is left out and named."""
    from ecosim.report.compare import welch_difference

    earlier, runs = earlier_rows_and_logged_runs(tmp_path, make_results, train_macs=2000.0, seed_step=0.005)
    lines = make_results.equal_compute(runs, [], tmp_path / "plots", Path("plots"), horizon=4, earlier=earlier)
    text = "\n".join(lines)
    assert "### mnist: budget 8e+03 training multiply-accumulates (baseline C2-F10, 4 generations)" in text
    table: dict[str, list[str]] = {}  # the first table: a set-up's row there
    for ln in lines:
        if ln.startswith("| ") and " | " in ln:
            table.setdefault(ln.split(" | ")[0][2:], ln.split(" | "))
    assert table["baseline C2-F10"][1:6] == ["3 (3†)", "4", "100%", "92.50% ± 0.50", "(reference)"]
    want = welch_difference([0.96, 0.965], [0.93, 0.92, 0.925])
    assert table["evolution, no speciation"][5].startswith(f"{100 * want.mean:+.2f} (")
    assert table["evolution, no speciation, levers-x"][1] == "1 (1†)"  # seed1 spent 300% of the budget
    assert (
        "Left out: earlier rows of runs that went past the budget" in text and "`mnist-levers-x/seed1` (300%)" in text
    )
    fractions = [ln for ln in lines if ln.startswith("| ") and make_results.NO_READING in ln and "±" not in ln]
    assert [ln.split(" | ")[0] for ln in fractions] == ["| evolution, no speciation"]  # logs only
    # generation 0 (2,000 MACs) is over 1/16 and 1/8 of the budget (500, 1,000): no reading there
    assert fractions[0].split(" | ")[1:3] == [make_results.NO_READING] * 2 and fractions[0].count("%") == 3
    assert (
        "levers-x: above the strongest fixed baseline at equal compute with a 95% interval above 0: not decidable yet"
        in text
    )
    assert "final champions not known (no logs, no champions.csv beside the rows)" in text
    assert (tmp_path / "plots" / "equal-compute-mnist.png").is_file()


def test_a_set_up_with_runs_with_logs_leaves_its_earlier_rows_out_and_names_them(tmp_path, make_results):
    """Rows of an earlier sweep come from other code (session 40: the same seeds re-run differ by the
    size of the differences compared), so a set-up that has runs with logs is read from them alone."""
    earlier, runs = earlier_rows_and_logged_runs(tmp_path, make_results, train_macs=2000.0)
    extra = dataclasses.replace(earlier[-1], group="evolution, no speciation", label="mnist-no-speciation/seed7")
    lines = make_results.equal_compute(
        runs, [], tmp_path / "plots", Path("plots"), horizon=4, earlier=[*earlier, extra]
    )
    text = "\n".join(lines)
    row_of = {ln.split(" | ")[0][2:]: ln.split(" | ") for ln in reversed(lines) if ln.startswith("| ") and " | " in ln}
    assert row_of["evolution, no speciation"][1] == "2"  # its two logged runs, no †
    assert "Left out: earlier rows of set-ups that have ≥ 2 runs with logs (read from those alone): " in text
    assert "`mnist-no-speciation/seed7`" in text


def test_a_baseline_with_a_schedule_is_the_control_of_the_set_up_with_that_schedule(tmp_path, make_results):
    """``levers-anneal``'s control (session 33): the fixed baseline trained with the same schedule
    after the settle point is its own group, never the budget's reference, and the set-up's verdict
    names the difference to it beside the one to the best baseline."""
    from ecosim.report.compare import welch_difference

    def net(g, nid, fitness):
        return {**row(g, nid, fitness), "macs": 100, "train_images": 10, "test_accuracy": fitness, "age": 1}

    schedule = {
        "ecosystem.settle": 0.5,
        "ecosystem.settle_keep": 16,
        "ecosystem.settle_rungs": 3,
        "ecosystem.settle_lr_decay": 0.3,
    }
    fixed = {"ecosystem.offspring": 0, "ecosystem.initial_layers": "C2", "run.generations": 4}
    spent = {"gen_fields": lambda g: {"train_macs": 2000.0, "eval_macs": 0.0}}

    def runs(folder, fitness, **overrides):
        return [
            write(
                tmp_path / "runs" / folder / f"seed{k}",
                {g: [net(g, 0, fitness + 0.001 * g + 0.004 * k)] for g in range(4)},
                **spent,
                **{"run.seed": k, **overrides},
            )
            for k in range(3)
        ]

    paper = runs("mnist-C2", 0.90, **fixed)
    control = runs("mnist-C2-anneal", 0.95, **fixed, **schedule)
    evo = runs("mnist-levers-anneal", 0.94, **{"ecosystem.speciation": False}, **schedule)
    base = load_runs(paper + control)
    assert [make_results.what(r) for r in base] == ["baseline C2-F10"] * 3 + ["baseline C2-F10, anneal"] * 3
    assert [r.experiment.baseline for r in (base[0], base[3])] == ["C2", "C2, settled"]  # ecosim report's title
    lines = make_results.equal_compute(load_runs(evo), base, tmp_path / "plots", Path("plots"), horizon=4)
    text = "\n".join(lines)
    assert "(baseline C2-F10, 4 generations)" in text  # the control scores higher, the budget stays the paper's
    cells: dict[str, list[str]] = {}  # the first table: a set-up's row there
    for ln in lines:
        if ln.startswith("| ") and " | " in ln:
            cells.setdefault(ln.split(" | ")[0][2:], ln.split(" | "))
    assert cells["baseline C2-F10"][5] == "(reference)" and cells["baseline C2-F10, anneal"][5] != "(reference)"
    mine = [0.943 + 0.004 * k for k in range(3)]
    want = welch_difference(mine, [0.953 + 0.004 * k for k in range(3)])
    verdict = next(ln for ln in lines if ln.startswith("- evolution, no speciation, levers-anneal:"))
    # the control scores highest: the target is judged against it, and the budget's baseline follows
    strongest = "against baseline C2-F10, anneal (the strongest fixed baseline at this budget, the same schedule"
    assert f"{strongest} after the settle point): missed: Δ {100 * want.mean:+.2f} points" in verdict
    assert "; against baseline C2-F10 (the budget's): Δ " in verdict
    halving = load_runs(evo)[0]
    assert make_results.variant(halving).endswith(
        ", halved twice in equal parts of the rest (successive halving), the learning rate ×0.3 after the settle "
        "generation and again at each halving"
    )


def test_the_selection_pilot_picks_the_best_mean_of_the_last_k_evaluations():
    """``experiments/pilot_selection.py`` (session 34): k = 1 is the page's rule (the single highest
    fitness); k = 2 picks the network whose last two evaluations average highest, and reports the
    test accuracy of the later one; evaluations after the budget's generation are not seen."""
    import pandas as pd

    path = Path(__file__).resolve().parents[2] / "experiments" / "pilot_selection.py"
    spec = importlib.util.spec_from_file_location("pilot_selection", path)
    pilot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pilot)
    rows = [  # (network, generation, fitness, test accuracy)
        (0, 0, 0.90, 0.80),
        (0, 1, 0.70, 0.81),
        (0, 2, 1.00, 0.82),
        (1, 0, 0.85, 0.70),
        (1, 1, 0.84, 0.71),
        (1, 2, 0.10, 0.72),
    ]
    n = pd.DataFrame(rows, columns=["network_id", "generation", "fitness", "test_accuracy"]).assign(status="ok")
    assert pilot.select_on_last(n, 1, 1) == 0.80  # the single best fitness up to generation 1: 0.90
    assert pilot.select_on_last(n, 1, 2) == 0.71  # network 1 averages 0.845 over its last two, network 0 0.80
    assert pilot.select_on_last(n, 2, 2) == 0.82  # network 0's (0.70 + 1.00) / 2 wins at generation 2
    assert math.isnan(pilot.select_on_last(n, 0, 2))  # nobody has two evaluations yet
    with pytest.raises(ValueError, match="k must be >= 1"):
        pilot.select_on_last(n, 2, 0)


def test_earlier_pages_lend_their_speciation_verdicts(make_results, tmp_path):
    """An ``--earlier`` table's page is found above it, and its speciation bullets are quoted once
    under its name (the logs behind them are gone, so the new page cannot recompute them)."""
    table = tmp_path / "docs" / "sweep1" / "baselines" / "compute.csv"
    table.parent.mkdir(parents=True)
    table.write_text("experiment\n")
    page = tmp_path / "docs" / "sweep1.md"
    page.write_text(
        "# Results\n\n## The paper's speciation claim\n\nintro\n\n- mnist, 100 generations: not separable from noise.\n"
        "\n## Targets of the CNN issue\n\n- mnist: missed.\n"
    )
    assert make_results.earlier_page(table) == page.resolve()
    assert make_results.earlier_page(tmp_path / "elsewhere" / "compute.csv") is None
    lines = make_results.earlier_verdicts([page, page])
    assert lines == [
        "",
        "From `sweep1.md` (more runs of the paper's set-up; their logs are gone):",
        "",
        "- mnist, 100 generations: not separable from noise.",
    ]
    assert make_results.speciation_claim([], [page])[-1] == "- mnist, 100 generations: not separable from noise."


def test_smaller_budget_deltas_compare_every_set_up_of_two_runs_with_the_best_baseline_at_each_fraction(make_results):
    from ecosim.report.compare import AtCompute

    scores = {  # selected test accuracy by set-up at (fraction of the budget)
        "evolution, levers": {0.0625: [0.80, 0.82], 0.125: [0.85, 0.86], 0.25: [0.88, 0.89], 0.5: [0.90, 0.91]},
        "evolution, one run": {},
        "baseline big": {0.0625: [0.70, 0.71, 0.72], 0.125: [0.80, 0.81, 0.82], 0.25: [0.86, 0.87, 0.88]},
        "baseline small": {0.0625: [0.80, 0.81], 0.125: [0.84, 0.86], 0.25: [0.85, 0.86], 0.5: [0.86, 0.87]},
        "baseline one run": {},
    }

    def readings(name, budget):
        f = budget / 100.0
        if name.endswith("one run"):
            return [AtCompute(0, budget, 1.0, 0.99, 0.99)]  # best of all, but one run: never a reference
        values = scores[name].get(f, [0.90, 0.91] if name.startswith("evolution") else [0.905, 0.906, 0.907])
        return [AtCompute(0, budget, 1.0, v, v) for v in values]

    lines = make_results.smaller_budget_deltas(list(scores), readings, 100.0)
    assert lines[1].startswith("Δ against the best fixed baseline at each fraction of the budget")
    (best,) = [ln for ln in lines if ln.startswith("| best baseline there")]
    assert [c.strip() for c in best.strip("|").split("|")][1:3] == [
        "baseline small (80.50%)",
        "baseline small (85.00%)",
    ]
    assert "baseline big (90.60%)" in best  # the big network is the best one at the whole budget
    (row,) = [ln for ln in lines if ln.startswith("| evolution")]  # one run: no row
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "evolution, levers" and cells[1].startswith("+0.50 (") and cells[1].endswith("includes 0")
    assert cells[-1].endswith("includes 0")
    assert make_results.smaller_budget_deltas(["evolution, levers", "baseline one run"], readings, 100.0) == []


def test_the_speciation_text_says_what_the_logs_show_and_agrees_with_the_tables(tmp_path, make_results):
    """The helper's find (session 37): on two 2-generation runs the page said "0 offspring ... became
    clones" beside a table with 1 (a mean of 0.5 rounded), and "the species set froze" whatever the
    logs showed; the species counts of the two tables are named for what each counts."""

    def fails(k):
        return lambda g: {"failed_species_limit": k * g}

    runs = [
        write(
            tmp_path / "runs" / "mnist-speciation" / f"seed{k}",
            {g: [row(g, 10 * g, 0.9), row(g, 10 * g + 1, 0.8)] for g in range(2)},
            gen_fields=fails(k),
            **{"run.seed": k, "ecosystem.speciation": True},
        )
        for k in range(2)
    ]
    text = "\n".join(make_results.why_section(load_runs(runs), []))
    assert "0.5 offspring per run whose genome left their species became clones" in text
    assert "no species went extinct" in text and "froze" not in text  # 2 generations prove nothing
    long = [
        write(
            tmp_path / "long" / "mnist-speciation" / f"seed{k}",
            {g: [row(g, 10 * g, 0.9)] for g in range(12)},
            **{"run.seed": k, "ecosystem.speciation": True},
        )
        for k in range(2)
    ]
    assert "so the species set froze" in "\n".join(make_results.why_section(load_runs(long), []))


def test_without_baselines_the_comparison_says_none_was_given_not_that_logs_are_old(tmp_path, make_results):
    run = write(tmp_path / "runs" / "mnist-no-speciation" / "seed0", {0: [row(0, 0, 0.9)]})
    lines = make_results.equal_compute(load_runs([run]), [], tmp_path / "plots", Path("plots"), horizon=4)
    assert any("mnist: no baseline run given (a fixed architecture: experiments/baselines/)" in ln for ln in lines)


def test_the_horizon_pilot_reads_fixed_baselines_at_equal_age_before_any_decay():
    """``experiments/pilot_horizon.py`` (session 39), on two packed runs of the repository: the anneal
    control's curve stops before its first decayed generation, each age's value is the population's
    mean fitness in generation age − 1, the compute budget of the first ten generations holds ten
    trainings, an evolution run is not a fixed baseline, and a missing reference is named."""
    path = Path(__file__).resolve().parents[2] / "experiments" / "pilot_horizon.py"
    spec = importlib.util.spec_from_file_location("pilot_horizon", path)
    pilot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pilot)
    archive = path.parent / "archive" / "compare"
    control, levers = load_runs(
        [
            archive / "fashion-mnist-C10-3x3-C20s2-3x3-anneal" / "seed0",
            archive / "fashion-mnist-levers-anneal" / "seed0",
        ]
    )
    assert pilot.is_fixed_baseline(control) and not pilot.is_fixed_baseline(levers)
    assert pilot.setup_name(control) == "fashion-mnist-C10-3x3-C20s2-3x3-anneal"
    n = control.networks
    first_decayed = int(n.loc[n["lr_scale"] != 1.0, "generation"].min())
    c = pilot.curve(control)
    assert c.index.min() == 1 and c.index.max() == first_decayed  # ages 1 … generation first_decayed − 1 + 1
    assert c[20] == pytest.approx(n.loc[n["generation"] == 19, "fitness"].mean())
    ten = float(control.generations["train_macs"].iloc[:10].sum())
    assert pilot.trainings_within(control, ten) == 10
    text = pilot.table([control], pilot.setup_name(control), [1, 20, first_decayed + 1], ten)
    assert text.splitlines()[2].endswith("| 10 | " + f"{100 * c[1]:.2f} | {100 * c[20]:.2f} | — |")
    with pytest.raises(ValueError, match="--reference: no fixed baseline named 'nope'"):
        pilot.table([control], "nope", [1], ten)
    assert pilot.reference_budget([control]) == control.config.run.train_macs == 1.2e13  # its stopping budget
    (paper,) = load_runs([archive / "cifar10-C10-3x3-C20s2-3x3" / "seed0"])  # no budget set: its 100 generations
    assert pilot.reference_budget([paper]) == pytest.approx(float(paper.generations["train_macs"].sum()))


def test_a_run_whose_last_generation_has_no_champion_shows_its_last_champion(tmp_path, make_results):
    """ecosim ≥ 0.9.9 leaves the champion columns empty in a generation whose networks all diverged:
    the final champion is the latest generation's that had one, and a run with none says so in
    words (it printed ``None``, and counted it as a shallow champion)."""
    gens = {g: [row(g, 1, 0.9)] for g in range(3)}
    empty = {"champion_id": None, "champion_layers": None}
    late = write(tmp_path / "late", gens, gen_fields=lambda g: {"champion_layers": f"C{g + 1}-F10"} if g < 2 else empty)
    never = write(tmp_path / "never", gens, gen_fields=lambda g: empty)
    a, b = load_runs([late, never])
    assert make_results.final_champion(a) == "C2-F10"
    assert make_results.final_champion(b) == make_results.NO_CHAMPION
    assert make_results._layers_cell("C2-F10") == "`C2-F10`"
    assert make_results._layers_cell(make_results.NO_CHAMPION) == make_results.NO_CHAMPION
    assert make_results._layers_cell(None) == "n/a"
    # the depth target counts champions, not runs: a run without one is left out (review, session 39)
    assert make_results.final_champions([a, b]) == (["C2-F10"], 1)


def test_a_cell_read_past_a_runs_end_says_that_the_run_ended(tmp_path, make_results):
    """The table at fractions of the budget read a run that had ended at its end with no word, so a
    run that spent 3% of the budget showed the same value at every fraction (the helper's find,
    session 39). Runs of 4 generations of 1,000 MACs each (4,000 in all), budget 40,000."""
    gens = {g: [{**row(g, 0, 0.9), "test_accuracy": 0.9}] for g in range(4)}
    short = write(tmp_path / "a", gens, gen_fields=lambda g: {"train_macs": 1e3, "eval_macs": 0.0})
    longer = write(tmp_path / "b", gens, gen_fields=lambda g: {"train_macs": 1e4, "eval_macs": 0.0})
    a, b = load_runs([short, longer])
    assert make_results.ended_note([a], 4e3, 4e4) == ""  # all of it spent: read where it stands
    assert make_results.ended_note([a], 1e4, 4e4) == " (ended at 10% of the budget)"
    assert make_results.ended_note([a, b], 1e4, 4e4) == " (1 of 2 runs ended before)"


def test_the_averaging_pilot_averages_every_array_of_networks_of_one_genome():
    """``experiments/pilot_averaging.py`` (session 41): the average of networks of one genome is each
    array's mean (float32), the average of one network is that network, networks of two genomes are
    refused, and the averaged network scores like any other."""
    import numpy as np

    from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights

    path = Path(__file__).resolve().parents[2] / "experiments" / "pilot_averaging.py"
    spec = importlib.util.spec_from_file_location("pilot_averaging", path)
    pilot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pilot)
    genome = Genome((1, 8, 8), (ConvLayer(((3, 3), (1, 3))), DenseLayer(3)))
    a, b = (init_weights(genome, np.random.default_rng(s)) for s in (0, 1))
    avg = pilot.mean_weights([a, b])
    for m, x, y in zip(avg.arrays(), a.arrays(), b.arrays(), strict=True):
        assert m.dtype == np.float32 and np.allclose(m, (x + y) / 2) and not np.allclose(m, x)
    assert all(np.array_equal(m, x) for m, x in zip(pilot.mean_weights([a]).arrays(), a.arrays(), strict=True))
    other = Genome((1, 8, 8), (ConvLayer(((3, 3),)), DenseLayer(3)))
    with pytest.raises(ValueError):
        pilot.mean_weights([a, init_weights(other, np.random.default_rng(2))])
    images = np.random.default_rng(3).integers(0, 256, (20, 1, 8, 8), dtype=np.uint8)
    labels = np.arange(20) % 3
    assert 0.0 <= pilot.accuracy(genome, avg, images, labels, (0.5,), (0.25,)) <= 1.0
