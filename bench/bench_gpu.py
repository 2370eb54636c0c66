"""Networks trained per minute on one GPU shared by 1, 4 and 8 concurrent Ray tasks (fractional GPUs).

Needs a CUDA device (the device tool's machine). Each configuration starts a local Ray with one
GPU, runs ``--networks`` training tasks of a mid-sized evolved CNN on MNIST with
``num_gpus = 1 / concurrency``, and reports throughput side by side:

    ECOSIM_DATA=../shared/data python bench/bench_gpu.py [--networks 32] [--table [--rounds 7]]

``--table`` first runs ``bench/bench_speed.py``'s table on the GPU (one offspring's time, ecosim
against the same network in plain torch, same batches; the ratios go to ``--out``), with the
layouts ecosim measures on the GPU (``ecosim.phenotype.layout``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    import ray
    import torch

    from ecosim.config import Config
    from ecosim.data import prepare_data
    from ecosim.engine.tasks import DataHandle, train_network_task
    from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
    from ecosim.phenotype.records import TrainingParams

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=32)
    p.add_argument("--table", action="store_true", help="also the ecosim / plain torch table (bench_speed.py)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the table")
    p.add_argument("--out", default="bench_gpu.json", help="where the table's ratios go")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA device; none is visible")
    if args.table:
        import json
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_speed

        args.conv_mode, args.pycortex = "", ""
        result = {"device": torch.cuda.get_device_name(), "table": bench_speed.table(args)}
        Path(args.out).write_text(json.dumps(result, indent=1))
    data, shape, classes = prepare_data(Config())
    g = Genome(
        shape,
        (
            ConvLayer(((3, 3), (5, 5), (1, 1), (3, 1)) * 4),
            ConvLayer(((3, 3),) * 16, (2, 2)),
            DenseLayer(64),
            DenseLayer(classes),
        ),
    )
    weights = [init_weights(g, np.random.default_rng(i)) for i in range(args.networks)]
    settings = TrainingParams()
    print(f"{'concurrent':>10} {'networks/min':>13} {'wall s':>8}")
    for conc in (1, 4, 8):
        ray.init(num_gpus=1, num_cpus=max(conc, 2), include_dashboard=False, logging_level="ERROR")
        ref = DataHandle.put(data)
        task = train_network_task.options(num_cpus=1, num_gpus=1 / conc)
        ray.get(task.remote(ref, g, [ray.put(weights[0])], settings, 0, False))  # warm-up: CUDA context, cuDNN
        t0 = time.perf_counter()
        ray.get([task.remote(ref, g, [ray.put(w)], settings, i, False) for i, w in enumerate(weights)])
        wall = time.perf_counter() - t0
        print(f"{conc:>10} {60 * args.networks / wall:>13.1f} {wall:>8.1f}")
        ray.shutdown()


if __name__ == "__main__":
    main()
