"""The page's other sections, in page order: Budget, Table I next to the paper's (:data:`PAPER`,
typed in from the paper), evolution against fixed architectures, what the logs show about why, what
evolved, where the search effort went, kernel shapes, and the figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecosim.report import format_cell, table_one
from ecosim.report.runs import RunLogs
from ecosim.store.logs import read_sessions

from .analysis import (
    CHAMP_SHARE,
    COMPUTE_GROUPS,
    FATES,
    NO_CHAMPION,
    _layers_cell,
    at_budgets,
    birth_layers,
    champion_changes,
    compute_fate,
    conv_layers,
    final_champion,
    generation_champions,
    kernel_analysis,
    mutation_fate,
    search_effort,
    truncated,
)
from .earlier import EarlierRun
from .setups import (
    fitness_source,
    label,
    modes_text,
    offspring_counts,
    plain_baseline,
    run_label,
    setups,
    variant,
    variant_name,
    what,
)
from .wording import _pct, _runs

#: The paper's Table I (10 runs, epoch 100): (highest, mean, std) in percent per metric.
PAPER = {
    "mnist-speciation": ((98.32, 98.13, 0.15), (97.14, 96.8, 0.4), (97.28, 95.6, 1.8)),
    "mnist-no-speciation": ((98.14, 97.98, 0.13), (95.31, 93.7, 1.1), (82.98, 72.5, 10.7)),
    "svhn-speciation": ((82.84, 79.86, 2.06), (76.9, 70.2, 7.5), (77.25, 66.5, 8.0)),
    "svhn-no-speciation": ((81.20, 80.22, 0.89), (70.62, 66.5, 3.1), (55.53, 44.4, 7.4)),
    "fashion-mnist-speciation": ((89.49, 88.54, 0.70), (87.89, 85.3, 1.4), (88.18, 82.0, 4.3)),
    "fashion-mnist-no-speciation": ((88.88, 88.44, 0.36), (85.53, 83.3, 1.1), (83.61, 64.9, 7.8)),
    "cifar10-speciation": ((55.52, 51.35, 3.44), (46.45, 43.9, 4.8), (45.94, 42.7, 5.1)),
    "cifar10-no-speciation": ((54.4, 52.44, 0.85), (43.87, 41.9, 1.1), (35.8, 32.4, 1.8)),
}


def _nanmean(values: Sequence[float]) -> float:
    """Mean over the values that are not NaN; NaN (no warning) when all are."""
    a = np.asarray(values, dtype=float)
    return float(np.nanmean(a)) if (~np.isnan(a)).any() else float("nan")


METRICS = ("highest_fitness", "mean_fitness", "mean_offspring_fitness_before_bp")


def _paper_cell(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.2f}% ({v[1]} ± {v[2]})"


def session_machine(row: Mapping[str, Any]) -> str:
    """One session of a run (a row of ``sessions/``) in words: ``"1 node, 2 CPUs (AMD EPYC), no GPU"``,
    ``"2 nodes, 32 CPUs (Intel Xeon), 2 GPUs (H100)"``; the CPU model is the driver's."""

    def number(key: str) -> float:
        v = row.get(key)
        return 0.0 if v is None or pd.isna(v) else float(v)

    nodes, cpus, gpus = int(number("nodes")), number("cluster_cpus"), number("cluster_gpus")
    cpu = f" ({row['cpu']})" if row.get("cpu") else ""
    gpu = "no GPU" if gpus == 0 else f"{gpus:g} GPU{'' if gpus == 1 else 's'}"
    gpu += f" ({row['gpu_types']})" if gpus and row.get("gpu_types") else ""
    return f"{nodes} node{'' if nodes == 1 else 's'}, {cpus:g} CPUs{cpu}, {gpu}"


