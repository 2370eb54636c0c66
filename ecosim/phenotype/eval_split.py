"""How many forward passes score one evaluation chunk: chosen for throughput on the machine (issue 18).

Scoring partitions the fitness and test sets into chunks of ``training.eval_batch_size`` images
(256 by default; the last chunk partial). Whether a full chunk is one forward pass (``whole``) or
two of half its size (``halves``) is a matter of speed only, where both compute the same bits:
on one AMD EPYC thread, batches of 128 scored conv networks 5–12% faster than 256 with
bit-identical log-probabilities, an MLP slightly slower (``docs/design.md``, session 24). So:

* **Measured per machine.** Under ``training.eval_split = "auto"`` the first network a worker
  scores times both on a probe network of the run's input shape (the baseline
  ``C10[3x3]-C20s2[3x3]``, reference layout, random images; under a second of compute) and keeps the
  faster. The decision is stored in the layout cache (:class:`~ecosim.phenotype.layout.LayoutCache`,
  ``<cache>/layouts/<machine>.json``) and reused by every worker and run on that machine.
* **Verified per shape class.** Before ``halves`` scores a shape class, its reference layout
  computes the first chunk of the fitness set whole and in halves; only if the log-probabilities
  are equal bit for bit does the class use halves (cached the same way). The last, partial chunk
  is always one forward pass, exactly as ``whole`` computes it. So the logs of a seeded run are
  identical whichever split runs (``tests/phenotype/test_eval_split.py``).

``"whole"`` pins one pass per chunk (ecosim ≤ 0.4); ``"halves"`` pins halves where verified.
Torch only, no Ray.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ecosim.genome.genome import ConvLayer, DenseLayer, Genome, constraint_violation, max_kernel_size
from ecosim.genome.weights import init_weights
from ecosim.phenotype.layout import Layout, LayoutChooser, apply_layout, layout_candidates, shape_class
from ecosim.phenotype.registry import EVAL_SPLITS

#: forward passes per full chunk for each decided split
PASSES = {"whole": 1, "halves": 2}
#: timed rounds per split on the probe network (the medians are compared)
PROBE_ROUNDS = 3


def probe_genome(input_shape: tuple[int, int, int], classes: int) -> Genome:
    """The network the machine's split is timed on: ``C10[3x3]-C20s2[3x3]-F<classes>`` (issue 17's
    best baseline), kernels and stride clipped to what ``input_shape`` ``(C, H, W)`` allows."""
    k = (min(3, max_kernel_size(input_shape[1])), min(3, max_kernel_size(input_shape[2])))
    genome = Genome(input_shape, (ConvLayer((k,) * 10), ConvLayer((k,) * 20, (2, 2)), DenseLayer(classes)))
    if constraint_violation(genome) is None:
        return genome
    return Genome(input_shape, (ConvLayer((k,) * 10), ConvLayer((k,) * 20), DenseLayer(classes)))


def _forward_seconds(model: nn.Module, x: Tensor, size: int, clock: Callable[[], float]) -> float:
    t0 = clock()
    for start in range(0, len(x), size):
        model(x[start : start + size])
    return clock() - t0


@torch.inference_mode()
def measure_split(
    input_shape: tuple[int, int, int],
    classes: int,
    chunk: int,
    device: torch.device,
    clock: Callable[[], float],
    chunks: int = 4,
) -> dict[str, float]:
    """Median seconds to score ``chunks`` chunks of ``chunk`` random images whole and in halves,
    on :func:`probe_genome` in the reference layout: ``{"whole": s, "halves": s}``."""
    from ecosim.phenotype.network import build_phenotype

    genome = probe_genome(input_shape, classes)
    model = build_phenotype(genome, init_weights(genome, np.random.default_rng(0))).to(device).eval()
    apply_layout(model, layout_candidates(genome)[0])
    x = torch.randn((chunk * chunks, *input_shape), generator=torch.Generator().manual_seed(0)).to(device)
    sizes = {"whole": chunk, "halves": chunk // 2}
    for size in sizes.values():  # warm-up: first calls allocate and pick kernels
        _forward_seconds(model, x[: 2 * chunk], size, clock)
    samples: dict[str, list[float]] = {name: [] for name in sizes}
    for _ in range(PROBE_ROUNDS):
        for name, size in sizes.items():
            samples[name].append(_forward_seconds(model, x, size, clock))
    return {name: statistics.median(s) for name, s in samples.items()}


def machine_split(
    chooser: LayoutChooser,
    input_shape: tuple[int, int, int],
    classes: int,
    chunk: int,
    threads: int,
    device: torch.device,
    clock: Callable[[], float],
) -> str:
    """``"whole"`` or ``"halves"``: the faster on this machine (cached; measured on first use)."""
    cache = chooser.cache_for(device)
    key = f"eval_split|b{chunk}|t{threads}|{device.type}|{'x'.join(map(str, input_shape))}|c{classes}"
    stored = cache.get(key)
    if stored is not None and stored.get("winner") in PASSES:
        return str(stored["winner"])
    medians = measure_split(input_shape, classes, chunk, device, clock)
    winner = min(medians, key=lambda name: medians[name])
    cache.put(
        key,
        {
            "winner": winner,
            "median_s": {n: round(m, 6) for n, m in medians.items()},
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    return winner


@torch.inference_mode()
def halves_identical(model: nn.Module, x: Tensor, reference: Layout) -> bool:
    """Whether ``model`` in ``reference`` computes the chunk ``x`` ``(B, C, H, W)`` (B even) whole
    and in two halves to the same bits."""
    apply_layout(model, reference)
    half = len(x) // 2
    return torch.equal(model(x), torch.cat([model(x[:half]), model(x[half:])]))


def class_split(
    chooser: LayoutChooser,
    genome: Genome,
    chunk: int,
    conv_mode: str,
    memory_format: str,
    threads: int,
    device: torch.device,
    check: Callable[[Layout], bool],
) -> str:
    """``"halves"`` if ``genome``'s shape class computes a chunk in halves to the same bits as whole
    (``check(reference layout)``, run once per class and machine, then cached), else ``"whole"``."""
    cache = chooser.cache_for(device)
    key = (
        f"eval_halves|b{chunk}|t{threads}|{device.type}|conv_mode={conv_mode}|"
        f"memory_format={memory_format}|{shape_class(genome)}"
    )
    stored = cache.get(key)
    if stored is not None and stored.get("winner") in PASSES:
        return str(stored["winner"])
    same = check(layout_candidates(genome, conv_mode, memory_format)[0])
    winner = "halves" if same else "whole"
    cache.put(key, {"winner": winner, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return winner


def eval_passes(
    split: str,
    chooser: LayoutChooser,
    genome: Genome,
    model: nn.Module,
    first_chunk: Callable[[Layout], Tensor] | None,
    classes: int,
    chunk: int,
    conv_mode: str,
    memory_format: str,
    threads: int,
    device: torch.device,
    clock: Callable[[], float],
) -> int:
    """Forward passes per full evaluation chunk for ``model`` (1 or 2; see the module docstring).

    Args:
        split: ``training.eval_split``.
        first_chunk: the first full chunk of the fitness set, standardised in a layout's memory
            format (``None``: the set has no full chunk; then 1).
        classes: output nodes (the probe network's).
        chunk: ``training.eval_batch_size``.

    Raises:
        ValueError: ``split`` is not one of :data:`EVAL_SPLITS`.
    """
    if split not in EVAL_SPLITS:
        raise ValueError(f"split must be one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    if split == "whole" or first_chunk is None or chunk < 2 or chunk % 2:
        return 1
    if split == "auto":
        faster = machine_split(chooser, genome.input_shape, classes, chunk, threads, device, clock)
        if faster == "whole":
            return 1
    decided = class_split(
        chooser,
        genome,
        chunk,
        conv_mode,
        memory_format,
        threads,
        device,
        lambda ref: halves_identical(model, first_chunk(ref), ref),
    )
    return PASSES[decided]


__all__ = [
    "EVAL_SPLITS",
    "PASSES",
    "PROBE_ROUNDS",
    "class_split",
    "eval_passes",
    "halves_identical",
    "machine_split",
    "measure_split",
    "probe_genome",
]
