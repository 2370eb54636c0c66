"""Write ``docs/results.md`` from finished runs: ecosim's Table I next to the paper's, the fixed
baselines next to evolution, what evolved (layers, conv share, kernel shapes) and the targets.

Every ecosim number comes from the runs' Arrow logs through :mod:`ecosim.report`; the only
numbers typed in are the paper's Table I (``PAPER`` below, copied from the paper) and the
targets of the CNN issue (``TARGETS``).

    python experiments/make_results.py runs/results --out docs/results.md --plots docs/results \\
        --command "python experiments/run_experiments.py ..."

Runs with ``ecosystem.offspring = 0`` are fixed-architecture baselines
(``experiments/baselines/``); every other run is an evolution run.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ecosim.errors import EcosimError, one_line
from ecosim.report import format_cell, load_runs, table_one, write_report
from ecosim.report.compare import AtCompute, compute_curve, runs_needed, welch_difference
from ecosim.report.runs import RunLogs
from ecosim.store.rundir import enclosing_run

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
METRICS = ("highest_fitness", "mean_fitness", "mean_offspring_fitness_before_bp")

#: Targets of the CNN issue: dataset → [(generations, best fitness)] (fractions).
TARGETS = {"mnist": [(20, 0.978), (100, 0.988)], "fashion-mnist": [(100, 0.900)], "cifar10": [(100, 0.60)]}
#: From this generation on, every generation champion should hold a conv layer.
CONV_FROM = 10
#: Budgets (generations) reported: the earlier results' 20 and the paper's 100.
BUDGETS = (20, 100)
CHAMP_SHARE = "offspring from the champion's species"

_CONV = re.compile(r"C(\d+)s(\d+)x(\d+)\[([^\]]*)\]")


def _paper_cell(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.2f}% ({v[1]} ± {v[2]})"


def _pct(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.2f}%"


def modes_text(runs: Sequence[RunLogs]) -> str:
    """How the runs ran, for the page's budget line: ``each a synchronous ecosystem``, or the
    count of each mode (``run.mode``) when they differ.

    >>> from types import SimpleNamespace as N
    >>> modes_text([N(config=N(run=N(mode="sync")))] * 2)
    'each a synchronous ecosystem'
    >>> modes_text([N(config=N(run=N(mode="sync")))] * 2 + [N(config=N(run=N(mode="async")))])
    '2 synchronous and 1 asynchronous ecosystems'
    """
    modes = Counter(r.config.run.mode for r in runs)
    words = {"sync": "synchronous", "async": "asynchronous"}
    if len(modes) == 1:
        return f"each a{'n' if 'async' in modes else ''} {words.get(next(iter(modes)), next(iter(modes)))} ecosystem"
    return " and ".join(f"{n} {words.get(m, m)}" for m, n in sorted(modes.items(), key=lambda kv: kv[0] != "sync")) + (
        " ecosystems"
    )


def is_baseline(r: RunLogs) -> bool:
    """A fixed-architecture baseline: no reproduction."""
    return r.config.ecosystem.offspring == 0


def conv_layers(summary: str) -> list[list[tuple[int, int]]]:
    """Kernel shapes ``(h, w)`` of each conv layer of a ``Genome.summary()`` string."""
    return [
        [tuple(int(x) for x in k.split("x")) for k in m.group(4).split(",") if k]  # type: ignore[misc]
        for m in _CONV.finditer(summary or "")
    ]


def kernel_analysis(summaries: list[str]) -> dict[str, float]:
    """Kernel-shape statistics over distinct champion genomes (paper §III-E, Fig. 8)."""
    kernels: Counter[tuple[int, int]] = Counter()
    layers = mixed = skinny = crosshair = enclosure = 0
    for s in summaries:
        for layer in conv_layers(s):
            layers += 1
            shapes = set(layer)
            kernels.update(layer)
            mixed += len(shapes) > 1
            thin = {k for k in shapes if min(k) == 1 and max(k) >= 3}
            skinny += bool(thin)
            crosshair += any((w, h) in thin for (h, w) in thin if h != w)
            enclosure += any(a != b and a[0] > b[0] and a[1] > b[1] for a in shapes for b in shapes)
    total = sum(kernels.values())
    return {
        "genomes": len(summaries),
        "conv layers": layers,
        "kernels": total,
        "non-square kernels": sum(n for k, n in kernels.items() if k[0] != k[1]),
        "1×1 kernels": kernels.get((1, 1), 0),
        "layers mixing shapes": mixed,
        "layers with a skinny kernel (1×k or k×1, k ≥ 3)": skinny,
        "layers with a crosshair pair (1×k and k×1)": crosshair,
        "layers with an enclosure pair (h×w and a smaller h'×w' inside)": enclosure,
        "_top": ", ".join(f"{h}×{w}: {n}" for (h, w), n in kernels.most_common(8)),  # type: ignore[dict-item]
    }


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


def _why_none(sel: Sequence[float], ref: Sequence[float]) -> str:
    return f"{_runs(len(sel))} against {_runs(len(ref))}" if min(len(sel), len(ref)) < 2 else "no spread on either side"


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _points(x: float) -> str:
    """A difference in points, signed, 2 decimals; 3 where 2 would round a non-zero value to 0."""
    return f"{x:+.3f}" if x != 0 and abs(x) < 0.005 else f"{x:+.2f}"


def variant(r: RunLogs) -> str:
    """What an evolution run changes from the paper's set-up (``""``: nothing)."""
    e = r.config.ecosystem
    parts = [f"initial layers {e.initial_layers}"] if e.initial_layers else []
    if e.species_allocation != "mean_fitness" and e.speciation:
        parts.append(f"species allocation by {e.species_allocation.replace('_', ' ')}")
    if e.species_stagnation and e.speciation:
        parts.append(f"species stagnation {e.species_stagnation}")
    m = r.config.mutation
    if m.function_preserving:
        parts.append("function-preserving new structure")
    if m.new_kernel_shape:
        parts.append(f"new kernels {m.new_kernel_shape}")
    if m.family_weights:
        parts.append(f"weights {m.family_weights}")
    if m.new_layer_conv_share != 0.5:
        parts.append(f"new layers {m.new_layer_conv_share:.0%} conv")
    if m.nodes_per_mutation != 1:
        parts.append(f"{m.nodes_per_mutation} nodes per node mutation")
    if m.max_macs:
        rise = f", doubling every {m.max_macs_doubling:g} generations" if m.max_macs_doubling else ""
        crossover = ", crossover included" if m.cap_crossover else ""
        parts.append(f"cost cap {m.max_macs:.3g} MACs per image{rise}{crossover}")
    if e.complexity != "parameters":
        parts.append(f"complexity by {e.complexity}")
    if e.complexity_favours != "smaller":
        parts.append(f"culling favours the {e.complexity_favours}")
    if e.protect_new_structure:
        only = "" if e.protect_removals else " (additions only)"
        parts.append(f"protection {e.protect_new_structure}{only}")
    if m.resize_dimension != "uniform":
        parts.append(f"resize dimension by {m.resize_dimension}")
    if _names_offspring(r):  # ecosim's default: half the population
        parts.append(f"{e.offspring} offspring per generation")
    if e.settle:
        of = "the compute budget" if r.config.run.train_macs > 0 else "the generations"
        keep = f", then the {e.settle_keep} fittest networks train on" if e.settle_keep else ""
        if e.settle_keep and e.settle_rungs > 1:
            times = {2: "once", 3: "twice"}.get(e.settle_rungs, f"{e.settle_rungs - 1} times")
            keep += f", halved {times} in equal parts of the rest (successive halving)"
        if e.settle_lr_decay != 1.0:
            again = " and again at each halving" if e.settle_keep and e.settle_rungs > 1 else ""
            keep += f", the learning rate ×{e.settle_lr_decay:g} after the settle generation{again}"
        parts.append(f"no offspring after {e.settle:.0%} of {of}{keep}")
    return ", ".join(parts)


