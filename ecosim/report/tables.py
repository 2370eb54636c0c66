"""Table I of the paper (§IV-B): highest, average and offspring-before-BP fitness per experiment.

>>> from ecosim.report.tables import table_one                            # doctest: +SKIP
>>> table_one(["runs/table1/mnist-speciation"])                           # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecosim.errors import EcosimError
from ecosim.report.runs import (
    Experiment,
    ReportError,
    RunLogs,
    _as_runs,
    group_runs,
    warn_replicates,
)
from ecosim.store.networks import load_network
from ecosim.store.rundir import RunDir

#: Table I metrics: generation-log column → column header of the paper.
METRICS: dict[str, str] = {
    "highest_fitness": "Highest fitness",
    "mean_fitness": "Average fitness",
    "mean_offspring_fitness_before_bp": "Average offspring fitness before BP",
}
"""The offspring metric excludes clones (a clone's before-BP score is its trained parent's
fitness): see :meth:`RunLogs.column`."""


class MissingRowWarning(UserWarning):
    """A run went past the generation a table reads but has no row for it (a damaged log file that
    ``ecosim resume`` moved aside): the run is left out there."""


def table_one(runs: Sequence[RunLogs | str | Path], generation: int | None = None) -> pd.DataFrame:
    """Table I: per experiment, highest value and mean ± std over runs of each metric at one generation.

    Paper §IV-B, Table I ("highest value, mean and standard deviation recorded over 10 runs after
    epoch 100"). For each metric of :data:`METRICS` (``highest_fitness``, ``mean_fitness``,
    ``mean_offspring_fitness_before_bp``) the value each run logged at ``generation`` is taken;
    over those values the table gives the maximum, the mean and the **sample** standard
    deviation (``ddof=1``). With one run (one value) the standard deviation is NaN. A run whose
    value is missing at that generation (no offspring was scored before BP, say) is left out
    of that metric only; ``<metric>_n`` counts the values used. A run without a row for that
    generation, though it went past it (a damaged log file that ``ecosim resume`` moved aside),
    is left out of the row with a :class:`MissingRowWarning`; ``runs`` counts the runs read.

    Args:
        runs: :class:`RunLogs`, or run directories / folders of run directories.
        generation: the generation (0-based, as logged) to read; ``None`` (default) takes, per
            experiment, the last generation that every run of the experiment reached.

    Returns:
        One row per experiment, indexed by :attr:`Experiment.slug` (e.g. ``"mnist-speciation"``),
        in Table I order, with columns ``experiment`` (title), ``dataset``, ``speciation``,
        ``runs``, ``generation``, and for each metric ``<metric>_max``, ``<metric>_mean``,
        ``<metric>_std``, ``<metric>_n``. Values are fractions in [0, 1] like the logs (the
        printed table shows percent).

    Raises:
        ReportError: no runs, a run that did not reach ``generation`` (the message names it and
            its last generation), or an experiment none of whose runs has a row for it.

    >>> df = table_one(["runs/table1/mnist-speciation"])                     # doctest: +SKIP
    >>> df.loc["mnist-speciation", "highest_fitness_max"]                   # doctest: +SKIP
    0.9832
    """
    loaded = _as_runs(runs)
    if not loaded:
        raise ReportError("table_one needs at least one run, got none")
    groups = group_runs(loaded)
    warn_replicates(groups)
    return table_one_of_groups(groups, generation)


def table_one_of_groups(groups: dict[Experiment, list[RunLogs]], generation: int | None) -> pd.DataFrame:
    """:func:`table_one` of runs already grouped by experiment (:func:`ecosim.report.runs.group_runs`).

    Args:
        groups: experiment → its runs. generation: the generation read (``None``: the last one
            every run of an experiment reached).

    Returns:
        one row per experiment, the columns of :func:`table_one`.
    """
    records = []
    for exp, group in groups.items():
        gen = min(r.last_generation for r in group) if generation is None else int(generation)
        values: dict[str, list[float]] = {m: [] for m in METRICS}
        used = 0
        for r in group:
            if r.last_generation < gen:
                raise ReportError(
                    f"generation {gen} is not in the logs of run {str(r.run_dir)!r} "
                    f"(logged generations {int(r.generations['generation'].min())}..{r.last_generation})"
                )
            if not (r.generations["generation"] == gen).any():  # a damaged file moved aside by resume
                warnings.warn(
                    f"{exp.slug}: run {str(r.run_dir)!r} has no row for generation {gen} (a gap in its "
                    "generations log, e.g. a damaged file that ecosim resume moved aside): left out of Table I "
                    "at that generation",
                    MissingRowWarning,
                    stacklevel=3,
                )
                continue
            used += 1
            for m in METRICS:
                v = r.column(m).get(gen)
                if v is not None and not pd.isna(v):
                    values[m].append(float(v))
        if not used:
            raise ReportError(f"{exp.slug}: no run has a row for generation {gen} (a gap in every run's log)")
        rec: dict[str, Any] = {
            "slug": exp.slug,
            "experiment": exp.title,
            "dataset": exp.dataset,
            "speciation": exp.speciation,
            "runs": used,
            "generation": gen,
        }
        for m, vals in values.items():
            arr = np.asarray(vals, dtype=np.float64)
            rec[f"{m}_max"] = float(arr.max()) if arr.size else math.nan
            rec[f"{m}_mean"] = float(arr.mean()) if arr.size else math.nan
            rec[f"{m}_std"] = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
            rec[f"{m}_n"] = int(arr.size)
        records.append(rec)
    return pd.DataFrame.from_records(records).set_index("slug")


def run_champion(generations: pd.DataFrame) -> tuple[int, float, int] | None:
    """The run's champion by its generations log: ``(network_id, fitness, generation)`` of the first
    generation champion with the highest fitness. The engine saves its champion
    (``champion.safetensors``, what ``ecosim show`` and ``ecosim export`` use) only on a strictly
    higher fitness, so this is that network, except for a tie within one generation of an
    asynchronous run (the file keeps the species step that finished first; :func:`saved_champion`
    reads the file itself). ``None`` for a log without ``champion_id``.
    """
    if not {"generation", "champion_id", "champion_fitness"} <= set(generations.columns):
        return None
    rows = generations[generations["champion_id"].notna() & generations["champion_fitness"].notna()]
    if rows.empty:
        return None
    top = rows.sort_values("generation", kind="stable").loc[lambda d: d["champion_fitness"].idxmax()]
    return int(top["champion_id"]), float(top["champion_fitness"]), int(top["generation"])


def saved_champion(run_dir: str | Path) -> tuple[int, float, int] | None:
    """The run's champion as ``champion.safetensors`` holds it: ``(network_id, fitness, generation)``
    from its metadata; ``None`` without the file (a pack) or without those fields (older files)."""
    path = RunDir(run_dir).champion
    if not path.is_file():
        return None
    try:
        meta = load_network(path)[2]
    except EcosimError:  # a damaged file: the logs decide
        return None
    if any(meta.get(k) is None for k in ("network_id", "fitness", "generation")):
        return None
    return int(meta["network_id"]), float(meta["fitness"]), int(meta["generation"])


def champions(groups: dict[Experiment, list[RunLogs]]) -> pd.DataFrame:
    """The final champion of every run: the best network of its last logged generation (issue 7).

    Args:
        groups: the output of :func:`~ecosim.report.runs.group_runs`.

    Returns:
        One row per run with ``experiment`` (slug), ``run`` (its name), ``run_dir`` (its
        directory, as given), ``generation``, ``champion_id``,
        ``fitness``, ``validation`` (fitness is validation accuracy), ``test_accuracy`` (the champion's,
        from the networks log; NaN without a validation split, where it is the fitness), ``parameters``
        and ``layers`` (the genome summary, e.g. ``C10s1x1[3x3,...]-F10``;
        ``None`` where neither log holds it), and the run's champion (:func:`run_champion`, the network
        ``ecosim show`` and ``export`` use): ``run_champion_id``, ``run_champion_fitness``,
        ``run_champion_generation`` (``None``/NaN where the log has no champion ids).
    """
    rows = []
    for exp, group in groups.items():
        for r in group:
            g = r.last_generation
            cid = r.column("champion_id").get(g)
            fit = r.column("champion_fitness").get(g)
            params = r.column("champion_parameters").get(g)
            layers = r.column("champion_layers").get(g)
            best = saved_champion(r.run_dir) or run_champion(r.generations)
            validation = r.config.data.validation_fraction > 0
            test = _test_accuracy(r, g, cid) if validation else math.nan
            rows.append(
                {
                    "experiment": exp.slug,
                    "run": r.name,
                    "run_dir": str(r.run_dir),
                    "generation": g,
                    "champion_id": None if cid is None or pd.isna(cid) else int(cid),
                    "fitness": math.nan if fit is None or pd.isna(fit) else float(fit),
                    "validation": validation,
                    "test_accuracy": test,
                    "parameters": None if params is None or pd.isna(params) else int(params),
                    "layers": str(layers) if isinstance(layers, str) else None,
                    "run_champion_id": None if best is None else best[0],
                    "run_champion_fitness": math.nan if best is None else best[1],
                    "run_champion_generation": None if best is None else best[2],
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "experiment",
            "run",
            "run_dir",
            "generation",
            "champion_id",
            "fitness",
            "validation",
            "test_accuracy",
            "parameters",
            "layers",
            "run_champion_id",
            "run_champion_fitness",
            "run_champion_generation",
        ],
    )
    for column in ("champion_id", "parameters", "run_champion_id", "run_champion_generation"):
        frame[column] = frame[column].astype("Int64")  # ids stay integers in champions.csv (no "12.0")
    return frame


def _test_accuracy(r: Any, generation: int, network_id: Any) -> float:
    """The test accuracy the networks log gives network ``network_id`` in ``generation`` (NaN if absent)."""
    if network_id is None or pd.isna(network_id):
        return math.nan
    nets = r.networks
    if nets.empty or "test_accuracy" not in nets:
        return math.nan
    row = nets[(nets["generation"] == generation) & (nets["network_id"] == int(network_id))]
    value = row["test_accuracy"].iloc[0] if len(row) else None
    return math.nan if value is None or pd.isna(value) else float(value)


def champion_line(row: Any) -> str:
    """One line per final champion, naming its run directory (the experiment slug is not a folder).

    ``mnist-speciation, runs/mnist/seed0, generation 19: network 412, C10s1x1[3x3]-F10, 78,510 parameters,
    fitness 97.12%`` (with a validation split ``fitness 97.12% (validation), test accuracy 96.80%``), and
    where the run's champion (the best ever, which ``ecosim show`` and ``export``
    use) is another network: ``; the run's champion (show, export) is network 388 (97.30% at generation
    17)``, or the same network's weights of an earlier generation: ``; show and export use its
    weights of generation 17 (97.30%)``.
    """
    layers = row["layers"] if isinstance(row["layers"], str) and row["layers"] else "layers not logged"
    params = (
        "? parameters"
        if row["parameters"] is None or pd.isna(row["parameters"])
        else f"{int(row['parameters']):,} parameters"
    )
    fit = "" if pd.isna(row["fitness"]) else f", fitness {100.0 * float(row['fitness']):.2f}%"
    if fit and row.get("validation"):  # selected on a validation split: the test accuracy is the number to report
        test = row.get("test_accuracy")
        fit += " (validation)" + (
            "" if test is None or pd.isna(test) else f", test accuracy {100.0 * float(test):.2f}%"
        )
    where = row.get("run_dir") or row["run"]
    cid, best = row.get("champion_id"), row.get("run_champion_id")
    net = "" if cid is None or pd.isna(cid) else f"network {int(cid)}, "
    other = ""
    if best is not None and not pd.isna(best):
        best_fit, best_gen = 100.0 * float(row["run_champion_fitness"]), int(row["run_champion_generation"])
        if cid is None or pd.isna(cid) or int(best) != int(cid):
            other = (
                f"; the run's champion (show, export) is network {int(best)} ({best_fit:.2f}% at generation {best_gen})"
            )
        elif best_gen != int(row["generation"]):  # the same network, its weights of an earlier generation
            other = f"; show and export use its weights of generation {best_gen} ({best_fit:.2f}%)"
    head = f"{row['experiment']}, {where}, generation {int(row['generation'])}: "
    if not net and not fit:  # every network of the generation diverged or failed (no ok row to name)
        return f"{head}no champion, every network diverged or failed{other}"
    return f"{head}{net}{layers}, {params}{fit}{other}"


def format_cell(highest: float, mean: float, std: float) -> str:
    """One Table I cell in percent, as the paper prints it: ``98.32% (98.13 ± 0.15)``.

    Args:
        highest, mean, std: fractions in [0, 1]; NaN prints as ``n/a`` (std with one run).
    """

    def pct(v: float, suffix: str = "") -> str:
        return "n/a" if v is None or math.isnan(v) else f"{100.0 * v:.2f}{suffix}"

    return f"{pct(highest, '%')} ({pct(mean)} ± {pct(std)})"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table I with the paper's cells (strings in percent), one column per metric.

    Args:
        table: the output of :func:`table_one`.

    Returns:
        Columns ``Experiment``, ``Runs``, ``Generation`` and one per :data:`METRICS` header.
    """
    rows = []
    for _, r in table.iterrows():
        row = {
            "Experiment": r["experiment"],
            "Runs": int(r["runs"]),
            "Generation": int(r["generation"]),
        }
        for m, header in METRICS.items():
            row[header] = format_cell(r[f"{m}_max"], r[f"{m}_mean"], r[f"{m}_std"])
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    """``table`` (:func:`table_one`) as a Markdown table, cells formatted by :func:`format_table`, ``notes`` below."""
    text = format_table(table)
    cols = list(text.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in text.itertuples(index=False)]
    note = (
        "\nHighest value over runs, and (mean ± sample standard deviation, ddof=1) over runs, in %, "
        "at the generation shown (0-based). n/a: a single run has no standard deviation, or no value "
        "(no offspring scored before BP in that generation: a fixed baseline, ecosystem.offspring = 0, "
        "and a settled run, ecosystem.settle, make none). "
        "Offspring fitness before BP excludes clones.\n"
    )
    extra = "".join(f"\n{n}\n" for n in notes)
    return "\n".join(lines) + "\n" + note + extra


def rich_table(table: pd.DataFrame) -> Any:
    """Table I as a :class:`rich.table.Table` (cells in percent, as in the paper)."""
    from rich.table import Table

    out = Table(title="Table I: highest value (mean ± std) over runs", show_lines=True)
    text = format_table(table)
    for col in text.columns:
        out.add_column(col, justify="left" if col == "Experiment" else "right")
    for row in text.itertuples(index=False):
        out.add_row(*(str(v) for v in row))
    return out
