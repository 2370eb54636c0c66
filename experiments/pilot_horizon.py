"""Pilot of a horizon-aware rank (issue 17, session 39; ``docs/design.md``, "Learning curves at equal age").

Session 38 proposed ranking networks by the fitness their learning curves promise at the end of the
budget instead of their current fitness. A search compares networks at equal *age*: every network
trains once per generation, whatever it costs. This pilot asks whether the fixed architectures'
learning curves separate at equal age early enough for such a rank to see anything: for each fixed
baseline (a set-up whose networks all start from one genome and make no offspring) it prints, at each
age (trainings), the mean validation fitness over the population, mean ± sd over runs, the
difference from a reference set-up with Welch's 95% interval, and the trainings each network gets
within a compute budget:

    python experiments/pilot_horizon.py experiments/archive/compare --dataset fashion-mnist \\
        --reference fashion-mnist-C10-3x3-C20s2-3x3-anneal

Only evaluations before the learning rate changes (``lr_scale`` = 1) are read, so set-ups with and
without a decay schedule compare as the paper trains them. Nothing trains.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecosim.report.compare import welch_difference
from ecosim.report.runs import RunLogs, find_run_dirs, load_runs

#: ages (trainings per network) read by default
AGES = (5, 10, 20, 40, 60, 80, 100)


def is_fixed_baseline(run: RunLogs) -> bool:
    """Whether every network of ``run`` is an initial network of one genome (a fixed baseline)."""
    n = run.networks
    return bool(len(n)) and bool((n["origin"] == "initial").all()) and n["layers"].nunique() == 1


def setup_name(run: RunLogs) -> str:
    """The set-up's name: the folder its seeds share (``runs/compare/<set-up>/seed0``, as
    ``experiments/run_experiments.py`` lays them out), or the run folder's own name."""
    return run.run_dir.parent.name if run.run_dir.name.startswith("seed") else run.run_dir.name


def curve(run: RunLogs) -> pd.Series:
    """Mean validation fitness (fraction) over the population by age (trainings), before any decay.

    Args:
        run: a fixed baseline's logs (every network trains once per generation, so the age of
            generation ``g``'s evaluations is ``g + 1``).

    Returns:
        float series indexed by age (1, 2, …), up to the last generation trained at the
        undecayed learning rate (``lr_scale`` = 1); each value is the mean over the networks
        that trained ``ok`` in that generation (a diverged network is left out of it).
    """
    n = run.networks
    if "lr_scale" in n.columns:
        decayed = n.loc[n["lr_scale"].fillna(1.0) != 1.0, "generation"]
        if len(decayed):
            n = n[n["generation"] < decayed.min()]
    n = n[(n["status"] == "ok") & n["fitness"].notna()]
    mean = n.groupby("generation")["fitness"].mean()
    return pd.Series(mean.to_numpy(), index=mean.index.to_numpy() + 1, name=setup_name(run))


def trainings_within(run: RunLogs, budget: float) -> float:
    """Generations (so trainings per network) whose cumulative training compute fits ``budget``.

    Args:
        run: a run with ``train_macs`` in its generation log (multiply-accumulates per generation).
        budget: training multiply-accumulates.

    Returns:
        the count, extrapolated from the run's mean cost per generation past its last generation;
        NaN without a compute log.
    """
    g = run.generations
    if "train_macs" not in g.columns or not g["train_macs"].notna().any():
        return float("nan")
    cost = g["train_macs"].fillna(0.0).to_numpy()
    if not cost.sum() > 0:  # nothing logged as spent: no rate to extrapolate
        return float("nan")
    within = int((np.cumsum(cost) <= budget * (1 + 1e-9)).sum())
    if within < len(cost):
        return float(within)
    return within + (budget - float(cost.sum())) / float(cost.mean())


def reference_budget(runs: Sequence[RunLogs]) -> float:
    """The compute budget the reference set-up defines: its ``run.train_macs`` when set (a run that
    stops at a budget), else the mean training compute its runs logged (a baseline's 100
    generations, as ``make_results.py`` takes it: ``results_page/equal_compute.py``,
    ``baseline_choice``; 0 without a compute log); NaN for no run."""
    if not runs:
        return float("nan")
    set_budgets = [r.config.run.train_macs for r in runs if r.config.run.train_macs]
    if set_budgets:
        return float(np.mean(set_budgets))
    return float(np.mean([r.generations["train_macs"].fillna(0.0).sum() for r in runs]))


