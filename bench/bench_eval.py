"""Benchmark: scoring (and one short training pass) against evaluation batch size and memory format.

Paper §III-B (fitness = test accuracy, every network, every generation). A script, not a test:

    PYTHONPATH=. python bench/bench_eval.py [--reps 3] [--threads 1] [--shape 1,28,28] [--images 10000]

Cases: an MLP ``F64-F10`` and two conv nets, ``C10[3x3]-F10`` and ``C10[3x3]-C20s2[3x3]-F10``
(the fixed architectures of issue 7), N(0, 0.1) weights. For each, the time to score
``--images`` images (10,000 = the MNIST test set) through :func:`ecosim.phenotype.training.accuracy`
at several batch sizes, with the batches laid out

* ``cf``: channels-first (``torch.contiguous_format``),
* ``cl``: channels-last (``torch.channels_last``),
* ``as-is``: whatever NumPy fancy indexing produced (``torch.preserve_format``; on MNIST, whose
  ``(N, 1, 28, 28)`` arrays have a zero channel stride, the slices come out channels-last).

``--train`` (on by default) adds one training pass over 2,560 images (20 minibatches of 128,
Adadelta) per layout. Images are MNIST's test set when ``--shape`` is ``1,28,28`` and
``$ECOSIM_DATA`` holds it, otherwise random uint8 (timing does not depend on the pixels).

Contestants are interleaved (each repetition runs every one once, in a fresh seeded order) so
drifts in machine load hit all alike; medians of wall time and process CPU time are reported,
with ratios to the first of ``--batch-sizes`` / channels-first of the same network (scoring)
and to channels-first (training). Threads default to 1, as in a
training task with ``resources.cpus_per_task = 1``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.phenotype.network import build_phenotype
from ecosim.phenotype.training import accuracy, batches

FORMATS = {"cf": torch.contiguous_format, "cl": torch.channels_last, "as-is": torch.preserve_format}
MEAN, STD = (0.1307,), (0.3081,)


def networks(shape: tuple[int, int, int]) -> dict[str, Genome]:
    """The three fixed architectures of issue 7 on input ``shape``."""
    k3 = ((3, 3),)
    return {
        "F64-F10": Genome(shape, (DenseLayer(64), DenseLayer(10))),
        "C10[3x3]-F10": Genome(shape, (ConvLayer(k3 * 10), DenseLayer(10))),
        "C10[3x3]-C20s2[3x3]-F10": Genome(shape, (ConvLayer(k3 * 10), ConvLayer(k3 * 20, (2, 2)), DenseLayer(10))),
    }


def load_images(shape: tuple[int, int, int], n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images uint8 (n, C, H, W), labels int64 (n,), source)``: MNIST's test set if available."""
    if shape == (1, 28, 28):
        try:
            from ecosim.data.load import load_dataset

            ds = load_dataset("mnist")
            return ds.test_images[:n], ds.test_labels[:n], "MNIST test set"
        except Exception as exc:  # noqa: BLE001 - a benchmark falls back to random pixels
            print(f"(MNIST unavailable: {exc}; using random images)")
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n), "random uint8"


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shape", default="1,28,28")
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--batch-sizes", default="64,128,256,512,1000")
    ap.add_argument("--no-train", dest="train", action="store_false")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    assert len(shape) == 3
    images, labels, source = load_images(shape, args.images)  # type: ignore[arg-type]
    sizes = [int(v) for v in args.batch_sizes.split(",")]
    device = torch.device("cpu")
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {len(labels)} images {shape} ({source}), "
        f"{args.reps} reps; source array strides {images.strides}"
    )

    models = {
        name: build_phenotype(g, init_weights(g, np.random.default_rng(0))) for name, g in networks(shape).items()
    }
    jobs: dict[tuple[str, str, str], Callable[[], object]] = {}
    for name, model in models.items():
        fmts = ["cf"] if name.startswith("F") else list(FORMATS)
        for fmt in fmts:
            for bs in sizes:
                jobs[(name, f"eval b{bs}", fmt)] = lambda m=model, b=bs, f=FORMATS[fmt]: accuracy(
                    m, images, labels, MEAN, STD, b, f
                )
            if args.train:

                def train(m=model, f=FORMATS[fmt]) -> None:
                    net = build_phenotype(m.genome, init_weights(m.genome, np.random.default_rng(1)))
                    opt = torch.optim.Adadelta(net.parameters())
                    idx = np.random.default_rng(2).choice(len(labels), size=min(2560, len(labels)), replace=False)
                    net.train()
                    for x, y in batches(images, labels, idx, 128, MEAN, STD, device, f):
                        opt.zero_grad(set_to_none=True)
                        F.nll_loss(net(x), y).backward()
                        opt.step()

                jobs[(name, "train 20x128", fmt)] = train
    for fn in jobs.values():  # warm-up
        fn()
    wall: dict[tuple[str, str, str], list[float]] = {k: [] for k in jobs}
    cpu: dict[tuple[str, str, str], list[float]] = {k: [] for k in jobs}
    order = list(jobs)
    for rep in range(args.reps):
        random.Random(rep).shuffle(order)
        for key in order:
            w, c = _timed(jobs[key])
            wall[key].append(w)
            cpu[key].append(c)

    print(f"\n{'network':<26}{'task':<14}{'layout':<7}{'wall s':>8}{'cpu s':>8}{'÷ref':>7}   ref")
    ref_task = f"eval b{sizes[0]}"  # the first batch size asked for (it used to be 128, always)
    for name in models:
        ref_eval = statistics.median(wall[(name, ref_task, "cf")])
        for key in jobs:
            if key[0] != name:
                continue
            med = statistics.median(wall[key])
            ref = statistics.median(wall[(name, key[1], "cf")]) if key[1].startswith("train") else ref_eval
            ref_name = f"{key[1]} cf" if key[1].startswith("train") else f"{ref_task} cf"
            print(
                f"{name:<26}{key[1]:<14}{key[2]:<7}{med:8.3f}{statistics.median(cpu[key]):8.3f}{med / ref:7.2f}   "
                f"{ref_name}"
            )


if __name__ == "__main__":
    main()
