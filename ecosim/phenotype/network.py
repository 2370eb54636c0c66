"""Phenotype: the torch network a genome and its gene weights describe (paper §II-B, §III, §III-E).

Layer ``i`` of the genome becomes module ``layers[i]``: a :class:`MixedConv2d` per
:class:`ConvLayer` (kernels centred in the stacked weight, §III-E), an ``nn.Linear`` per
:class:`DenseLayer`. The forward pass is

    convs (each + activation) → flatten channel-major → hidden Linear (each + activation)
    → output Linear → log_softmax.

Gene arrays (:mod:`ecosim.genome.weights`) map to parameters as follows: conv node ``j``
``(C_in, h, w)`` → ``weight[j, :, top:top+h, left:left+w]`` (centred, other tiles 0);
FC node ``j`` ``(C_in, H_in, W_in)`` → ``weight[j] = node.reshape(-1)``. :func:`extract_weights`
reads exactly those windows back, so build → extract is the identity, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecosim.genome.genome import ConvLayer, Genome
from ecosim.genome.weights import DTYPE, LayerWeights, Weights, check_weights, init_weights
from ecosim.phenotype.conv import MODES, MixedConv2d, kernel_window
from ecosim.phenotype.registry import ACTIVATIONS


def get_activation(name: str) -> Callable[[Tensor], Tensor]:
    """The activation function registered as ``name`` in :data:`~ecosim.phenotype.registry.ACTIVATIONS`.

    Args:
        name: ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"elu"``, ``"leaky_relu"`` or ``"gelu"``.

    Returns:
        An elementwise function ``Tensor -> Tensor``.

    Raises:
        ValueError: unknown ``name``; the message lists the registered names.

    Shape:
        elementwise: output shape = input shape.

    >>> get_activation("tanh") is torch.tanh
    True
    """
    return ACTIVATIONS.get_valid(name)  # type: ignore[no-any-return]


def phenotype_forward(
    x: Tensor,
    convs: list[nn.Module] | nn.ModuleList,
    dense: list[nn.Module] | nn.ModuleList,
    activation: Callable[[Tensor], Tensor],
) -> Tensor:
    """Stateless forward pass of a phenotype.

    Args:
        x: ``(N, C, H, W)`` images.
        convs: conv modules, in order; each is followed by ``activation``.
        dense: Linear modules, hidden ones first (each followed by ``activation``), output last.
        activation: elementwise function.

    Returns:
        ``(N, classes)`` log-probabilities (``log_softmax`` over classes).

    Shape:
        conv ``l`` maps ``(N, C_l, H_l, W_l)`` → ``(N, C_{l+1}, ceil(H_l/sh), ceil(W_l/sw))``;
        the flatten gives ``(N, C·H·W)`` channel-major; Linear ``(N, F_in)`` → ``(N, nodes)``.

    >>> out = phenotype_forward(torch.zeros(2, 1, 4, 4), [], [nn.Linear(16, 3)], F.relu)
    >>> out.shape
    torch.Size([2, 3])
    """
    for conv in convs:
        x = activation(conv(x))
    x = x.flatten(1)
    for layer in dense[:-1]:
        x = activation(layer(x))
    return F.log_softmax(dense[-1](x), dim=1)


class Phenotype(nn.Module):
    """The network of a genome: mixed-shape convs, then FC layers, then log-softmax (§III, §III-E).

    Args:
        genome (Genome): the architecture; kept as ``self.genome``.
        weights (Weights or None, default None): gene weights to load; checked against ``genome``.
        activation (str, default ``"relu"``): a name in :data:`ACTIVATIONS`.
        conv_mode (str, default ``"auto"``): ``mode`` of every :class:`MixedConv2d`.
        rng (numpy Generator or None, keyword-only): when ``weights`` is None, draw them with
            :func:`ecosim.genome.weights.init_weights` (N(0, 0.1), paper §IV) from this generator.

    Attributes:
        layers: ``nn.ModuleList`` aligned with ``genome.layers``.
        genome, activation, conv_mode.

    Raises:
        ValueError: an unknown ``activation`` or ``conv_mode`` (the message lists the valid
            names), or neither ``weights`` nor ``rng`` given.
        GenomeError: ``weights`` that do not fit ``genome``.

    Shape:
        input ``(N, C, H, W)`` with ``(C, H, W) = genome.input_shape`` → output
        ``(N, genome.classes)`` log-probabilities; each conv maps ``(H, W)`` to
        ``(ceil(H/sh), ceil(W/sw))``.

    Building the modules leaves torch's global random state untouched; every parameter comes
    from ``weights``.

    >>> import numpy as np
    >>> net = Phenotype(Genome.minimal((1, 28, 28), classes=10), rng=np.random.default_rng(0))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        genome: Genome,
        weights: Weights | None = None,
        activation: str = "relu",
        conv_mode: str = "auto",
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self._act = get_activation(activation)
        if conv_mode not in MODES:
            raise ValueError(f"conv_mode must be one of {', '.join(map(repr, MODES))}, got {conv_mode!r}")
        if weights is None:
            if rng is None:
                raise ValueError("Phenotype needs weights or rng (to draw weights with init_weights), got neither")
            weights = init_weights(genome, rng)
        check_weights(genome, weights)
        self.genome = genome
        self.activation = activation
        self.conv_mode = conv_mode
        layers: list[nn.Module] = []
        # default inits are overwritten by load_weights: keep torch's global RNG untouched
        with torch.random.fork_rng(devices=[]):
            for geo, layer in zip(genome.geometry(), genome.layers):
                if isinstance(layer, ConvLayer):
                    layers.append(MixedConv2d(geo.in_channels, layer.kernels, layer.stride, mode=conv_mode))
                else:
                    layers.append(nn.Linear(geo.in_features, layer.nodes))
        self.layers = nn.ModuleList(layers)
        self._n_conv = genome.n_conv
        self.load_weights(weights)

    @torch.no_grad()
    def load_weights(self, weights: Weights) -> None:
        """Copy gene weights into the parameters (copies: no storage shared with ``weights``).

        Conv genes go centred into their ``(h_max, w_max)`` slot, every other tile set to 0;
        FC genes are flattened into their ``nn.Linear`` row.

        Raises:
            GenomeError: ``weights`` do not fit ``self.genome``.
        """
        check_weights(self.genome, weights)
        for module, lw in zip(self.layers, weights.layers):
            assert isinstance(module, (MixedConv2d, nn.Linear)) and module.bias is not None
            w = np.zeros(tuple(module.weight.shape), dtype=DTYPE)
            if isinstance(module, MixedConv2d):
                for j, (node, shape) in enumerate(zip(lw.nodes, module.kernels)):
                    rows, cols = kernel_window(shape, module.kernel_size)
                    w[j, :, rows, cols] = node
            else:
                for j, node in enumerate(lw.nodes):
                    w[j] = node.reshape(-1)
            module.weight.copy_(torch.from_numpy(w))
            module.bias.copy_(torch.tensor(lw.bias, dtype=module.bias.dtype))

    @property
    def conv_layers(self) -> list[MixedConv2d]:
        """The :class:`MixedConv2d` modules, in order."""
        return list(self.layers)[: self._n_conv]  # type: ignore[return-value]

    @property
    def dense_layers(self) -> list[nn.Linear]:
        """The ``nn.Linear`` modules (hidden, then output), in order."""
        return list(self.layers)[self._n_conv :]  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities ``(N, classes)`` of images ``x`` ``(N, C, H, W)``; see the class docstring.

        Raises:
            ValueError: ``x`` is not ``(N, *genome.input_shape)``.
        """
        if not torch.jit.is_tracing() and tuple(x.shape[1:]) != self.genome.input_shape:
            raise ValueError(
                f"input must have shape (N, {', '.join(map(str, self.genome.input_shape))}), got {tuple(x.shape)}"
            )
        mods = list(self.layers)  # plain list: slicing a ModuleList builds new modules
        return phenotype_forward(x, mods[: self._n_conv], mods[self._n_conv :], self._act)

    def extra_repr(self) -> str:
        s = f"genome={self.genome.summary()}, input_shape={self.genome.input_shape}"
        if self.activation != "relu":
            s += f", activation={self.activation!r}"
        if self.conv_mode != "auto":
            s += f", conv_mode={self.conv_mode!r}"
        return s


def build_phenotype(
    genome: Genome,
    weights: Weights,
    activation: str = "relu",
    conv_mode: str = "auto",
    device: torch.device | str | None = None,
) -> Phenotype:
    """Build the phenotype of ``genome`` with gene ``weights`` (§II-B).

    Args:
        genome: the architecture.
        weights: gene weights (copied; the arrays are not shared).
        activation: a name in :data:`ACTIVATIONS` (default ``"relu"``).
        conv_mode: ``"auto"``, ``"dense"`` or ``"grouped"`` (default ``"auto"``).
        device: move the module there (default: stay on CPU).

    Returns:
        A :class:`Phenotype` in training mode.

    Raises:
        ValueError: unknown ``activation`` or ``conv_mode``.
        GenomeError: ``weights`` do not fit ``genome``.

    Shape:
        ``(N, *genome.input_shape)`` → ``(N, genome.classes)``.
    """
    net = Phenotype(genome, weights, activation=activation, conv_mode=conv_mode)
    return net if device is None else net.to(device)


def extract_weights(module: Phenotype) -> Weights:
    """Gene weights of a phenotype: each conv kernel's own centred window, each Linear row reshaped.

    Masked tiles (outside a kernel's shape) are never read. Inverse of :meth:`Phenotype.load_weights`:
    ``extract_weights(build_phenotype(g, w))`` equals ``w`` bit for bit (float32).

    Args:
        module: a :class:`Phenotype` (any device or dtype; the result is float32 on the host).

    Returns:
        :class:`Weights` with fresh arrays (no storage shared with the module).

    Shape:
        conv node ``(C_in, h, w)``; FC node ``(C_in, H_in, W_in)`` from ``genome.geometry()``.

    >>> import numpy as np
    >>> from ecosim.genome.genome import DenseLayer
    >>> g = Genome((1, 8, 8), (ConvLayer(((1, 3), (3, 1))), DenseLayer(4)))
    >>> w = init_weights(g, np.random.default_rng(0))
    >>> back = extract_weights(build_phenotype(g, w))
    >>> [a.shape for a in back.layers[0].nodes], all(np.array_equal(a, b) for a, b in zip(back.arrays(), w.arrays()))
    ([(1, 1, 3), (1, 3, 1)], True)
    """
    layers = []
    for geo, module_l in zip(module.genome.geometry(), module.layers):
        assert isinstance(module_l, (MixedConv2d, nn.Linear)) and module_l.bias is not None
        weight = module_l.weight.detach().to("cpu", torch.float32).numpy()
        bias = module_l.bias.detach().to("cpu", torch.float32).numpy().copy()
        if isinstance(module_l, MixedConv2d):
            nodes = []
            for j, shape in enumerate(module_l.kernels):
                rows, cols = kernel_window(shape, module_l.kernel_size)
                nodes.append(np.array(weight[j, :, rows, cols], dtype=DTYPE, order="C", copy=True))
        else:
            spatial = (geo.in_channels, geo.in_size[0], geo.in_size[1])
            nodes = [np.array(weight[j].reshape(spatial), dtype=DTYPE, copy=True) for j in range(geo.out_channels)]
        layers.append(LayerWeights(tuple(nodes), bias))
    return Weights(tuple(layers))


__all__ = [
    "ACTIVATIONS",
    "Phenotype",
    "build_phenotype",
    "extract_weights",
    "get_activation",
    "phenotype_forward",
]
