"""The equal-compute comparison (issue 17): the budget (the best fixed baseline's compute), every run
read within it, Welch intervals on the differences, the same at fractions of the budget, and
accuracy at equal generations against the cost of a generation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ecosim.report.compare import AtCompute, at_compute, compute_curve, runs_needed, welch_difference
from ecosim.report.runs import RunLogs

from .analysis import _layers_cell, conv_depth, final_champions, mutation_fate, trained_per_generation, truncated
from .earlier import EarlierRun
from .setups import is_baseline, plain_baseline, same_schedule, what
from .wording import _points, _runs, _why_none


def has_compute(r: RunLogs) -> bool:
    """Whether the run logged compute (ecosim ≥ 0.3): needed for the equal-compute comparison."""
    return "train_macs" in r.generations and r.generations["train_macs"].notna().any()


def dataset_budgets(base: list[RunLogs], horizon: int = 100) -> dict[str, float]:
    """``{dataset: equal-compute budget}`` (:func:`baseline_choice`) from the baselines with compute logs."""
    out = {}
    for ds in sorted({r.config.data.dataset for r in base}):
        groups: dict[str, list[RunLogs]] = {}
        for r in base:
            if r.config.data.dataset == ds and has_compute(r):
                groups.setdefault(what(r), []).append(r)
        if any(plain_baseline(k) for k in groups):
            out[ds] = baseline_choice(groups, {}, horizon)[1]
    return out


def baseline_choice(
    groups: dict[str, list[RunLogs]], earlier: dict[str, list[EarlierRun]], horizon: int = 100
) -> tuple[str, float, int]:
    """``(name, budget, generations)``: the baseline group with the highest mean selected test
    accuracy at generation ``horizon`` (or its last) and its mean cumulative training compute there
    (the equal-compute budget), over baseline groups whose runs have logs, earlier rows
    (:class:`EarlierRun`, read at their end: a baseline's end is its generation ``horizon``) or
    both; ``generations`` is the horizon the budget was read at (shorter when no run of the best
    baseline reached it)."""
    names = sorted(k for k in set(groups) | set(earlier) if plain_baseline(k))

    def readings(k: str) -> list[tuple[float, float, int]]:  # (selected, train_macs, generations)
        out = []
        for r in groups.get(k, []):
            last = compute_curve(truncated(r, horizon)).iloc[-1]
            out.append((float(last["selected_test_accuracy"]), float(last["train_macs"]), int(last["generation"]) + 1))
        out += [(e.selected_test_accuracy, e.train_macs, e.generation + 1) for e in earlier.get(k, [])]
        return out

    best = max(names, key=lambda k: float(np.mean([x[0] for x in readings(k)])))
    got = readings(best)
    full = [x for x in got if x[2] >= horizon] or got
    return best, float(np.mean([x[1] for x in full])), min(horizon, min(x[2] for x in full))


#: an earlier row (:class:`EarlierRun`) whose compute passes the budget by more than this factor is left
#: out: a run stopped by the same budget passes it by one generation's compute at most (about 1%)
EARLIER_OVER = 1.02


def equal_compute(
    evo: list[RunLogs],
    base: list[RunLogs],
    plots: Path,
    rel: Path,
    horizon: int = 100,
    earlier: Sequence[EarlierRun] = (),
) -> list[str]:
    """The issue-17 comparison: validation-selected test accuracy at the best baseline's compute.

    Per dataset, the budget is the mean cumulative training compute of the best fixed baseline
    (highest mean selected test accuracy) at generation ``horizon`` (or its last); every run is
    read at the last generation within it (:func:`ecosim.report.compare.at_compute`). Each
    evolution set-up is compared with the best baseline by a Welch 95% interval on the
    difference of means over seeds. One figure per dataset: accuracy against compute.
    ``earlier``: runs of an earlier page whose logs are gone (:func:`read_earlier`); they join the
    main table and the targets, read at their end, and nothing that needs their logs.
    """
    from ecosim.report.compare import (
        compute_figure,
    )

    lines = [
        "",
        "## Evolution against the fixed baselines at equal compute",
        "",
        "Each run's network is **selected on the validation split** (`data.validation_fraction`; its",
        "fitness) and reported by its **test** accuracy, at the last generation whose cumulative training",
        "compute (3 × forward multiply-accumulates × training images, from the logs) is within the budget:",
        f"the best fixed baseline's mean training compute over its first {horizon} generations. A run that",
        "stopped short of the budget is read at its end (share < 100%: less compute, never more). Mean ±",
        "sample sd over seeds; Δ is the difference to the budget's baseline with Welch's 95% interval",
        "(unequal variances). Not a percentile bootstrap: with 3–5 runs a side it is far too narrow",
        "(with no true difference it leaves out 0 in about 20% of cases at 3 runs a side, 12% at 5;",
        "Welch's interval in about 4%). The last column is the optimistic statistic this replaces:",
        "the best test accuracy of any network the run ever scored. Where a set-up misses the target",
        "with Δ above 0, its line below says how many runs a side would put the interval above 0 in",
        "4 sweeps of 5 were that Δ and those spreads the true ones (80% power; an order of magnitude:",
        "with 2–5 runs a side the spreads are themselves uncertain). The target is judged against the",
        "strongest fixed baseline at the budget (the highest mean among baselines of ≥ 2 runs, whatever",
        "their training schedule), which need not be the one whose compute sets the budget.",
        "",
    ]
    if earlier:
        lines += [
            f"{_runs(len(earlier))} (marked †) come from an earlier page's per-run rows (`--earlier`): their logs are",
            "gone, so they are read at their own end (a run stopped by the same `--train-macs` budget ends one",
            "generation past it at most: share up to 102%; a row further past is left out), and only this",
            "table and the targets use them. A row joins the set-up of its name: it is taken to share the",
            "protocol of the runs beside it (give `--earlier` only with runs of the same sweep).",
            "",
        ]
    datasets = sorted({r.config.data.dataset for r in evo + base} | {e.dataset for e in earlier})
    for ds in datasets:
        e_runs = [r for r in evo if r.config.data.dataset == ds and has_compute(r)]
        b_runs = [r for r in base if r.config.data.dataset == ds and has_compute(r)]
        old: dict[str, list[EarlierRun]] = {}
        for e in earlier:
            if e.dataset == ds:
                old.setdefault(e.group, []).append(e)
        has_base = any(plain_baseline(what(r)) for r in b_runs) or any(plain_baseline(k) for k in old)
        has_evo = bool(e_runs) or any(not k.startswith("baseline") for k in old)
        if not has_base or not has_evo:
            scheduled = any(is_baseline(r) for r in b_runs)  # only baselines with a schedule
            lacking = "evolution run" if has_base else "baseline run"
            given = any(r.config.data.dataset == ds for r in (evo if has_base else base))
            if not has_base and scheduled:
                missing = "no baseline trained as the paper (a baseline with a schedule never sets the budget)"
            elif given:
                missing = f"no {lacking} with compute logs (ecosim ≥ 0.3)"
            elif has_base:
                missing = "no evolution run given"
            else:
                missing = "no baseline run given (a fixed architecture: experiments/baselines/)"
            lines.append(f"- {ds}: {missing}; not compared.")
            continue
        groups: dict[str, list[RunLogs]] = {}
        for r in e_runs + b_runs:
            groups.setdefault(what(r), []).append(r)

        def readings(name: str, budget: float, groups=groups, old=old) -> list:
            return logged_readings(groups, name, budget) + [e.at(budget) for e in old.get(name, [])]

        # a set-up with ≥ 2 runs with logs is read from them alone: rows of an earlier sweep come from other
        # code and another machine, a shift the size of the differences compared (docs/design.md, session 40)
        mixed = [e for k in sorted(old) if len(groups.get(k, [])) >= 2 for e in old.pop(k)]  # in place: readings()
        best_base, budget, used = baseline_choice(groups, old, horizon)
        over = [e for k in sorted(old) for e in old[k] if e.train_macs > EARLIER_OVER * budget]
        for k in list(old):
            old[k] = [e for e in old[k] if e.train_macs <= EARLIER_OVER * budget]
            if not old[k]:
                del old[k]
        names = sorted(set(groups) | set(old), key=lambda k: (k.startswith("baseline"), k))
        ref = [a.selected_test_accuracy for a in readings(best_base, budget)]
        # the first target's bar: the strongest fixed baseline at the budget (≥ 2 runs, any schedule)
        bars = {k: [a.selected_test_accuracy for a in readings(k, budget)] for k in names if k.startswith("baseline")}
        bars = {k: v for k, v in bars.items() if len(v) >= 2 or k == best_base}
        strongest = max(bars, key=lambda k: float(np.mean(bars[k])))
        lines += [
            f"### {ds}: budget {budget:.3g} training multiply-accumulates ({best_base}, {used} generations)",
            "",
            "| set-up | runs | generation reached | share of budget | selected test accuracy | Δ vs the budget's "
            "baseline (95% interval) | best test of any network |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in names:
            at = readings(name, budget)
            if not at:
                lines.append(f"| {name} | 0 | {NO_READING} | | | | |")
                continue
            sel = [a.selected_test_accuracy for a in at]
            spread = f" ± {100 * float(np.std(sel, ddof=1)):.2f}" if len(sel) > 1 else " (1 run)"
            delta = "(reference)" if name == best_base else interval_text(sel, ref)
            count = f"{len(at)}" + (f" ({len(old[name])}†)" if name in old else "")
            lines.append(
                f"| {name} | {count} | {np.mean([a.generation for a in at]) + 1:.0f} | "
                f"{np.mean([a.share for a in at]):.0%} | "
                f"{100 * np.mean(sel):.2f}%{spread} | {delta} | "
                f"{100 * np.mean([a.best_test_accuracy for a in at]):.2f}% |"
            )
        if old:
            lines += [
                "",
                "† runs read from an earlier page's rows: "
                + ", ".join(f"`{e.label}`" for k in names for e in old.get(k, []))
                + ".",
            ]
        if mixed:
            lines += [
                "",
                "Left out: earlier rows of set-ups that have ≥ 2 runs with logs (read from those alone): "
                + ", ".join(f"`{e.label}`" for e in mixed)
                + ".",
            ]
        if over:
            lines += [
                "",
                "Left out: earlier rows of runs that went past the budget (their reading at the budget went with "
                "their logs): " + ", ".join(f"`{e.label}` ({e.train_macs / budget:.0%})" for e in over) + ".",
            ]
        fractions = EARLY_FRACTIONS  # the columns of the Δ table below
        logged = [k for k in names if k not in old]  # an earlier row is known at its end only
        if logged:
            lines += [
                "",
                "The same reading at smaller budgets (fractions of the budget above; mean over seeds"
                + ("; set-ups with runs from an earlier page's rows are left out" if old else "")
                + "):",
                "",
                "| set-up | " + " | ".join(f"{f:g} budget" for f in fractions) + " |",
                "|---|" + "---|" * len(fractions),
            ]
        for name in logged:
            n = len(groups.get(name, []))
            cells = [
                mean_cell([a.selected_test_accuracy for a in readings(name, f * budget)], n)
                + ended_note(groups.get(name, []), f * budget, budget)
                for f in fractions
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += smaller_budget_deltas(names, partial(logged_readings, groups), budget)
        if best_base in groups and best_base not in old:
            lines += cost_and_generations(groups, best_base, budget)
        if groups:
            fig = compute_figure(
                {k: groups[k] for k in sorted(groups)}, f"{ds}: selected test accuracy against compute", budget
            )
            path = plots / f"equal-compute-{ds}.png"  # beside the report's compute-{ds}.png, not over it
            plots.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
            shown = "" if not old else " (runs with logs only)"
            lines += ["", f"![{ds}: accuracy against compute{shown}]({rel / path.name})", ""]
        depth = []
        for name in [k for k in names if not k.startswith("baseline")]:
            rs = groups.get(name, [])
            finals, championless = final_champions(rs, old.get(name, []))
            fate = pd.concat([mutation_fate(r) for r in rs]) if rs else pd.DataFrame({"mutation": [], "before": []})
            grow = fate[fate["mutation"] == "add_layer"]
            cost = (
                f"{100 * grow['before'].mean():+.1f} points before BP ({len(grow)} offspring)"
                if len(grow)
                else ("no add_layer offspring" if rs else "n/a (no logs)")
            )
            sel = [a.selected_test_accuracy for a in readings(name, budget)]
            target = target_text(sel, ref)
            controls = same_schedule(rs, groups)
            if strongest != best_base:
                also = ", the same schedule after the settle point" if strongest in controls else ""
                target = (
                    f"against {strongest} (the strongest fixed baseline at this budget{also}): "
                    f"{target_text(sel, bars[strongest])}; "
                    f"against {best_base} (the budget's): Δ {interval_text(sel, ref)}"
                )
            for control in [k for k in controls if k != strongest]:
                other = [a.selected_test_accuracy for a in readings(control, budget)]
                same = interval_text(sel, other)
                early = [r for r in groups[control] if r.config.ecosystem.settle * r.config.run.train_macs > budget]
                note = " (read before its settle point: the budget ends first)" if early else ""
                target += f"; against {control}{note or ' (the same schedule after the settle point)'}: Δ {same}"
            deep = sum(conv_depth(f) >= 2 for f in finals)
            held = (
                f"{deep} of {len(finals)} final champions hold ≥ 2 conv layers (target ≥ 50%: "
                f"{'met' if 2 * deep >= len(finals) else 'missed'})"
                if finals
                else "no final champion (every network diverged or failed)"
                if championless
                else "final champions not known (no logs, no champions.csv beside the rows)"
            ) + (
                f" ({championless} run{'s' * (championless != 1)} without a champion left out)" if championless else ""
            )
            depth.append(
                f"- {name}: above the strongest fixed baseline at equal compute with a 95% interval above 0: {target}. "
                f"{held}; a new layer costs its parent {cost}"
                + (f"; final champions {', '.join(_layers_cell(f) for f in finals)}." if finals else ".")
            )
        lines += depth + [""]
    return lines


def logged_readings(groups: Mapping[str, Sequence[RunLogs]], name: str, budget: float) -> list[AtCompute]:
    """Each run of set-up ``name`` that has logs, read at ``budget`` MACs (an earlier row is known at its end
    only); a run whose first generation alone spent more than ``budget`` has no reading there and is left out."""
    return [a for r in groups.get(name, []) if (a := at_compute(r, budget)) is not None]


def ended_note(runs: Sequence[RunLogs], at: float, budget: float) -> str:
    """What a cell read at ``at`` MACs says of runs that ended before spending 90% of it (each is read
    at its end, with less compute): ``" (ended at 3% of the budget)"`` when all did (their largest
    share of ``budget``), ``" (1 of 3 runs ended before)"`` when some did, else ``""``."""
    spent = [float(compute_curve(r)["train_macs"].iloc[-1]) for r in runs if has_compute(r)]
    short = [x for x in spent if x < 0.9 * at]
    if not short:
        return ""
    if len(short) == len(spent):
        share = max(short) / budget
        return f" (ended at {share:.0%} of the budget)" if share >= 0.005 else " (ended below 1% of the budget)"
    return f" ({len(short)} of {len(spent)} runs ended before)"


#: a cell with no run read there: every run's first generation alone spent more than that budget
NO_READING = "n/a (first generation over this budget)"


def mean_cell(values: Sequence[float], runs: int = 0) -> str:
    """``"97.12%"``: the mean of accuracies in percent, ``"97.12% (2 of 3 runs)"`` where fewer than
    ``runs`` runs have a reading, or :data:`NO_READING` without a value."""
    if not len(values):
        return NO_READING
    part = f" ({len(values)} of {runs} runs)" if 0 < len(values) < runs else ""
    return f"{100 * float(np.mean(values)):.2f}%{part}"


def interval_text(sel: Sequence[float], ref: Sequence[float]) -> str:
    """The Δ column of the equal-compute table: ``mean(sel) − mean(ref)`` in points, its Welch
    95% interval (:func:`~ecosim.report.compare.welch_difference`) and a verdict.

    >>> interval_text([0.9870, 0.9869, 0.9860], [0.9865, 0.9867, 0.9841])
    '+0.09 (-0.23, +0.40): includes 0'
    """
    if not len(sel) or not len(ref):
        return NO_READING
    d = welch_difference(sel, ref)
    if not d.has_interval:
        return f"{100 * d.mean:+.2f} (no interval: {_why_none(sel, ref)})"
    span = f"{100 * d.mean:+.2f} ({_points(100 * d.low)}, {_points(100 * d.high)})"
    return f"{span}: " + ("above 0" if d.above_zero else ("below 0" if d.below_zero else "includes 0"))


def target_text(sel: Sequence[float], ref: Sequence[float]) -> str:
    """Issue 17's first target for one set-up: ``met`` (the Welch 95% interval of Δ above 0),
    ``missed: …`` or ``not decidable yet (…)``. A miss with Δ above 0 says how many runs a side
    would put the interval above 0 in 4 sweeps of 5, were Δ and the spreads the true ones
    (:func:`~ecosim.report.compare.runs_needed`): whether more seeds could decide it.

    >>> for part in target_text([0.9870, 0.9869, 0.9860], [0.9865, 0.9867, 0.9841]).split("; "):
    ...     print(part)
    missed: Δ +0.09 points, interval (-0.23, +0.40)
    at this Δ and spread about 27 runs a side would put it above 0 (80% power)
    """
    if not len(sel) or not len(ref):
        return f"not decidable ({NO_READING})"
    d = welch_difference(sel, ref)
    if not d.has_interval:
        return f"not decidable yet ({_why_none(sel, ref)}; Δ {100 * d.mean:+.2f} points)"
    span = f"Δ {100 * d.mean:+.2f} points, interval ({_points(100 * d.low)}, {_points(100 * d.high)})"
    if d.above_zero:
        return "met"
    if d.mean <= 0:
        return f"missed: {span}"
    n = runs_needed(sel, ref)
    more = f"about {n} runs a side would" if n is not None else "no number of runs a side up to 10,000 would"
    return f"missed: {span}; at this Δ and spread {more} put it above 0 (80% power)"


#: Fractions of the budget at which :func:`smaller_budget_deltas` compares evolution with a baseline.
EARLY_FRACTIONS = (0.0625, 0.125, 0.25, 0.5, 1.0)


def smaller_budget_deltas(
    logged: Sequence[str], readings: Callable[[str, float], list[AtCompute]], budget: float
) -> list[str]:
    """Δ of each evolution set-up against the best fixed baseline *at each* fraction of the budget,
    with Welch's 95% interval (:func:`interval_text`): where on the compute axis evolution leads.

    At each fraction the reference is the baseline (of ≥ 2 runs with logs: an interval needs each
    run's curve) with the highest mean selected test accuracy there, so a small network that is
    best early is the reference early. Empty without such a baseline or an evolution set-up of ≥ 2 runs.

    Args:
        logged: the set-up names.
        readings: ``(name, budget) -> [AtCompute]`` for each run of the set-up that has logs.
        budget: the dataset's budget (MACs).
    """

    def scores(name: str, f: float) -> list[float]:
        return [a.selected_test_accuracy for a in readings(name, f * budget)]

    bases = [k for k in logged if k.startswith("baseline") and len(readings(k, budget)) >= 2]
    evolved = [k for k in logged if not k.startswith("baseline") and len(readings(k, budget)) >= 2]
    if not bases or not evolved:
        return []

    def best_at(f: float) -> str:
        return max(bases, key=lambda k: (float(np.mean(scores(k, f))) if scores(k, f) else -1.0, k))

    best = {f: best_at(f) for f in EARLY_FRACTIONS}
    lines = [
        "",
        "Δ against the best fixed baseline at each fraction of the budget (the highest mean there among "
        "baselines of ≥ 2 runs with logs; runs without logs are left out), in points, with Welch's 95% interval:",
        "",
        "| set-up | " + " | ".join(f"{f:g} budget" for f in EARLY_FRACTIONS) + " |",
        "|---|" + "---|" * len(EARLY_FRACTIONS),
        "| best baseline there | "
        + " | ".join(f"{best[f]} ({mean_cell(scores(best[f], f))})" for f in EARLY_FRACTIONS)
        + " |",
    ]
    for name in evolved:
        cells = [
            interval_text(scores(name, f), scores(best[f], f)) if scores(name, f) and scores(best[f], f) else NO_READING
            for f in EARLY_FRACTIONS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def cost_and_generations(groups: dict[str, list[RunLogs]], best_base: str, budget: float) -> list[str]:
    """Why a set-up is above or below the best baseline at equal compute: accuracy at the same
    generation (the same number of trainings of its lineage) against the cost of a generation.

    Per set-up at the budget: the generation reached, its selected test accuracy, the best
    baseline's at that same generation (mean over its seeds), the mean forward
    multiply-accumulates per image of the networks trained in that generation, and how many
    networks a generation trains on average (an evolution run trains its offspring beside the
    survivors: up to ``max_population``; a baseline its ``population``), and the mean age of the
    networks of that generation (generations since birth: the turnover of the population).
    """
    base_curves = [compute_curve(r).set_index("generation")["selected_test_accuracy"] for r in groups[best_base]]
    lines = [
        "",
        "Equal generations against equal compute: the selected network's test accuracy at the generation the",
        f"budget allows, the best baseline ({best_base}) at that same generation, what a network of",
        "that generation costs (mean forward multiply-accumulates per image) and how many networks a",
        "generation trains (mean over the generations up to the one reached; mean over seeds), with",
        "the mean age of that generation's networks in generations. A baseline value marked * is its",
        "last generation, where the set-up went further:",
        "",
        "| set-up | generation reached | selected test accuracy | best baseline, same generation | MACs per image "
        "| trained per generation | mean age |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(groups, key=lambda k: (k.startswith("baseline"), k)):
        read = [(r, a) for r in groups[name] if (a := at_compute(r, budget)) is not None]
        if not read:
            continue
        at = [a for _, a in read]
        same = [float(c.loc[min(a.generation, int(c.index.max()))]) for a in at for c in base_curves]
        beyond = any(a.generation > int(c.index.max()) for a in at for c in base_curves)
        macs, trained, age = [], [], []
        for r, a in read:
            n = r.networks
            reached = n.loc[(n["generation"] == a.generation) & (n["status"] == "ok")]
            macs.append(float(reached["macs"].mean()))
            age.append(float(reached["age"].mean()))
            trained.append(trained_per_generation(r, a.generation))
        lines.append(
            f"| {name} | {np.mean([a.generation for a in at]) + 1:.0f} | "
            f"{100 * np.mean([a.selected_test_accuracy for a in at]):.2f}% | {100 * np.mean(same):.2f}%"
            f"{'*' if beyond else ''} | "
            f"{np.nanmean(macs) / 1e6:.2f} M | {np.mean(trained):.1f} | {np.nanmean(age):.1f} |"
        )
    return lines
