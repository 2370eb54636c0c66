"""Progress displays: the plain generation line and the live bar (ecosim.progress)."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console
from rich.text import Text

from ecosim.progress import LineReporter, RichReporter, format_champion, format_generation

ROW = {
    "generation": 2,
    "highest_fitness": 0.91234,
    "mean_fitness": 0.8,
    "species_count": 3,
    "network_count": 12,
    "wall_time_s": 4.25,
}


def test_generation_line_is_plain_and_complete():
    assert format_generation(ROW, 10) == (
        "generation 2 (3/10): best 0.9123, mean 0.8000, species 3, networks 12, 4.2 s"
    )
    line = format_generation({**ROW, "champion_layers": "C4s1x1[3x3]-F10", "highest_fitness": None}, 10)
    assert "best n/a" in line and "champion C4s1x1[3x3]-F10, 4.2 s" in line


def test_line_reporter_emits_one_line_per_generation():
    lines: list[str] = []
    rep = LineReporter(lines.append)
    rep.on_start(0, 4)
    rep.on_phase(0, "training", 5)
    rep.on_generation(ROW)
    assert lines == [format_generation(ROW, 4)]


def test_with_a_validation_split_the_lines_say_so_and_the_champion_line_gives_its_test_accuracy(tmp_path):
    """Fitness was validation accuracy with nothing on screen saying so, and the number to report, the
    selected champion's test accuracy, was only in the logs (helper 36, session 42)."""
    import numpy as np

    from ecosim.genome import Genome, init_weights
    from ecosim.store.networks import save_network

    lines: list[str] = []
    rep = LineReporter(lines.append, validation=True)
    rep.on_start(0, 4)
    rep.on_generation(ROW)
    assert lines == [
        "generation 2 (3/4): best 0.9123, mean 0.8000 (validation accuracy), species 3, networks 12, 4.2 s"
    ]
    genome = Genome.minimal((1, 28, 28), 10)
    meta = {"network_id": 7, "fitness": 0.912, "test_accuracy": 0.9051}
    save_network(tmp_path / "champion.safetensors", genome, init_weights(genome, np.random.default_rng(0)), meta)
    line = format_champion(tmp_path, validation=True)
    assert line is not None and line.startswith(
        "champion: network 7, fitness 0.9120 (validation accuracy), test accuracy 0.9051, layers F10, "
    )
    assert "test accuracy" not in (format_champion(tmp_path) or "")  # fitness is test accuracy: said once


@pytest.mark.parametrize("width", [40, 80, 119, 120, 200])
def test_the_progress_bar_is_one_line_that_fits_the_terminal(width):
    def shown() -> list[str]:
        out = StringIO()
        Console(width=width, force_terminal=True, file=out).print(bar.progress.get_renderable())
        return [Text.from_ansi(ln).plain for ln in out.getvalue().rstrip("\n").split("\n")]

    bar = RichReporter(Console(width=width, force_terminal=True, file=StringIO()))
    bar.task = bar.progress.add_task("run", total=1000, completed=123, status="starting")  # on_start, not live
    bar.on_generation(
        {"generation": 122, "species_count": 16, "network_count": 111, "highest_fitness": 0.94123, "mean_fitness": 0.81}
    )
    bar.on_phase(123, "training", 96)
    lines = shown()
    assert len(lines) == 1 and len(lines[0]) <= width, lines
    assert "123/1000" in lines[0] and "best 0." in lines[0] and "-:--:--" in lines[0]  # count, best, ETA
    if width >= 80:
        assert "best 0.9412 · training g123 · 96 in flight" in lines[0]
    if width >= 200:
        assert "mean 0.8100 · species 16 · networks 111" in lines[0] and "generation" in lines[0]
