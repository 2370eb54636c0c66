"""Per-run log analysis: kernel shapes, where the search effort and the training compute went,
what became of mutation offspring, the generation champions, and runs cut to a budget."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ecosim.report.runs import RunLogs

from .earlier import EarlierRun

_CONV = re.compile(r"C(\d+)s(\d+)x(\d+)\[([^\]]*)\]")


def conv_layers(summary: str) -> list[list[tuple[int, int]]]:
    """Kernel shapes ``(h, w)`` of each conv layer of a ``Genome.summary()`` string."""
    return [
        [tuple(int(x) for x in k.split("x")) for k in m.group(4).split(",") if k]  # type: ignore[misc]
        for m in _CONV.finditer(summary or "")
    ]


def conv_depth(summary: str) -> int:
    """Number of conv layers in a ``Genome.summary()`` string."""
    return len(conv_layers(summary))


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


def birth_layers(r: RunLogs) -> list[str]:
    """Layer summaries of every mutation or crossover offspring at birth (its first networks-log row).

    The null model of the kernel-shape analysis: the shapes the operators produce before
    selection acts, to set against the champions' shapes (issue 17 A).
    """
    n = r.networks
    born = n[n["origin"].isin(["mutation", "crossover"])].sort_values("generation").drop_duplicates("network_id")
    return [str(x) for x in born["layers"].dropna()]


CHAMP_SHARE = "offspring from the champion's species"


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


def champion_changes(r: RunLogs, start: int) -> float:
    """Share of the generations after ``start`` whose champion's layers differ from the generation
    before (1.0 when the run has fewer than 10 generations after ``start``: nothing to say)."""
    layers = generation_champions(r)["layers"].astype(str)
    late = layers[layers.index >= start]
    if len(late) < 10:
        return 1.0
    return float((late.to_numpy()[1:] != late.to_numpy()[:-1]).mean())


def trained_per_generation(r: RunLogs, last: int) -> float:
    """Networks trained per generation (``train_images`` > 0), mean over generations ``0 … last``."""
    n = r.networks
    return float(((n["generation"] <= last) & (n["train_images"].fillna(0) > 0)).sum()) / (last + 1)
