"""Benchmark (issue 18): one offspring's time against plain torch and PyCortex; engine, founding, start-up.

One command, every part measured side by side on the machine it runs on, ratios written to a file:

    ECOSIM_DATA=../shared/data PYTHONPATH=. python bench/bench_speed.py [--rounds 7] [--out bench_speed.json]
        [--parts table,engine,founding,startup] [--pycortex /work/pycortex]

``table`` (in this process, one torch thread; on the GPU when there is one, as ecosim's tasks,
``bench/bench_gpu.py --table``; PyCortex on the CPU only): the time to score, train and score again one
offspring on MNIST (the work of a training task for a new network: two evaluations of the
10,000 test images at the evaluation batch, one training pass over a random 10% of the
training set in batches of 128 with Adadelta), for

* **ecosim**: :func:`ecosim.phenotype.training.train_and_evaluate` itself (what a Ray task runs;
  ``--conv-mode`` pins the conv mode, default the config's);
* **torch**: the same network written in plain torch (``nn.Conv2d``/``nn.Linear``, channels-first,
  the same initial weights, the data standardised once beforehand, the same training indices and
  batches, scoring in inference mode): the floor. For
  a mixed-kernel layer the floor is the faster of a plain dense conv of the stacked shape and a
  plain conv per kernel shape (concatenated);
* **PyCortex** (the paper's reference code, ``cantordust/pycortex``; the column is skipped when
  it cannot be imported): its ``Net`` built with the same layers (ReLU), trained with its own
  closure-and-``overlay_kernels`` step on the same float batches and scored at batch 256 with
  its forward pass. Its torchvision data loader is not used (that would only slow it down).

Contestants run in ``--rounds`` interleaved rounds (each round runs every contestant once, in a
fresh seeded order) after one warm-up round; ratios are taken within a round and their median
reported, so drifts in load (other jobs on a shared machine) hit both sides of a ratio alike.

``engine``: a 16 → 24 network synchronous MNIST run with 1 and 2 workers (each in a fresh
local Ray, in a subprocess, in a shuffled order each of ``--engine-rounds`` rounds): wall time of
the generations after the first, Σ task time, overhead ``1 − Σ task / (workers · wall)``, the
2-worker speed-up, and where the wall time goes (training phase and the cores idle in it,
evolution phase, logs and checkpoint).

``founding``: the time for the coordinator to found 1 and 16 species (actors started and filled
with their networks) in one local Ray, alternating; beside it, in the same Ray, Ray's floor: the
time to start 1 and 16 empty actors (one worker process each, as every species actor is).

``startup``: seconds from launching ``ecosim run`` to the first generation's tasks being submitted
(a reporter's first ``training`` phase), against ``ray.init()`` plus ``import torch`` in a fresh
process (what any Ray program with torch workers pays).

``--baseline PYTHONPATH`` runs ``engine``, ``founding`` and ``startup`` for that ecosim too (e.g. an
older checkout or ``git archive`` of the code before a change), alternating with the current one
in every round, so before/after numbers share the machine's load. The table has no baseline
column (one process imports one ecosim): run it once per version; its ratios are to the floor
measured beside it.

Writes ``--out`` (JSON: every median, ratio and the CPU) and prints the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: a typical evolved champion (docs/results/champions.csv, MNIST seed 1): one conv, mixed shapes
CHAMPION = "C10[1x1,1x1,1x3,5x1,1x1,1x1,1x3,1x1,1x3,1x1]-F10"
#: row → (layers, conv_mode pinned for the ecosim column or "" for ``--conv-mode``/the config's)
NETWORKS: dict[str, tuple[str, str]] = {
    "A1": ("C10[3x3]-F10", ""),
    "A2": ("C10[3x3]-C20s2[3x3]-F10", ""),
    "MLP": ("F64-F10", ""),
    "champion": (CHAMPION, ""),
    "champion-dense": (CHAMPION, "dense"),
}


def cpu_name() -> str:
    """The CPU's model name (``lscpu``), with core count."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return f"{info.get('Model name', '?').strip()}, {os.cpu_count()} CPUs"
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------------------------------------
# table: one offspring
# ---------------------------------------------------------------------------------------------


