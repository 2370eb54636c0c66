"""``ecosim show``: architecture, kernel and lineage pictures (paper §III-E, Figs. 7–8). No Ray, no training."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from matplotlib.text import Text

from ecosim.config import Config
from ecosim.errors import CheckpointError, EcosimError
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.report.show import (
    ShowError,
    WeightsNotKeptError,
    architecture_figure,
    architecture_picture,
    generation_champion,
    genome_from_summary,
    kernel_image,
    kernels_figure,
    layer_table,
    lineage,
    lineage_figure,
    save_figure,
    shape_counts,
    write_pictures,
)
from ecosim.report.show._common import DPI
from ecosim.store.logs import LogWriter
from ecosim.store.networks import save_network
from ecosim.store.rundir import RunDir

MLP = Genome((1, 28, 28), (DenseLayer(16), DenseLayer(10)))
ONE_CONV = Genome((1, 28, 28), (ConvLayer(((3, 3),) * 4), DenseLayer(10)))
MULTI_CONV = Genome(
    (3, 32, 32),
    (
        ConvLayer(((3, 3), (1, 7), (7, 1), (5, 5), (7, 7), (3, 3)), (2, 1)),
        ConvLayer(((1, 1), (3, 5), (3, 3)), (2, 2)),
        DenseLayer(32),
        DenseLayer(10),
    ),
)
GENOMES = {"mlp": MLP, "one-conv": ONE_CONV, "multi-conv": MULTI_CONV}
# Many distinct shapes in one layer, tall and wide: long legends under tall stacks
MIXED_TALL = Genome((1, 28, 28), (ConvLayer(((1, 9), (9, 1), (3, 3), (5, 1), (1, 7))), DenseLayer(10)))
EIGHT_SHAPES = Genome(
    (1, 28, 28),
    (
        ConvLayer(((1, 11), (11, 1), (3, 3), (5, 1), (1, 7), (9, 9), (7, 3), (3, 7))),
        ConvLayer(((1, 1), (3, 3))),
        DenseLayer(10),
    ),
)

HEADERS = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def _valid(path: Path, fmt: str) -> bool:
    data = path.read_bytes()
    if fmt == "svg":
        return b"<svg" in data[:2000] and data.rstrip().endswith(b"</svg>")
    return data.startswith(HEADERS[fmt])


def _drawn(fig):
    """``fig`` drawn by Agg at the PNG resolution; returns its renderer."""
    fig.set_dpi(DPI)
    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def _clipped_text(fig) -> list[str]:
    """Texts and legends of ``fig`` that reach outside the figure once drawn (1 px tolerance)."""
    renderer, box = _drawn(fig), fig.bbox
    out = []
    for artist in fig.findobj(lambda a: isinstance(a, (Text, Legend)) and a.get_visible()):
        if isinstance(artist, Text) and not artist.get_text():
            continue
        e = artist.get_window_extent(renderer)
        if e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1 or e.y1 > box.y1 + 1:
            out.append(artist.get_text() if isinstance(artist, Text) else type(artist).__name__)
    return out


def _row(gen, nid, parents=(), origin="initial", mutation=None, born=-1, species=0, fit=0.5, before=None, layers=None):
    return {
        "generation": gen,
        "network_id": nid,
        "species_id": species,
        "parent_ids": list(parents),
        "origin": origin,
        "mutation": mutation,
        "born_generation": born,
        "fitness": fit,
        "fitness_before_bp": before,
        "layers": layers,
        "status": "ok",
        "culled": False,
    }


# A known history (x = generation first trained):
#   gen 0: 0, 1, 2 initial (2 is culled after gen 0 and never logged again)
#   gen 1: 3 = mutation(0, grow_kernel); 4 = crossover(1, 2)
#   gen 2: 5 = crossover(3, 4); 6 = clone(99) where 99 was never logged
#   gen 3: 7 = crossover(5, 6) with add_node
SYNTHETIC_ROWS = (
    [_row(0, i, fit=0.50 + 0.01 * i, before=0.10) for i in range(3)]
    + [_row(1, 0, fit=0.60), _row(1, 1, fit=0.61)]
    + [
        _row(1, 3, [0], "mutation", "grow_kernel", 0, fit=0.70, before=0.30),
        _row(1, 4, [1, 2], "crossover", None, 0, species=1, fit=0.72, before=0.40),
    ]
    + [
        _row(2, 3, [0], "mutation", "grow_kernel", 0, fit=0.75),
        _row(2, 5, [3, 4], "crossover", None, 1, species=1, fit=0.80, before=0.50),
        _row(2, 6, [99], "clone", None, 1, fit=0.79, before=0.45),
    ]
    + [_row(3, 7, [5, 6], "crossover", "add_node", 2, species=1, fit=0.90, before=0.60)]
)
SYNTHETIC = pd.DataFrame(SYNTHETIC_ROWS)

# 7 = crossover(5, 0): its second parent 0 lived since generation 0, so a straight edge 0 → 7 ran
# through 5's box and ended on top of the edge 5 → 7
TANGLED = pd.DataFrame(
    [_row(0, i) for i in range(3)]
    + [_row(1, 3, [1], "mutation", "add_node", 0), _row(1, 4, [2], "mutation", "add_node", 0)]
    + [_row(2, 5, [3, 4], "crossover", None, 1), _row(3, 7, [5, 0], "crossover", None, 2)]
)


def _evolved(generations: int = 8, population: int = 8, seed: int = 3) -> tuple[pd.DataFrame, int]:
    """A networks log of random mating with survivors (long edges, many crossovers); its last network."""
    rng = np.random.default_rng(seed)
    alive = list(range(population))
    rows = [_row(0, i) for i in alive]
    for gen in range(1, generations):
        kids = []
        for _ in range(population // 2):
            nid = population + len(rows)
            if rng.random() < 0.6:
                a, b = (int(v) for v in rng.choice(alive, 2, replace=False))
                kids.append(_row(gen, nid, [a, b], "crossover", None, gen - 1))
            else:
                kids.append(_row(gen, nid, [int(rng.choice(alive))], "mutation", "add_node", gen - 1))
            rows.append(kids[-1])
        survivors = [int(v) for v in rng.choice(alive, population - len(kids), replace=False)]
        rows += [_row(gen, v) for v in survivors]
        alive = survivors + [k["network_id"] for k in kids]
    return pd.DataFrame(rows), alive[-1]


def _run(tmp_path: Path, genome: Genome, kept: dict[int, Genome] | None = None) -> Path:
    """A run dir: ``genome`` as champion (id 7) of the synthetic log, plus kept networks by id."""
    run = tmp_path / "run"
    layout = RunDir(run)
    layout.champions.mkdir(parents=True)
    layout.config.write_text(Config().to_toml(), encoding="utf-8")
    rng = np.random.default_rng(0)
    kept = {7: genome, **(kept or {})}
    rows = [{**r, "layers": (kept.get(r["network_id"]) or MLP).summary()} for r in SYNTHETIC_ROWS]
    writer = LogWriter(run)
    for gen, sid in sorted({(r["generation"], r["species_id"]) for r in rows}):
        writer.write_networks(gen, sid, [r for r in rows if (r["generation"], r["species_id"]) == (gen, sid)])
    for nid, g in kept.items():
        save_network(layout.champion_file(nid), g, init_weights(g, rng, 0.1), {"network_id": nid})
    save_network(layout.champion, genome, init_weights(genome, rng, 0.1), {"network_id": 7, "fitness": 0.9})
    return run


# ---- architecture ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GENOMES))
def test_layer_parameters_add_up_to_the_genome_count(name):
    genome = GENOMES[name]
    assert sum(info.parameters for info in layer_table(genome)) == genome.parameter_count()


def test_layer_table_gives_strided_output_shapes_and_shape_counts():
    first, second, hidden, output = layer_table(MULTI_CONV)
    assert first.out_shape == (6, 16, 32) and first.stride == (2, 1)
    assert second.out_shape == (3, 8, 16) and second.in_shape == (6, 16, 32)
    assert first.shapes[0] == ((3, 3), 2) and dict(first.shapes)[(1, 7)] == 1
    assert (hidden.kind, hidden.out_shape, output.kind) == ("hidden", (32,), "output")
    assert shape_counts([(1, 7), (3, 3), (3, 3)]) == [((3, 3), 2), ((1, 7), 1)]


@pytest.mark.parametrize("name", list(GENOMES))
def test_genome_rebuilt_from_the_logged_summary_is_the_genome(name):
    genome = GENOMES[name]
    assert genome_from_summary(genome.summary(), genome.input_shape) == genome


def test_malformed_summary_raises_naming_the_part():
    with pytest.raises(ShowError, match="'X3'"):
        genome_from_summary("X3-F10", (1, 28, 28))
    with pytest.raises(ShowError, match="1 kernels for 2 nodes"):
        genome_from_summary("C2s1x1[3x3]-F10", (1, 28, 28))


def test_kernel_image_averages_channels_or_shows_one():
    node = np.stack([np.zeros((1, 3)), np.ones((1, 3)) * 2]).reshape(2, 1, 3)
    assert np.allclose(kernel_image(node), 1.0)
    assert np.allclose(kernel_image(node, channel=1), 2.0)
    assert np.allclose(kernel_image(node, channel=5), 2.0)  # clipped to the last channel


def test_kernels_figure_of_an_mlp_says_there_are_no_conv_layers():
    fig = kernels_figure(MLP, init_weights(MLP, np.random.default_rng(0)))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no convolutional layers" in t for t in texts)


def test_kernels_figure_draws_one_tile_per_kernel_in_its_own_shape():
    fig = kernels_figure(MULTI_CONV, init_weights(MULTI_CONV, np.random.default_rng(0)))
    images = [ax.images for ax in fig.axes if ax.images]
    assert [len(i) for i in images] == [6, 3]
    assert [im.get_array().shape for im in images[0]] == list(MULTI_CONV.layers[0].kernels)
    assert "2 of 2 conv layers mix shapes" in fig.get_suptitle()


def test_architecture_figure_rejects_weights_of_another_genome():
    with pytest.raises(EcosimError):
        architecture_figure(ONE_CONV, init_weights(MLP, np.random.default_rng(0)))


@pytest.mark.parametrize(
    "genome", [MIXED_TALL, EIGHT_SHAPES, MULTI_CONV, MLP], ids=["5-shapes", "8-shapes", "multi", "mlp"]
)
@pytest.mark.parametrize("with_weights", [False, True])
def test_architecture_figure_keeps_every_legend_and_title_inside_the_figure(genome, with_weights):
    weights = init_weights(genome, np.random.default_rng(0), 0.1) if with_weights else None
    fig = architecture_figure(genome, weights)
    assert _clipped_text(fig) == []
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [len(leg.get_texts()) for leg in legends] == [
        len(info.shapes) for info in layer_table(genome) if info.shapes
    ]


def test_architecture_title_of_a_long_summary_wraps_inside_the_figure():
    wide = Genome(
        (1, 28, 28), (ConvLayer(tuple((2 * (i % 4) + 1, 2 * (i // 4 % 3) + 1) for i in range(30))), DenseLayer(10))
    )
    fig = architecture_figure(wide)
    assert _clipped_text(fig) == [] and "\n" in fig.get_suptitle()
    assert fig.get_suptitle().replace("\n", "").startswith(wide.summary())


# ---- lineage --------------------------------------------------------------------------------------


def test_lineage_of_a_known_log_gives_the_known_tree():
    lin = lineage(SYNTHETIC, 7)
    assert lin.edges == ((0, 3), (1, 4), (2, 4), (3, 5), (4, 5), (5, 7), (6, 7), (99, 6))
    assert lin.ids() == {0, 1, 2, 3, 4, 5, 6, 7, 99}
    assert lin.parents(4) == (1, 2)  # crossover: two parents
    root = lin.node(7)
    assert (root.origin, root.mutation, root.generation, root.born_generation) == ("crossover", "add_node", 3, 2)
    assert (root.fitness_before_bp, root.fitness, root.species_id) == (0.60, 0.90, 1)
    culled = lin.node(2)  # logged in generation 0 only, still found
    assert culled.known and culled.generation == 0 and culled.last_generation == 0
    missing = lin.node(99)
    assert not missing.known and missing.generation is None
    trained_twice = lin.node(3)  # birth data from its first row, last fitness from its last
    assert (
        trained_twice.generation,
        trained_twice.fitness,
        trained_twice.last_generation,
        trained_twice.last_fitness,
    ) == (1, 0.70, 2, 0.75)
    assert not lin.truncated


def test_lineage_of_an_initial_network_is_itself():
    lin = lineage(SYNTHETIC, 1)
    assert lin.ids() == {1} and lin.edges == ()


def test_lineage_stops_after_max_generations():
    lin = lineage(SYNTHETIC, 7, max_generations=1)
    assert lin.truncated and {0, 1, 2}.isdisjoint(lin.ids()) and {5, 6}.issubset(lin.ids())


def test_lineage_of_an_unlogged_network_raises():
    with pytest.raises(ShowError, match=r"network 42 is not in the networks log \(logged ids: 0–7\)"):
        lineage(SYNTHETIC, 42)


def test_lineage_figure_draws_one_box_per_network(tmp_path):
    lin = lineage(SYNTHETIC, 7)
    fig = lineage_figure(lin)
    boxes = [t for t in fig.axes[0].texts if str(t.get_gid()).startswith("label-")]
    assert len(boxes) == len(lin.nodes)
    assert any("unknown" in t.get_text() for t in boxes)
    assert _valid(save_figure(fig, tmp_path / "lineage.png"), "png")


def _by_gid(fig, prefix: str) -> dict[str, object]:
    return {a.get_gid(): a for a in fig.axes[0].get_children() if str(a.get_gid()).startswith(prefix)}


def _points(arrow) -> np.ndarray:
    """Points along an arrow (line and head) in data coordinates, 40 per Bézier segment."""
    t = np.linspace(0.0, 1.0, 40)
    return np.concatenate([segment(t) for segment, _ in arrow.get_path().iter_bezier()])


def _box(patch) -> tuple[float, float, float, float]:
    return patch.get_x(), patch.get_x() + patch.get_width(), patch.get_y(), patch.get_y() + patch.get_height()


@pytest.mark.parametrize("case", ["synthetic", "tangled", "evolved"])
def test_lineage_edges_join_parent_and_child_sides_and_pass_through_no_box(case):
    log, root = {"synthetic": (SYNTHETIC, 7), "tangled": (TANGLED, 7), "evolved": _evolved()}[case]
    lin = lineage(log, root)
    fig = lineage_figure(lin)
    renderer = _drawn(fig)
    boxes = {int(g.split("-")[1]): _box(p) for g, p in _by_gid(fig, "node-").items()}
    edges = _by_gid(fig, "edge-")
    assert set(boxes) == lin.ids() and set(edges) == {f"edge-{p}-{c}" for p, c in lin.edges}
    ids = sorted(boxes)
    for i, a in enumerate(ids):  # boxes do not overlap
        for b in ids[i + 1 :]:
            (ax0, ax1, ay0, ay1), (bx0, bx1, by0, by1) = boxes[a], boxes[b]
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a, b)
    tol = 0.01  # inches
    for (p, c), arrow in ((tuple(int(v) for v in g.split("-")[1:]), a) for g, a in edges.items()):
        points = _points(arrow)
        for nid, (x0, x1, y0, y1) in boxes.items():
            inside = (
                (points[:, 0] > x0 + tol)
                & (points[:, 0] < x1 - tol)
                & (points[:, 1] > y0 + tol)
                & (points[:, 1] < y1 - tol)
            )
            assert not inside.any(), f"edge {p} → {c} passes through the box of {nid}"
        px0, px1, py0, py1 = boxes[p]
        cx0, cx1, cy0, cy1 = boxes[c]
        start, tip = points[np.argmin(points[:, 0])], points[np.argmax(points[:, 0])]
        assert abs(start[0] - px1) < tol and py0 < start[1] < py1  # leaves the parent's right side
        assert (
            abs(tip[0] - cx0) < 3 * tol and cy0 < tip[1] < cy1
        )  # its head (less its stroke) meets the child's left side
    for g, label in _by_gid(fig, "label-").items():  # every label inside its box
        text, box = label.get_window_extent(renderer), _by_gid(fig, "node-")["node-" + g.split("-")[1]]
        outline = box.get_window_extent(renderer)
        assert outline.x0 <= text.x0 and text.x1 <= outline.x1 and outline.y0 <= text.y0 and text.y1 <= outline.y1, g
    assert _clipped_text(fig) == []


def test_lineage_marks_the_first_and_second_parent_of_a_crossover():
    lin = lineage(TANGLED, 7)
    fig = lineage_figure(lin)
    renderer = _drawn(fig)
    edges, roles = _by_gid(fig, "edge-"), _by_gid(fig, "role-")
    assert (roles["role-5-7"].get_text(), roles["role-0-7"].get_text()) == ("1", "2")  # parent_ids order (5, 0)
    assert edges["edge-5-7"].get_linestyle() == "-" and edges["edge-0-7"].get_linestyle() == "--"
    tips = [max(_points(edges[f"edge-{p}-7"]), key=lambda xy: xy[0]) for p in (5, 0)]
    assert abs(tips[0][1] - tips[1][1]) > 0.05  # the two edges meet the child at ports of their own
    one, two = (roles[f"role-{p}-7"].get_window_extent(renderer) for p in (5, 0))
    assert not one.overlaps(two)
    assert "role-3-5" in roles and "role-1-3" not in roles  # mutations have one parent, unlabelled
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "crossover: 1st parent (1)" in legend and "crossover: 2nd parent (2)" in legend


def test_lineage_of_a_single_network_has_whole_generation_ticks_and_says_one_network():
    fig = lineage_figure(lineage(SYNTHETIC, 1))
    _drawn(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0"]
    assert fig.get_suptitle().endswith(": 1 network")
    assert lineage_figure(lineage(SYNTHETIC, 7)).get_suptitle().endswith(": 9 networks")
    fig = lineage_figure(lineage(TANGLED, 7))
    _drawn(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2", "3"]
    assert _clipped_text(fig) == []


# ---- write_pictures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("mlp", "png"), ("one-conv", "png"), ("multi-conv", "png"), ("multi-conv", "pdf"), ("multi-conv", "svg")],
)
def test_champion_pictures_are_written_and_valid(tmp_path, name, fmt):
    written = write_pictures(_run(tmp_path, GENOMES[name]), fmt=fmt)
    assert set(written) == {"architecture", "kernels", "lineage"}
    for path in written.values():
        assert path.parent == tmp_path / "run" / "show" and path.name.startswith("net-000007-")
        assert path.suffix == f".{fmt}" and path.stat().st_size > 1000 and _valid(path, fmt)


def test_kept_network_and_generation_champion_are_drawn_from_kept_files(tmp_path):
    run = _run(tmp_path, MULTI_CONV, kept={5: ONE_CONV})
    assert RunDir(run).kept_network_ids() == [5, 7]
    out = tmp_path / "out"
    by_id = write_pictures(run, network_id=5, out_dir=out)
    assert by_id["kernels"] == out / "net-000005-kernels.png" and by_id["kernels"].stat().st_size > 0
    assert generation_champion(SYNTHETIC, 2) == 5
    assert write_pictures(run, generation=2, out_dir=out)["architecture"] == out / "net-000005-architecture.png"


def test_network_whose_weights_were_not_kept_raises_naming_the_kept_ones(tmp_path):
    run = _run(tmp_path, ONE_CONV, kept={5: ONE_CONV})
    with pytest.raises(WeightsNotKeptError, match=r"weights of network 3 were not kept .*\(kept: 5, 7\)"):
        write_pictures(run, network_id=3)
    with pytest.raises(WeightsNotKeptError, match="network 4 were not kept"):
        write_pictures(run, generation=1)  # generation 1's best is network 4
    assert not (RunDir(run).show).exists()  # nothing written on error


def test_from_log_draws_architecture_and_lineage_without_weights(tmp_path):
    run = _run(tmp_path, ONE_CONV)
    with pytest.warns(UserWarning, match="no kernels picture"):
        written = write_pictures(run, network_id=3, from_log=True)
    assert set(written) == {"architecture", "lineage"}
    assert all(_valid(p, "png") for p in written.values())


def test_a_generation_whose_champion_was_kept_later_says_which_weights_the_kernels_show(tmp_path):
    run = _run(tmp_path, ONE_CONV, kept={5: ONE_CONV})  # network 5 is generation 2's champion
    weights = init_weights(ONE_CONV, np.random.default_rng(1), 0.1)
    for saved_at, warned in ((2, False), (4, True)):  # the engine saves the file again each time 5 is champion
        save_network(RunDir(run).champion_file(5), ONE_CONV, weights, {"network_id": 5, "generation": saved_at})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            write_pictures(run, generation=2, out_dir=tmp_path / f"at{saved_at}")
        said = [str(w.message) for w in caught if "kept once" in str(w.message)]
        assert said == (
            [
                "network 5's weights are kept once, as last saved: after generation 4, where it was saved again, "
                "not after generation 2; the kernels picture and the architecture picture's mean |w| show those "
                "(the lineage picture ends at the network's last generation)"
            ]
            if warned
            else []
        )
    title = kernels_figure(ONE_CONV, weights, source="weights after generation 4, fitness 80.00%").get_suptitle()
    assert title.endswith("mix shapes, weights after generation 4, fitness 80.00%)")


ARCHIVE = Path(__file__).resolve().parents[2] / "experiments" / "archive" / "compare"


def test_a_pack_is_drawn_from_its_logs_its_champion_the_best_logged_and_a_wrong_input_shape_is_named(tmp_path):
    import shutil

    from ecosim.store.logs import read_networks

    pack = ARCHIVE / "mnist-levers-anneal" / "seed0"  # a real run's pack, as committed
    networks = read_networks(pack)
    best = networks.sort_values(["fitness", "generation"], ascending=[False, True]).iloc[0]
    with pytest.warns(UserWarning, match="a pack keeps no weights: no kernels picture"):
        written = write_pictures(pack, from_log=True, out_dir=tmp_path / "show")
    assert set(written) == {"architecture", "lineage"}
    assert written["architecture"].name == f"net-{int(best['network_id']):06d}-architecture.png"
    assert all(_valid(p, "png") for p in written.values())
    from ecosim.cli import main

    assert main(["report", str(pack), "--out", str(tmp_path / "report")]) == 0  # its champion drawn from the logs
    assert _valid(tmp_path / "report" / "mnist-levers-anneal-champions" / "seed0" / "champion-architecture.png", "png")
    copy = shutil.copytree(pack, tmp_path / "pack")  # the same logs under another dataset's name
    config = (copy / "config.toml").read_text(encoding="utf-8")
    (copy / "config.toml").write_text(config.replace('dataset = "mnist"', 'dataset = "cifar10"'), encoding="utf-8")
    with pytest.raises(ShowError, match=r"rebuilt on input shape \(3, 32, 32\) has \d+ parameters, the networks log"):
        write_pictures(copy, from_log=True, out_dir=tmp_path / "wrong")
    assert not (tmp_path / "wrong").exists()


def test_a_network_or_generation_not_in_the_run_raises(tmp_path):
    run = _run(tmp_path, ONE_CONV)
    with pytest.raises(ShowError, match=r"network 42 is not in the networks log .*logged ids: 0–7"):
        write_pictures(run, network_id=42)
    with pytest.raises(ShowError, match=r"generation 9 has no scored network .*logged generations: 0–3"):
        write_pictures(run, generation=9)


def test_bad_arguments_raise(tmp_path):
    run = _run(tmp_path, ONE_CONV)
    with pytest.raises(ShowError, match="format must be one of png, pdf, svg, got 'jpg'"):
        write_pictures(run, fmt="jpg")
    with pytest.raises(ShowError, match="not both"):
        write_pictures(run, network_id=7, generation=3)
    with pytest.raises(CheckpointError, match="does not exist"):
        write_pictures(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.toml").write_text(Config().to_toml(), encoding="utf-8")
    with pytest.raises(ShowError, match="no champion.safetensors"):
        write_pictures(tmp_path / "empty")  # a run directory before its first generation


def test_stale_kept_file_whose_genome_differs_from_the_log_raises(tmp_path):
    run = _run(tmp_path, ONE_CONV)
    save_network(RunDir(run).champion_file(3), MULTI_CONV, init_weights(MULTI_CONV, np.random.default_rng(1)))
    with pytest.raises(ShowError, match="stale"):
        write_pictures(run, network_id=3)


def test_the_report_picture_of_a_network_not_kept_is_its_logged_genome_not_the_champion(tmp_path):
    import matplotlib

    from ecosim.report import saved_champion

    run = _run(tmp_path, ONE_CONV)  # the champion (7) is a CNN; network 5 was never kept: an MLP in the log
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # titles as text
        svg = architecture_picture(run, tmp_path / "report", "svg", network_id=5).read_text(encoding="utf-8")
    assert MLP.summary() in svg and ONE_CONV.summary() not in svg
    assert saved_champion(run) is None  # the file's metadata has no generation: the logs decide
    save_network(
        RunDir(run).champion,
        ONE_CONV,
        init_weights(ONE_CONV, np.random.default_rng(0), 0.1),
        {"network_id": 7, "fitness": 0.9, "generation": 3},
    )
    assert saved_champion(run) == (7, 0.9, 3)


def test_architecture_picture_for_the_report(tmp_path):
    path = architecture_picture(_run(tmp_path, MULTI_CONV), tmp_path / "report", "svg")
    assert path == tmp_path / "report" / "champion-architecture.svg" and _valid(path, "svg")
    with pytest.raises(ShowError, match="no champion"):
        architecture_picture(tmp_path / "nothing", tmp_path / "report")


def test_generation_champion_comes_from_the_generations_log_when_it_names_one(tmp_path):
    # after resume set a damaged networks-log file aside, the rows left could crown another network
    run = _run(tmp_path, MULTI_CONV, kept={5: ONE_CONV})
    assert generation_champion(SYNTHETIC, 2) == 5  # what the networks log alone says
    LogWriter(run).write_generation({"generation": 2, "champion_id": 7})
    out = tmp_path / "out"
    assert write_pictures(run, generation=2, out_dir=out)["architecture"] == out / "net-000007-architecture.png"