def variant_name(r: RunLogs) -> str:
    """A variant's short name: its experiment folder without the dataset (``levers-conv`` for
    ``runs/compare/mnist-levers-conv/seed0``, the config file's name), else its :func:`variant` text;
    ``""`` for the paper's set-up. The section "Set-ups" spells out each name's settings."""
    if not variant(r):
        return ""
    folder, prefix = r.run_dir.parent.name, r.experiment.dataset_slug + "-"
    return folder[len(prefix) :] if folder.startswith(prefix) and len(folder) > len(prefix) else variant(r)


def label(r: RunLogs) -> str:
    """The experiment of an evolution run, with the short name of what it changes from the paper's set-up."""
    base = f"{r.experiment.dataset_slug}, {'with' if r.config.ecosystem.speciation else 'no'} speciation"
    return base + (f", {variant_name(r)}" if variant(r) else "")


def setups(evo: list[RunLogs]) -> list[str]:
    """The legend of the short names: each variant's settings, as they differ from the paper's set-up."""
    named = sorted({(variant_name(r), variant(r)) for r in evo if variant(r) and variant_name(r) != variant(r)})
    if not named:  # a variant without a folder name is named by its settings: no legend needed
        return []
    return [
        "",
        "## Set-ups",
        "",
        "The variants, by the name the tables give them, and what each changes from the paper's set-up",
        "(every such lever is off by default):",
        "",
        *(f"- **{name}**: {text}." for name, text in named),
    ]


