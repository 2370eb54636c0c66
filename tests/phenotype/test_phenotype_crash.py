"""Regression: strided 1×1 kernels train on real MNIST without crashing the process.

torch 2.14.1 on CPU crashes (SIGSEGV/SIGFPE) in the backward of some strided 1×1 convolutions;
ecosim runs them as subsampling + stride-1 conv. A crash would kill pytest itself, so each case
runs in a subprocess and the test checks its exit status.
"""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import sys, numpy as np, torch, torch.nn.functional as F
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.data.load import load_dataset
from ecosim.phenotype.network import build_phenotype
torch.set_num_threads(1)
mode, kernels, stride = sys.argv[1], eval(sys.argv[2]), eval(sys.argv[3])
ds = load_dataset("mnist", sys.argv[4])
g = Genome((1, 28, 28), (ConvLayer(kernels, stride), DenseLayer(16), DenseLayer(10)))
net = build_phenotype(g, init_weights(g, np.random.default_rng(0)), conv_mode=mode)
for start in range(0, 1280, 128):
    idx = np.arange(start, start + 128)  # as training draws batches: a fresh copy each time
    x = (torch.from_numpy(np.ascontiguousarray(ds.train_images[idx])).float() / 255 - 0.1307) / 0.3081
    F.nll_loss(net(x), torch.from_numpy(ds.train_labels[idx])).backward()
"""


@pytest.mark.parametrize(
    "mode, kernels, stride",
    [
        ("dense", "((1, 1),) * 5", "(2, 2)"),
        ("dense", "((1, 1),) * 16", "(2, 1)"),
        ("dense", "((1, 1),) * 5", "(4, 4)"),
        ("grouped", "((1, 1),) * 5 + ((5, 5),)", "(2, 2)"),
        ("auto", "((1, 1),) * 5 + ((5, 5),)", "(1, 2)"),
    ],
)
def test_strided_1x1_kernels_train_without_crashing(mode, kernels, stride, data_root):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, kernels, stride, str(data_root)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
