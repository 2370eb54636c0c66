"""Benchmark: forward + backward of one mixed-shape conv layer against a plain ``F.conv2d``.

Paper §III-E, §III-H (the stacking must not slow evaluation down). A script, not a test:

    PYTHONPATH=. python bench/bench_conv.py [--device cuda] [--threads N] [--reps 20] [--sweep]

Cases (batch 128, 16 input channels, 28×28, stride 1):

* ``mixed``: 32 kernels cycling over 1×1, 3×3, 5×5, 7×7, 3×7, 7×1, 5×3, 1×5 (``h_max = w_max
  = 7``) against plain ``F.conv2d`` with 32 7×7 kernels (dense reference). Target: the dense
  masked layer within 1.10× of the reference.
* ``skewed``: 31 kernels 1×1 and one 13×13, against plain 13×13: dense-masked vs grouped vs auto.

Each contestant runs forward, then backward to the weight, the bias and the input (a layer in
the middle of a network). Contestants are interleaved: every repetition runs each once, in a
fresh (seeded) random order, so drifts in machine load hit all of them alike. Medians of wall
time and of process CPU time (all threads; less sensitive to other jobs on a shared machine)
are reported, with ratios to the reference. ``--sweep`` adds a dense/grouped crossover sweep
(which one wins depends on the machine: ``training.conv_mode = "auto"`` measures it per network
shape class, :mod:`ecosim.phenotype.layout`). ``--threads`` defaults to all cores
(``torch.set_num_threads``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ecosim.phenotype.conv import MixedConv2d

Shape2 = tuple[int, int]
MIXED_SHAPES: tuple[Shape2, ...] = ((1, 1), (3, 3), (5, 5), (7, 7), (3, 7), (7, 1), (5, 3), (1, 5))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _plain_step(x: torch.Tensor, c_out: int, k: Shape2) -> Callable[[], None]:
    """Forward + backward of plain ``F.conv2d`` with ``c_out`` ``k`` kernels (the reference)."""
    weight = torch.randn(c_out, x.shape[1], *k, device=x.device, requires_grad=True)
    bias = torch.zeros(c_out, device=x.device, requires_grad=True)

    def step() -> None:
        weight.grad = bias.grad = x.grad = None
        F.conv2d(x, weight, bias, 1, (k[0] // 2, k[1] // 2)).sum().backward()

    return step


def _mixed_step(x: torch.Tensor, kernels: list[Shape2], mode: str) -> Callable[[], None]:
    """Forward + backward of a :class:`MixedConv2d` in ``mode``."""
    conv = MixedConv2d(x.shape[1], kernels, mode=mode, device=x.device)

    def step() -> None:
        conv.zero_grad(set_to_none=True)
        x.grad = None
        conv(x).sum().backward()

    return step


def measure(
    steps: dict[str, Callable[[], None]],
    reps: int,
    warmup: int,
    device: torch.device,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Median (wall, process CPU) seconds per call of each step.

    Every repetition runs each step once, in a fresh random order (seeded), so load drifts and
    cache effects of the predecessor hit all contestants alike. Process CPU time (all threads)
    is reported beside wall time: on a shared machine it is far less sensitive to other jobs.
    """
    rng = random.Random(seed)
    names = list(steps)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(warmup + reps):
        rng.shuffle(names)
        for n in names:
            _sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            steps[n]()
            _sync(device)
            if r >= warmup:
                times[n].append((time.perf_counter() - w0, time.process_time() - c0))
    return {n: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for n, v in times.items()}


def _table(title: str, med: dict[str, tuple[float, float]], ref: str) -> None:
    print(f"\n{title}")
    print(f"  {'contestant':<30} {'wall ms':>9} {'wall ratio':>10} {'cpu ms':>9} {'cpu ratio':>10}")
    for n, (wall, cpu) in med.items():
        print(f"  {n:<30} {wall * 1e3:>9.1f} {wall / med[ref][0]:>9.3f}x {cpu * 1e3:>9.1f} {cpu / med[ref][1]:>9.3f}x")
    sys.stdout.flush()