def machines_text(runs: Sequence[RunLogs], given: str = "") -> str:
    """What computed the runs, from their sessions logs (ecosim ≥ 0.9.11): each distinct machine
    with its number of runs; runs that recorded none are counted apart, described by ``given``
    (``--machine``) when the caller knows."""
    seen: dict[str, int] = {}
    unrecorded = 0
    for r in runs:
        sessions = read_sessions(r.run_dir)
        if sessions.empty:
            unrecorded += 1
        for text in dict.fromkeys(session_machine(row) for row in sessions.to_dict("records")):
            seen[text] = seen.get(text, 0) + 1
    parts = [f"{text} ({_runs(n)})" for text, n in sorted(seen.items(), key=lambda kv: -kv[1])]
    if unrecorded:
        parts.append(
            f"{given} ({_runs(unrecorded)}, as `--machine` says: their logs predate the sessions log)"
            if given
            else f"not recorded for {_runs(unrecorded)} (logs before ecosim 0.9.11)"
        )
    return "; ".join(parts) or "no run"


def budget_section(
    evo: list[RunLogs],
    base: list[RunLogs],
    runs: list[RunLogs],
    unfinished: list[RunLogs],
    earlier: list[EarlierRun],
    earlier_csvs: Sequence[str],
    commands: Sequence[str],
    budgets: list[int],
    machine: str = "",
) -> list[str]:
    """The title, and Budget: machine, sizes, protocol, runs left out or from earlier rows, and the commands.
    ``machine``: what computed the runs whose logs do not say (``--machine``)."""
    cfg = evo[0].config
    e, t = cfg.ecosystem, cfg.training
    gens = sorted({r.last_generation + 1 for r in evo})
    spec = [r.config.ecosystem for r in evo if r.config.ecosystem.speciation]
    species = (
        " / ".join(sorted({f"{x.species} initial species, limit {x.max_species}" for x in spec})) if spec else "no run"
    )
    fitness = " / ".join(sorted({fitness_source(r) for r in runs}))
    offspring = offspring_counts(evo) or str(e.offspring)
    lines = [
        "# Results: Table I and Fig. 9 reproduced on this machine, next to fixed baselines",
        "",
        "Generated by `experiments/make_results.py` from the runs' Arrow logs; no ecosim number is",
        "typed by hand. The paper's numbers are copied from its Table I.",
        "",
        "## Budget",
        "",
        f"- machine: {machines_text(runs, machine)};",
        f"- {len(evo)} evolution runs and {len(base)} baseline runs, {modes_text(evo + base)};",
        f"- runs of {', '.join(map(str, gens))} generations (paper: 100), reported at "
        f"{' and '.join(map(str, budgets))}; population {e.population} initial / "
        f"{e.max_population} maximum (**paper: 64 / 111**); with speciation {species} (paper: 8 / 16); "
        f"{offspring} offspring per generation;",
        f"- training as the paper: {t.optimiser}, batch {t.batch_size}, a fresh random "
        f"{t.train_fraction:.0%} of the training set per network per generation, fitness = {fitness}; "
        "new connections N(0, 0.1);",
        f"- new layers: {cfg.mutation.new_layer_min_nodes}–{cfg.mutation.new_layer_max_nodes} nodes "
        "(floor of the mean nodes per layer, the reference implementation's rule); initial species "
        "by species-changing mutations only (§III-A; kernels and strides stay as eq. 1 drew them);",
        "- baselines: the same protocol, `population` copies of one fixed architecture, no reproduction.",
        *(
            [
                "- left out, still in progress: "
                + ", ".join(f"`{run_label(r)}` ({r.last_generation + 1} generations)" for r in unfinished)
                + ";"
            ]
            if unfinished
            else []
        ),
        *(
            [
                f"- and {_runs(len(earlier))} whose logs are gone, from an earlier page's per-run rows "
                f"({', '.join(f'`{x}`' for x in earlier_csvs)}): in the equal-compute table and its targets only;"
            ]
            if earlier
            else []
        ),
        *(["", "Commands:", "", "```bash", *commands, "```"] if commands else []),
    ]
    return lines