def parse_layers(spec: str) -> list[tuple[str, Any]]:
    """``"C10[3x3]-C20s2[3x3]-F10"`` → ``[("C", (kernels, stride)), ("F", nodes)]``."""
    import re

    layers: list[tuple[str, Any]] = []
    for part in spec.split("-"):
        m = re.fullmatch(r"C(\d+)(?:s(\d+))?\[([0-9x,]+)\]", part)
        if m:
            shapes = [tuple(int(v) for v in k.split("x")) for k in m.group(3).split(",")]
            n = int(m.group(1))
            kernels = shapes * n if len(shapes) == 1 else shapes
            assert len(kernels) == n, part
            s = int(m.group(2) or 1)
            layers.append(("C", (tuple(kernels), (s, s))))
        else:
            layers.append(("F", int(part[1:])))
    return layers


def ecosim_genome(spec: str, shape: tuple[int, int, int]) -> Any:
    from ecosim.genome import ConvLayer, DenseLayer, Genome

    return Genome(shape, tuple(ConvLayer(*v) if t == "C" else DenseLayer(v) for t, v in parse_layers(spec)))


def plain_net(spec: str, shape: tuple[int, int, int], grouped: bool, like: Any = None) -> Any:
    """The network in plain torch: ``nn.Conv2d`` (one per kernel shape when ``grouped``), ``nn.Linear``.

    ``like``: an ecosim phenotype of the same layers whose parameters are copied in, so both sides
    start from the same weights (the speed of a float operation can depend on its values).
    """
    import torch
    from torch import nn

    from ecosim.phenotype.conv import kernel_window

    class Grouped(nn.Module):
        def __init__(self, c_in: int, kernels: tuple, stride: tuple) -> None:
            super().__init__()
            self.shapes = list(dict.fromkeys(kernels))
            self.convs = nn.ModuleList(
                nn.Conv2d(c_in, kernels.count(k), k, stride, (k[0] // 2, k[1] // 2)) for k in self.shapes
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([c(x) for c in self.convs], 1)

    mods: list[nn.Module] = []
    c, h, w = shape
    for t, v in parse_layers(spec):
        if t == "C":
            kernels, stride = v
            if grouped and len(set(kernels)) > 1:
                mods += [Grouped(c, kernels, stride), nn.ReLU()]
            else:
                hm, wm = max(k[0] for k in kernels), max(k[1] for k in kernels)
                mods += [nn.Conv2d(c, len(kernels), (hm, wm), stride, (hm // 2, wm // 2)), nn.ReLU()]
            c, h, w = len(kernels), -(-h // stride[0]), -(-w // stride[1])
        else:
            if not any(isinstance(m, nn.Flatten) for m in mods):
                mods.append(nn.Flatten())
            mods += [nn.Linear(c * h * w, v), nn.ReLU()]
            c, h, w = v, 1, 1
    mods.pop()  # no activation after the output layer
    mods.append(nn.LogSoftmax(1))
    net = nn.Sequential(*mods)
    if like is not None:
        with torch.no_grad():
            mine = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear, Grouped))]
            order = None  # channel order of a grouped layer's output (group by group)
            for m, src in zip(mine, like.layers):
                if isinstance(m, Grouped):
                    groups = [[j for j, kk in enumerate(src.kernels) if kk == k] for k in m.shapes]
                    source = src.weight if order is None else src.weight[:, order]
                    for conv, k, idx in zip(m.convs, m.shapes, groups):
                        rows, cols = kernel_window(k, src.kernel_size)
                        conv.weight.copy_(source[idx][:, :, rows, cols])
                        conv.bias.copy_(src.bias[idx])
                    order = [j for idx in groups for j in idx]
                    continue
                weight = src.weight
                if order is not None:  # the next layer reads the channels in group order
                    weight = (
                        weight.view(weight.shape[0], len(order), -1)[:, order].reshape(weight.shape)
                        if isinstance(m, nn.Linear)
                        else weight[:, order]
                    )
                    order = None
                m.weight.copy_(weight)
                m.bias.copy_(src.bias)
    return net


def pycortex_net(spec: str, shape: tuple[int, int, int]) -> Any:
    """PyCortex's ``Net`` with the layers of ``spec`` (ReLU everywhere, as the issue measured it)."""
    import cortex.layer as cl
    import cortex.network as cn
    import torch.nn.functional as F

    for role in cl.Layer.Activations:
        cl.Layer.Activations[role] = F.relu
    cn.Net.Input.Shape = list(shape)
    cn.Net.Init.Layers = []
    layers = parse_layers(spec)
    for t, v in layers[:-1]:
        if t == "C":
            kernels, stride = v
            assert len(set(kernels)) == 1, "the PyCortex column takes single-shape conv layers"
            cn.Net.Init.Layers.append(cl.Layer.Def([len(kernels), *kernels[0]], list(stride), _activation=F.relu))
        else:
            cn.Net.Init.Layers.append(cl.Layer.Def([v], _activation=F.relu))
    cn.Net.Output.Shape = [layers[-1][1]]
    return cn.Net(_isolated=True)


def pycortex_loader() -> Callable[[int, bool, float | None], Any]:
    """``get_loader`` of PyCortex's ``experiments/mnist/main.py`` (torchvision MNIST opened per
    loader, per-image ``ToTensor`` + ``Normalize``, a random subset sampler), on ``$ECOSIM_DATA``."""
    import math

    import torch
    from torchvision import datasets, transforms

    root = os.environ.get("ECOSIM_DATA", "")

    def get_loader(batch_size: int, train: bool, portion: float | None) -> Any:
        # as in the reference, the dataset is opened again for every loader
        dataset = datasets.MNIST(
            root,
            train=train,
            download=False,
            transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]),
        )
        indices = list(torch.randperm(len(dataset)))
        if portion is not None:
            indices = indices[0 : math.floor(portion * len(dataset))]
        sampler = torch.utils.data.SubsetRandomSampler(indices)
        batches = torch.utils.data.BatchSampler(sampler, batch_size=batch_size, drop_last=False)
        return torch.utils.data.DataLoader(dataset, batch_sampler=batches)

    return get_loader


def import_pycortex(path: str) -> bool:
    """Whether PyCortex's ``cortex.network`` can be imported (``path`` is tried too)."""
    try:
        import cortex.network  # noqa: F401

        return True
    except ImportError:
        pass
    if path and Path(path, "cortex", "network.py").is_file():
        sys.path.insert(0, path)
        try:
            import cortex.network  # noqa: F401

            return True
        except ImportError:
            sys.path.remove(path)
    return False


def table(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from ecosim.config import Config
    from ecosim.data.arrays import prepare_data
    from ecosim.genome import init_weights
    from ecosim.phenotype.eval_split import PASSES, machine_split
    from ecosim.phenotype.layout import clock as compute_clock
    from ecosim.phenotype.layout import layout_chooser
    from ecosim.phenotype.network import build_phenotype
    from ecosim.phenotype.records import TrainingParams
    from ecosim.phenotype.training import train_and_evaluate

    torch.set_num_threads(1)
    data, shape, classes = prepare_data(Config())

    pins = {"conv_mode": args.conv_mode, "eval_split": args.eval_split}
    settings = TrainingParams(**{k: v for k, v in pins.items() if v})
    k = int(round(settings.train_fraction * len(data.train_labels)))
    # the floor's data: standardised once, channels-first
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    # ecosim's tasks take the GPU when there is one (phenotype.training._device): so does the floor
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    xtr = ((torch.from_numpy(data.train_images).float() / 255 - mean) / std).contiguous().to(device)
    xte = ((torch.from_numpy(data.eval_images).float() / 255 - mean) / std).contiguous().to(device)
    ytr, yte = torch.from_numpy(data.train_labels).to(device), torch.from_numpy(data.eval_labels).to(device)
    # PyCortex keeps its conv weights in plain tensor attributes that .to(device) does not move: CPU only
    with_pycortex = device.type == "cpu" and import_pycortex(args.pycortex)
    eb = settings.eval_batch_size  # PyCortex's evaluation batch (its default)
    # the floor scores with the forward size ecosim picks on this machine (training.eval_split)
    split = settings.eval_split
    if split == "auto":
        split = machine_split(layout_chooser(), shape, classes, eb, 1, device, compute_clock(device, 1))
    floor_eb = eb // PASSES[split]

    def floor_run(net: Any, seed: int, step: Callable[[Any, Any, Any, Any], None]) -> None:
        def score() -> int:
            net.eval()
            correct = 0
            with torch.inference_mode():
                for s in range(0, len(yte), floor_eb):
                    correct += int((net(xte[s : s + floor_eb]).argmax(1) == yte[s : s + floor_eb]).sum())
            return correct

        score()
        opt = torch.optim.Adadelta(net.parameters())
        idx = torch.from_numpy(np.random.default_rng(seed).choice(len(ytr), size=k, replace=False)).to(device)
        net.train()
        for s in range(0, k, settings.batch_size):
            sel = idx[s : s + settings.batch_size]
            step(net, opt, xtr.index_select(0, sel), ytr.index_select(0, sel))
        score()

    def plain_step(net: Any, opt: Any, x: Any, y: Any) -> None:
        opt.zero_grad(set_to_none=True)
        F.nll_loss(net(x), y).backward()
        opt.step()

    def cortex_step(net: Any, opt: Any, x: Any, y: Any) -> None:
        def closure() -> Any:  # cortex.cortex.optimise's closure (its module needs mpi4py)
            opt.zero_grad()
            loss = F.nll_loss(F.log_softmax(net(x), dim=1), y)
            loss.backward()
            net.fitness.loss_stat.update(loss.item())
            return loss

        net.optimise(closure, opt)

    def cortex_own(net: Any, seed: int) -> None:
        """PyCortex's ``train``/``test`` (cortex/cortex.py) with its MNIST experiment's loader."""
        torch.manual_seed(seed)
        loader = pycortex_loader()

        def test() -> int:  # cortex.cortex.test
            net.eval()
            correct = 0
            with torch.no_grad():
                for x, y in loader(eb, False, None):
                    x, y = x.to(device), y.to(device)
                    out = F.log_softmax(net(x), dim=1)
                    F.nll_loss(out, y, reduction="sum").item()
                    correct += out.max(1, keepdim=True)[1].eq(y.view(-1, 1)).sum().item()
            return correct

        test()
        net.train()  # cortex.cortex.train (its learning-rate schedule aside: Adadelta, lr 1)
        opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
        for x, y in loader(settings.batch_size, True, settings.train_fraction):
            cortex_step(net, opt, x.to(device), y.to(device))
        test()

    jobs: dict[tuple[str, str], Callable[[], None]] = {}
    floors: dict[str, str] = {}  # row → the row whose floor it shares (same network)
    for name, (spec, pin) in NETWORKS.items():
        genome = ecosim_genome(spec, shape)
        weights = init_weights(genome, np.random.default_rng(0))
        like = build_phenotype(genome, weights)
        s = dataclasses.replace(settings, conv_mode=pin) if pin else settings
        jobs[(name, "ecosim")] = lambda g=genome, w=weights, s=s: train_and_evaluate(g, w, data, s, 1, True)
        floors[name] = next(n for n, (sp, _) in NETWORKS.items() if sp == spec)
        if floors[name] != name:
            continue
        mixed = any(t == "C" and len(set(v[0])) > 1 for t, v in parse_layers(spec))
        for variant in ("dense", "grouped") if mixed else ("dense",):

            def plain(spec: str = spec, grouped: bool = variant == "grouped", like: Any = like) -> None:
                floor_run(plain_net(spec, shape, grouped, like).to(device), 1, plain_step)

            jobs[(name, f"torch {variant}" if mixed else "torch")] = plain
        if with_pycortex and not mixed:

            def cortex(spec: str = spec) -> None:
                torch.manual_seed(0)
                floor_run(pycortex_net(spec, shape).to(device), 1, cortex_step)

            jobs[(name, "pycortex batches")] = cortex

            def cortex_loader(spec: str = spec) -> None:
                cortex_own(pycortex_net(spec, shape).to(device), 1)

            jobs[(name, "pycortex")] = cortex_loader
    print(
        f"table on {device}: {len(jobs)} contestants, 1 warm-up + {args.rounds} rounds, conv_mode {settings.conv_mode}"
        f", evaluation split {split} (floor batch {floor_eb}, PyCortex {eb})"
        f", PyCortex {'found' if with_pycortex else 'absent: column skipped'}",
        flush=True,
    )
    for fn in jobs.values():
        fn()
    wall: dict[tuple[str, str], list[float]] = {key: [] for key in jobs}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in jobs}
    order = list(jobs)
    for r in range(args.rounds):
        random.Random(r).shuffle(order)
        for key in order:
            t0, c0 = time.perf_counter(), time.process_time()
            jobs[key]()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            wall[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
        print(f"  round {r + 1}/{args.rounds} done", flush=True)
    rows: dict[str, Any] = {}
    for name, (spec, pin) in NETWORKS.items():
        plain_keys = [key for key in jobs if key[0] == floors[name] and key[1].startswith("torch")]
        row: dict[str, Any] = {"layers": spec, "conv_mode": pin or settings.conv_mode}
        for clock, times in (("", wall), ("cpu_", cpu)):
            mine = times[(name, "ecosim")]
            floor = [min(times[key][i] for key in plain_keys) for i in range(args.rounds)]
            row[f"ecosim_{clock}s"] = statistics.median(mine)
            row[f"floor_{clock}s"] = statistics.median(floor)
            row[f"ecosim_over_torch{'_cpu' if clock else ''}"] = statistics.median(m / f for m, f in zip(mine, floor))
            for key in plain_keys:
                row[key[1].replace(" ", "_") + f"_{clock}s"] = statistics.median(times[key])
            for col in ("pycortex", "pycortex batches"):
                if (floors[name], col) in times:
                    pc = times[(floors[name], col)]
                    key = col.replace(" ", "_")
                    row[f"{key}_{clock}s"] = statistics.median(pc)
                    row[f"{key}_over_ecosim{'_cpu' if clock else ''}"] = statistics.median(
                        p / m for p, m in zip(pc, mine)
                    )
        row["raw_wall_s"] = {k[1]: v for k, v in wall.items() if k[0] in (name, floors[name])}
        rows[name] = row
    print(
        f"\n{'network':<16}{'layers':<52}{'ecosim s':>9}{'floor s':>9}{'eco/torch':>10}{'PyCortex/eco':>13}"
        f"{'(its batches)':>14}   (ratios: medians of per-round ratios; CPU-time ratios in brackets)"
    )
    for name, row in rows.items():
        cols = [("ecosim_over_torch", 10), ("pycortex_over_ecosim", 13), ("pycortex_batches_over_ecosim", 14)]
        text = "".join(f"{row[k]:{w}.2f}" if k in row else f"{'—':>{w}}" for k, w in cols)
        text += "   [" + ", ".join(f"{row[k + '_cpu']:.2f}" for k, _ in cols if k in row) + "]"
        print(f"{name:<16}{row['layers']:<52}{row['ecosim_s']:9.3f}{row['floor_s']:9.3f}{text}")
    return {
        "device": str(device),
        "rounds": args.rounds,
        "conv_mode": settings.conv_mode,
        "pycortex": with_pycortex,
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# engine: 1 vs 2 workers
# ---------------------------------------------------------------------------------------------


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has been busy (``/proc/stat``: all but idle and iowait); Linux only."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def engine_one(workers: int, generations: int, initial_layers: str = "") -> dict[str, Any]:
    """One 16 → 24 synchronous MNIST run with ``workers`` CPUs of a local Ray (call in a fresh process).

    ``initial_layers``: the first networks' layers (``ecosystem.initial_layers``; ``""``: the
    paper's minimal networks, whose early generations train in 0.1–0.5 s per network).
    """
    import tempfile

    from ecosim.api import run
    from ecosim.config import Config
    from ecosim.store.logs import read_generations

    out = Path(tempfile.mkdtemp(prefix="ecosim-bench-")) / f"w{workers}"
    cfg = Config().with_overrides(
        {
            "run.out": str(out),
            "run.generations": generations,
            "ecosystem.population": 16,
            "ecosystem.species": 4,
            "ecosystem.max_species": 8,
            "ecosystem.max_population": 24,
            "ecosystem.offspring": 8,
            "resources.num_cpus": workers,
            "ecosystem.initial_layers": initial_layers,
        }
    )
    marks: list[tuple[float, float | None, float]] = []  # (time, machine busy s, driver CPU s)

    class Marks:  # the machine's busy time over the generations after the first
        def on_start(self, start: int, generations: int) -> None:
            pass

        def on_phase(self, generation: int, phase: str, n: int) -> None:
            if phase == "training" and generation == 1:
                marks.append((time.time(), _machine_busy_s(), time.process_time()))

        def on_generation(self, row: dict[str, Any]) -> None:
            if row["generation"] == generations - 1:
                marks.append((time.time(), _machine_busy_s(), time.process_time()))

    run(cfg, reporters=[Marks()], progress=lambda line: None)
    g = read_generations(out)
    g = g[g["generation"] > 0]  # generation 0 includes start-up
    wall, task = float(g["wall_time_s"].sum()), float(g["task_time_s"].sum())
    train, evolve = float(g["train_phase_s"].sum()), float(g["evolve_phase_s"].sum())
    return {
        "workers": workers,
        "wall_s": wall,
        "task_s": task,
        "overhead": 1 - task / (workers * wall),
        # where the wall time goes: the training phase (tasks, and cores left idle in it), the
        # evolution phase (reproduction, placement, culling) and the rest (logs, checkpoint)
        "train_phase_s": train,
        "evolve_phase_s": evolve,
        "rest_s": wall - train - evolve,
        "idle_in_training": 1 - task / (workers * train) if train > 0 else 0.0,
        "load_average": os.getloadavg()[0],  # other jobs on the machine, at the end of the run
        **_busy(marks, task, workers),
    }


def _busy(marks: list[tuple[float, float | None, float]], task: float, workers: int) -> dict[str, float]:
    """Where the CPU went from generation 1's start to the last row: the machine's busy share of
    its cores, the tasks' share of that, and the driver's CPU seconds (the rest: species actors,
    Ray's raylet and GCS, other jobs)."""
    if len(marks) != 2 or marks[0][1] is None or marks[1][1] is None:
        return {}
    (t0, b0, d0), (t1, b1, d1) = marks
    busy, cores = b1 - b0, os.cpu_count() or 1
    return {
        "machine_busy": busy / (cores * (t1 - t0)),  # of every core of the machine
        "task_share_of_busy": task / busy if busy > 0 else 0.0,
        "driver_cpu_s": d1 - d0,
        "other_cpu_s": busy - task - (d1 - d0),  # actors, raylet, GCS, other jobs; tasks' own overheads
    }


def _env(pythonpath: str) -> dict[str, str]:
    """The environment of a subprocess that imports ecosim from ``pythonpath`` (then this checkout)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, str(ROOT)) if p)}


def _python(code: str, pythonpath: str, timeout: float = 900, argv: tuple[str, ...] = ()) -> str:
    """Run ``code`` in a fresh Python; its last line of output."""
    # cwd: not a checkout (``-c`` puts the current folder first on sys.path)
    out = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=_env(pythonpath),
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    if out.returncode != 0:
        raise RuntimeError(f"subprocess failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


def versions(args: argparse.Namespace) -> dict[str, str]:
    """``{"current": PYTHONPATH}``, plus ``"baseline"`` with ``--baseline``: the code each subprocess imports."""
    found = {"current": os.environ.get("PYTHONPATH", "")}
    if args.baseline:
        found["baseline"] = args.baseline
    return found


def _engine_summary(runs: dict[int, list[dict[str, Any]]], generations: int) -> dict[str, Any]:
    speedups = [a["wall_s"] / b["wall_s"] for a, b in zip(runs[1], runs[2])]
    res: dict[str, Any] = {
        "generations_timed": generations - 1,
        "speedup_2_over_1": statistics.median(speedups),
        "speedups": speedups,
        "runs": runs,
    }
    for w in (1, 2):
        for key in (
            "wall_s",
            "task_s",
            "overhead",
            "train_phase_s",
            "evolve_phase_s",
            "rest_s",
            "idle_in_training",
            "machine_busy",
            "task_share_of_busy",
            "driver_cpu_s",
            "other_cpu_s",
        ):
            if all(key in r for r in runs[w]):
                res[f"{key}_{w}"] = statistics.median(r[key] for r in runs[w])
    res["task_growth_2_over_1"] = res["task_s_2"] / res["task_s_1"]
    return res


def engine(args: argparse.Namespace) -> dict[str, Any]:
    """1 and 2 workers, each version and worker count in a fresh process, alternating every round."""
    paths = versions(args)
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {v: {1: [], 2: []} for v in paths}
    code = (
        f"import json, sys; sys.path.append({str(ROOT / 'bench')!r}); import bench_speed; "
        f"print(json.dumps(bench_speed.engine_one(int(sys.argv[1]), {args.generations}, {args.engine_layers!r})))"
    )
    for r in range(args.engine_rounds):
        order = [(v, w) for v in paths for w in (1, 2)]
        random.Random(r).shuffle(order)
        for v, w in order:
            runs[v][w].append(json.loads(_python(code, paths[v], argv=(str(w),))))
            print(f"  engine round {r + 1}: {v}, {w} worker(s): {runs[v][w][-1]['wall_s']:.1f} s", flush=True)
    out = {v: _engine_summary(runs[v], args.generations) for v in paths}
    for v, res in out.items():
        print(
            f"\nengine ({v}): speed-up 2 vs 1 workers {res['speedup_2_over_1']:.2f}x (rounds: "
            f"{', '.join(f'{s:.2f}' for s in res['speedups'])}); overhead {res['overhead_1']:.1%} / "
            f"{res['overhead_2']:.1%}; Σ task time ×{res['task_growth_2_over_1']:.2f} with 2 workers"
        )
        for w in (1, 2):
            print(
                f"  {w} worker(s): wall {res[f'wall_s_{w}']:.1f} s = training phase {res[f'train_phase_s_{w}']:.1f} s "
                f"(cores idle in it {res[f'idle_in_training_{w}']:.1%}) + evolution {res[f'evolve_phase_s_{w}']:.1f} s "
                f"+ logs and checkpoint {res[f'rest_s_{w}']:.1f} s"
            )
            if f"machine_busy_{w}" in res:
                print(
                    f"    machine busy {res[f'machine_busy_{w}']:.1%} of its cores, tasks "
                    f"{res[f'task_share_of_busy_{w}']:.1%} of that; driver {res[f'driver_cpu_s_{w}']:.1f} s CPU, "
                    f"the rest (actors, raylet, GCS, other jobs) {res[f'other_cpu_s_{w}']:.1f} s"
                )
    return out


# ---------------------------------------------------------------------------------------------
# founding and start-up
# ---------------------------------------------------------------------------------------------

FOUNDING = """
import asyncio, json, tempfile, time
import ray
from ecosim.api import resolve_paths
from ecosim.config import Config
from ecosim.data.arrays import prepare_data
from ecosim.engine.coordinator import Ecosystem
out = {{1: [], 16: []}}
ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
base = Config().with_overrides({{"data.test_subset": 100}})
data, shape, classes = prepare_data(base)
async def found(n):
    cfg = resolve_paths(base.with_overrides({{"run.out": tempfile.mkdtemp(), "ecosystem.species": n,
        "ecosystem.max_species": max(16, n), "ecosystem.population": 64}}))
    eco = Ecosystem(cfg, cfg.run.out, data, shape, classes)
    t0 = time.perf_counter()
    await eco.initialise()
    dt = time.perf_counter() - t0
    await eco.shutdown()
    return dt
@ray.remote(num_cpus=0)
class Empty:  # Ray's floor: an actor that imports and holds nothing
    def ready(self):
        return True
async def floor(n):
    t0 = time.perf_counter()
    actors = [Empty.options(scheduling_strategy="SPREAD").remote() for _ in range(n)]
    await asyncio.gather(*(a.ready.remote() for a in actors))
    dt = time.perf_counter() - t0
    for a in actors:
        ray.kill(a)
    await asyncio.sleep(1.0)
    return dt
floors = {{1: [], 16: []}}
async def main():
    await found(1)  # warm-up: worker processes, imports
    for n in {order}:
        out[n].append(await found(n))
        floors[n].append(await floor(n))
asyncio.run(main())
print(json.dumps({{"ecosim": out, "floor": floors}}))
"""

STARTUP_REF = """
import json, sys, time
t0 = time.perf_counter()
import ray
ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
t1 = time.perf_counter()
import torch
t2 = time.perf_counter()
ray.shutdown()
print(json.dumps({"ray_init_s": t1 - t0, "torch_import_s": t2 - t1}))
"""

STARTUP_RUN = """
import json, sys, tempfile, time
import ecosim.api
from ecosim.api import run
from ecosim.config import Config
marks = {}
start_ray = ecosim.api._start_ray
def timed_start_ray(config):  # this run's own ray.init() (its time varies a lot on a busy machine)
    marks["ray_start"] = time.time()
    start_ray(config)
    marks["ray_ready"] = time.time()
ecosim.api._start_ray = timed_start_ray
class Stop(Exception): pass
class First:
    def on_start(self, s, g): pass
    def on_generation(self, row): pass
    def on_phase(self, g, phase, n):
        if phase == "training":
            self.t = time.time()
            raise Stop
r = First()
try:
    config = Config().with_overrides({"run.out": tempfile.mkdtemp() + "/run", "resources.num_cpus": 2})
    run(config, [r], progress=lambda line: None)
except Stop:
    pass
print(json.dumps({"first_submitted_at": r.t, **marks, "imported_torch": "torch" in sys.modules,
                  "imported_torchvision": "torchvision" in sys.modules}))
"""


def founding(args: argparse.Namespace) -> dict[str, Any]:
    """Founding 1 and 16 species; each round a fresh local Ray per version, versions alternating."""
    paths = versions(args)
    samples: dict[str, dict[str, list[float]]] = {v: {"1": [], "16": []} for v in paths}
    floors: dict[str, list[float]] = {"1": [], "16": []}
    for r in range(args.founding_rounds):
        order = list(paths)
        random.Random(r).shuffle(order)
        for v in order:
            res = json.loads(_python(FOUNDING.format(order=(1, 16) if r % 2 == 0 else (16, 1)), paths[v]))
            for n in ("1", "16"):
                samples[v][n] += res["ecosim"][n]
                floors[n] += res["floor"][n]
    f1, f16 = statistics.median(floors["1"]), statistics.median(floors["16"])
    floor = {"found_1_s": f1, "found_16_s": f16, "ratio_16_over_1": f16 / f1, "samples": floors}
    out: dict[str, Any] = {"ray_floor": floor}
    print(f"\nfounding, Ray's floor (empty actors): 1 actor {f1:.2f} s, 16 actors {f16:.2f} s, ratio {f16 / f1:.2f}")
    for v in paths:
        one, many = statistics.median(samples[v]["1"]), statistics.median(samples[v]["16"])
        out[v] = {"found_1_s": one, "found_16_s": many, "ratio_16_over_1": many / one}
        out[v] |= {"over_floor_16": many / f16, "samples": samples[v]}
        print(
            f"founding ({v}): 1 species {one:.2f} s, 16 species {many:.2f} s, ratio {many / one:.2f} (target ≤ 2); "
            f"16 species / Ray's floor {many / f16:.2f}"
        )
    return out


def startup(args: argparse.Namespace) -> dict[str, Any]:
    """Launch to first submission, against ray.init() + import torch; versions alternating."""
    paths = versions(args)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in paths}
    refs = []
    for r in range(args.startup_rounds):
        order = list(paths)
        random.Random(r).shuffle(order)
        for v in order:
            t0 = time.time()
            res = json.loads(_python(STARTUP_RUN, paths[v], timeout=600))
            runs[v].append(
                {
                    **res,
                    "submitted_s": res["first_submitted_at"] - t0,
                    "before_ray_s": res["ray_start"] - t0,
                    "ray_init_s": res["ray_ready"] - res["ray_start"],
                    "after_ray_s": res["first_submitted_at"] - res["ray_ready"],
                }
            )
        t0 = time.time()
        refs.append({**json.loads(_python(STARTUP_REF, "")), "process_s": time.time() - t0})
    ref = statistics.median(r["ray_init_s"] + r["torch_import_s"] for r in refs)
    torch_import = statistics.median(r["torch_import_s"] for r in refs)
    out: dict[str, Any] = {"ray_init_plus_torch_s": ref, "torch_import_s": torch_import, "refs": refs}
    for v in paths:
        sub = statistics.median(r["submitted_s"] for r in runs[v])
        # ray.init() takes 4-10 s on a busy 2-core machine: each run is also compared with its own
        own = statistics.median(r["submitted_s"] / (r["ray_init_s"] + torch_import) for r in runs[v])
        parts = {k: statistics.median(r[k] for r in runs[v]) for k in ("before_ray_s", "ray_init_s", "after_ray_s")}
        out[v] = {"submitted_s": sub, "ratio": sub / ref, "ratio_own_ray_init": own, **parts, "runs": runs[v]}
        print(
            f"\nstart-up ({v}): first generation submitted after {sub:.1f} s (before ray.init "
            f"{parts['before_ray_s']:.1f} s, ray.init {parts['ray_init_s']:.1f} s, after it "
            f"{parts['after_ray_s']:.1f} s); "
            f"ray.init() + import torch {ref:.1f} s: ratio {sub / ref:.2f}, with the run's own ray.init {own:.2f} "
            f"(target ≤ 1.3); driver imported torch: {runs[v][0]['imported_torch']}, "
            f"torchvision: {runs[v][0]['imported_torchvision']}"
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="table,engine,founding,startup")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the table")
    p.add_argument("--conv-mode", default="", help="pin training.conv_mode for the ecosim column")
    p.add_argument(
        "--eval-split",
        default="",
        choices=("", "auto", "whole", "halves"),
        help="pin training.eval_split for the ecosim column (and the floor's evaluation batch)",
    )
    p.add_argument(
        "--pycortex",
        default=os.environ.get("PYCORTEX", "/work/pycortex"),
        help="folder of a PyCortex clone (holding cortex/), if it is not importable",
    )
    p.add_argument("--generations", type=int, default=4, help="engine: generations per run (the first is not timed)")
    p.add_argument("--engine-rounds", type=int, default=2)
    p.add_argument(
        "--engine-layers",
        default="",
        help="engine: the first networks' layers (ecosystem.initial_layers, e.g. 'C10[3x3]-C20s2[3x3]' for "
        "tasks of seconds; default: the paper's minimal networks, tasks of 0.1-0.5 s)",
    )
    p.add_argument("--founding-rounds", type=int, default=3)
    p.add_argument("--startup-rounds", type=int, default=2)
    p.add_argument(
        "--baseline",
        default="",
        help="engine, founding, start-up: also run this PYTHONPATH's ecosim, alternating with the current one",
    )
    p.add_argument("--out", default="bench_speed.json")
    args = p.parse_args()
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    result: dict[str, Any] = {"cpu": cpu_name(), "python": platform.python_version(), "started": time.time()}
    try:
        import torch

        result["torch"] = torch.__version__
    except ImportError:
        pass
    for part in parts:
        result[part] = {"table": table, "engine": engine, "founding": founding, "startup": startup}[part](args)
        Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"\nwritten: {args.out} ({result['cpu']})")


if __name__ == "__main__":
    main()
