"""Write ``docs/results.md`` from finished runs: ecosim's Table I next to the paper's, the fixed
baselines next to evolution, what evolved (layers, conv share, kernel shapes) and the targets.

Every ecosim number comes from the runs' Arrow logs through :mod:`ecosim.report`; the only
numbers typed in are the paper's Table I (``PAPER`` in ``results_page/sections.py``, copied from
the paper) and the targets of the CNN issue (``TARGETS`` in ``results_page/claims.py``).

    python experiments/make_results.py runs/results --out docs/results.md --plots docs/results \\
        --command "python experiments/run_experiments.py ..."

Runs with ``ecosystem.offspring = 0`` are fixed-architecture baselines
(``experiments/baselines/``); every other run is an evolution run.

This file is the command line (:func:`main`, :func:`write_page`); the page is made by the package
``results_page/`` beside it:

- ``setups.py``: what a run is (baseline or evolution, its variant and short name, its group, finished or not);
- ``analysis.py``: per-run log analysis (mutation and compute fate, champions, kernel shapes, runs cut to a budget);
- ``equal_compute.py``: the equal-compute comparison (budget, readings, Welch intervals, fractions of the budget);
- ``earlier.py``: the rows and verdicts of earlier pages (``--earlier``);
- ``claims.py``: the paper's speciation claim and the CNN issue's targets;
- ``sections.py``: the page's other sections (Budget, Table I, ..., Kernel shapes, Figures);
- ``folders.py``: where ``--plots`` and ``--out`` may be written;
- ``wording.py``: how the page words a number.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from ecosim.errors import EcosimError, one_line
from ecosim.report import load_runs, write_report
from ecosim.report.runs import RunLogs

# results_page/ lies beside this file: on the path when it runs as a script, not when loaded by path (tests)
if (_here := str(Path(__file__).resolve().parent)) not in sys.path:
    sys.path.insert(0, _here)

# the page, module by module; the names the tests reach as make_results.NAME come through here too (F401)
from results_page.analysis import (  # noqa: F401
    NO_CHAMPION,
    _layers_cell,
    at_budgets,
    champion_changes,
    compute_fate,
    final_champion,
    final_champions,
    mutation_fate,
    trained_per_generation,
)
from results_page.claims import speciation_claim, targets_section
from results_page.earlier import EarlierRun, earlier_page, earlier_verdicts, read_earlier  # noqa: F401
from results_page.equal_compute import (  # noqa: F401
    NO_READING,
    cost_and_generations,
    dataset_budgets,
    ended_note,
    equal_compute,
    interval_text,
    smaller_budget_deltas,
    target_text,
)
from results_page.folders import PLOTS_MANIFEST, clear_plots, out_conflict, plots_conflict, write_plots_manifest
from results_page.sections import (
    budget_section,
    figures_section,
    fixed_section,
    kernel_shapes_section,
    search_effort_section,
    table_one_section,
    what_evolved_section,
    why_section,
)
from results_page.setups import (  # noqa: F401
    finished,
    fitness_source,
    is_baseline,
    label,
    offspring_counts,
    run_label,
    setups,
    variant,
    what,
)
from results_page.wording import _points  # noqa: F401

#: Budgets (generations) reported: the earlier results' 20 and the paper's 100.
BUDGETS = (20, 100)


_WARNED: set[str] = set()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for a script: ``make_results: warning: <text>`` on stderr, one line,
    each text once (the page draws a report per group of runs, and each would warn again)."""
    text = " ".join(str(message).split())
    if text not in _WARNED:
        _WARNED.add(text)
        print(f"make_results: warning: {text}", file=sys.stderr)


def main() -> None:
    """The command line (``--help``); ecosim's warnings (a replicate, a run left out) as one line each, only
    while it runs (a caller's ``warnings.showwarning`` is restored after)."""
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        _WARNED.clear()
        _make_page()