def table_one_section(evo: list[RunLogs], budgets: list[int]) -> list[str]:
    """Set-ups (what each variant changes), then Table I at each budget, the paper's row under its experiments."""
    lines = [
        *setups(evo),
        "",
        f"## Table I (ecosim, {' and '.join(map(str, budgets))} generations) next to the paper (10 runs × 100 "
        "generations)",
        "",
        "Each cell: highest value over runs, then (mean ± sample standard deviation over runs), in %, "
        "at the budget's last generation (ecosim; runs that went further are cut there) or epoch 100 (paper). "
        '"Offspring fitness before BP" leaves '
        "clones out (a clone scores what its trained parent scored); n/a where the runs made no such offspring",
        "in that generation (a settled run, `ecosystem.settle`, makes none).",
        "",
        "| Experiment | runs | generations | source | Highest fitness | Average fitness | Average offspring fitness "
        "before BP |",
        "|---|---|---|---|---|---|---|",
    ]
    evo_at = at_budgets(evo, budgets)
    for n in budgets:
        parts = [table_one([r for r in evo_at[n] if not variant(r)])] if any(not variant(r) for r in evo_at[n]) else []
        for v in sorted({variant(r) for r in evo_at[n]} - {""}):
            vt = table_one([r for r in evo_at[n] if variant(r) == v]).rename(lambda s: s + " (variant)")
            short = next(variant_name(r) for r in evo_at[n] if variant(r) == v)
            vt["experiment"] = vt["experiment"].str.replace(r"; [^)]*", "", regex=True) + ", " + short
            parts.append(vt)
        table = pd.concat(parts)
        for slug, row in table.iterrows():
            cells = [format_cell(row[f"{m}_max"], row[f"{m}_mean"], row[f"{m}_std"]) for m in METRICS]
            lines.append(
                f"| {row['experiment']} | {int(row['runs'])} | {int(row['generation']) + 1} | ecosim | "
                + " | ".join(cells)
                + " |"
            )
            key = f"{row['dataset']}-{'speciation' if row['speciation'] else 'no-speciation'}"
            if key in PAPER and not str(slug).endswith("(variant)"):
                lines.append("| | 10 | 100 | paper | " + " | ".join(_paper_cell(v) for v in PAPER[key]) + " |")
    return lines