def search_effort(r: RunLogs) -> dict[str, float]:
    """Where a run's reproduction went (issue 7, "what the logs show about why").

    Returns the share of applied mutations by family (layer, node, kernel, stride) from the
    generations log's ``mutations_<kind>`` counts, the mean number of offspring per generation,
    and the share of offspring whose (first) parent sat in the generation champion's species,
    from the networks log.
    """
    g = r.generations
    fam = {"layer": 0, "node": 0, "kernel": 0, "stride": 0}
    for c in g.columns:
        if c.startswith("mutations_"):
            fam[c.rsplit("_", 1)[1]] = fam.get(c.rsplit("_", 1)[1], 0) + int(g[c].fillna(0).sum())
    total = sum(fam.values())
    out = {f"{k} mutations": (v / total if total else float("nan")) for k, v in fam.items()}
    n = r.networks
    species = {(int(a), int(b)): int(s) for a, b, s in zip(n["generation"], n["network_id"], n["species_id"])}
    champ = {int(a): int(b) for a, b in zip(g["generation"], g["champion_id"]) if pd.notna(b)}
    born = n[n["origin"].isin(["crossover", "mutation", "clone"])].drop_duplicates("network_id")
    hits = total_born = 0
    for b, parents in zip(born["born_generation"], born["parent_ids"]):
        b = int(b)
        if b not in champ or parents is None or len(parents) == 0:
            continue
        total_born += 1
        hits += species.get((b, int(parents[0]))) == species.get((b, champ[b]))
    out["offspring per generation"] = float(g["offspring"].mean()) if "offspring" in g else float("nan")
    out["species"] = float(n["species_id"].nunique())
    out["last founded"] = float(n.groupby("species_id")["generation"].min().max())
    last = n[n["generation"] == n["generation"].max()]
    out["CNN species at the end"] = float(last[last["conv_layers"] > 0]["species_id"].nunique())
    out["species at the end"] = float(last["species_id"].nunique())
    out["extinct"] = float(g["species_extinct"].sum()) if "species_extinct" in g else 0.0
    out[CHAMP_SHARE] = hits / total_born if total_born else float("nan")
    return out


def mutation_fate(r: RunLogs) -> pd.DataFrame:
    """What became of a run's mutation offspring, one row per offspring (issue 7, "why").

    For each offspring made by a mutation (eqs. 3–6) and trained at least once: its mutation,
    ``before`` = its fitness before BP minus its parent's fitness in the generation it was born
    (what the mutation cost the trained parent), ``after`` = its fitness after its first
    training minus the parent's fitness in that same generation (``NaN`` when the parent was
    culled meanwhile), and ``culled`` = whether culling removed it right after that first
    training (§III-G). Fitness in [0, 1].
    """
    n = r.networks
    fit = {(int(g), int(i)): f for g, i, f in zip(n["generation"], n["network_id"], n["fitness"])}
    first = n[(n["origin"] == "mutation") & (n["generation"] == n["born_generation"] + 1)]
    rows = []
    for m, parents, b, g, fb, fa, culled in zip(
        first["mutation"],
        first["parent_ids"],
        first["born_generation"],
        first["generation"],
        first["fitness_before_bp"],
        first["fitness"],
        first["culled"],
    ):
        parent = int(parents[0])
        p_born, p_now = fit.get((int(b), parent)), fit.get((int(g), parent))
        rows.append(
            {
                "mutation": m,
                "before": fb - p_born if p_born is not None and pd.notna(fb) else np.nan,
                "after": fa - p_now if p_now is not None and pd.notna(fa) else np.nan,
                "culled": bool(culled),
            }
        )
    return pd.DataFrame(rows, columns=["mutation", "before", "after", "culled"])


#: The groups :func:`compute_fate` splits a run's training compute into, by what made the network.
COMPUTE_GROUPS = ("initial", "crossover", "added structure", "removed structure", "resized", "clone")
#: The other shares :func:`compute_fate` returns: what reached the end, and the dead ends.
FATES = ("final lineage", "champion lineage", "one training")


def compute_fate(r: RunLogs) -> dict[str, float]:
    """Where a run's training compute went (issue 17, "what the logs show about why").

    Training compute of a networks-log row is ``3 · macs · train_images`` (one training). Returns
    shares of the run's total: by what made the network (:data:`COMPUTE_GROUPS`: its origin, or
    for a mutation offspring whether its mutation added a layer or node, removed one, or resized
    a kernel or stride), ``"final lineage"`` = spent on the final population and its ancestors
    (through every parent, crossover included), ``"champion lineage"`` = the same for the last
    generation's fittest network alone, and ``"one training"`` = spent on networks
    trained once and culled right after (dead ends eq. 9 judged on one training).
    """
    n = r.networks
    cost = 3.0 * n["macs"].fillna(0).astype(float) * n["train_images"].fillna(0).astype(float)
    total = float(cost.sum())
    if not total:
        return {k: float("nan") for k in (*COMPUTE_GROUPS, *FATES)}
    mutation = n["mutation"].fillna("").astype(str)
    group = n["origin"].astype(str).where(n["origin"] != "mutation", "resized")
    group = group.where(~((n["origin"] == "mutation") & mutation.str.startswith("add_")), "added structure")
    group = group.where(~((n["origin"] == "mutation") & mutation.str.startswith("remove_")), "removed structure")
    out = {k: float(cost[group == k].sum()) / total for k in COMPUTE_GROUPS}
    parents = {int(i): [int(x) for x in p] for i, p in zip(n["network_id"], n["parent_ids"]) if p is not None}
    last = n[n["generation"] == n["generation"].max()]
    ids = n["network_id"].astype(int)
    for key, roots in (
        ("final lineage", last["network_id"]),
        ("champion lineage", last.loc[[last["fitness"].idxmax()], "network_id"]),
    ):
        todo, lineage = [int(i) for i in roots], set()
        while todo:
            i = todo.pop()
            if i not in lineage:
                lineage.add(i)
                todo.extend(parents.get(i, []))
        out[key] = float(cost[ids.isin(lineage)].sum()) / total
    trainings = n.groupby("network_id")["generation"].transform("size")
    out["one training"] = float(cost[(trainings == 1) & n["culled"].astype(bool)].sum()) / total
    return out


