"""Honest comparisons between runs: compute spent, selection on validation, intervals over seeds.

Issue 17 C. Three biases of a naive "best test accuracy" comparison are removed here:

* **unequal compute**: a run's progress is read against its cumulative multiply-accumulates
  (:func:`compute_curve`, from the logs' ``train_macs`` / ``eval_macs``), and runs are compared
  at one compute budget (:func:`at_compute`);
* **best of many test scores**: the network is *selected* by fitness (the validation split when
  ``data.validation_fraction`` > 0) and its *test* accuracy is reported; the maximum test score
  over all networks ever trained grows with the number of networks scored;
* **one seed**: runs are summarised as mean ± sd over seeds, and differences get a Welch
  confidence interval (:func:`welch_difference`).

Everything reads the run's logs (:class:`~ecosim.report.runs.RunLogs`); nothing here trains.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecosim.report.runs import RunLogs

#: columns of :func:`compute_curve`
CURVE_COLUMNS = (
    "generation",
    "train_macs",
    "eval_macs",
    "compute_macs",
    "trainings",
    "test_evaluations",
    "selected_id",
    "selected_fitness",
    "selected_test_accuracy",
    "best_test_accuracy",
)


def compute_curve(run: RunLogs) -> pd.DataFrame:
    """Per generation: cumulative compute and the test accuracy of the network selected so far.

    The selected network at generation ``g`` is the one with the highest fitness among every
    network trained in generations ``0..g`` (lowest generation, then lowest id, on ties: the first
    to reach it), as a user who keeps the fittest network would pick it; fitness is validation
    accuracy when the run holds out a validation split, else test accuracy (the paper). Its test
    accuracy is the one measured in that same evaluation.

    Args:
        run: a run's logs (written by ecosim ≥ 0.3: the compute columns are needed).

    Returns:
        a DataFrame with :data:`CURVE_COLUMNS`, one row per logged generation: ``train_macs``,
        ``eval_macs`` and ``compute_macs`` (their sum) cumulative in multiply-accumulates;
        ``trainings`` and ``test_evaluations`` cumulative counts; ``selected_*`` the selected
        network; ``best_test_accuracy`` the maximum test accuracy of any network so far (the
        optimistic statistic, for contrast). Accuracies are fractions in [0, 1].

    Raises:
        ValueError: the run's logs have no compute columns (written before ecosim 0.3).
    """
    g = run.generations.sort_values("generation").reset_index(drop=True)
    if "train_macs" not in g or g["train_macs"].isna().all():
        raise ValueError(f"run {run.run_dir} has no compute columns (logs written before ecosim 0.3)")
    n = run.networks
    n = n[(n["status"] == "ok") & n["fitness"].notna()].sort_values(["generation", "network_id"])
    best_fit = -np.inf
    best: tuple[int | None, float] = (None, np.nan)
    best_test = -np.inf
    rows = []
    by_gen = {int(k): v for k, v in n.groupby("generation")}
    for gen in g["generation"].astype(int):
        part = by_gen.get(gen)
        if part is not None and len(part):
            i = int(np.argmax(part["fitness"].to_numpy()))  # first maximum: lowest id
            top = part.iloc[i]
            if float(top["fitness"]) > best_fit:
                best_fit, best = float(top["fitness"]), (int(top["network_id"]), float(top["test_accuracy"]))
            best_test = max(best_test, float(part["test_accuracy"].max()))
        rows.append(
            (
                gen,
                best[0],
                best_fit if np.isfinite(best_fit) else np.nan,
                best[1],
                best_test if np.isfinite(best_test) else np.nan,
            )
        )
    sel = pd.DataFrame(
        rows, columns=["generation", "selected_id", "selected_fitness", "selected_test_accuracy", "best_test_accuracy"]
    )
    out = pd.DataFrame({"generation": g["generation"].astype(int)})
    for col in ("train_macs", "eval_macs", "trainings", "test_evaluations"):
        out[col] = g[col].fillna(0).astype(float).cumsum()
    out["compute_macs"] = out["train_macs"] + out["eval_macs"]
    out = out.merge(sel, on="generation")
    return out[list(CURVE_COLUMNS)]


@dataclass(frozen=True)
class AtCompute:
    """A run read at a compute budget (:func:`at_compute`).

    Attributes:
        generation: the last generation whose cumulative training compute is within the budget.
        train_macs: cumulative training compute there (multiply-accumulates).
        share: ``train_macs / budget`` (< 1 when the run stopped before the budget).
        selected_test_accuracy: test accuracy of the network selected by fitness up to there.
        best_test_accuracy: the maximum test accuracy of any network up to there (optimistic).
    """

    generation: int
    train_macs: float
    share: float
    selected_test_accuracy: float
    best_test_accuracy: float


def at_compute(run: RunLogs, budget: float) -> AtCompute | None:
    """The run at the last generation whose cumulative *training* compute is ≤ ``budget`` MACs.

    A run that never spent ``budget`` is read at its last generation (``share`` < 1: it is
    compared with less compute than the budget, a handicap, never an advantage). A run whose
    first generation alone spent more than ``budget`` has no reading there: ``None`` (reading it
    at generation 0 would credit it with more compute than the budget).

    Args:
        run: a run's logs.
        budget: training multiply-accumulates (> 0).

    Returns:
        the reading, or ``None`` where the run has none within ``budget``.

    Raises:
        ValueError: ``budget`` ≤ 0, or the run has no compute columns.
    """
    if not budget > 0:
        raise ValueError(f"budget must be > 0 multiply-accumulates, got {budget!r}")
    budget = float(budget)
    c = compute_curve(run)
    within = c[c["train_macs"] <= budget * (1 + 1e-9)]
    if within.empty:
        return None
    row = within.iloc[-1]
    return AtCompute(
        int(row["generation"]),
        float(row["train_macs"]),
        float(row["train_macs"]) / budget,
        float(row["selected_test_accuracy"]),
        float(row["best_test_accuracy"]),
    )


@dataclass(frozen=True)
class Difference:
    """Mean of ``a`` minus mean of ``b`` with its Welch confidence interval (:func:`welch_difference`).

    Attributes:
        mean: observed difference of means.
        low, high: the ``level`` confidence interval (``nan`` with fewer than 2 values on a side,
            or no spread on either).
        level: e.g. 0.95.
        n_a, n_b: sample sizes.
    """

    mean: float
    low: float
    high: float
    level: float
    n_a: int
    n_b: int

    @property
    def has_interval(self) -> bool:
        """Whether an interval exists (2 values a side and some spread)."""
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    @property
    def above_zero(self) -> bool:
        """Whether the whole interval lies above 0 (``a`` better with that confidence)."""
        return self.has_interval and self.low > 0

    @property
    def below_zero(self) -> bool:
        """Whether the whole interval lies below 0 (``b`` better with that confidence)."""
        return self.has_interval and self.high < 0


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """Welch's t confidence interval of ``mean(a) − mean(b)`` (unequal variances; scipy's
    ``ttest_ind(a, b, equal_var=False).confidence_interval``).

    Runs over seeds are few (3–5 a side), and a percentile bootstrap is far too narrow there:
    with 3 runs a side and no true difference it puts its 95% interval off 0 in about 20% of
    cases, with 5 in about 12%; Welch's interval in about 4% (docs/design.md, "Intervals over
    few seeds"). The interval excludes 0 exactly when Welch's two-sided test rejects at
    ``1 − level``.

    Args:
        a, b: per-run values (e.g. selected test accuracies over seeds), each ≥ 1 value.
        level: two-sided confidence level in (0, 1).

    Returns:
        the difference; ``low`` and ``high`` are ``nan`` with fewer than 2 values on a side or
        no spread on either side (:attr:`Difference.has_interval`).

    Raises:
        ValueError: a sample that is empty, not one-dimensional or holds a value that is not a
            finite number; ``level`` not a number in (0, 1).
    """
    import warnings

    from scipy import stats

    x, y = _sample("a", a), _sample("b", b)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    mean = float(x.mean() - y.mean())
    if min(len(x), len(y)) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Difference(mean, float("nan"), float("nan"), level, len(x), len(y))
    with warnings.catch_warnings():  # one constant side: scipy warns of precision loss, the interval is right
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(x, y, equal_var=False).confidence_interval(level)
    return Difference(mean, float(ci.low), float(ci.high), level, len(x), len(y))


def runs_needed(
    a: Sequence[float], b: Sequence[float], power: float = 0.8, level: float = 0.95, most: int = 10_000
) -> int | None:
    """Runs a side for Welch's ``level`` interval of ``mean(a) − mean(b)`` to lie above 0 with
    probability ``power``, were the observed difference and spreads the true ones (issue 17).

    A planning number for the equal-compute comparison: how many seeds per side would make the
    target decidable. Equal runs ``n`` a side, the sample sds of ``a`` and ``b`` taken as the true
    ones; the interval lies above 0 exactly when Welch's t exceeds its ``(1 + level) / 2``
    quantile, whose probability follows the noncentral t distribution with Welch–Satterthwaite's
    degrees of freedom (normal samples assumed; with 2–5 observed runs a side the sds themselves are
    uncertain, so this is an order of magnitude, not a promise).

    >>> runs_needed([0.9870, 0.9869, 0.9860], [0.9865, 0.9867, 0.9841])
    27
    >>> runs_needed([0.90], [0.91, 0.92]) is None, runs_needed([0.90, 0.91], [0.92, 0.93]) is None
    (True, True)

    Args:
        a, b: per-run values, each ≥ 1 value.
        power: the wanted probability, in (0, 1).
        level: the interval's two-sided confidence level, in (0, 1).
        most: the largest ``n`` tried.

    Returns:
        the smallest such ``n`` (≥ 2); ``None`` when the observed difference is not above 0, no
        side has 2 values with some spread, or ``most`` runs a side would not do.

    Raises:
        ValueError: as :func:`welch_difference`; ``power`` not in (0, 1).
    """
    from scipy import stats

    x, y = _sample("a", a), _sample("b", b)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 < power < 1:
        raise ValueError(f"power must be a number in (0, 1), got {power!r}")
    delta = float(x.mean() - y.mean())
    va = float(x.var(ddof=1)) if len(x) > 1 else 0.0
    vb = float(y.var(ddof=1)) if len(y) > 1 else 0.0
    if delta <= 0 or va + vb == 0:
        return None

    def reaches(n: int) -> bool:
        se = np.sqrt((va + vb) / n)
        df = (va + vb) ** 2 * (n - 1) / (va**2 + vb**2)
        crit = stats.t.ppf((1 + level) / 2, df)
        return bool(stats.nct.sf(crit, df, delta / se) >= power)

    if not reaches(most):
        return None
    low, high = 2, most  # power grows with n: bisect for the smallest n that reaches it
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if reaches(mid) else (mid + 1, high)
    return low


def _sample(name: str, values: Sequence[float]) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite numbers (ValueError naming ``name`` otherwise)."""
    try:
        x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers ({exc})") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if not len(x):
        raise ValueError(f"welch_difference needs at least one value in {name}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds a value that is not a finite number: {x.tolist()}")
    return x


