"""Pilot of a selection rule (issue 17, session 34; ``docs/design.md``, "Selecting on a network's last trainings").

Does selecting a network on the mean of its last ``k`` validation scores, instead of its single best
one, pick networks that score better on test? Reads each run (or pack) at a compute budget
(:func:`ecosim.report.compare.at_compute`), then, over every network evaluation up to that
generation, picks the evaluation whose network's rolling mean fitness over its last ``k``
evaluations is highest and prints that evaluation's test accuracy (%) beside the page's rule
(``k`` = 1: the single highest fitness):

    python experiments/pilot_selection.py runs/compare experiments/archive/compare --budget 1.2e13 --k 1 3 5 10

Only runs with a validation split (``data.validation_fraction`` > 0) are read. Nothing trains.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecosim.report.compare import at_compute
from ecosim.report.runs import find_run_dirs, load_runs


def select_on_last(networks: pd.DataFrame, last_generation: int, k: int) -> float:
    """Test accuracy (fraction) of the evaluation with the highest mean fitness over its network's last ``k``.

    Args:
        networks: a run's networks log (``network_id``, ``generation``, ``fitness``,
            ``test_accuracy``, ``status``).
        last_generation: evaluations after it are not seen (the budget's generation).
        k: evaluations averaged (≥ 1); a network with fewer is not a candidate.

    Returns:
        the test accuracy of the selected evaluation (first maximum: lowest network id, then
        generation), or NaN when no network has ``k`` evaluations.

    Raises:
        ValueError: ``k`` < 1.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = networks[
        (networks["generation"] <= last_generation) & (networks["status"] == "ok") & networks["fitness"].notna()
    ]
    n = n.sort_values(["network_id", "generation"])
    mean = n.groupby("network_id")["fitness"].transform(lambda s: s.rolling(k, min_periods=k).mean())
    n = n.assign(mean=mean)[mean.notna()]
    if n.empty:
        return float("nan")
    return float(n.iloc[int(np.argmax(n["mean"].to_numpy()))]["test_accuracy"])


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments, print one line per run: its set-up, seed, generation and each rule's pick."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Only runs with a validation split (data.validation_fraction > 0) are read. A cell is nan when "
        "no network had k evaluations by the budget's generation.",
    )
    ap.add_argument("paths", nargs="+", help="run directories, packs, or folders holding them")
    ap.add_argument("--budget", type=float, default=1.2e13, help="training multiply-accumulates (1.2e13)")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 3, 5, 10], help="evaluations averaged (1 3 5 10)")
    ap.add_argument("--dataset", default="", help="only runs of this dataset (default: all)")
    args = ap.parse_args(argv)
    if not (math.isfinite(args.budget) and args.budget > 0):
        ap.error(f"--budget: must be a finite number > 0, got {args.budget:g}")
    if any(k < 1 for k in args.k):
        ap.error(f"--k: every value must be >= 1, got {' '.join(map(str, args.k))}")
    for p in args.paths:
        if not Path(p).exists():
            ap.error(f"{p!r} does not exist")
    if not any(find_run_dirs(p) for p in args.paths):
        ap.error("no run directory or pack found in " + ", ".join(map(repr, args.paths)))
    runs = load_runs(args.paths)  # a run given twice, or beside its pack, counts once
    shown = over = 0
    for r in runs:
        d = r.run_dir.resolve()
        if not r.config.data.validation_fraction or (args.dataset and r.config.data.dataset != args.dataset):
            continue
        at = at_compute(r, args.budget)
        if at is None:
            print(
                f"pilot_selection: warning: {d.parent.name}/{d.name}: its first generation alone spends more "
                f"than --budget {args.budget:g}; left out",
                file=sys.stderr,
            )
            over += 1
            continue
        if not shown:
            print("run | generation | " + " | ".join(f"k={k}" for k in args.k))
        picks = " | ".join(f"{100 * select_on_last(r.networks, at.generation, k):.2f}" for k in args.k)
        print(f"{d.parent.name}/{d.name} | {at.generation} | {picks}")
        shown += 1
    if over and not shown:
        raise SystemExit(
            f"pilot_selection: every run's first generation alone spends more than --budget {args.budget:g}"
        )
    if not shown:
        raise SystemExit(
            "pilot_selection: "
            + ("the run has no" if len(runs) == 1 else f"none of the {len(runs)} runs has a")
            + " validation split (data.validation_fraction > 0)"
            + (f" and dataset {args.dataset!r}" if args.dataset else "")
        )


if __name__ == "__main__":
    main()
