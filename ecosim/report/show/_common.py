"""Shared pieces of :mod:`ecosim.report.show`: errors, output formats, saving a figure, shape counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

from ecosim.errors import EcosimError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Picture formats ``ecosim show`` writes (matplotlib back-ends Agg, PDF and SVG).
FORMATS: tuple[str, ...] = ("png", "pdf", "svg")

#: Resolution of PNG pictures, dots per inch.
DPI = 110

#: Fill colour per origin in lineage pictures; also the legend order.
ORIGIN_COLOURS: dict[str, str] = {
    "initial": "#d9d9d9",
    "mutation": "#fdae6b",
    "crossover": "#9ecae1",
    "clone": "#a1d99b",
    "unknown": "#ffffff",
}


class ShowError(EcosimError, ValueError):
    """A picture cannot be made: an unknown format, a network or generation not in the run, a bad argument."""


class WeightsNotKeptError(ShowError, LookupError):
    """The requested network is logged but its weights were not kept (only generation champions are)."""


def check_format(fmt: str) -> str:
    """Return ``fmt`` lower-cased if it is one of :data:`FORMATS`.

    Raises:
        ShowError: naming the format and the allowed ones.
    """
    value = str(fmt).lower().lstrip(".")
    if value not in FORMATS:
        raise ShowError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return value


def save_figure(fig: Figure, path: str | Path, fmt: str = "png") -> Path:
    """Write ``fig`` to ``path`` as ``fmt`` (creating the folder); dates are left out of PDF/SVG.

    Returns:
        ``path``.

    Raises:
        ShowError: an unknown ``fmt``.
    """
    fmt = check_format(fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    fig.savefig(path, format=fmt, dpi=DPI, metadata=metadata)
    return path


def text_extent(text: str, fontsize: float) -> tuple[float, float]:
    """Width and height in inches of ``text`` as matplotlib lays it out in the default font.

    Measured from the glyphs (no renderer, no figure), so a picture can be sized before it is
    drawn. Lines split at ``\\n``; each line is ``1.2 × fontsize`` high (matplotlib's default
    line spacing). Text metrics of the back-ends differ by a few per cent: leave a margin.

    Args:
        text: one or more lines, no mathtext.
        fontsize: in points.

    Returns:
        ``(width, height)`` in inches.

    >>> w, h = text_extent("abc\\nabcdef", 10)
    >>> round(h, 3), 0.3 < w < 0.5
    (0.333, True)
    """
    prop = FontProperties(size=fontsize)
    lines = str(text).split("\n")
    width = max(text_to_path.get_text_width_height_descent(line, prop, ismath=False)[0] for line in lines)
    return width / 72.0, len(lines) * 1.2 * fontsize / 72.0


def shape_counts(kernels: Iterable[tuple[int, int]]) -> list[tuple[tuple[int, int], int]]:
    """Distinct kernel shapes ``(h, w)`` with their counts, most frequent first, then largest area.

    >>> shape_counts([(3, 3), (1, 7), (3, 3)])
    [((3, 3), 2), ((1, 7), 1)]
    """
    counts = Counter((int(h), int(w)) for h, w in kernels)
    return sorted(counts.items(), key=lambda kv: (-kv[1], -kv[0][0] * kv[0][1], kv[0]))


def format_shapes(counts: Iterable[tuple[tuple[int, int], int]]) -> str:
    """``"3×3 ×5, 1×7 ×2"``: shape counts as text (height × width, then the count)."""
    return ", ".join(f"{h}×{w} ×{n}" for (h, w), n in counts)


__all__ = [
    "DPI",
    "FORMATS",
    "ORIGIN_COLOURS",
    "ShowError",
    "WeightsNotKeptError",
    "check_format",
    "format_shapes",
    "save_figure",
    "shape_counts",
    "text_extent",
]
