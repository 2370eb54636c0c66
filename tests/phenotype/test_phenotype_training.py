"""Scoring batches: one normalisation, an explicit memory format, results independent of layout and batch size."""

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.phenotype.network import build_phenotype
from ecosim.phenotype.normalise import apply_normalisation, normalisation_constants, normalise
from ecosim.phenotype.records import TrainingParams
from ecosim.phenotype.training import accuracy, batches
from strategies import genomes

CPU = torch.device("cpu")


@settings(max_examples=30, deadline=None)
@given(c=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_normalise_equals_the_formula_for_uint8_and_float_inputs(c, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(3, c, 4, 5), dtype=np.uint8)
    mean, std = tuple(rng.uniform(0, 1, c)), tuple(rng.uniform(0.1, 1, c))
    m, s = np.array(mean).reshape(c, 1, 1), np.array(std).reshape(c, 1, 1)
    expected = (images / 255.0 - m) / s
    np.testing.assert_allclose(normalise(images, mean, std).numpy(), expected, atol=1e-5)
    # an exported model's path: float images in [0, 1], constants with max_value = 1
    floats = torch.from_numpy(images).float() / 255
    got = apply_normalisation(floats, *normalisation_constants(mean, std, max_value=1.0))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
    assert torch.equal(floats, torch.from_numpy(images).float() / 255)  # input untouched


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("source_strides", ["numpy-mnist", "contiguous"])
def test_batches_have_the_requested_memory_format_whatever_the_source_strides(fmt, source_strides):
    base = np.random.default_rng(0).integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    if source_strides == "numpy-mnist":  # MNIST's arrays: (N, 1, 28, 28) with channel stride 0
        images = np.lib.stride_tricks.as_strided(base, (20, 1, 28, 28), (784, 0, 28, 1))
    else:
        images = np.ascontiguousarray(base[:, None])
    labels = np.zeros(20, dtype=np.int64)
    idx = np.random.default_rng(1).permutation(20)
    for x, y in batches(images, labels, idx, 8, (0.5,), (0.25,), CPU, fmt):
        expected = (784, 1, 28, 1) if fmt is torch.channels_last else (784, 784, 28, 1)
        assert x.stride() == expected and x.dtype == torch.float32 and y.shape == (x.shape[0],)


@settings(max_examples=15, deadline=None)
@given(genome=genomes(input_shapes=[(1, 9, 9), (3, 8, 8)], max_kernels=4), seed=st.integers(0, 2**16))
@example(  # found by CI: a 2-node FC layer, many near-tied logits
    genome=Genome(
        (1, 9, 9),
        (
            ConvLayer(((3, 1), (1, 1), (1, 3)), (1, 9)),
            ConvLayer(((3, 1), (1, 1), (1, 1)), (1, 1)),
            DenseLayer(7),
            DenseLayer(2),
            DenseLayer(10),
        ),
    ),
    seed=87,
)
def test_accuracy_does_not_depend_on_memory_format_or_batch_size(genome, seed):
    rng = np.random.default_rng(seed)
    model = build_phenotype(genome, init_weights(genome, rng))
    images = rng.integers(0, 256, size=(37, *genome.input_shape), dtype=np.uint8)
    labels = rng.integers(0, genome.classes, size=37)
    mean, std = (0.3,) * genome.input_shape[0], (0.2,) * genome.input_shape[0]
    with torch.no_grad():
        logits = model(normalise(images, mean, std))
    expected = float((logits.argmax(1).numpy() == labels).mean())
    # another batch size or layout rounds differently: only an image whose two best logits (nearly)
    # tie may change its class (a narrow layer of small random weights gives many such images)
    top = logits.topk(2, dim=1).values
    ties = int(((top[:, 0] - top[:, 1]) <= 1e-4 * max(1.0, float(top.abs().max()))).sum())
    x = normalise(images, mean, std)

    def channels_last_right(n: int) -> bool:  # torch 2.14's channels-last conv is wrong for some
        with torch.no_grad():  # strides on a 1-channel input (test_layout.py): not ecosim's to test
            part = torch.empty_like(x[:n], memory_format=torch.channels_last).copy_(x[:n])
            return torch.allclose(model(part), logits[:n], atol=1e-4)

    right = all(channels_last_right(n) for n in (1, 8, 37))
    formats = [torch.contiguous_format] + ([torch.channels_last] if right else [])
    for fmt in formats:
        for bs in (1, 8, 256):
            got = accuracy(model, images, labels, mean, std, bs, fmt)
            assert got == pytest.approx(expected, abs=(max(ties, 1) + 0.5) / 37)


def test_eval_batch_default_is_the_measured_one():
    assert TrainingParams().eval_batch_size == 256


@pytest.mark.parametrize(("optimiser", "rate", "scaled"), [("adadelta", 0.0, 0.5), ("sgd", 0.02, 0.01)])
def test_lr_scale_trains_as_the_scaled_learning_rate(data_root, optimiser, rate, scaled):
    """``lr_scale`` (``ecosystem.settle_lr_decay``) multiplies the learning rate, the optimiser's
    own default (Adadelta's 1.0) when ``training.learning_rate`` is 0: bit for bit the training at
    the scaled rate, and not the training at the full rate."""
    from ecosim.data.arrays import DataArrays
    from ecosim.data.load import load_dataset
    from ecosim.phenotype.training import train_and_evaluate

    ds = load_dataset("mnist", str(data_root))
    data = DataArrays(
        ds.train_images[:512], ds.train_labels[:512], ds.test_images[:256], ds.test_labels[:256], ds.mean, ds.std
    )
    genome = Genome((1, 28, 28), (ConvLayer(((3, 3), (1, 3))), DenseLayer(10)))
    weights = init_weights(genome, np.random.default_rng(2))
    pinned = {"conv_mode": "dense", "memory_format": "channels_first", "eval_split": "whole", "optimiser": optimiser}

    def trained(learning_rate, lr_scale=1.0):
        res = train_and_evaluate(
            genome, weights, data, TrainingParams(learning_rate=learning_rate, **pinned), 3, False, 1, lr_scale
        )
        assert res.status == "ok", res.message
        return [a.tobytes() for a in res.weights.arrays()]

    half = trained(rate, 0.5)
    assert half == trained(scaled)
    assert half != trained(rate)
