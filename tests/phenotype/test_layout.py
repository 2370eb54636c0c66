"""Measured layouts (issue 18): only bit-identical candidates compete, decisions cached per machine."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest
import torch

from ecosim.data.arrays import DataArrays
from ecosim.data.load import load_dataset
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.phenotype.layout import (
    ROUNDS,
    Layout,
    LayoutChooser,
    layout_candidates,
    layout_chooser,
)
from ecosim.phenotype.records import TrainingParams
from ecosim.phenotype.training import train_and_evaluate

DENSE_CF, DENSE_CL = Layout("dense", "channels_first"), Layout("dense", "channels_last")
GROUPED_CF = Layout("grouped", "channels_first")
MIXED = Genome((1, 28, 28), (ConvLayer(((1, 1), (1, 1), (1, 3), (5, 1), (3, 3), (1, 1))), DenseLayer(10)))
TWO_CONV = Genome((1, 28, 28), (ConvLayer(((3, 3),) * 4), ConvLayer(((3, 3), (1, 1)) * 3, (2, 2)), DenseLayer(10)))
MLP = Genome((1, 28, 28), (DenseLayer(16), DenseLayer(10)))


def test_candidates_follow_the_pins_and_the_network():
    assert layout_candidates(MIXED)[0] == DENSE_CF  # the reference first
    assert len(layout_candidates(MIXED)) == 4
    assert layout_candidates(MIXED, "grouped", "channels_last") == (Layout("grouped", "channels_last"),)
    assert layout_candidates(Genome((1, 8, 8), (ConvLayer(((3, 3),) * 2), DenseLayer(2)))) == (DENSE_CF, DENSE_CL)
    assert layout_candidates(MLP) == (DENSE_CF,)  # nothing to choose: no 4-D path
    with pytest.raises(ValueError, match="memory_format must be one of"):
        layout_candidates(MIXED, memory_format="nhwc")


def test_only_bit_identical_candidates_compete_and_the_fastest_median_wins(tmp_path):
    chooser = LayoutChooser(tmp_path)
    tuner = chooser.tuner(MIXED, "train", 128)
    assert tuner.verifying and tuner.layout() == DENSE_CF
    a = torch.tensor([1.0, 2.0])
    nudged = torch.nextafter(a, torch.full_like(a, 9.0))  # one ulp off: not the same bits
    tuner.verify(
        {DENSE_CF: (a,), DENSE_CL: (a.clone(),), GROUPED_CF: (nudged,), Layout("grouped", "channels_last"): (nudged,)}
    )
    assert tuner.eligible == (DENSE_CF, DENSE_CL)
    for _ in range(ROUNDS):
        for seconds in (3.0, 1.0):
            layout = tuner.layout()
            assert layout in tuner.eligible
            tuner.record(layout, seconds if layout == DENSE_CF else seconds / 2)
    assert tuner.winner is not None and tuner.layout() == tuner.winner
    # the decision is in the machine's file: a new process (a new chooser) starts from it
    (path,) = (tmp_path / "layouts").glob("*.json")
    stored = json.loads(path.read_text())
    assert stored["machine"] and list(stored["classes"].values())[0]["winner"] == tuner.winner.label
    again = LayoutChooser(tmp_path).tuner(MIXED, "train", 128)
    assert not again.verifying and again.winner == tuner.winner
    # another batch size, phase or pin is another decision
    assert LayoutChooser(tmp_path).tuner(MIXED, "train", 64).verifying
    assert LayoutChooser(tmp_path).tuner(MIXED, "eval", 128).verifying


@pytest.mark.parametrize("fault", ["file_in_the_way", "corrupt_file"])
def test_a_cache_that_cannot_be_used_is_one_warning_then_memory_only(tmp_path, caplog, fault):
    if fault == "file_in_the_way":  # the cache folder is a file: nothing can be created in it
        cache_dir = tmp_path / "cache"
        cache_dir.write_text("not a folder")
    else:
        cache_dir = tmp_path
        (tmp_path / "layouts").mkdir()
    chooser = LayoutChooser(cache_dir)
    if fault == "corrupt_file":
        chooser.cache_for(torch.device("cpu")).path.write_text("{not json")  # the file of this machine
        chooser = LayoutChooser(cache_dir)
    with caplog.at_level(logging.WARNING, logger="ecosim.phenotype.layout"):
        for genome in (MIXED, TWO_CONV):
            tuner = chooser.tuner(genome, "eval", 256)
            tuner.verify({c: (torch.zeros(1),) for c in tuner.candidates})
            for _ in range(ROUNDS * len(tuner.candidates)):
                tuner.record(tuner.layout(), 1.0)
            assert tuner.winner is not None  # decided, and kept in memory
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) <= 1 and all("\n" not in r.getMessage() for r in warnings)
    if fault == "file_in_the_way":
        assert len(warnings) == 1 and "kept in memory only" in warnings[0].getMessage()
    else:  # the corrupt file was replaced by a valid one
        assert len(json.loads(next((cache_dir / "layouts").glob("*.json")).read_text())["classes"]) == 2


@pytest.fixture(scope="module")
def mnist_small(data_root):
    ds = load_dataset("mnist", str(data_root))
    return DataArrays(
        ds.train_images[:1536], ds.train_labels[:1536], ds.test_images[:600], ds.test_labels[:600], ds.mean, ds.std
    )


def _outcome(genome, data, settings):
    res = train_and_evaluate(genome, init_weights(genome, np.random.default_rng(5)), data, settings, 11, True)
    assert res.status == "ok", res.message
    return (res.fitness_before_bp, res.fitness, res.train_loss, [a.tobytes() for a in res.weights.arrays()])


def test_results_do_not_depend_on_which_layout_wins(mnist_small, tmp_path, monkeypatch):
    """Pinned reference, measured (fresh cache), and every other eligible layout forced to win: same bits."""
    settings = TrainingParams(train_fraction=1.0, batch_size=128, eval_batch_size=128, eval_split="whole")
    monkeypatch.setenv("ECOSIM_CACHE", str(tmp_path))
    for genome in (MIXED, TWO_CONV, MLP):
        pinned = dataclasses.replace(settings, conv_mode="dense", memory_format="channels_first")
        reference = _outcome(genome, mnist_small, pinned)
        assert _outcome(genome, mnist_small, settings) == reference  # measured: verified, explored, decided
        chooser = layout_chooser()
        tuners = [chooser.tuner(genome, phase, size) for phase, size in (("train", 128), ("eval", 128))]
        assert all(t.winner is not None for t in tuners)
        forced = []
        for tuner in tuners:  # every other eligible candidate, forced to be the winner
            forced += [(tuner, c) for c in tuner.eligible if c != tuner.winner]
        for tuner, layout in forced:
            tuner.winner = layout
            assert _outcome(genome, mnist_small, settings) == reference, f"{tuner.key}: {layout.label}"


def test_a_layout_torch_computes_wrongly_is_never_used(tmp_path):
    """torch 2.14's CPU conv in channels-last is wrong for a stride as wide as a 1-channel input
    (stride (1, 9) on 9×9, 3×3 kernels): verification on the first batch drops that layout, so
    scoring gives the channels-first result (found by the property test of ``accuracy``)."""
    from ecosim.phenotype.network import build_phenotype
    from ecosim.phenotype.normalise import normalise
    from ecosim.phenotype.training import score

    genome = Genome((1, 9, 9), (ConvLayer(((3, 3),) * 3, (1, 9)), DenseLayer(10)))
    rng = np.random.default_rng(3)
    model = build_phenotype(genome, init_weights(genome, rng)).eval()
    images = rng.integers(0, 256, size=(64, 1, 9, 9), dtype=np.uint8)
    labels = rng.integers(0, 10, size=64)
    x = normalise(images, (0.3,), (0.2,))
    with torch.no_grad():
        wrong = model(torch.empty_like(x, memory_format=torch.channels_last).copy_(x)[:8])
    bug = not torch.equal(wrong, model(x)[:8])  # the torch bug, where this torch has it
    tuner = LayoutChooser(tmp_path).tuner(genome, "eval", 8)
    expected = float((model(x).argmax(1).numpy() == labels).mean())
    assert score(model, images, labels, (0.3,), (0.2,), 8, tuner) == expected
    if bug:
        assert all(c.memory_format != "channels_last" for c in tuner.eligible)


def test_a_machine_of_another_cpu_kernel_level_gets_its_own_layout_decisions():
    # a virtual machine may name CPUs of different instruction sets alike ("AMD EPYC"); torch's
    # kernel level decides the bits, so it is part of the cache key (and of the sessions log)
    import os
    import subprocess
    import sys

    from ecosim.machine import cpu_capability
    from ecosim.phenotype.layout import machine_description

    code = (
        "import torch; from ecosim.machine import cpu_capability; "
        "from ecosim.phenotype.layout import machine_description as m; "
        "print(cpu_capability()); print(m(torch.device('cpu')))"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    lowered, key = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    here = cpu_capability()
    assert lowered == "DEFAULT" and here and "isa=DEFAULT" in key
    assert f"isa={here}" in machine_description(torch.device("cpu"))
    if here != "DEFAULT":
        assert key != machine_description(torch.device("cpu"))
