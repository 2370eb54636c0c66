"""Convolution whose kernels each have their own odd shape, stacked along their central tile.

Paper §III-E (Fig. 7b): the kernels of one layer are kept at their own shapes ``(h, w)`` and
stacked, centred, into one ``(C_out, C_in, h_max, w_max)`` weight; the layer pads by
``(h_max // 2, w_max // 2)``, so with odd kernels its output is ``ceil(H / sh) × ceil(W / sw)``.

Two evaluation strategies give the same function:

* **dense**: one ``F.conv2d`` with ``weight * mask``; the fixed ``mask`` is 1 inside each
  kernel's centred ``h × w`` window and 0 outside, so the tiles outside a kernel's shape
  (*masked tiles*) are exactly zero in the forward pass and get exactly zero gradient.
* **grouped**: one ``F.conv2d`` per distinct kernel shape on the centred window
  ``weight[idx, :, top:top+h, left:left+w]`` with padding ``(h // 2, w // 2)``, then the
  outputs are concatenated and put back into node order with one ``index_select``. A kernel's
  centre sits at ``(h_max // 2, w_max // 2)`` in the stacked layout and at ``(h // 2, w // 2)``
  in its window, so both read exactly the same input tiles for each output tile. Masked tiles
  are never read.

Both compute the same forward pass, bit for bit on most CPUs tried (each group's conv reads the
same tiles in the same order; the bias is added after the convolution in both, as oneDNN does it
for kernels larger than 1×1), though not on every one: on session 35's AMD EPYC a layer mixing
1×1 and 13×13 kernels differs by 1 ulp, so a layout is used only once it is measured
bit-identical on the machine that runs it (:mod:`ecosim.phenotype.layout`). Their weight
gradients differ in rounding (the reductions run over different kernel sizes). ``mode="auto"``
runs dense until the network's layout, measured on the machine that runs it, says otherwise
(:mod:`ecosim.phenotype.layout`, issue 18).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ecosim.phenotype.registry import CONV_MODES

Shape2 = tuple[int, int]
#: One group of the grouped mode: kernel shape ``(h, w)`` and the slice ``start:stop`` of the
#: node order (nodes sorted by shape) that holds its kernels.
Group = tuple[int, int, int, int]

#: Evaluation modes, defined once in :data:`ecosim.phenotype.registry.CONV_MODES`.
MODES = CONV_MODES


def _check_kernels(kernels: Sequence[Shape2]) -> tuple[Shape2, ...]:
    """Kernels as a tuple of int pairs; ValueError if empty, even or non-positive."""
    ks = tuple((int(h), int(w)) for h, w in kernels)
    if not ks:
        raise ValueError("kernels must hold at least one (h, w) shape, got none")
    for j, (h, w) in enumerate(ks):
        if h < 1 or w < 1 or h % 2 == 0 or w % 2 == 0:
            raise ValueError(f"kernels[{j}] must be odd and ≥ 1 in both dimensions, got {(h, w)}")
    return ks


def max_shape(kernels: Sequence[Shape2]) -> Shape2:
    """``(h_max, w_max)``: the largest kernel size per dimension (the stacked weight's spatial shape)."""
    return (max(h for h, _ in kernels), max(w for _, w in kernels))


def kernel_window(shape: Shape2, stacked: Shape2) -> tuple[slice, slice]:
    """Rows and columns of a ``shape`` kernel centred in a ``stacked`` ``(h_max, w_max)`` slot (§III-E).

    Args:
        shape: the kernel's own ``(h, w)``, odd.
        stacked: ``(h_max, w_max)``, odd, each ≥ the kernel's.

    Returns:
        ``(rows, cols)`` slices: ``top = (h_max - h) // 2`` to ``top + h``, likewise for columns.

    >>> kernel_window((3, 1), (5, 5))
    (slice(1, 4, None), slice(2, 3, None))
    """
    top = (stacked[0] - shape[0]) // 2
    left = (stacked[1] - shape[1]) // 2
    return slice(top, top + shape[0]), slice(left, left + shape[1])


def kernel_mask(
    kernels: Sequence[Shape2],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The fixed mask of a mixed layer: 1 inside each kernel's centred window, 0 outside.

    Args:
        kernels: one odd ``(h, w)`` per output channel.
        device: device of the result (default: torch's default).
        dtype: dtype of the result (default: torch's default float).

    Returns:
        Tensor ``(C_out, 1, h_max, w_max)``.

    Raises:
        ValueError: empty ``kernels`` or an even/non-positive shape.

    >>> kernel_mask([(1, 3), (3, 1)])[:, 0]
    tensor([[[0., 0., 0.],
             [1., 1., 1.],
             [0., 0., 0.]],
    <BLANKLINE>
            [[0., 1., 0.],
             [0., 1., 0.],
             [0., 1., 0.]]])
    """
    ks = _check_kernels(kernels)
    stacked = max_shape(ks)
    mask = torch.zeros(len(ks), 1, *stacked, device=device, dtype=dtype)
    for j, shape in enumerate(ks):
        rows, cols = kernel_window(shape, stacked)
        mask[j, 0, rows, cols] = 1
    return mask


def kernel_groups(kernels: Sequence[Shape2]) -> tuple[tuple[Group, ...], Tensor, Tensor]:
    """Groups of equal-shape kernels for the grouped mode.

    Args:
        kernels: one odd ``(h, w)`` per output channel.

    Returns:
        ``(groups, order, inverse)``: ``groups`` as ``(h, w, start, stop)`` in first-appearance
        order; ``order`` (int64 ``(C_out,)``) lists node indices group by group, so group ``g``
        holds nodes ``order[start:stop]``; ``inverse`` is its inverse permutation
        (``order[inverse] == arange(C_out)``), mapping concatenated group outputs to node order.

    Raises:
        ValueError: empty ``kernels`` or an even/non-positive shape.

    >>> groups, order, inverse = kernel_groups([(3, 3), (1, 1), (3, 3)])
    >>> groups, order.tolist(), inverse.tolist()
    (((3, 3, 0, 2), (1, 1, 2, 3)), [0, 2, 1], [0, 2, 1])
    """
    ks = _check_kernels(kernels)
    members: dict[Shape2, list[int]] = {}
    for j, shape in enumerate(ks):
        members.setdefault(shape, []).append(j)
    groups: list[Group] = []
    flat: list[int] = []
    for (h, w), idx in members.items():
        groups.append((h, w, len(flat), len(flat) + len(idx)))
        flat.extend(idx)
    order = torch.tensor(flat, dtype=torch.long)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(flat))
    return tuple(groups), order, inverse


def _conv2d(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Shape2, padding: Shape2) -> Tensor:
    """``F.conv2d``, with strided 1×1 kernels run as a subsampling then a stride-1 conv.

    The two are the same function (a 1×1 kernel at stride s reads every s-th tile). torch
    2.14.1's CPU backend (oneDNN 3.12) crashes the process (SIGSEGV/SIGFPE) in the backward of
    some strided 1×1 convolutions, e.g. stride 2 on 28×28 MNIST batches; the subsampled form
    never takes that path. Regression test: ``tests/phenotype/test_phenotype_crash.py``.
    """
    if weight.shape[-2:] == (1, 1) and tuple(stride) != (1, 1) and tuple(padding) == (0, 0):
        return F.conv2d(input[:, :, :: stride[0], :: stride[1]], weight, bias, 1, 0)
    return F.conv2d(input, weight, bias, stride, padding)


def mixed_conv2d(input: Tensor, weight: Tensor, bias: Tensor | None, mask: Tensor, stride: Shape2) -> Tensor:
    """Dense mixed-shape convolution: one ``F.conv2d`` with the masked stacked weight (§III-E).

    Args:
        input: ``(N, C_in, H, W)``.
        weight: ``(C_out, C_in, h_max, w_max)``, kernels centred in their slots; odd ``h_max, w_max``.
        bias: ``(C_out,)`` or ``None``.
        mask: ``(C_out, 1, h_max, w_max)`` from :func:`kernel_mask`; masked tiles of ``weight``
            never reach the output and get exactly zero gradient.
        stride: ``(sh, sw)``.

    Returns:
        ``(N, C_out, H_out, W_out)``.

    Shape:
        padding ``(h_max // 2, w_max // 2)``;
        ``H_out = floor((H + 2·(h_max//2) − h_max) / sh) + 1 = ceil(H / sh)``, likewise ``W_out``.

    >>> kernels = [(1, 1), (3, 3)]
    >>> y = mixed_conv2d(torch.ones(1, 1, 5, 5), torch.ones(2, 1, 3, 3), None, kernel_mask(kernels), (2, 2))
    >>> y.shape, y[0, :, 1, 1].tolist()
    (torch.Size([1, 2, 3, 3]), [1.0, 9.0])
    """
    hm, wm = weight.shape[-2:]
    return _conv2d(input, weight * mask, bias, stride, (hm // 2, wm // 2))


def grouped_mixed_conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    groups: Sequence[Group],
    order: Tensor,
    inverse: Tensor,
    stride: Shape2,
) -> Tensor:
    """Grouped mixed-shape convolution: one ``F.conv2d`` per distinct kernel shape (§III-E).

    Each group convolves with the centred window of its kernels, padding ``(h // 2, w // 2)``;
    this aligns every output tile with the dense layout. Masked tiles are never read. The bias
    is added after the convolutions: a 1×1 conv given its bias fuses it into the products
    (``fma(x, w, b)``) and would round differently from :func:`mixed_conv2d`.

    Args:
        input: ``(N, C_in, H, W)``.
        weight: ``(C_out, C_in, h_max, w_max)``, kernels centred in their slots.
        bias: ``(C_out,)`` or ``None``.
        groups, order, inverse: from :func:`kernel_groups`.
        stride: ``(sh, sw)``.

    Returns:
        ``(N, C_out, H_out, W_out)``, equal to :func:`mixed_conv2d` (bit for bit on the CPU
        backends tried; :mod:`ecosim.phenotype.layout` checks it on the machine before relying on it).

    Shape:
        ``H_out = floor((H + 2·(h//2) − h) / sh) + 1 = ceil(H / sh)`` for every group, likewise ``W_out``.

    >>> groups, order, inverse = kernel_groups([(1, 1), (3, 3)])
    >>> y = grouped_mixed_conv2d(torch.ones(1, 1, 5, 5), torch.ones(2, 1, 3, 3), None, groups, order, inverse, (2, 2))
    >>> y.shape, y[0, :, 1, 1].tolist()
    (torch.Size([1, 2, 3, 3]), [1.0, 9.0])
    """
    stacked = (weight.shape[-2], weight.shape[-1])
    if len(groups) == 1:  # one shape: the dense computation on the window, no permutation
        rows, cols = kernel_window(groups[0][:2], stacked)
        return _conv2d(input, weight[:, :, rows, cols], bias, stride, (groups[0][0] // 2, groups[0][1] // 2))
    outs = []
    for h, w, start, stop in groups:
        rows, cols = kernel_window((h, w), stacked)
        wg = weight[:, :, rows, cols].index_select(0, order[start:stop])
        outs.append(_conv2d(input, wg, None, stride, (h // 2, w // 2)))
    out = torch.cat(outs, dim=1).index_select(1, inverse)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class MixedConv2d(nn.Module):
    """2D convolution whose kernels have their own odd shapes, stacked along their central tile.

    Paper §III-E, Fig. 7b. Every kernel spans all ``in_channels``; kernel ``j`` has shape
    ``kernels[j]`` and lives centred in ``weight[j]``; tiles outside it (masked tiles) never
    reach the output and get exactly zero gradient, whatever the optimiser does to them.

    Args:
        in_channels (int): ``C_in`` ≥ 1.
        kernels (sequence of (int, int)): one odd ``(h, w)`` per output channel; ``C_out = len(kernels)``.
        stride (int or (int, int), default 1): ``(sh, sw)``, each ≥ 1.
        bias (bool, default True): learn an additive bias per output channel.
        mode (str, default ``"auto"``): ``"dense"`` (one masked conv), ``"grouped"`` (one conv
            per distinct shape) or ``"auto"`` (dense until the measured layout of the network
            sets :attr:`resolved_mode`, :mod:`ecosim.phenotype.layout`).
        device, dtype: factory kwargs for the parameters and buffers.

    Attributes:
        weight: ``(C_out, C_in, h_max, w_max)``; initialised per kernel as ``nn.Conv2d`` does
            (uniform ±1/sqrt(C_in·h·w)), masked tiles zero.
        bias: ``(C_out,)`` or ``None``.
        mask: buffer ``(C_out, 1, h_max, w_max)`` from :func:`kernel_mask`.
        shape_groups, order, inverse: the grouped mode's plan from :func:`kernel_groups`
            (``order``/``inverse`` are non-persistent buffers: derived from ``kernels``).
        resolved_mode: ``"dense"`` or ``"grouped"``, what ``forward`` runs; a layout may set it.

    Raises:
        ValueError: ``in_channels`` < 1, empty or even ``kernels``, a stride < 1, or an
            unknown ``mode`` (the message lists the valid ones).

    Shape:
        input ``(N, C_in, H, W)`` → output ``(N, C_out, H_out, W_out)`` with padding
        ``(h_max // 2, w_max // 2)`` and
        ``H_out = floor((H + 2·(h_max//2) − h_max) / sh) + 1 = ceil(H / sh)``,
        ``W_out = ceil(W / sw)``.

    >>> conv = MixedConv2d(3, [(1, 1), (3, 5), (5, 3)], stride=2)
    >>> conv(torch.zeros(4, 3, 9, 10)).shape
    torch.Size([4, 3, 5, 5])
    """

    mask: Tensor
    order: Tensor
    inverse: Tensor

    def __init__(
        self,
        in_channels: int,
        kernels: Sequence[Shape2],
        stride: int | Shape2 = 1,
        bias: bool = True,
        mode: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be ≥ 1, got {in_channels}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        st = (stride, stride) if isinstance(stride, int) else tuple(stride)
        if len(st) != 2 or int(st[0]) < 1 or int(st[1]) < 1:
            raise ValueError(f"stride must be ≥ 1 in each of 2 dimensions, got {stride}")
        self.in_channels = int(in_channels)
        self.kernels = _check_kernels(kernels)
        self.stride: Shape2 = (int(st[0]), int(st[1]))
        self.mode = mode
        self.resolved_mode = "dense" if mode == "auto" else mode
        self.kernel_size: Shape2 = max_shape(self.kernels)
        self.padding: Shape2 = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(len(self.kernels), self.in_channels, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(len(self.kernels), **factory)) if bias else None
        self.register_buffer("mask", kernel_mask(self.kernels, device=device, dtype=self.weight.dtype))
        self.shape_groups, order, inverse = kernel_groups(self.kernels)
        # derived from `kernels`: kept out of the state dict
        self.register_buffer("order", order.to(device), persistent=False)
        self.register_buffer("inverse", inverse.to(device), persistent=False)
        self.reset_parameters()

    @property
    def out_channels(self) -> int:
        """``C_out``: one per kernel."""
        return len(self.kernels)

    def reset_parameters(self) -> None:
        """Uniform ±1/sqrt(C_in·h·w) per kernel (as ``nn.Conv2d``), masked tiles set to zero."""
        fan_in = torch.tensor([self.in_channels * h * w for h, w in self.kernels], dtype=torch.float64)
        bound = (1.0 / fan_in.sqrt()).to(self.weight)
        with torch.no_grad():
            self.weight.uniform_(-1.0, 1.0).mul_(bound.view(-1, 1, 1, 1)).mul_(self.mask)
            if self.bias is not None:
                self.bias.uniform_(-1.0, 1.0).mul_(bound)

    def effective_weight(self) -> Tensor:
        """``weight * mask``: the weight the layer actually applies (masked tiles exactly zero)."""
        return self.weight * self.mask

    def output_size(self, size: Shape2) -> Shape2:
        """``(ceil(H / sh), ceil(W / sw))`` for input ``size = (H, W)``."""
        return (math.ceil(size[0] / self.stride[0]), math.ceil(size[1] / self.stride[1]))

    def forward(self, input: Tensor) -> Tensor:
        """Apply the layer; see the class docstring for shapes."""
        if self.resolved_mode == "grouped":
            return grouped_mixed_conv2d(
                input,
                self.weight,
                self.bias,
                self.shape_groups,
                self.order,
                self.inverse,
                self.stride,
            )
        return mixed_conv2d(input, self.weight, self.bias, self.mask, self.stride)

    def extra_repr(self) -> str:
        shapes = ", ".join(f"{h}x{w}" for h, w in self.kernels)
        s = f"{self.in_channels}, {self.out_channels}, kernels=[{shapes}]"
        if self.stride != (1, 1):
            s += f", stride={self.stride}"
        if self.bias is None:
            s += ", bias=False"
        s += f", mode={self.mode!r}" + (f" ({self.resolved_mode})" if self.mode == "auto" else "")
        return s


__all__ = [
    "MODES",
    "MixedConv2d",
    "grouped_mixed_conv2d",
    "kernel_groups",
    "kernel_mask",
    "kernel_window",
    "max_shape",
    "mixed_conv2d",
]
