"""How the page words a number: a percentage, a signed difference in points, a count of runs, and
why a Welch interval is missing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pct(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.2f}%"


def _why_none(sel: Sequence[float], ref: Sequence[float]) -> str:
    return f"{_runs(len(sel))} against {_runs(len(ref))}" if min(len(sel), len(ref)) < 2 else "no spread on either side"


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _points(x: float) -> str:
    """A difference in points, signed, 2 decimals; 3 where 2 would round a non-zero value to 0."""
    return f"{x:+.3f}" if x != 0 and abs(x) < 0.005 else f"{x:+.2f}"