def table(runs: Sequence[RunLogs], reference: str, ages: Sequence[int], budget: float) -> str:
    """The pilot's markdown table: one row per fixed set-up, one column per age (see the module doc).

    Raises:
        ValueError: no run of the ``reference`` set-up among ``runs``.
    """
    by_name: dict[str, list[RunLogs]] = {}
    for run in runs:
        by_name.setdefault(setup_name(run), []).append(run)
    if reference not in by_name:
        raise ValueError(f"--reference: no fixed baseline named {reference!r} (found: {', '.join(sorted(by_name))})")
    curves = {name: [curve(r) for r in rs] for name, rs in by_name.items()}
    ref = curves[reference]
    lines = [
        "| set-up | MACs per image | runs | trainings within the budget | "
        + " | ".join(f"age {a}" for a in ages)
        + " |",
        "|---|---|---|---|" + "---|" * len(ages),
    ]
    for name in sorted(by_name, key=lambda k: (k != reference, k)):
        rs, cs = by_name[name], curves[name]
        logged = rs[0].networks["macs"].dropna() if "macs" in rs[0].networks.columns else pd.Series(dtype=float)
        macs = f"{int(logged.iloc[0]):,}" if len(logged) else "n/a"
        cells = []
        for a in ages:
            vals = [100 * float(c[a]) for c in cs if a in c.index]
            ref_vals = [100 * float(c[a]) for c in ref if a in c.index]
            if not vals:
                cells.append("—")
                continue
            cell = f"{np.mean(vals):.2f}" + (f" ± {np.std(vals, ddof=1):.2f}" if len(vals) > 1 else "")
            if name != reference and ref_vals:
                d = welch_difference(vals, ref_vals)
                cell += f" (Δ {d.mean:+.2f}" + (f", {d.low:+.2f} to {d.high:+.2f})" if d.has_interval else ")")
            cells.append(cell)
        within = np.nanmean([trainings_within(r, budget) for r in rs])
        trainings = f"{within:.0f}" if np.isfinite(within) else "n/a (no compute log)"
        lines.append(f"| {name} | {macs} | {len(rs)} | {trainings} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and print the table (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path, help="run folders, packs, or folders that hold them")
    ap.add_argument("--dataset", required=True, help="data.dataset of the runs to read, e.g. fashion-mnist")
    ap.add_argument("--reference", required=True, help="the set-up (folder name) the differences are taken from")
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="training multiply-accumulates (default: the reference's, run.train_macs or its logged total)",
    )
    ap.add_argument("--ages", type=int, nargs="+", default=list(AGES), help="trainings per network to read")
    args = ap.parse_args(argv)
    if any(a < 1 for a in args.ages):
        ap.error(f"--ages: every value must be >= 1, got {' '.join(map(str, args.ages))}")
    if args.budget is not None and not (np.isfinite(args.budget) and args.budget > 0):
        ap.error(f"--budget: must be a finite number > 0, got {args.budget:g}")
    for p in args.paths:
        if not p.exists():
            ap.error(f"{str(p)!r} does not exist")
    dirs = [d for p in args.paths for d in find_run_dirs(p)]
    if not dirs:
        ap.error("no run directory or pack found in " + ", ".join(repr(str(p)) for p in args.paths))
    with warnings.catch_warnings(record=True) as caught:  # one line each, as ecosim prints them
        warnings.simplefilter("always")
        loaded = load_runs(dirs)
    for w in caught:
        print(f"pilot_horizon: warning: {w.message}", file=sys.stderr)
    runs = [r for r in loaded if r.config.data.dataset == args.dataset and is_fixed_baseline(r)]
    if not runs:
        ap.error(f"no fixed-baseline runs of {args.dataset!r} under {', '.join(map(str, args.paths))}")
    try:
        budget = args.budget or reference_budget([r for r in runs if setup_name(r) == args.reference])
        if not budget > 0:
            ap.error(f"--budget: the reference {args.reference!r} logged no training compute; give --budget")
        print(table(runs, args.reference, args.ages, budget))
    except ValueError as e:
        ap.error(str(e))


if __name__ == "__main__":
    main()