def _make_page() -> None:
    p = argparse.ArgumentParser(
        description="Write a results page (Markdown) from finished runs: Table I next to the paper's, "
        "fixed baselines next to evolution, what evolved and the CNN issue's targets. Runs are reported "
        f"at {' and '.join(map(str, BUDGETS))} generations where they reached them.",
    )
    p.add_argument("runs", nargs="+", help="run directories or folders of runs")
    p.add_argument("--out", required=True, help="the Markdown file to write, e.g. docs/results.md")
    p.add_argument(
        "--plots",
        required=True,
        help="folder for the figures, e.g. docs/results (new or empty, or one an earlier make_results wrote: "
        f"the files on its {PLOTS_MANIFEST} are replaced, any other file stays)",
    )
    p.add_argument("--command", action="append", default=[], help="command line that produced the runs")
    p.add_argument(
        "--machine",
        default="",
        help="what computed the runs whose logs do not record it (ecosim before 0.9.11), in words, "
        "e.g. '1 node, 2 CPUs, no GPU'; runs from 0.9.11 on record their own (sessions log)",
    )
    p.add_argument(
        "--include-unfinished",
        action="store_true",
        help="also report runs still in progress (by default they are left out and listed)",
    )
    p.add_argument(
        "--earlier",
        nargs="+",
        default=[],
        metavar="CSV",
        help="compute.csv files of an earlier results page: their runs join the equal-compute table where "
        "their logs are gone (a run given with logs is read from its logs); it takes every path after it, "
        "so give the runs first",
    )
    args = p.parse_args()

    for given in args.runs:
        if not Path(given).exists():
            raise SystemExit(f"make_results: run directory or folder of runs {given!r} does not exist")
    t0 = time.monotonic()
    try:
        runs = load_runs(args.runs)
    except EcosimError as exc:
        raise SystemExit(f"make_results: {one_line(exc, 300)}") from None
    plots = Path(args.plots)
    refuse = plots_conflict(plots, [r.run_dir for r in runs], [Path(e) for e in args.earlier], Path(args.out))
    if refuse:
        raise SystemExit(
            f"make_results: --plots {str(plots)!r} {refuse}; "
            "give a new or empty folder, or one an earlier make_results wrote"
        )
    refuse = out_conflict(Path(args.out), [r.run_dir for r in runs], [Path(e) for e in args.earlier])
    if refuse:
        raise SystemExit(f"make_results: --out {args.out!r} {refuse}; give a Markdown page outside the runs")
    unfinished = []
    if not args.include_unfinished:
        macs_budgets = dataset_budgets([r for r in runs if is_baseline(r) and finished(r)])
        unfinished = [r for r in runs if not finished(r, macs_budgets.get(r.config.data.dataset, 0.0))]
    runs = [r for r in runs if all(r is not u for u in unfinished)]
    evo = [r for r in runs if not is_baseline(r)]
    base = [r for r in runs if is_baseline(r)]
    have = {run_label(r) for r in runs}  # finished runs with logs replace their rows; unfinished ones do not
    earlier = read_earlier(args.earlier)
    replaced = [e.label for e in earlier if e.label in have]
    earlier = [e for e in earlier if e.label not in have]
    if replaced:
        progress(f"{len(replaced)} earlier rows replaced by the logs of the same run folder: {', '.join(replaced)}")
    if not evo:
        raise SystemExit("make_results: no evolution run among the given runs")
    progress(
        f"read {len(runs) + len(unfinished)} runs in {time.monotonic() - t0:.0f} s"
        + (f" ({len(unfinished)} left out, still in progress)" if unfinished else "")
        + "; drawing the figures, then the comparisons (a few minutes)"
    )
    out = Path(args.out)
    kept = clear_plots(plots) if plots.exists() else set()
    try:
        write_page(args, runs, unfinished, evo, base, earlier, plots, out)
    finally:  # what was written so far, also after an error: the next run may replace it
        if plots.is_dir():
            write_plots_manifest(plots, kept)
    progress(f"done in {time.monotonic() - t0:.0f} s")
    print(out)


def write_page(
    args: argparse.Namespace,
    runs: list[RunLogs],
    unfinished: list[RunLogs],
    evo: list[RunLogs],
    base: list[RunLogs],
    earlier: list[EarlierRun],
    plots: Path,
    out: Path,
) -> None:
    """The figures into ``plots`` and the page into ``out`` (:func:`main`, once every input is checked)."""
    written = write_report([r for r in evo if not variant(r)] or evo, plots)
    if any(variant(r) for r in evo) and any(not variant(r) for r in evo):
        written.update(write_report([r for r in evo if variant(r)], plots / "variants"))
    if base:
        written.update(write_report(base, plots / "baselines"))
    rel = Path(plots.name) if out.parent.resolve() == plots.parent.resolve() else plots

    # the budgets some run reached; shorter runs alone are reported at the shortest one's length
    budgets = [n for n in BUDGETS if any(r.last_generation + 1 >= n for r in evo)]
    budgets = budgets or [min(r.last_generation + 1 for r in evo)]
    lines = budget_section(evo, base, runs, unfinished, earlier, args.earlier, args.command, budgets, args.machine)
    lines += table_one_section(evo, budgets)
    base_at = at_budgets(base, budgets)
    lines += fixed_section(at_budgets(evo, budgets), base_at, budgets)
    lines += equal_compute(evo, base, plots, rel, earlier=earlier)
    lines += speciation_claim(evo, [q for q in map(earlier_page, args.earlier) if q is not None])
    lines += targets_section(evo, base_at)
    lines += why_section(evo, base)
    lines += what_evolved_section(evo)
    lines += search_effort_section(evo)
    lines += kernel_shapes_section(evo)
    lines += figures_section(written, plots, rel)
    out.parent.mkdir(parents=True, exist_ok=True)  # checked before any work (out_conflict)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def progress(message: str) -> None:
    """One progress line on stderr (the page's path alone goes to stdout)."""
    print(f"make_results: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