def fixed_section(evo_at: dict[int, list[RunLogs]], base_at: dict[int, list[RunLogs]], budgets: list[int]) -> list[str]:
    """Evolution against fixed architectures at equal generations: best ever, highest at the last generation."""
    lines: list[str] = []
    lines += [
        "",
        "## Evolution against fixed architectures trained the same way",
        "",
        "At each budget (runs that went further are cut there): the best fitness ever reached (mean",
        "over runs, best run in brackets), and the highest fitness at the budget's last generation.",
        "",
        "| Dataset | generations | what | runs | best ever | highest at last generation | final champion (best run) |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    for n in budgets:
        for r in evo_at[n] + base_at[n]:
            g = r.generations.set_index("generation")
            rows.append(
                {
                    "dataset": r.config.data.dataset,
                    "what": what(r),
                    "generations": n,
                    "best": float(g["best_fitness_so_far"].max()),
                    "last": float(g["highest_fitness"].iloc[-1]),
                    "layers": final_champion(r) if "champion_layers" in r.generations else None,
                }
            )
    frame = pd.DataFrame(rows)
    for (ds, n, group), grp in frame.groupby(["dataset", "generations", "what"], sort=True):
        top = grp.loc[grp["best"].idxmax()]
        lines.append(
            f"| {ds} | {n} | {group} | {len(grp)} | {_pct(grp['best'].mean())} ({_pct(grp['best'].max())}) | "
            f"{_pct(grp['last'].mean())} | {_layers_cell(top['layers'])} |"
        )
    return lines


SETTLED = " The champion's layers hardly change after generation 10 (see What evolved)."


#: generations without a new species and without an extinction before the page calls the species set frozen
FROZEN_AFTER = 10


def why_section(evo: list[RunLogs], base: list[RunLogs]) -> list[str]:
    """What the MNIST logs show about why a target is missed: species, mutation shares, the cost of a new layer."""
    why = []
    for spec in (True, False):
        sel = [
            r
            for r in evo
            if not variant(r) and r.config.ecosystem.speciation == spec and r.config.data.dataset == "mnist"
        ]
        if not sel:
            continue
        m = {k: _nanmean([search_effort(r)[k] for r in sel]) for k in search_effort(sel[0])}
        fails = float(np.mean([r.generations["failed_species_limit"].sum() for r in sel]))
        champ_settled = all(champion_changes(r, 10) <= 0.1 for r in sel)
        if spec:
            length = float(np.mean([r.last_generation + 1 for r in sel]))
            dies = (
                "no species went extinct (each species' champion survives culling, §III-G)"
                + (", so the species set froze" if length - 1 - m["last founded"] >= FROZEN_AFTER else "")
                if m["extinct"] == 0
                else f"{m['extinct']:.3g} species went extinct per run"
            )
            why.append(
                f"- MNIST with speciation ({len(sel)} runs of {length:.0f} generations on average): the last "
                f"species was founded by generation {m['last founded']:.0f} on average and {dies}; of the "
                f"{m['species at the end']:.1f} species that trained in the last generation, "
                f"{m['CNN species at the end']:.1f} held conv networks, the rest small MLPs. Only "
                f"{_pct(m[CHAMP_SHARE])} of the offspring came from the champion's species, and "
                f"{fails:.3g} offspring per run whose genome left their species became clones under the "
                "species limit." + (SETTLED if champ_settled else "")
            )
        else:
            share = float(np.mean([float(r.column("conv_share").iloc[-1]) for r in sel]))
            why.append(
                f"- MNIST without speciation ({len(sel)} runs): every offspring comes from one population, "
                f"{_pct(share)} CNNs at the end; {_pct(m['kernel mutations'])} of the mutations are kernel "
                f"mutations (eq. 6 favours them in a network of few small kernels), so a kernel grows one "
                "step of 2 in one dimension at a time and most kernels stay 1×1 or skinny (Kernel shapes)."
            )
    mnist = [r for r in evo if not variant(r) and r.config.data.dataset == "mnist"]
    fate = pd.concat([mutation_fate(r) for r in mnist]) if mnist else pd.DataFrame(columns=["mutation"])
    grow = fate[fate["mutation"] == "add_layer"]
    champs = [str(x) for r in mnist for x in generation_champions(r)["layers"].dropna()]
    deep = sum(len(conv_layers(x)) >= 2 for x in champs)

    def cost(kind: str) -> str:
        of = fate[fate["mutation"] == kind]["before"].dropna()
        return f"{-100 * of.mean():.1f} points" if len(of) else "n/a (no such offspring)"

    if len(grow):
        both = {r.config.ecosystem.speciation for r in mnist}
        which = "both set-ups" if len(both) == 2 else ("with speciation" if True in both else "without speciation")
        why.append(
            f"- MNIST, {which} ({len(mnist)} runs): a new layer (eq. 3, random N(0, 0.1) weights) costs "
            f"its trained parent {-100 * grow['before'].mean():.1f} points before BP and its offspring still trail "
            f"the parent by {-100 * grow['after'].mean():.1f} points after their first generation of training; "
            f"{_pct(float(grow['culled'].mean()))} of them are culled right then ({len(grow)} such offspring in all), "
            f"so depth rarely survives: {deep} of {len(champs)} generation champions hold a second conv layer. "
            f"Adding a node costs {cost('add_node')} and growing a kernel {cost('grow_kernel')} "
            "(see What became of mutation offspring)."
        )
    if len(fate):
        random_cost = -100 * grow["before"].mean() if len(grow) else float("nan")
        top_base = max(
            (
                float(truncated(r, 100).generations["best_fitness_so_far"].max())
                for r in base
                if r.config.data.dataset == "mnist" and r.last_generation + 1 >= 100 and plain_baseline(what(r))
            ),
            default=float("nan"),
        )
        for v in sorted({variant(r) for r in evo} - {""}):
            for spec in (True, False):
                sel = [
                    r
                    for r in evo
                    if variant(r) == v
                    and r.config.ecosystem.speciation == spec
                    and r.config.data.dataset == "mnist"
                    and r.last_generation + 1 >= 100
                ]
                if not sel:
                    continue
                sel = [truncated(r, 100) for r in sel]
                vf = pd.concat([mutation_fate(r) for r in sel])
                vgrow = vf[vf["mutation"] == "add_layer"]
                paper = [
                    truncated(r, 100)
                    for r in mnist
                    if r.config.ecosystem.speciation == spec and r.last_generation + 1 >= 100
                ]
                finals = ", ".join(_layers_cell(final_champion(r)) for r in sel)
                best = float(np.mean([float(r.generations["best_fitness_so_far"].max()) for r in sel]))
                start = sel[0].config.ecosystem.initial_layers
                same = [
                    float(truncated(b, 100).generations["best_fitness_so_far"].max())
                    for b in base
                    if b.config.data.dataset == "mnist"
                    and b.config.ecosystem.initial_layers == start
                    and b.last_generation + 1 >= 100
                    and plain_baseline(what(b))
                ]
                as_baseline = (
                    f" ({_pct(max(same))} for `{start}-F10` itself, trained as a baseline)" if start and same else ""
                )
                ref = (
                    float(np.mean([float(r.generations["best_fitness_so_far"].max()) for r in paper]))
                    if paper
                    else float("nan")
                )
                why.append(
                    f"- MNIST {'with' if spec else 'without'} speciation, {v} ({len(sel)} "
                    f"run{'s' if len(sel) != 1 else ''}, "
                    f"100 generations): best ever {_pct(best)} on average against {_pct(ref)} for the paper's set-up "
                    f"and {_pct(top_base)} for the best fixed baseline{as_baseline}; "
                    f"a new layer costs its parent {-100 * vgrow['before'].mean():.1f} points before BP "
                    f"({random_cost:.1f} in the paper's set-up); final champion{'s' if len(sel) != 1 else ''} {finals}."
                )
    if not why:
        return []
    return ["", "What the logs show about why (the tables below hold the numbers):", "", *why]


def what_evolved_section(evo: list[RunLogs]) -> list[str]:
    """What evolved: per run the final champion and its counts; offspring fitness before BP by origin."""
    lines: list[str] = []
    lines += [
        "",
        "## What evolved",
        "",
        "Per run: the final champion, the share of networks with at least one conv layer at the last",
        "generation, and the first generation from which every generation champion holds a conv layer.",
        "",
        "| Experiment | generations | seed | best ever | final champion | parameters | conv share (last) | CNN "
        "champions from | species after the last generation | constraint failures | species-limit failures | "
        "wall time (min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(evo, key=lambda r: (label(r), r.last_generation, r.config.run.seed)):
        g = r.generations
        last = g.iloc[-1]
        champs = generation_champions(r)["layers"]
        is_cnn = champs.astype(str).str.startswith("C")
        since = next((int(i) for i in champs.index if is_cnn.loc[i:].all()), None)
        failed = [
            c
            for c in g.columns
            if c.startswith("failed_") and c not in ("failed_species_limit", "failed_reproduction", "failed_cost_cap")
        ]
        lines.append(
            f"| {label(r)} | {r.last_generation + 1} | {r.config.run.seed} | "
            f"{_pct(float(g['best_fitness_so_far'].max()))} | "
            f"`{champs.iloc[-1]}` | {int(last['champion_parameters'])} | "
            f"{_pct(float(r.column('conv_share').iloc[-1]))} | "
            f"{'never' if since is None else since} | {int(last['species_count'])} | "
            f"{int(g[failed].to_numpy().sum())} | "
            f"{int(g['failed_species_limit'].sum())} | {float(g['wall_time_s'].sum()) / 60:.1f} |"
        )
    lines += [
        "",
        "Offspring fitness before BP by origin (mean over the last five generations of each experiment's runs):",
        "",
        "| Experiment | generations | crossover | mutation | clone |",
        "|---|---|---|---|---|",
    ]
    for name, n_gen in sorted({(label(r), r.last_generation + 1) for r in evo}):
        sel = [r for r in evo if label(r) == name and r.last_generation + 1 == n_gen]
        vals = []
        for origin in ("crossover", "mutation", "clone"):
            col = f"mean_offspring_fitness_before_bp_{origin}"
            v = [float(x) for r in sel if col in r.generations for x in r.generations[col].tail(5) if pd.notna(x)]
            vals.append(_pct(float(np.mean(v))) if v else "n/a")
        lines.append(f"| {name} | {n_gen} | " + " | ".join(vals) + " |")
    return lines


def search_effort_section(evo: list[RunLogs]) -> list[str]:
    """Where the search effort went: mutation families, what became of mutation offspring, where the compute went."""
    lines: list[str] = []
    lines += [
        "",
        "## Where the search effort went",
        "",
        "Share of applied mutations by family (eqs. 3–6 weight them per network), offspring per",
        "generation, and the share of offspring whose parent was in the generation champion's species",
        "(mean over each experiment's runs); species: how many species ever lived, the generation the",
        "last of them was founded, how many went extinct by stagnation, and how many of the species",
        "that trained in the last generation hold conv networks. One kernel mutation grows or shrinks one",
        "kernel by 2 in one dimension, so a 1×1 kernel needs two kernel mutations to become 3×3.",
        "",
        "| Experiment | generations | layer | node | kernel | stride | offspring per generation | offspring from the "
        "champion's species | species | last founded | extinct | CNN species / species trained in the last "
        "generation |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n_gen in sorted({(label(r), r.last_generation + 1) for r in evo}):
        sel = [search_effort(r) for r in evo if label(r) == name and r.last_generation + 1 == n_gen]
        m = {k: _nanmean([e[k] for e in sel]) for k in sel[0]}
        lines.append(
            f"| {name} | {n_gen} | "
            + " | ".join(_pct(m[f"{k} mutations"]) for k in ("layer", "node", "kernel", "stride"))
            + f" | {m['offspring per generation']:.1f} | {_pct(m[CHAMP_SHARE])} | {m['species']:.1f} | "
            f"{m['last founded']:.0f} | "
            f"{m['extinct']:.1f} | {m['CNN species at the end']:.1f} / {m['species at the end']:.1f} |"
        )

    lines += [
        "",
        "What became of mutation offspring (pooled over each experiment's runs): how many were made,",
        "their fitness before BP minus their trained parent's (the cost of the mutation itself), their",
        "fitness after their first generation of training minus their parent's in that generation,",
        "and the share culled right after that first training (eq. 9). In points of accuracy.",
        "",
        "| Experiment | generations | mutation | offspring | before BP vs parent | after first training vs parent | "
        "culled after first training |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, n_gen in sorted({(label(r), r.last_generation + 1) for r in evo}):
        fate = pd.concat([mutation_fate(r) for r in evo if label(r) == name and r.last_generation + 1 == n_gen])
        for mut, grp in fate.groupby("mutation", sort=True):
            lines.append(
                f"| {name} | {n_gen} | {mut} | {len(grp)} | {100 * grp['before'].mean():+.1f} | "
                f"{100 * grp['after'].mean():+.1f} | {_pct(float(grp['culled'].mean()))} |"
            )

    lines += [
        "",
        "Where the training compute went (issue 17: at equal compute every training counts), as shares",
        "of each run's training multiply-accumulates (mean over the experiment's runs): by what made the",
        "network trained (initial network, crossover, or a mutation that added a layer or node, removed",
        "one, or resized a kernel or stride); the share spent on the final population and its ancestors",
        "(the rest went to lineages that died out), on the last generation's fittest network and its ancestors",
        "(a fixed baseline: 1 / population), and on networks culled after one training.",
        "",
        "| Experiment | generations | " + " | ".join((*COMPUTE_GROUPS, *FATES)) + " |",
        "|---|---|" + "---|" * (len(COMPUTE_GROUPS) + len(FATES)),
    ]
    for name, n_gen in sorted({(label(r), r.last_generation + 1) for r in evo}):
        fates = [compute_fate(r) for r in evo if label(r) == name and r.last_generation + 1 == n_gen]
        m = {k: _nanmean([f[k] for f in fates]) for k in fates[0]}
        cells = [_pct(m[k]) for k in (*COMPUTE_GROUPS, *FATES)]
        lines.append(f"| {name} | {n_gen} | " + " | ".join(cells) + " |")
    return lines


def kernel_shapes_section(evo: list[RunLogs]) -> list[str]:
    """Kernel shapes in evolved champions against the null model of offspring at birth (§III-E, Figs. 7–8)."""
    lines: list[str] = []
    distinct: dict[tuple[str, int], str] = {}
    for r in evo:
        champs = generation_champions(r).dropna()
        for cid, layers in zip(champs["id"], champs["layers"]):
            distinct[(str(r.run_dir), int(cid))] = str(layers)
    finals = [f for f in map(final_champion, evo) if f != NO_CHAMPION]
    lines += [
        "",
        "## Kernel shapes in evolved champions (§III-E, Figs. 7–8)",
        "",
        "Counted over every distinct generation champion of every evolution run, and over the final",
        "champions alone. A crosshair pair is a 1×k and a k×1 kernel in one layer (Fig. 8a); an",
        "enclosure pair a kernel strictly larger than another in both dimensions (Fig. 8b).",
        "",
        "The last column is the null model: every mutation or crossover offspring at birth, i.e. the",
        "shapes the operators produce before selection acts. A statistic is evidence of selection only",
        "where the champions differ from it.",
        "",
        "| statistic | all generation champions | final champions | offspring at birth (null model) |",
        "|---|---|---|---|",
    ]
    a, f = kernel_analysis(list(distinct.values())), kernel_analysis(finals)
    born = kernel_analysis([x for r in evo for x in birth_layers(r)])

    def share(stats: dict[str, float], key: str) -> str:
        denom = stats["kernels"] if "kernels" in key or key == "1×1 kernels" else stats["conv layers"]
        return (
            f"{stats[key]} ({stats[key] / denom:.0%})"
            if denom and key not in ("genomes", "conv layers", "kernels")
            else str(stats[key])
        )

    for key in a:
        if not key.startswith("_"):
            lines.append(f"| {key} | {share(a, key)} | {share(f, key)} | {share(born, key)} |")
    lines += ["", f"Most frequent shapes (all generation champions): {a['_top'] or 'none'}."]
    return lines


def figures_section(written: Mapping[str, Path], plots: Path, rel: Path) -> list[str]:
    """The figures written by :func:`write_report`, linked relative to the page."""
    lines = ["", "## Figures (Fig. 9 form: runs thin, mean bold)", ""]
    for name, path in sorted(written.items()):
        if path.suffix == ".png" and "champions" not in name:
            lines.append(f"- {name}: ![{name}]({rel / path.relative_to(plots)})")
    return lines