def _case(
    x: torch.Tensor, kernels: list[Shape2], ref_k: Shape2, args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    steps = {
        f"plain F.conv2d {ref_k[0]}x{ref_k[1]}": _plain_step(x, len(kernels), ref_k),
        "MixedConv2d dense": _mixed_step(x, kernels, "dense"),
        "MixedConv2d grouped": _mixed_step(x, kernels, "grouped"),
    }
    return measure(steps, args.reps, args.warmup, x.device)


SWEEP: tuple[tuple[tuple[Shape2, ...], tuple[int, ...]], ...] = (
    (((7, 7),), (8, 16, 24, 31)),
    (((13, 13),), (8, 16, 24, 31)),
    (((7, 7), (5, 5)), (8, 16, 24)),
    (((7, 7), (5, 5), (3, 3)), (16, 24, 28)),
    (((7, 7), (5, 5), (3, 3), (7, 3), (3, 7)), (16, 28)),
)


def sweep(x: torch.Tensor, args: argparse.Namespace) -> None:
    """Dense vs grouped over layers of 32 kernels: ``n`` of shape 1×1, the rest cycling over big shapes.

    Prints the area ratio ``Σ h·w / (C_out·h_max·w_max)``, the number of distinct shapes, the
    medians and grouped/dense ratios.
    """
    print("\nsweep: 32 kernels, n of them 1x1, the rest cycling over big shapes; g/d < 1 favours grouped")
    print(
        f"  {'big shapes':<22} {'n 1x1':>5} {'shapes':>6} {'area':>6} {'dense cpu':>9} {'grp cpu':>8} "
        f"{'g/d cpu':>7} {'g/d wall':>8}"
    )
    reps = max(5, args.reps // 3)
    for bigs, smalls in SWEEP:
        for n_small in smalls:
            kernels = [(1, 1)] * n_small + [bigs[j % len(bigs)] for j in range(32 - n_small)]
            hm, wm = max(h for h, _ in kernels), max(w for _, w in kernels)
            ratio = sum(h * w for h, w in kernels) / (len(kernels) * hm * wm)
            med = measure(
                {"d": _mixed_step(x, kernels, "dense"), "g": _mixed_step(x, kernels, "grouped")},
                reps,
                args.warmup,
                x.device,
            )
            (dw, dc), (gw, gc) = med["d"], med["g"]
            label = ",".join(f"{h}x{w}" for h, w in bigs)
            print(
                f"  {label:<22} {n_small:>5} {len(set(kernels)):>6} {ratio:>6.3f} {dc * 1e3:>9.1f} {gc * 1e3:>8.1f} "
                f"{gc / dc:>7.2f} {gw / dw:>8.2f}"
            )
            sys.stdout.flush()


def main() -> None:
    """Parse arguments, run both cases (and the sweep if asked) and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per contestant (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed repetitions first (default 3)")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch CPU threads (default: all cores)",
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sweep", action="store_true", help="also run the dense/grouped crossover sweep")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda requested but torch.cuda.is_available() is False")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    x = torch.randn(args.batch, 16, 28, 28, device=device, requires_grad=True)
    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
        f"input {tuple(x.shape)}, reps {args.reps} (median), forward+backward"
    )

    mixed = [MIXED_SHAPES[j % len(MIXED_SHAPES)] for j in range(32)]
    med = _case(x, mixed, (7, 7), args)
    _table(
        "mixed: 32 kernels cycling 1x1,3x3,5x5,7x7,3x7,7x1,5x3,1x5 vs plain 7x7 (target dense <= 1.10x)",
        med,
        "plain F.conv2d 7x7",
    )

    skewed = [(1, 1)] * 31 + [(13, 13)]
    med = _case(x, skewed, (13, 13), args)
    _table("skewed: 31 kernels 1x1 + one 13x13 vs plain 13x13", med, "plain F.conv2d 13x13")
    (gw, gc), (dw, dc) = med["MixedConv2d grouped"], med["MixedConv2d dense"]
    print(f"  grouped / dense: wall {gw / dw:.3f}, cpu {gc / dc:.3f}")

    if args.sweep:
        sweep(x, args)


if __name__ == "__main__":
    main()