def truncated(r: RunLogs, n: int) -> RunLogs:
    """The run as if it had been run for ``n`` generations (sync runs: the same first ``n``).

    Its logs keep generations ``< n`` and its config says ``run.generations = n``, so that a
    100-generation run pools with 20-generation replicates at generation 20.
    """
    g = r.generations[r.generations["generation"] < n].reset_index(drop=True)
    nets = r.networks
    cfg = dataclasses.replace(r.config, run=dataclasses.replace(r.config.run, generations=n))
    return dataclasses.replace(
        r, generations=g, config=cfg, _networks=nets[nets["generation"] < n].reset_index(drop=True)
    )


def at_budgets(runs: list[RunLogs], budgets: list[int]) -> dict[int, list[RunLogs]]:
    """Per budget ``n``: the runs that reached ``n`` generations, truncated to ``n``."""
    return {n: [truncated(r, n) for r in runs if r.last_generation + 1 >= n] for n in budgets}


def generation_champions(r: RunLogs) -> pd.DataFrame:
    """Per generation: the champion's id and layers (from the generations log)."""
    return pd.DataFrame({"id": r.column("champion_id"), "layers": r.column("champion_layers")})


#: what the page shows for a run none of whose generations had a champion (every network diverged or failed)
NO_CHAMPION = "none (every network diverged or failed)"


def final_champion(r: RunLogs) -> str:
    """The layers of the run's last champion: that of the latest generation that had one (a generation
    whose networks all diverged or failed has none, ecosim ≥ 0.9.9), else :data:`NO_CHAMPION`."""
    layers = generation_champions(r)["layers"]
    layers = layers[layers.notna() & (layers.astype(str) != "")]
    return str(layers.iloc[-1]) if len(layers) else NO_CHAMPION


def final_champions(runs: Sequence[RunLogs], earlier: Sequence[EarlierRun] = ()) -> tuple[list[str], int]:
    """The final champions' layers of a set-up's runs with logs and of its earlier rows that name one,
    and how many runs had none (:data:`NO_CHAMPION`: left out of the depth target's count)."""
    finals = [final_champion(r) for r in runs]
    kept = [f for f in finals if f != NO_CHAMPION] + [e.champion for e in earlier if e.champion]
    return kept, len(finals) - sum(f != NO_CHAMPION for f in finals)


def _layers_cell(layers: object) -> str:
    """A champion's layers as a table cell: code, or plain words for none (or ``n/a`` for a log without them)."""
    if not isinstance(layers, str):
        return "n/a"
    return layers if layers == NO_CHAMPION else f"`{layers}`"


def has_compute(r: RunLogs) -> bool:
    """Whether the run logged compute (ecosim ≥ 0.3): needed for the equal-compute comparison."""
    return "train_macs" in r.generations and r.generations["train_macs"].notna().any()


def schedule_name(r: RunLogs) -> str:
    """The training schedule of a baseline that settles (``ecosystem.settle``: e.g. successive halving
    and a learning-rate decay, the control of a lever set): its config file's name without the
    dataset and the architecture (``anneal`` for ``mnist-C10-3x3-C20s2-3x3-anneal``), else
    ``settled``; ``""`` for a baseline trained as the paper (the only kind that sets the budget)."""
    if not r.config.ecosystem.settle:
        return ""
    folder = r.run_dir.parent.name.removeprefix(r.experiment.dataset_slug + "-")
    arch = r.config.ecosystem.initial_layers.replace("[", "-").replace("]", "")
    rest = folder.removeprefix(arch).strip("-")
    return rest if rest and rest != folder else "settled"


def what(r: RunLogs) -> str:
    """A run's group in the equal-compute comparison: the baseline architecture (with its schedule,
    :func:`schedule_name`) or the evolution label."""
    if is_baseline(r):
        sched = schedule_name(r)
        return f"baseline {r.config.ecosystem.initial_layers}-F10" + (f", {sched}" if sched else "")
    return "evolution, " + label(r).split(", ", 1)[1]


def same_schedule(runs: Sequence[RunLogs], groups: Mapping[str, Sequence[RunLogs]]) -> list[str]:
    """The baseline groups trained with the schedule of ``runs`` after the settle point (``settle``,
    ``settle_keep``, ``settle_rungs``, ``settle_lr_decay`` equal): an evolution set-up's controls."""

    def schedule(r: RunLogs) -> tuple[float, int, int, float] | None:
        e = r.config.ecosystem
        return (e.settle, e.settle_keep, e.settle_rungs, e.settle_lr_decay) if e.settle else None

    mine = {schedule(r) for r in runs} - {None}
    return [
        k
        for k in sorted(groups)
        if k.startswith("baseline") and not plain_baseline(k) and groups[k] and schedule(groups[k][0]) in mine
    ]


