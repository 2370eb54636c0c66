"""The claims the page checks: the paper's speciation claim (§V) and the CNN issue's targets
(:data:`TARGETS`, typed in from the issue)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecosim.report.compare import welch_difference
from ecosim.report.runs import RunLogs

from .analysis import generation_champions, truncated
from .earlier import earlier_verdicts
from .setups import label, plain_baseline, variant, what
from .wording import _pct, _points, _why_none


def speciation_claim(evo: list[RunLogs], earlier_pages: Sequence[Path] = ()) -> list[str]:
    """Whether the paper's claim holds: with speciation, average fitness and average offspring
    fitness before BP are higher at generation 100 than without (§V). Per dataset, the paper's
    set-up only, at the last generation both sides reached; Welch 95% intervals over seeds.
    ``earlier_pages``: pages of ``--earlier`` rows (:func:`earlier_page`), whose verdicts follow."""

    out = [
        "",
        "## The paper's speciation claim",
        "",
        '§V: "for all four datasets, the average overall fitness and the average offspring fitness',
        "before BP at epoch 100 are higher in the cases with speciation than in those without\". Paper's",
        "set-up (no variant), with minus without speciation, at the last generation both reached:",
        "",
    ]
    compared = False
    for ds in sorted({r.config.data.dataset for r in evo}):
        sides = {
            s: [r for r in evo if not variant(r) and r.config.data.dataset == ds and r.config.ecosystem.speciation == s]
            for s in (True, False)
        }
        if not sides[True] or not sides[False]:
            continue
        compared = True
        n = min(r.last_generation for r in sides[True] + sides[False]) + 1
        parts = []
        verdicts = []
        for col, name in (
            ("mean_fitness", "average fitness"),
            ("mean_offspring_fitness_before_bp", "offspring before BP"),
        ):
            a = [float(truncated(r, n).generations[col].iloc[-1]) for r in sides[True]]
            b = [float(truncated(r, n).generations[col].iloc[-1]) for r in sides[False]]
            d = welch_difference(a, b)
            if not d.has_interval:
                way = "as the paper" if d.mean > 0 else "reversed"
                verdicts.append(f"direction only, no interval ({_why_none(a, b)}): {way}")
            else:
                verdicts.append(
                    "reproduced" if d.above_zero else ("reversed" if d.below_zero else "not separable from noise")
                )
            bounds = f"{_points(100 * d.low)} to {_points(100 * d.high)}"
            interval = f"Welch 95% interval {bounds}; " if d.has_interval else ""
            parts.append(f"{name} {100 * d.mean:+.2f} points ({interval}{len(a)} vs {len(b)} runs): {verdicts[-1]}")
        out.append(f"- {ds}, {n} generations: " + "; ".join(parts) + ".")
    if not compared:
        out.append("- no dataset has runs of the paper's set-up both with and without speciation.")
    return out + earlier_verdicts(earlier_pages)


#: Targets of the CNN issue: dataset → [(generations, best fitness)] (fractions).
TARGETS = {"mnist": [(20, 0.978), (100, 0.988)], "fashion-mnist": [(100, 0.900)], "cifar10": [(100, 0.60)]}


#: From this generation on, every generation champion should hold a conv layer.
CONV_FROM = 10


def targets_section(evo: list[RunLogs], base_at: dict[int, list[RunLogs]]) -> list[str]:
    """The CNN issue's targets (:data:`TARGETS`): met or missed by how much, and the conv-champion count."""
    lines: list[str] = []
    lines += ["", "## Targets of the CNN issue", ""]
    for ds, targets in TARGETS.items():
        for n_gen, goal in targets:
            sel = [r for r in evo if r.config.data.dataset == ds and r.last_generation + 1 >= n_gen]
            if not sel:
                lines.append(f"- {ds}, {n_gen} generations, best ≥ {_pct(goal)}: not run at this budget.")
                continue

            def reached(r: RunLogs, n_gen: int = n_gen) -> float:
                return float(r.generations[r.generations["generation"] < n_gen]["best_fitness_so_far"].max())

            top_run = max(sel, key=reached)
            best = reached(top_run)
            verdict = "met" if best >= goal else f"missed by {100 * (goal - best):.2f} points"
            bases = [r for r in base_at.get(n_gen, []) if r.config.data.dataset == ds and plain_baseline(what(r))]
            top = max(bases, key=lambda r: float(r.generations["best_fitness_so_far"].max()), default=None)
            versus = (
                f"; best fixed baseline `{top.config.ecosystem.initial_layers}-F10` "
                f"{_pct(float(top.generations['best_fitness_so_far'].max()))}"
                if top is not None
                else ""
            )
            paper = [r for r in sel if not variant(r)]
            own = ""
            if variant(top_run) and paper:  # a variant reached the best: say where the paper's set-up stands
                p_best = max(reached(r) for r in paper)
                p_verdict = "met" if p_best >= goal else f"missed by {100 * (goal - p_best):.2f} points"
                runs = f"{len(paper)} run{'s' if len(paper) != 1 else ''}"
                own = f"; the paper's set-up alone: best {_pct(p_best)} over {runs}, {p_verdict}"
            lines.append(
                f"- {ds}, {n_gen} generations: best {_pct(best)} over {len(sel)} run{'s' if len(sel) != 1 else ''} "
                f"(by {label(top_run)}, "
                f"seed {top_run.config.run.seed}), target ≥ {_pct(goal)}: {verdict}{own}{versus}."
            )
    conv_ok = []
    for r in (r for r in evo if r.last_generation >= CONV_FROM):
        champs = generation_champions(r)
        late = champs[champs.index >= CONV_FROM]["layers"].dropna()
        conv_ok.append(bool(len(late)) and all("C" in str(s) for s in late))
    lines.append(
        f"- From generation {CONV_FROM} on, every generation champion has a conv layer: "
        + (f"{sum(conv_ok)} of {len(conv_ok)} evolution runs." if conv_ok else "no run reached that generation.")
    )
    return lines
