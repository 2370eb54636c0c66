"""ecosim.report.compare (issue 17 C): compute curves, validation-selected test accuracy, equal
compute and Welch intervals, on logs written by the run store with known values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ecosim.config import Config
from ecosim.report import load_runs
from ecosim.report.compare import at_compute, compute_curve, compute_figure, runs_needed, welch_difference
from ecosim.store.logs import LogWriter, empty_counts


def row(g, nid, fitness, test, macs=1000, train=100, evals=200):
    return {
        "generation": g,
        "network_id": nid,
        "species_id": 0,
        "parent_ids": [],
        "origin": "initial",
        "born_generation": -1,
        "parameters": 10,
        "fitness": fitness,
        "test_accuracy": test,
        "layers": "F10",
        "status": "ok",
        "culled": False,
        "macs": macs,
        "train_images": train,
        "eval_images": evals,
    }


def write(run_dir: Path, generations: dict[int, list[dict]]) -> Path:
    from ecosim.evolution.generation_rows import summarise_generation

    cfg = Config().with_overrides({"run.out": str(run_dir), "data.dataset": "mnist", "data.validation_fraction": 0.1})
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    logs = LogWriter(run_dir)
    for g, rows in generations.items():
        logs.write_networks(g, 0, rows)
        logs.write_generation(
            {
                "generation": g,
                "best_fitness_so_far": 0.9,
                "species_count": 1,
                "network_count": len(rows),
                "wall_time_s": 1.0,
                **empty_counts(),
                **summarise_generation(rows),
            }
        )
    return run_dir


@pytest.fixture
def run(tmp_path):
    path = write(
        tmp_path / "run",
        {
            0: [row(0, 1, 0.80, 0.70), row(0, 2, 0.60, 0.95)],  # 2 has the best test score, 1 is selected
            1: [row(1, 1, 0.85, 0.83, macs=2000), row(1, 3, 0.85, 0.99)],  # a tie on fitness: the first (id 1) stays
            2: [row(2, 4, 0.90, 0.88, macs=3000, train=50)],
        },
    )
    return load_runs([path])[0]


def test_the_selected_network_is_chosen_on_fitness_and_reports_its_own_test_accuracy(run):
    c = compute_curve(run)
    assert c["selected_id"].tolist() == [1, 1, 4]
    assert c["selected_test_accuracy"].tolist() == [0.70, 0.83, 0.88]
    assert c["best_test_accuracy"].tolist() == [0.95, 0.99, 0.99]  # the optimistic statistic differs


def test_compute_is_cumulative_and_counts_three_passes_per_training_image(run):
    c = compute_curve(run)
    # generation 0: two networks, 3 · 1000 MACs · 100 images each; scoring 1000 · 200 each
    assert c["train_macs"].tolist() == [6e5, 6e5 + 3 * 2000 * 100 + 3 * 1000 * 100, 6e5 + 9e5 + 3 * 3000 * 50]
    assert c["eval_macs"].iloc[0] == 4e5
    assert c["trainings"].tolist() == [2, 4, 5] and c["test_evaluations"].tolist() == [2, 4, 5]


def test_at_compute_reads_the_last_generation_within_the_budget(run):
    at = at_compute(run, 1.6e6)
    assert (at.generation, at.selected_test_accuracy, at.share) == (1, 0.83, pytest.approx(1.5e6 / 1.6e6))
    assert at_compute(run, 1e9).generation == 2  # a run short of the budget: its last generation
    # a fresh user's find (session 38): generation 0 (6e5 MACs) over the budget was read anyway, at share 6
    assert at_compute(run, 1e5) is None
    with pytest.raises(ValueError, match="budget"):
        at_compute(run, 0)


def test_welch_interval_is_the_welch_satterthwaite_t_interval_and_separates_only_clear_differences():
    a, b = [0.9870, 0.9869, 0.9860], [0.9865, 0.9867, 0.9841]
    d = welch_difference(a, b)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)  # by hand: about 3.6 standard errors at df 2.6
    assert d.mean == pytest.approx(np.mean(a) - np.mean(b))
    assert (d.low, d.high) == (pytest.approx(d.mean - half), pytest.approx(d.mean + half))
    assert d.has_interval and not d.above_zero and not d.below_zero  # +0.09 points, (-0.23, +0.40)
    clear = welch_difference([0.990, 0.991, 0.989], [0.980, 0.981, 0.979])
    assert clear.above_zero and clear.mean == pytest.approx(0.01)
    assert welch_difference([0.980, 0.981, 0.979], [0.990, 0.991, 0.989]).below_zero
    one = welch_difference([0.99], [0.98, 0.97])
    assert not one.has_interval and not one.above_zero and one.mean == pytest.approx(0.015)
    assert not welch_difference([0.99, 0.99], [0.98, 0.98]).has_interval  # no spread: no interval
    with pytest.raises(ValueError, match="at least one value in a"):
        welch_difference([], [1.0])
    for level in (1.0, 0.0, 95, "0.95", float("nan"), True):
        with pytest.raises(ValueError, match="level must be a number in"):
            welch_difference([1.0, 2.0], [1.0, 2.0], level=level)
    with pytest.raises(ValueError, match="b holds a value that is not a finite number"):
        welch_difference([0.98, 0.97], [0.96, float("nan")])
    with pytest.raises(ValueError, match="a must be one-dimensional"):
        welch_difference(np.ones((2, 2)), [1.0, 2.0])
    with pytest.raises(ValueError, match="a must be a sequence of numbers"):
        welch_difference(["x", "y"], [1.0, 2.0])
    assert welch_difference((v for v in [0.99, 0.98]), np.array([0.97, 0.96])).has_interval


def test_welch_interval_keeps_its_level_over_few_seeds_where_a_percentile_bootstrap_does_not():
    """With no true difference, 3 runs a side: the 95% interval leaves out 0 in about 5% of cases.
    (A percentile bootstrap, what the results page used before 0.9.1, does so in about 20%.)"""
    rng = np.random.default_rng(3)
    misses = 0
    for _ in range(1000):
        d = welch_difference(rng.normal(0, 0.06, 3), rng.normal(0, 0.14, 3))
        misses += d.above_zero or d.below_zero
    assert misses / 1000 < 0.08


def test_runs_needed_gives_the_power_it_promises_and_none_where_no_n_can():
    """Simulated sweeps of ``runs_needed`` runs a side (normal, the given Δ and sds) put Welch's
    interval above 0 in about 80% of cases; one run fewer falls short of it."""
    rng = np.random.default_rng(0)
    a, b = [1.0, 2.0, 3.0], [0.0, 1.0, 2.0]  # sd 1 a side, Δ 1
    n = runs_needed(a, b)
    assert n == 17  # the normal approximation's 16 (2 × (1.96 + 0.84)²), one more for t
    for runs, lo, hi in ((n, 0.78, 0.85), (n - 4, 0.6, 0.78)):
        x = rng.normal(1.0, 1.0, (4000, runs))
        y = rng.normal(0.0, 1.0, (4000, runs))
        low = stats.ttest_ind(x, y, axis=1, equal_var=False).confidence_interval(0.95).low
        assert lo < np.mean(low > 0) < hi
    assert runs_needed(b, a) is None and runs_needed([1.0, 1.0], [1.0, 1.0]) is None  # Δ ≤ 0; no spread
    assert runs_needed([1.0, 1.0], [0.0, 0.0]) is None  # no spread on either side: no interval to reach
    assert runs_needed([0.5, 0.6001], [0.5, 0.6], most=50) is None  # Δ of 0.00005 with sd 0.07: not within 50
    with pytest.raises(ValueError, match="power"):
        runs_needed(a, b, power=1.0)


def test_compute_figure_draws_one_line_per_run(run):
    fig = compute_figure({"evolution": [run], "baseline": [run]}, "t", budget=1e6)
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() != "equal-compute budget"]
    curves = [line for line in lines if line.get_linestyle() != "None"]
    ends = [line for line in lines if line.get_linestyle() == "None"]  # a dot where each run ended
    assert len(curves) == 2 and np.allclose(curves[0].get_ydata(), [70, 83, 88])
    assert len(ends) == 2 and np.allclose(ends[0].get_ydata(), [88])
    whole, zoom = fig.axes  # the right panel: the same lines, the last decade of compute before the budget
    assert len(zoom.get_lines()) == len(whole.get_lines())
    assert zoom.get_xlim() == pytest.approx((1e5, 1.3e6))
    # in the window only the first generation (6e5 MACs, 70%): it is shown, whatever the best run reached later
    assert zoom.get_ylim() == pytest.approx((69.8, 70.2))
    many = compute_figure({f"set-up {k}": [run] for k in range(12)}, "t", budget=1e6)
    curves = [ln for ln in many.axes[0].get_lines() if ln.get_linestyle() == "-"]  # the budget line is dashed
    assert len({str(ln.get_color()) for ln in curves}) == 12  # twelve set-ups, twelve colours
    wide = compute_figure({"evolution": [run]}, "t", budget=1e7)  # every point in the window: each run's end shown
    assert wide.axes[1].get_ylim()[0] <= 88 - 0.2 and wide.axes[1].get_ylim()[1] == pytest.approx(88.2)


def test_ecosim_report_writes_the_compute_table_and_figure(run, tmp_path):
    import pandas as pd

    from ecosim.report import write_report

    written = write_report([run], tmp_path / "report")
    table = pd.read_csv(written["compute_csv"])
    assert table[["generations", "selected_id", "selected_test_accuracy", "best_test_accuracy"]].values.tolist() == [
        [3, 4, 0.88, 0.99]
    ]
    text = written["compute_csv"].read_text().splitlines()[1].split(",")
    header = written["compute_csv"].read_text().splitlines()[0].split(",")
    for col in ("train_macs", "eval_macs", "trainings", "test_evaluations", "selected_id"):
        assert "." not in text[header.index(col)], (col, text)  # counts are integers, not 1234.0
    assert written["compute/mnist"].is_file()