def plain_baseline(name: str) -> bool:
    """Whether a group name (:func:`what`) is a baseline trained as the paper (no schedule)."""
    return name.startswith("baseline") and ", " not in name


SETTLED = " The champion's layers hardly change after generation 10 (see What evolved)."


def champion_changes(r: RunLogs, start: int) -> float:
    """Share of the generations after ``start`` whose champion's layers differ from the generation
    before (1.0 when the run has fewer than 10 generations after ``start``: nothing to say)."""
    layers = generation_champions(r)["layers"].astype(str)
    late = layers[layers.index >= start]
    if len(late) < 10:
        return 1.0
    return float((late.to_numpy()[1:] != late.to_numpy()[:-1]).mean())


def conv_depth(summary: str) -> int:
    """Number of conv layers in a ``Genome.summary()`` string."""
    return len(conv_layers(summary))


def birth_layers(r: RunLogs) -> list[str]:
    """Layer summaries of every mutation or crossover offspring at birth (its first networks-log row).

    The null model of the kernel-shape analysis: the shapes the operators produce before
    selection acts, to set against the champions' shapes (issue 17 A).
    """
    n = r.networks
    born = n[n["origin"].isin(["mutation", "crossover"])].sort_values("generation").drop_duplicates("network_id")
    return [str(x) for x in born["layers"].dropna()]


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
    from ecosim.report.compare import compute_curve

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
        "sample sd over seeds; Δ is the difference to the best baseline with Welch's 95% interval",
        "(unequal variances). Not a percentile bootstrap: with 3–5 runs a side it is far too narrow",
        "(with no true difference it leaves out 0 in about 20% of cases at 3 runs a side, 12% at 5;",
        "Welch's interval in about 4%). The last column is the optimistic statistic this replaces:",
        "the best test accuracy of any network the run ever scored. Where a set-up misses the target",
        "with Δ above 0, its line below says how many runs a side would put the interval above 0 in",
        "4 sweeps of 5 were that Δ and those spreads the true ones (80% power; an order of magnitude:",
        "with 2–5 runs a side the spreads are themselves uncertain).",
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
        names = sorted(set(groups) | set(old), key=lambda k: (k.startswith("baseline"), k))

        def readings(name: str, budget: float, groups=groups, old=old) -> list:
            return logged_readings(groups, name, budget) + [e.at(budget) for e in old.get(name, [])]

        best_base, budget, used = baseline_choice(groups, old, horizon)
        over = [e for k in sorted(old) for e in old[k] if e.train_macs > EARLIER_OVER * budget]
        for k in list(old):
            old[k] = [e for e in old[k] if e.train_macs <= EARLIER_OVER * budget]
            if not old[k]:
                del old[k]
        names = sorted(set(groups) | set(old), key=lambda k: (k.startswith("baseline"), k))
        ref = [a.selected_test_accuracy for a in readings(best_base, budget)]
        lines += [
            f"### {ds}: budget {budget:.3g} training multiply-accumulates ({best_base}, {used} generations)",
            "",
            "| set-up | runs | generation reached | share of budget | selected test accuracy | Δ vs best baseline "
            "(95% interval) | best test of any network |",
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
            for control in same_schedule(rs, groups):
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
                f"- {name}: above the best baseline at equal compute with a 95% interval above 0: {target}. "
                f"{held}; a new layer costs its parent {cost}"
                + (f"; final champions {', '.join(_layers_cell(f) for f in finals)}." if finals else ".")
            )
        lines += depth + [""]
    return lines


def logged_readings(groups: Mapping[str, Sequence[RunLogs]], name: str, budget: float) -> list[AtCompute]:
    """Each run of set-up ``name`` that has logs, read at ``budget`` MACs (an earlier row is known at its end
    only); a run whose first generation alone spent more than ``budget`` has no reading there and is left out."""
    from ecosim.report.compare import at_compute

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


def offspring_counts(evo: list[RunLogs]) -> str:
    """Offspring per generation over the evolution runs: ``"8"``, or ``"8 (4 in the set-ups that say so)"``.

    The usual count is that of the runs at the default (half the population, which :func:`variant`
    does not name); the set-ups that change it say so in their own text."""
    counts = Counter(r.config.ecosystem.offspring for r in evo)
    if not counts:
        return ""
    default = Counter(r.config.ecosystem.offspring for r in evo if not _names_offspring(r))
    usual = (default or counts).most_common(1)[0][0]
    others = ", ".join(str(k) for k in sorted(counts) if k != usual)
    return f"{usual} ({others} in the set-ups that say so)" if others else str(usual)