def has_compute(run: RunLogs) -> bool:
    """Whether ``run`` logged its compute (ecosim ≥ 0.3), which :func:`compute_curve` needs."""
    g = run.generations
    return "train_macs" in g and bool(g["train_macs"].notna().any())


def compute_table(groups: Mapping[str, Sequence[RunLogs]]) -> pd.DataFrame:
    """One row per run with compute logs: where it ended, its compute and its selected network.

    Returns:
        columns ``experiment``, ``run_dir``, ``seed``, ``generations``, ``train_macs``,
        ``eval_macs`` (cumulative, multiply-accumulates), ``trainings``, ``test_evaluations``,
        ``selected_id``, ``selected_fitness``, ``selected_test_accuracy``, ``best_test_accuracy``.
    """
    rows = []
    for name, runs in groups.items():
        for r in runs:
            if not has_compute(r):
                continue
            last = compute_curve(r).iloc[-1]
            rows.append(
                {
                    "experiment": name,
                    "run_dir": str(r.run_dir),
                    "seed": r.config.run.seed,
                    "generations": int(last["generation"]) + 1,
                    **{k: int(last[k]) for k in ("train_macs", "eval_macs", "trainings", "test_evaluations")},
                    "selected_id": None if pd.isna(last["selected_id"]) else int(last["selected_id"]),
                    **{k: last[k] for k in ("selected_fitness", "selected_test_accuracy", "best_test_accuracy")},
                }
            )
    table = pd.DataFrame(rows)
    if "selected_id" in table:
        table["selected_id"] = table["selected_id"].astype("Int64")  # counts and ids stay integers in the CSV
    return table


