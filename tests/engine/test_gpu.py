"""GPU checks (marker ``gpu``): run where a CUDA device exists, skipped elsewhere."""

import numpy as np
import pytest
import torch

from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.phenotype.network import build_phenotype, extract_weights

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("mode", ["dense", "grouped"])
def test_phenotype_on_cuda_matches_cpu_and_returns_host_weights(mode):
    g = Genome((1, 28, 28), (ConvLayer(((1, 1), (3, 5), (7, 7)), (2, 1)), DenseLayer(8), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    x = torch.randn(16, 1, 28, 28)
    cpu = build_phenotype(g, w, conv_mode=mode)(x)
    net = build_phenotype(g, w, conv_mode=mode, device="cuda")
    torch.testing.assert_close(net(x.cuda()).cpu(), cpu, rtol=1e-4, atol=1e-4)
    back = extract_weights(net)
    assert all(np.array_equal(a, b) for a, b in zip(back.arrays(), w.arrays()))
