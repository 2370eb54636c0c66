"""What a run is: a baseline or an evolution run, what it changes from the paper's set-up (its
variant and short name), its group in the equal-compute comparison, whether it is finished, and
the words the Budget line uses for a set of runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from ecosim.report.runs import RunLogs


def is_baseline(r: RunLogs) -> bool:
    """A fixed-architecture baseline: no reproduction."""
    return r.config.ecosystem.offspring == 0


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


def _names_offspring(r: RunLogs) -> bool:
    """Whether :func:`variant` names the run's offspring count (it differs from half the population)."""
    e = r.config.ecosystem
    return e.offspring is not None and e.offspring != -(-e.population // 2)


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


def fitness_source(r: RunLogs) -> str:
    """What a run's fitness is measured on, from its ``[data]`` section (the page's Budget line)."""
    d = r.config.data
    test = f"{d.test_subset} test images" if d.test_subset else "the whole test set"
    if d.validation_fraction:
        return f"accuracy on a {d.validation_fraction:.0%} validation split (test accuracy on {test} logged beside)"
    return f"accuracy on {test}"


def run_label(r: RunLogs) -> str:
    """``<experiment folder>/<run folder>``, e.g. ``mnist-levers-cap/seed1`` (also for a run given
    by a relative name, ``seed1`` inside its experiment folder)."""
    run_dir = r.run_dir.resolve()
    return f"{run_dir.parent.name}/{run_dir.name}"


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