def _names_offspring(r: RunLogs) -> bool:
    """Whether :func:`variant` names the run's offspring count (it differs from half the population)."""
    e = r.config.ecosystem
    return e.offspring is not None and e.offspring != -(-e.population // 2)


def trained_per_generation(r: RunLogs, last: int) -> float:
    """Networks trained per generation (``train_images`` > 0), mean over generations ``0 … last``."""
    n = r.networks
    return float(((n["generation"] <= last) & (n["train_images"].fillna(0) > 0)).sum()) / (last + 1)


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
    from ecosim.report.compare import at_compute, compute_curve

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


def earlier_page(csv: str | Path) -> Path | None:
    """The page an ``--earlier`` per-run table belongs to: ``docs/NAME/…/compute.csv`` → ``docs/NAME.md``
    (the nearest folder above the table with a page of its name beside it); ``None`` when there is none."""
    for folder in Path(csv).resolve().parents:
        if not folder.name:  # the root
            break
        page = folder.with_suffix(".md")
        if page.is_file():
            return page
    return None


def earlier_verdicts(pages: Sequence[Path]) -> list[str]:
    """The speciation verdicts of earlier pages (their section's bullets, each page once), under a
    line naming the page: their logs are gone, so this page cannot recompute them."""
    out: list[str] = []
    for page in dict.fromkeys(pages):
        text = page.read_text(encoding="utf-8").split("\n## The paper's speciation claim\n", 1)
        if len(text) < 2:
            continue
        bullets = [line for line in text[1].split("\n## ", 1)[0].splitlines() if line.startswith("- ")]
        if bullets:
            out += ["", f"From `{page.name}` (more runs of the paper's set-up; their logs are gone):", "", *bullets]
    return out


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
    for ds in sorted({r.config.data.dataset for r in evo}):
        sides = {
            s: [r for r in evo if not variant(r) and r.config.data.dataset == ds and r.config.ecosystem.speciation == s]
            for s in (True, False)
        }
        if not sides[True] or not sides[False]:
            continue
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
    if len(out) == 7:
        out.append("- no dataset has runs of the paper's set-up both with and without speciation.")
    return out + earlier_verdicts(earlier_pages)


def finished(r: RunLogs, budget: float = 0.0) -> bool:
    """Whether run ``r`` is over: it logged ``run.generations`` generations, spent its compute budget
    (``run.train_macs``, or ``budget``: the page's equal-compute budget, which runs budgeted by the
    runner before ``run.train_macs`` existed were stopped at), or went extinct. A sweep's run still in
    progress is not (pooled with finished seeds it would mix runs of different lengths)."""
    c = r.config.run
    spent = float(r.generations["train_macs"].sum()) if "train_macs" in r.generations else 0.0
    limit = c.train_macs or budget
    return (
        r.last_generation + 1 >= c.generations
        or (limit > 0 and spent >= 0.999 * limit)
        or (r.run_dir / "extinct.txt").exists()
    )


def fitness_source(r: RunLogs) -> str:
    """What a run's fitness is measured on, from its ``[data]`` section (the page's Budget line)."""
    d = r.config.data
    test = f"{d.test_subset} test images" if d.test_subset else "the whole test set"
    if d.validation_fraction:
        return f"accuracy on a {d.validation_fraction:.0%} validation split (test accuracy on {test} logged beside)"
    return f"accuracy on {test}"


#: the list of files an earlier ``make_results`` wrote into ``--plots``: only these are removed before
#: the new figures, so a user's own files in the folder survive
PLOTS_MANIFEST = ".make_results-files"


def plots_conflict(plots: Path, run_dirs: list[Path], inputs: Sequence[Path] = (), page: Path | None = None) -> str:
    """Why ``--plots`` may not be written (``""``: it may): it is, holds or lies inside a run
    directory, holds an input (``--earlier``) or the page (``--out``), or holds files without the
    list of what an earlier ``make_results`` wrote there (:data:`PLOTS_MANIFEST`): only the files on
    that list are removed before the new figures (:func:`clear_plots`), so a folder of unknown
    files is refused rather than mixed with the figures."""
    target = plots.resolve()
    for run in run_dirs:
        run = run.resolve()
        if target == run or target in run.parents or run in target.parents:
            return f"is, holds or lies inside the run directory {str(run)!r}"
    inside = enclosing_run(target)  # any run or pack, not only an input (its report, its show pictures)
    if inside is not None:
        return f"lies inside the run directory or pack {str(inside.root)!r}"
    for kept in [*inputs, *([page] if page is not None else [])]:
        if target in kept.resolve().parents:
            verb = "holds" if kept.exists() else "would hold"  # the page may not be written yet
            return f"{verb} {str(kept)!r}, an input or the page itself"
    if target.is_dir():
        if any(target.rglob("config.toml")):
            return "holds a run directory (a config.toml)"
        if not (target / PLOTS_MANIFEST).is_file() and any(f.is_file() for f in target.rglob("*")):
            return f"holds files and no {PLOTS_MANIFEST} (the list of what an earlier make_results wrote there)"
    elif target.exists():
        return "is a file"
    return ""


def clear_plots(plots: Path) -> set[Path]:
    """Remove the files an earlier ``make_results`` wrote into ``plots`` (those on its
    :data:`PLOTS_MANIFEST`), then the folders that removal left empty; every other file, folder
    and link stays (a listed name that is now a link, or leaves the folder, is not followed).

    Returns:
        the files still in ``plots`` afterwards (a user's own), as absolute paths.
    """
    root = plots.resolve()
    manifest = root / PLOTS_MANIFEST
    emptied: set[Path] = set()
    if manifest.is_file():
        for name in manifest.read_text(encoding="utf-8").splitlines():
            path = root / name
            if not name.strip() or name == PLOTS_MANIFEST or path.is_symlink() or not path.is_file():
                continue
            if root not in path.resolve().parents:  # never outside the folder
                continue
            path.unlink()
            emptied.update(p for p in path.parents if root in p.parents)
        manifest.unlink(missing_ok=True)
    for folder in sorted(emptied, key=lambda d: len(d.parts), reverse=True):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    return {f.resolve() for f in root.rglob("*") if f.is_file()}


def write_plots_manifest(plots: Path, kept: set[Path]) -> None:
    """List in ``plots``' :data:`PLOTS_MANIFEST` every file there but ``kept`` (the files this run wrote)."""
    root = plots.resolve()
    ours = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file() and f.resolve() not in kept)
    (root / PLOTS_MANIFEST).write_text("".join(f"{name}\n" for name in ours), encoding="utf-8")


