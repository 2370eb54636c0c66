"""Command line: ``ecosim run``, ``ecosim resume``, ``ecosim report``, ``ecosim export``.

``ecosim run [CONFIG.toml] [--key value ...]`` evolves networks with a rich progress display;
options override the file, which overrides the defaults (:mod:`ecosim.config`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ecosim.errors import EcosimError

console = Console(stderr=True)

#: CLI option → config key
_OVERRIDES = {
    "dataset": "data.dataset",
    "data_root": "data.data_root",
    "validation_fraction": "data.validation_fraction",
    "test_subset": "data.test_subset",
    "generations": "run.generations",
    "seed": "run.seed",
    "mode": "run.mode",
    "out": "run.out",
    "address": "run.address",
    "dashboard": "run.dashboard",
    "population": "ecosystem.population",
    "max_population": "ecosystem.max_population",
    "species": "ecosystem.species",
    "max_species": "ecosystem.max_species",
    "speciation": "ecosystem.speciation",
    "offspring": "ecosystem.offspring",
    "crossover_rate": "ecosystem.crossover_rate",
    "function_preserving": "mutation.function_preserving",
    "optimiser": "training.optimiser",
    "learning_rate": "training.learning_rate",
    "batch_size": "training.batch_size",
    "train_fraction": "training.train_fraction",
    "activation": "training.activation",
    "cpus_per_task": "resources.cpus_per_task",
    "gpus_per_task": "resources.gpus_per_task",
    "num_cpus": "resources.num_cpus",
}


class RichReporter:
    """Progress display: generation bar, species, best/mean fitness, networks in flight, ETA."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]generation"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: Any = None
        self.last = ""

    def on_start(self, start_generation: int, generations: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("run", total=generations, completed=start_generation, status="starting")

    def on_phase(self, generation: int, phase: str, in_flight: int) -> None:
        extra = f" · {in_flight} networks in flight" if in_flight else ""
        self.progress.update(self.task, status=f"{self.last}{phase} g{generation}{extra}")

    def on_generation(self, row: dict[str, Any]) -> None:
        hf, mf = row.get("highest_fitness") or 0.0, row.get("mean_fitness") or 0.0
        self.last = (
            f"species {row['species_count']} · networks {row['network_count']} · "
            f"best {hf:.4f} · mean {mf:.4f} · "
        )
        self.progress.update(self.task, completed=row["generation"] + 1, status=self.last)

    def close(self) -> None:
        self.progress.stop()


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("overrides (each also settable in the TOML file)")
    g.add_argument("--dataset", help="mnist, fashion-mnist, svhn, cifar10, emnist, or an ImageFolder path")
    g.add_argument("--data-root", help="dataset folder (overrides $ECOSIM_DATA)")
    g.add_argument("--validation-fraction", type=float, help="hold out this fraction of training data for fitness")
    g.add_argument("--test-subset", type=int, help="score on the first N test images (0 = all)")
    g.add_argument("--generations", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--mode", choices=["sync", "async"])
    g.add_argument("--out", help="run directory")
    g.add_argument("--address", help="Ray cluster address (default: start local Ray)")
    g.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=None, help="Ray dashboard on 127.0.0.1")
    g.add_argument("--population", type=int, help="initial number of networks")
    g.add_argument("--max-population", type=int, help="ecosystem size limit")
    g.add_argument("--species", type=int, help="initial number of species")
    g.add_argument("--max-species", type=int, help="species limit")
    g.add_argument("--speciation", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--offspring", type=int, help="offspring per generation")
    g.add_argument("--crossover-rate", type=float)
    g.add_argument("--function-preserving", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--optimiser")
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--train-fraction", type=float)
    g.add_argument("--activation")
    g.add_argument("--cpus-per-task", type=float)
    g.add_argument("--gpus-per-task", type=float)
    g.add_argument("--num-cpus", type=int, help="CPUs of local Ray (0 = all)")
    g.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="any config key (TOML value)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from ecosim.config import parse_overrides

    out = {key: getattr(args, opt) for opt, key in _OVERRIDES.items() if getattr(args, opt, None) is not None}
    out.update(parse_overrides(args.set))
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``ecosim`` argument parser."""
    from ecosim import __version__

    parser = argparse.ArgumentParser(prog="ecosim", description="Neuroevolution of deep CNNs (PyCortex) on Ray")
    parser.add_argument("--version", action="version", version=f"ecosim {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="evolve networks", parents=[common])
    p_run.add_argument("config", nargs="?", help="TOML config file")
    _add_run_options(p_run)
    p_res = sub.add_parser("resume", help="continue a run from its last complete generation", parents=[common])
    p_res.add_argument("run_dir")
    p_res.add_argument("--generations", type=int, help="extend the run to this many generations")
    p_res.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    _add_report_parser(sub)
    p_exp = sub.add_parser(
        "export",
        help="export the champion (genome JSON, weights, torch.export .pt2, TorchScript or ONNX)",
        description="Write the champion of RUN_DIR as genome JSON + safetensors weights + a module that plain "
        "PyTorch loads (float images in [0, 1] of shape (N, C, H, W), normalisation built in, "
        "log-probabilities out).",
    )
    p_exp.add_argument("run_dir", metavar="RUN_DIR", help="a run directory holding champion.safetensors")
    p_exp.add_argument("--out", default=None, help="output folder (default: RUN_DIR/export)")
    p_exp.add_argument(
        "--format", dest="formats", action="append", choices=("pt2", "torchscript", "onnx"), default=None,
        help="pt2 (torch.export, the default; load with torch.export.load(path).module()), torchscript "
        "(torch.jit, deprecated in torch 2.14) or onnx (needs: pip install 'ecosim[onnx]'); repeat for several",
    )
    p_exp.set_defaults(func=_cmd_export)
    return parser


def _add_report_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``ecosim report`` to the subparsers object ``sub`` of the ``ecosim`` parser."""
    p = sub.add_parser(
        "report",
        help="Table I and Fig. 9-style plots from run logs",
        description="Group runs by their resolved config (all settings but the seed and where they ran), "
        "print Table I and the final champions, and write the figures and the table (CSV, Markdown). "
        "RUN_DIR may also be a folder of run directories.",
    )
    p.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (or folders holding them)"
    )
    p.add_argument(
        "--generation",
        type=int,
        default=None,
        help="generation for Table I, 0-based as logged (default: the last one all runs of an experiment reached)",
    )
    p.add_argument(
        "--out", default=None, help="output folder (default: RUN_DIR/report for one run)"
    )
    p.add_argument(
        "--format", dest="fmt", choices=("png", "pdf", "svg"), default="png",
        help="figure format: png (default), pdf or svg",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard scalars (needs: pip install 'ecosim[tensorboard]')",
    )
    p.set_defaults(func=_cmd_report)
    return p


def _cmd_report(args: argparse.Namespace) -> int:
    """Handler of ``ecosim report``; prints Table I, notes, warnings and the written paths; returns 0.

    Warnings are printed once each, as one line on stderr; the table is a rich table on a
    terminal and Markdown (never wrapped) otherwise.
    """
    import warnings

    from ecosim.report import (
        _markdown,
        _table_one,
        champions,
        group_runs,
        load_runs,
        report_notes,
        rich_table,
        write_report,
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = load_runs(args.run_dirs)
        written = write_report(runs, args.out, args.generation, args.tensorboard, args.fmt)
        groups = group_runs(runs)
        table = _table_one(groups, args.generation)
        notes = report_notes(groups, champions(groups))
    seen: set[str] = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            console.print(Text.assemble(("warning", "bold yellow"), f": {text}"), soft_wrap=True)
    out = Console()
    if out.is_terminal:
        out.print(rich_table(table))
        for note in notes:
            out.print(note, soft_wrap=True, highlight=False, markup=False)
    else:
        print(_markdown(table, notes), end="")
    for path in written.values():
        print(path)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ecosim.export import DEFAULT_FORMATS, export_champion  # torch: only for this command

    written = export_champion(args.run_dir, args.out, tuple(dict.fromkeys(args.formats or DEFAULT_FORMATS)))
    for path in written.values():
        print(path)
    return 0


def _print_result(result: Any) -> None:
    console.print(f"[bold green]done[/]: best fitness {result.best_fitness} (network {result.best_network_id})")
    print(f"run directory: {result.run_dir}")
    print(f"generation logs: {result.generations_path}")
    print(f"network logs: {result.networks_path}")
    print(f"champion: {result.champion_path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecosim`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _raise_interrupt)  # schedulers stop jobs with SIGTERM
    try:
        if args.command in ("run", "resume"):
            from ecosim.api import (  # torch and Ray: only for the commands that need them
                resume,
                run,
            )
            from ecosim.config import load_config
        if args.command == "run":
            cfg = load_config(args.config, _overrides(args))
            reporter = RichReporter()
            try:
                result = run(cfg, [reporter])
            finally:
                reporter.close()
            _print_result(result)
        elif args.command == "resume":
            ov = _overrides(args)
            if args.generations is not None:
                ov["run.generations"] = args.generations
            reporter = RichReporter()
            try:
                result = resume(args.run_dir, ov or None, [reporter])
            finally:
                reporter.close()
            _print_result(result)
        else:
            return int(args.func(args) or 0)
    except EcosimError as exc:
        console.print(Text.assemble(("error", "bold red"), f": {exc}"))
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "run_dir", None) or getattr(args, "out", None)
        hint = f"; continue with: ecosim resume {out}" if out else "; continue with: ecosim resume RUN_DIR"
        console.print(Text.assemble(("interrupted", "bold yellow"), f": the last complete generation is kept{hint}"))
        return 130
    return 0


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