def compute_figure(groups: Mapping[str, Sequence[RunLogs]], title: str = "", budget: float | None = None):  # noqa: ANN201
    """Selected network's test accuracy against cumulative training compute, one line per run.

    Two panels on the same lines: the whole run (left; the y axis spans at most 15 points below the
    best, and a note says how many early points it hides), and the last decade of compute before the
    end (right; the 2 points below the best), where the equal-compute comparison is read.

    Args:
        groups: label → runs (e.g. ``{"evolution, levers": [...], "baseline C10[3x3]-F10": [...]}``);
            each label one colour.
        title: the figure title.
        budget: draw the equal-compute budget as a vertical line (MACs); it also ends the right panel.

    Returns:
        a matplotlib ``Figure`` (x: training multiply-accumulates, log scale; y: test accuracy %),
        ``fig.axes == [whole, last decade]``.
    """
    from matplotlib import rcParams
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.5), layout="constrained")
    whole, zoom = fig.subplots(1, 2)
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    if len(groups) > len(colours):  # one colour per label: no two set-ups share one
        from matplotlib import colormaps

        colours = [colormaps["tab20"](i % 20) for i in range(len(groups))]
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    for k, (name, runs) in enumerate(groups.items()):
        for j, r in enumerate(runs):
            c = compute_curve(r)
            x, y = c["train_macs"].to_numpy(), 100 * c["selected_test_accuracy"].to_numpy()
            colour = colours[k % len(colours)]
            for ax in (whole, zoom):
                ax.plot(x, y, color=colour, lw=1.2, alpha=0.8, label=textwrap.fill(name, 90) if j == 0 else None)
                ax.plot(x[-1:], y[-1:], "o", color=colour, ms=3.5, alpha=0.9)  # where the run ended
            curves.append((x, y))
    for ax in (whole, zoom):
        if budget:
            ax.axvline(budget, color="grey", ls="--", lw=1, label="equal-compute budget")
        ax.set_xscale("log")
        ax.set_xlabel("cumulative training compute (multiply-accumulates)")
        ax.grid(alpha=0.3)
    whole.set_ylabel("test accuracy of the selected network (%)")
    zoom.set_title("the last decade of compute", fontsize=9)
    finite = [(x[np.isfinite(y)], y[np.isfinite(y)]) for x, y in curves]
    finite = [(x, y) for x, y in finite if y.size]
    if finite:  # the first generations of a run start near chance: keep the comparison readable
        top = max(float(y.max()) for _, y in finite)
        low = min(float(y.min()) for _, y in finite)
        ends = min(float(y[-1]) for _, y in finite)  # no run's end is ever cut off
        bottom = max(low, min(top - 15, ends - 0.5))
        whole.set_ylim(bottom, top + 0.5)
        if bottom > low:  # say what the cut hides
            hidden = sum(int((y < bottom).sum()) for _, y in finite)
            whole.set_title(
                f"axis from {bottom:.1f}%: {hidden} early point{'s' * (hidden != 1)} below it (lowest {low:.1f}%)",
                fontsize=9,
            )
        right = budget or max(float(x.max()) for x, _ in finite)
        left = right / 10
        seen, last = [], []  # per run reaching the window: its values there (and the one it enters with), its last
        for x, y in finite:
            if x.max() < left:  # ended before the window: not in this panel
                continue
            inside = y[(x >= left) & (x <= right * 1.3)]
            window = np.concatenate([y[x < left][-1:], inside])
            if window.size:
                seen.append(window)
                last.append(float(window[-1]))
        if seen:
            high = max(float(w.max()) for w in seen)
            floor = min(float(w.min()) for w in seen)
            zoom.set_ylim(min(min(last) - 0.2, max(floor, high - 2)), high + 0.2)
        zoom.set_xlim(left, right * 1.3)
    handles, labels = whole.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncol=2, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


__all__ = [
    "CURVE_COLUMNS",
    "AtCompute",
    "Difference",
    "at_compute",
    "welch_difference",
    "runs_needed",
    "compute_curve",
    "compute_figure",
    "compute_table",
    "has_compute",
]
