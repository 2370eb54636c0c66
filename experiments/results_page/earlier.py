"""Earlier pages (``--earlier``): the per-run rows of their ``compute.csv`` (:class:`EarlierRun`,
:func:`read_earlier`) for runs whose logs are gone, and their speciation verdicts."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecosim.errors import one_line
from ecosim.report.compare import AtCompute

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

    def at(self, budget: float) -> AtCompute:
        """The run as :func:`ecosim.report.compare.at_compute` would give it, read at its end."""
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
