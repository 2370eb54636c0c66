"""Eq. 1 sampling (§III-A): the samplers leave out only shapes of probability 0.0 in float64."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ecosim.genome.initial import genome_from_layers
from ecosim.genome.sampling import EQ1_LARGEST_PRODUCT, eq1_choice, sample_kernel_shape, sample_stride


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_h=st.integers(1, 160), max_w=st.integers(1, 160))
def test_samplers_draw_what_eq1_draws_over_every_candidate(seed, max_h, max_w):
    """The same draws as eq. 1 over the whole candidate list: bit for bit where no shape is left
    out (inputs up to ~56 px: MNIST, CIFAR-10), and where products pass :data:`EQ1_LARGEST_PRODUCT`
    (a bound of 160 has products up to 25,600) the probabilities differ by at most an ulp (the sum's
    order), so a draw could differ with a chance of about 1e-16."""
    kernels = [(h, w) for h in range(1, max_h + 1, 2) for w in range(1, max_w + 1, 2)]
    strides = [(h, w) for h in range(1, max_h + 1) for w in range(1, max_w + 1)]
    for sampler, every in ((sample_kernel_shape, kernels), (sample_stride, strides)):
        fast, full = np.random.default_rng(seed), np.random.default_rng(seed)
        assert [sampler(fast, max_h, max_w) for _ in range(20)] == [eq1_choice(full, every) for _ in range(20)]


def test_shapes_left_out_weigh_nothing_in_float64():
    assert np.exp(-float(EQ1_LARGEST_PRODUCT - 1)) == 0.0


def test_a_large_input_draws_from_a_bounded_list_of_shapes():
    """A fresh user's find (session 38): ``initial_layers = "C1000"`` took 8 s to check on the
    1024×1024 dummy input (65,536 candidate shapes per kernel, every one rebuilt per kernel);
    ``C10000`` 67 s. The list is now bounded by the products that weigh anything, and built once."""
    from ecosim.genome import sampling

    cands, p = sampling._table(511, 511, 2)
    assert len(cands) < 2 * EQ1_LARGEST_PRODUCT and np.isclose(p.sum(), 1.0)  # 1,356 of 65,536
    genome = genome_from_layers("C4096", (1, 1024, 1024), 2, np.random.default_rng(0))
    assert len(genome.layers[0].kernels) == 4096