def out_conflict(out: Path, run_dirs: list[Path], inputs: Sequence[Path] = ()) -> str:
    """Why ``--out`` may not be written (``""``: it may): it is not a Markdown file, is an input
    (``--earlier``), or lies inside a run directory or pack (an input or not: a page there could
    replace a run's ``config.toml``), or its folder is a file."""
    target = out.resolve()
    if target.suffix != ".md":
        return "is not a Markdown file (.md)"
    if target.is_dir():
        return "is a folder"
    if any(target == i.resolve() for i in inputs):
        return "is an input (--earlier)"
    for run in run_dirs:
        if run.resolve() in target.parents:
            return f"lies inside the run directory {str(run)!r}"
    inside = enclosing_run(target.parent)
    if inside is not None:
        return f"lies inside the run directory or pack {str(inside.root)!r}"
    for folder in target.parents:
        if folder.exists():
            return "" if folder.is_dir() else f"has a file {str(folder)!r} among its folders"
    return ""


def run_label(r: RunLogs) -> str:
    """``<experiment folder>/<run folder>``, e.g. ``mnist-levers-cap/seed1`` (also for a run given
    by a relative name, ``seed1`` inside its experiment folder)."""
    run_dir = r.run_dir.resolve()
    return f"{run_dir.parent.name}/{run_dir.name}"


#: an earlier row (:class:`EarlierRun`) whose compute passes the budget by more than this factor is left
#: out: a run stopped by the same budget passes it by one generation's compute at most (about 1%)
EARLIER_OVER = 1.02
_TITLE = re.compile(r"^(?P<name>[^(]+) \((?P<inner>.*)\)$")


@dataclasses.dataclass(frozen=True)
class EarlierRun:
    """One run of an earlier page whose logs are gone: its row of that page's ``compute.csv``.

    Such a row holds the run's end (its last generation), not a reading at this page's budget:
    the equal-compute table uses it at 100% of the budget only, and nothing else on the page does.

    Attributes:
        dataset: the dataset (``mnist``, ``fashion-mnist``, ``cifar10``, ``svhn``).
        group: its group in the equal-compute comparison (:func:`what`).
        label: ``<experiment folder>/seed<k>``.
        generation: its last generation (0-based).
        train_macs: its cumulative training compute (multiply-accumulates).
        selected_test_accuracy, best_test_accuracy: fractions, as the row gives them.
        champion: its final champion's layers, from ``champions.csv`` beside the row's file (or "").
    """

    dataset: str
    group: str
    label: str
    generation: int
    train_macs: float
    selected_test_accuracy: float
    best_test_accuracy: float
    champion: str = ""

    def at(self, budget: float):
        """The run as :func:`ecosim.report.compare.at_compute` would give it, read at its end."""
        from ecosim.report.compare import AtCompute

        return AtCompute(
            self.generation,
            self.train_macs,
            self.train_macs / budget,
            self.selected_test_accuracy,
            self.best_test_accuracy,
        )


