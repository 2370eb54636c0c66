"""The evaluation split (issue 18): one pass or two halves per chunk, measured per machine, verified
per shape class; results never depend on it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from ecosim.data.arrays import DataArrays
from ecosim.data.load import load_dataset
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.phenotype.eval_split import class_split, halves_identical, machine_split, probe_genome
from ecosim.phenotype.layout import Layout, LayoutChooser, clock
from ecosim.phenotype.records import TrainingParams
from ecosim.phenotype.training import train_and_evaluate

MIXED = Genome((1, 28, 28), (ConvLayer(((1, 1), (1, 3), (5, 1), (3, 3))), DenseLayer(10)))
TWO_CONV = Genome((1, 28, 28), (ConvLayer(((3, 3),) * 4), ConvLayer(((3, 3), (1, 1)) * 3, (2, 2)), DenseLayer(10)))
MLP = Genome((1, 28, 28), (DenseLayer(16), DenseLayer(10)))
REF = Layout("dense", "channels_first")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mnist_small(data_root):
    ds = load_dataset("mnist", str(data_root))
    return DataArrays(
        ds.train_images[:1024], ds.train_labels[:1024], ds.test_images[:600], ds.test_labels[:600], ds.mean, ds.std
    )


def _outcome(genome, data, settings):
    res = train_and_evaluate(genome, init_weights(genome, np.random.default_rng(5)), data, settings, 11, True)
    assert res.status == "ok", res.message
    return (res.fitness_before_bp, res.fitness, res.test_accuracy, [a.tobytes() for a in res.weights.arrays()])


def test_scores_do_not_depend_on_the_split(mnist_small, tmp_path, monkeypatch):
    """600 images in chunks of 160: three full chunks (whole, or halves of 80), then a partial one
    of 120, which in halves would have been a full 80 and a partial 40: it stays one pass."""
    monkeypatch.setenv("ECOSIM_CACHE", str(tmp_path))
    settings = TrainingParams(train_fraction=0.5, batch_size=128, eval_batch_size=160)
    for genome in (MIXED, TWO_CONV, MLP):
        whole = _outcome(genome, mnist_small, dataclasses.replace(settings, eval_split="whole"))
        assert _outcome(genome, mnist_small, dataclasses.replace(settings, eval_split="halves")) == whole
        assert _outcome(genome, mnist_small, settings) == whole  # auto: measured on this machine
    stored = json.loads(next((tmp_path / "layouts").glob("*.json")).read_text())["classes"]
    assert any(k.startswith("eval_split|b160|") for k in stored)  # the machine's choice, once
    halves = [k for k in stored if k.startswith("eval_halves|b160|")]
    assert len(halves) == 3 and all(stored[k]["winner"] in ("whole", "halves") for k in halves)
    tuners = [k for k in stored if k.startswith("eval|b80|")]  # halves ran, and their layouts were measured
    assert tuners


def test_a_class_whose_halves_compute_other_bits_is_scored_whole(tmp_path):
    """A module whose output depends on the batch (batch norm in training mode) stands for a torch
    kernel that differs by batch size: the check sees it and keeps one pass."""
    x = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    batch_dependent = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(784), nn.Linear(784, 10)).train()
    plain = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    assert not halves_identical(batch_dependent, x, REF) and halves_identical(plain, x, REF)
    chooser = LayoutChooser(tmp_path)
    args = (64, "auto", "auto", 1, CPU)
    assert class_split(chooser, MLP, *args, lambda ref: halves_identical(batch_dependent, x, ref)) == "whole"
    assert class_split(chooser, TWO_CONV, *args, lambda ref: halves_identical(plain, x, ref)) == "halves"

    def never(ref):
        raise AssertionError("a cached decision is not checked again")

    again = LayoutChooser(tmp_path)  # another worker on this machine: the cache file decides
    assert class_split(again, MLP, *args, never) == "whole" and class_split(again, TWO_CONV, *args, never) == "halves"


def test_the_machine_split_is_measured_once_then_read_from_the_cache(tmp_path):
    chooser = LayoutChooser(tmp_path)
    first = machine_split(chooser, (1, 28, 28), 10, 64, 1, CPU, clock(CPU, 1))
    assert first in ("whole", "halves")

    def no_clock() -> float:
        raise AssertionError("measured again")

    assert machine_split(LayoutChooser(tmp_path), (1, 28, 28), 10, 64, 1, CPU, no_clock) == first


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 3, 3), (2, 1, 9)])
def test_the_probe_network_fits_every_input(shape):
    from ecosim.genome.genome import constraint_violation

    g = probe_genome(shape, 10)
    assert constraint_violation(g) is None and len(g.layers) == 3