def read_earlier(paths: Sequence[str | Path]) -> list[EarlierRun]:
    """The rows of earlier pages' ``compute.csv`` files (``--earlier``), one :class:`EarlierRun` each.

    The group comes from the row's ``experiment`` title (``MNIST (fixed baseline C10[3x3])``,
    ``MNIST (no speciation; mnist-levers-settle)``, ``MNIST (with speciation)``) and the dataset
    from its name; the final champion from ``champions.csv`` in the same folder, when there is one.

    Raises:
        SystemExit: a file that is missing or lacks a column, or a title that names no known dataset
            (one line naming the file and the row).
    """
    from ecosim.report.runs import _DATASET_NAMES

    slugs = {v: k for k, v in _DATASET_NAMES.items()}
    need = {"experiment", "run_dir", "generations", "train_macs", "selected_test_accuracy", "best_test_accuracy"}
    out: list[EarlierRun] = []
    for path in map(Path, paths):
        try:
            rows = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"make_results: --earlier {str(path)!r} cannot be read: {one_line(exc, 200)}") from None
        if need - set(rows.columns):
            raise SystemExit(
                f"make_results: --earlier {str(path)!r} lacks the columns "
                f"{', '.join(sorted(need - set(rows.columns)))} (give the compute.csv of an earlier results page)"
            )
        champions: dict[str, str] = {}
        beside = path.with_name("champions.csv")
        if beside.is_file():
            ch = pd.read_csv(beside).sort_values("generation")
            champions = {str(k): str(v) for k, v in zip(ch["run_dir"], ch["layers"], strict=True)}
        for col in ("generations", "train_macs", "selected_test_accuracy", "best_test_accuracy"):
            values = pd.to_numeric(rows[col], errors="coerce")
            bad = ~np.isfinite(values) | ((values % 1 != 0) if col == "generations" else False)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise SystemExit(
                    f"make_results: --earlier {str(path)!r} row {i + 2}: {col} = {rows[col].iloc[i]} is not "
                    + ("a whole number" if col == "generations" else "a finite number")
                )
        for i, row in rows.iterrows():
            m = _TITLE.match(str(row["experiment"]))
            dataset = slugs.get(m["name"].strip()) if m else None
            if m is None or dataset is None:
                raise SystemExit(
                    f"make_results: --earlier {str(path)!r} row {i + 2}: experiment {row['experiment']!r} names no "
                    f"known dataset ({', '.join(slugs)})"
                )
            inner, run_dir = m["inner"], Path(str(row["run_dir"]))
            if inner.startswith("fixed baseline "):
                group = f"baseline {inner.removeprefix('fixed baseline ').split(';')[0]}-F10"
            else:
                speciation, _, folder = inner.partition("; ")
                name = folder.removeprefix(f"{dataset}-") if folder else ""
                group = f"evolution, {speciation}" + (f", {name}" if name else "")
            out.append(
                EarlierRun(
                    dataset,
                    group,
                    f"{run_dir.parent.name}/{run_dir.name}",
                    int(row["generations"]) - 1,
                    float(row["train_macs"]),
                    float(row["selected_test_accuracy"]),
                    float(row["best_test_accuracy"]),
                    champions.get(str(row["run_dir"]), ""),
                )
            )
    seen: set[tuple[str, str]] = set()
    unique = []
    for e in out:  # a file given twice, or a run in two files: once
        if (e.dataset, e.label) not in seen:
            seen.add((e.dataset, e.label))
            unique.append(e)
    return unique


_WARNED: set[str] = set()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for a script: ``make_results: warning: <text>`` on stderr, one line,
    each text once (the page draws a report per group of runs, and each would warn again)."""
    text = " ".join(str(message).split())
    if text not in _WARNED:
        _WARNED.add(text)
        print(f"make_results: warning: {text}", file=sys.stderr)


def budget_section(
    evo: list[RunLogs],
    base: list[RunLogs],
    runs: list[RunLogs],
    unfinished: list[RunLogs],
    earlier: list[EarlierRun],
    earlier_csvs: Sequence[str],
    commands: Sequence[str],
    budgets: list[int],
) -> list[str]:
    """The title, and Budget: machine, sizes, protocol, runs left out or from earlier rows, and the commands."""
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
        f"- machine: 2 CPU cores, no GPU; {len(evo)} evolution runs and {len(base)} baseline runs, "
        f"{modes_text(evo + base)};",
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
        m = {k: float(np.nanmean([search_effort(r)[k] for r in sel])) for k in search_effort(sel[0])}
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
        m = {k: float(np.nanmean([e[k] for e in sel])) for k in sel[0]}
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
        m = {k: float(np.nanmean([f[k] for f in fates])) for k in fates[0]}
        cells = [_pct(m[k]) for k in (*COMPUTE_GROUPS, *FATES)]
        lines.append(f"| {name} | {n_gen} | " + " | ".join(cells) + " |")
    return lines


def kernel_shapes_section(evo: list[RunLogs]) -> list[str]:
    """Kernel shapes in evolved champions against the null model of offspring at birth (§III-E, Figs. 7–8)."""
    lines: list[str] = []
    distinct: dict[int, str] = {}
    for r in evo:
        champs = generation_champions(r).dropna()
        for cid, layers in zip(champs["id"], champs["layers"]):
            distinct[(hash(str(r.run_dir)), int(cid))] = str(layers)  # type: ignore[index]
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


def main() -> None:
    warnings.showwarning = _one_line_warning  # ecosim's warnings (a replicate, a run left out) as one line each
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
    lines = budget_section(evo, base, runs, unfinished, earlier, args.earlier, args.command, budgets)
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
