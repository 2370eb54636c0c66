"""Command line: ``ecosim run``, ``ecosim resume``, ``ecosim report``, ``ecosim export``.

``ecosim run [CONFIG.toml] [--key value ...]``: options override the file, which overrides the
defaults (:mod:`ecosim.config`). The run options are generated from the config fields
(:mod:`ecosim.cli_options`): one ``--name`` per key, with its type, help, default and
choices; ``--set section.key=value`` reaches any key too.

Output: the run directory first, then one plain line per generation, then the champion
(:class:`ecosim.progress.LineReporter`). The lines go to stdout, flushed, so ``| tee``, ``> run.log``
and ``nohup`` show progress as it happens; on a terminal a live progress bar (stderr) is shown
too. Nothing is wrapped at 80 columns when the output is not a terminal.

Exit status: 0 done; 1 a filesystem fault (:class:`ecosim.errors.StorageError`: one line naming
the path, the operation and the reason); 2 bad input (one line on stderr naming the parameter);
130 after Ctrl-C (SIGINT), 143 after SIGTERM, 141 when stdout's pipe closes (``| head``), 75 when
Ray did not start (:class:`ecosim.errors.RayStartError`, nothing run: retry) or after a resumable stop
(:class:`ecosim.errors.ResumableStop`, e.g. a cluster where no training task starts any more, or
a full disk mid-run): each finishes cleanly, keeps the last complete generation and prints on one
line what happened and how to resume.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from ecosim.atomic import check_writable
from ecosim.cli_options import (
    Parser,
    add_config_options,
    config_overrides,
    option_names,
    parse_index,
)
from ecosim.config import RESUMABLE_KEYS
from ecosim.config_fields import config_fields
from ecosim.errors import EcosimError, ResumableStop, StorageError
from ecosim.progress import RichReporter


def _make_console(stderr: bool) -> Console:
    """A rich console that never wraps lines when it does not write to a terminal."""
    plain = Console(stderr=stderr)
    if plain.is_terminal:
        return plain
    return Console(stderr=stderr, width=10_000, soft_wrap=True)


console = _make_console(stderr=True)


_RUN_EPILOG = """\
Options override CONFIG.toml, which overrides the paper's defaults (ecosim.config).
Ecosystem sizes left unset are derived from those set (e.g. --population 8 alone gives
8 species, at most 16, 4 offspring per generation, at most 20 networks; see the [ecosystem]
options above); only a value you set can be reported invalid.
The resolved config, every size a number and every path absolute, is RUN_DIR/config.toml.

Data folder: --data-root, else data.data_root from CONFIG.toml, else $ECOSIM_DATA, else the
dataset cache ($ECOSIM_CACHE, default ~/.cache/ecosim; torchvision downloads into it).

Output: the run directory first, one line per generation, the champion and the log paths last (stdout);
a live progress bar on stderr when it is a terminal.
Exit status: 0 done, 1 a filesystem fault (one line naming the path), 2 bad input, 130 Ctrl-C, 143 SIGTERM,
141 output pipe closed, 75 stopped (no training task started for twice resources.stall_timeout, a full disk,
...): each keeps the last complete generation:
continue with 'ecosim resume RUN_DIR'; 75 also when Ray did not start (nothing run: retry)."""

_RESUME_EPILOG = """\
Works from any directory (RUN_DIR/config.toml stores absolute paths).
Data folder: --data-root, else the stored data.data_root, else $ECOSIM_DATA when the stored
folder no longer exists; the folder used is stored.
Only options that change where and how the run executes are accepted; the rest is the run's."""


def build_parser() -> argparse.ArgumentParser:
    """The ``ecosim`` argument parser."""
    from ecosim import __version__

    parser = Parser(prog="ecosim", description="Neuroevolution of deep CNNs (PyCortex) on Ray")
    parser.add_argument("--version", action="version", version=f"ecosim {__version__}")
    common = Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    raw = argparse.RawDescriptionHelpFormatter
    p_run = sub.add_parser("run", help="evolve networks", parents=[common], epilog=_RUN_EPILOG, formatter_class=raw)
    p_run.add_argument("config", nargs="?", help="TOML config file (default: none, the paper's settings)")
    add_config_options(p_run, None, stored=False)
    p_res = sub.add_parser(
        "resume",
        help="continue a run from its last complete generation",
        parents=[common],
        description="Continue RUN_DIR from its last complete generation (after a crash, Ctrl-C or "
        "SIGTERM), or extend it with --generations N, the new total number of generations.",
        epilog=_RESUME_EPILOG,
        formatter_class=raw,
    )
    p_res.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    add_config_options(p_res, RESUMABLE_KEYS, stored=True)
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
        "--format",
        dest="formats",
        action="append",
        choices=("pt2", "torchscript", "onnx"),
        default=None,
        help="pt2 (torch.export, the default; load with torch.export.load(path).module()), torchscript "
        "(torch.jit, deprecated in torch 2.14) or onnx (needs: pip install 'ecosim[onnx]'); repeat for several",
    )
    p_exp.set_defaults(func=_cmd_export)
    _add_show_parser(sub)
    return parser


def _add_show_parser(sub: Any) -> argparse.ArgumentParser:
    """``ecosim show``: architecture, kernel and lineage pictures of one network (issue: see what evolved)."""
    p = sub.add_parser(
        "show",
        help="pictures of an evolved network: architecture (Fig. 7 kernel stacks), kernels, lineage",
        description="Draw the champion of RUN_DIR (or a kept generation champion) as three pictures: its "
        "architecture (every layer's nodes, stride, output size and parameters; each conv layer's kernel "
        "shapes stacked on their shared centre tile as in the paper's Fig. 7), its learned kernels (one "
        "tile per kernel in its own shape, channels averaged) and its lineage back to generation 0.",
    )
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run directory, or a pack of a run's logs (experiments/archive_runs.py: with --from-log and --out)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--network",
        type=parse_index,
        default=None,
        metavar="ID",
        help="a network id whose weights were kept (each generation's champion is kept)",
    )
    which.add_argument(
        "--generation",
        type=parse_index,
        default=None,
        metavar="G",
        help="the champion of generation G (0-based, as logged)",
    )
    p.add_argument(
        "--format", dest="fmt", choices=("png", "pdf", "svg"), default="png", help="image format (default: png)"
    )
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN_DIR/show; a pack needs it)")
    p.add_argument(
        "--from-log",
        action="store_true",
        help="rebuild the genome from the networks log when its weights were not kept, as in a pack "
        "(architecture and lineage only)",
    )
    p.set_defaults(func=_cmd_show)
    return p


def _check_out(out: str, what: str) -> None:
    """Refuse ``--out`` in a pack or a run's logs (:func:`ecosim.store.rundir.check_output_folder`:
    ConfigError, exit 2), then a folder that cannot be written (StorageError, exit 1), in that order:
    the writability probe makes and removes a folder, which must never happen inside a pack."""
    from ecosim.store.rundir import check_output_folder

    check_output_folder(out)
    check_writable(out, what)


def _cmd_show(args: argparse.Namespace) -> int:
    from ecosim.report.show import write_pictures  # matplotlib: only for this command

    if args.out is not None:  # a folder that cannot be written: say so before any work
        _check_out(args.out, "the pictures folder")
    written = write_pictures(args.run_dir, args.network, args.generation, args.fmt, args.out, args.from_log)
    for path in written.values():
        print(path)
    return 0


def _add_report_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``ecosim report`` to the subparsers object ``sub`` of the ``ecosim`` parser."""
    p = sub.add_parser(
        "report",
        help="Table I and Fig. 9-style plots from run logs",
        description="Group runs by their resolved config (all settings but the seed and where they ran), "
        "print Table I and the final champions, and write the figures and the table (CSV, Markdown). "
        "RUN_DIR may also be a folder of run directories.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (or folders holding them)")
    p.add_argument(
        "--generation",
        type=parse_index,
        default=None,
        metavar="G",
        help="generation for Table I, 0-based as logged (default: the last one all runs of an experiment reached)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: RUN_DIR/report for one run; for several, report/ in their deepest common folder)",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("png", "pdf", "svg"),
        default="png",
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
        champions,
        group_runs,
        load_runs,
        markdown_table,
        report_notes,
        rich_table,
        table_one_of_groups,
        write_report,
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = load_runs(args.run_dirs)
        if args.out is not None:  # a folder that cannot be written: say so before any work
            _check_out(args.out, "the report folder")
        written = write_report(runs, args.out, args.generation, args.tensorboard, args.fmt)
        groups = group_runs(runs)
        table = table_one_of_groups(groups, args.generation)
        notes = report_notes(groups, champions(groups))
    seen: set[str] = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            console.print(Text.assemble(("warning", "bold yellow"), f": {text}"), soft_wrap=True)
    out = _make_console(stderr=False)
    if out.is_terminal:
        out.print(rich_table(table))
        for note in notes:
            out.print(note, soft_wrap=True, highlight=False, markup=False)
    else:
        print(markdown_table(table, notes), end="")
    for path in written.values():
        print(path)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ecosim.export import DEFAULT_FORMATS, export_champion  # torch: only for this command

    if args.out is not None:  # a folder that cannot be written: say so before any work
        _check_out(args.out, "the export folder")
    written = export_champion(args.run_dir, args.out, tuple(dict.fromkeys(args.formats or DEFAULT_FORMATS)))
    for path in written.values():
        print(path)
    return 0


# ---- run / resume ------------------------------------------------------------------------------
class _Interrupted:
    """The signal that stopped the run (SIGINT or SIGTERM), for the exit status."""

    signum: int | None = None


def _stdout_to_devnull() -> None:
    """Point a closed stdout at /dev/null, so the interpreter's flush at exit raises no second error."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM as Ctrl-C: raise KeyboardInterrupt once (a second SIGTERM during clean-up is ignored)."""
    if _Interrupted.signum is None:
        _Interrupted.signum = signum
        raise KeyboardInterrupt


def _progress_output() -> tuple[Any, RichReporter | None]:
    """(line printer, live progress bar or None): the bar only when stderr is a terminal."""
    bar = RichReporter(console) if console.is_terminal else None

    if bar is not None and sys.stdout.isatty():

        def emit(line: str) -> None:  # above the live bar, same terminal
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:

        def emit(line: str) -> None:
            print(line, flush=True)

    return emit, bar


def _warn_unused_species_options(args: argparse.Namespace) -> None:
    """One warning line per ``--species`` / ``--max-species`` given to a run without speciation (§III:
    one population, so the species sizes are not used). Config files and ``--set`` keep them silently:
    the paper's no-speciation set-ups list the same sizes as the others on purpose."""
    flags = option_names(config_fields())
    for key in ("ecosystem.species", "ecosystem.max_species"):
        if getattr(args, key, None) is not None:
            print(
                f"warning: {flags[key]} has no effect without speciation (config '{key}' is not used)", file=sys.stderr
            )


def _run_or_resume(args: argparse.Namespace, state: dict[str, Any]) -> None:
    from ecosim.config import load_config

    overrides = config_overrides(args)
    cfg = load_config(args.config, overrides) if args.command == "run" else None  # bad input: before torch and Ray
    if cfg is not None and not cfg.ecosystem.speciation:
        _warn_unused_species_options(args)
    from ecosim.api import resolve_paths, resume, run  # noqa: I001 (torch and Ray: only for these commands)

    emit, bar = _progress_output()
    reporters = [bar] if bar is not None else []
    try:
        if cfg is not None:
            cfg = resolve_paths(cfg)
            state["run_dir"] = cfg.run.out
            result = run(cfg, reporters, progress=emit)
        else:
            state["run_dir"] = os.path.abspath(args.run_dir)
            result = resume(args.run_dir, overrides or None, reporters, progress=emit)
    finally:
        if bar is not None:
            bar.close()
    emit(f"done: generation log {result.generations_path}, network log {result.networks_path}")


def _interrupted_message(run_dir: str | None, command: str = "") -> str:
    """What was kept and how to go on, after ``interrupted``; ``command``: the command line as given,
    to start again with when the run stored no config yet."""

    if run_dir is None:
        return " before the run started"
    from ecosim.store.checkpoint import intact_checkpoint_generation

    latest = intact_checkpoint_generation(run_dir)
    if latest is None:
        stored = os.path.join(run_dir, "config.toml")
        again = (
            f"ecosim run {shlex.quote(stored)}"
            if os.path.isfile(stored)
            else (command or f"ecosim run ... --out {shlex.quote(run_dir)}")
        )
        return f" before the first generation completed; start again with: {again}"
    kept = f": generation {latest} is the last complete one and is kept"
    return f"{kept}; continue with: ecosim resume {shlex.quote(run_dir)}"


def stopped_message(exc: ResumableStop, run_dir: str | os.PathLike[str] | None) -> str:
    """The one line a resumable stop prints: ``stopped: REASON; generation N is the last complete one and is kept;
    continue with: ecosim resume RUN_DIR``.

    What was kept comes from the checkpoints, as after Ctrl-C (:func:`_interrupted_message`).
    """
    tail = _interrupted_message(os.fspath(run_dir) if run_dir else exc.run_dir)
    return f"stopped: {exc.reason}; {tail.removeprefix(': ').lstrip()}"


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Python warnings as one ``warning: ...`` line, without file and source line."""
    console.print(Text.assemble(("warning", "bold yellow"), f": {' '.join(str(message).split())}"), soft_wrap=True)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def configure_logging(verbose: bool = False) -> None:
    """ecosim's log records on stderr as ``info: ...`` / ``warning: ...`` lines (README, Output).

    Warnings and errors always; every ``info`` record with ``verbose``; the dataset preparation
    progress (``ecosim.data``: CIFAR-10's first decode takes ~20 s) and the settle point
    (``ecosim.evolution.settling``) always; Python warnings as one
    ``warning: ...`` line. Used by ``ecosim`` and ``experiments/run_experiments.py``.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    logging.getLogger("ecosim.data").setLevel(logging.INFO)
    logging.getLogger("ecosim.evolution.settling").setLevel(logging.INFO)  # the settle point
    warnings.showwarning = _show_warning


def _last_line(text: Text) -> None:
    """Print the run's last line on stderr; when stderr is a closed pipe (`2>&1 | head`, or `| tee`
    ended by the same Ctrl-C) it goes quiet instead, so the exit status stays the signal's."""
    try:
        console.print(text)
    except (OSError, SystemExit):  # rich turns a broken pipe into SystemExit(1)
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecosim`` command; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # one line naming the subcommand's help, not the top level's
        prog = f"ecosim {args.command}"
        parser.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see {prog} --help)\n")
    configure_logging(getattr(args, "verbose", False))
    _Interrupted.signum = None
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None  # schedulers stop jobs with SIGTERM
    state: dict[str, Any] = {"command": shlex.join(["ecosim", *(sys.argv[1:] if argv is None else argv)])}
    try:
        if args.command in ("run", "resume"):
            _run_or_resume(args, state)
        else:
            return int(args.func(args) or 0)
    except ResumableStop as exc:
        console.print(
            Text.assemble(("stopped", "bold yellow"), stopped_message(exc, state.get("run_dir"))[len("stopped") :])
        )
        return exc.exit_status
    except StorageError as exc:  # a filesystem fault: one line, path, operation, reason (issue 21)
        console.print(Text.assemble(("error", "bold red"), f": {exc}"))
        return 1
    except EcosimError as exc:  # 2, or the error's own status (Ray that did not start: 75, retry later)
        console.print(Text.assemble(("error", "bold red"), f": {exc}"))
        return int(getattr(exc, "exit_status", 2))
    except BrokenPipeError:  # stdout closed (`| head`): stop as a SIGPIPE would, resumable, no second error at exit
        _stdout_to_devnull()
        if args.command in ("run", "resume"):
            kept = "; " + _interrupted_message(state.get("run_dir"), state["command"]).removeprefix(": ").lstrip()
        else:  # report, show, export: what they write to files is written before they print
            kept = ""
        _last_line(Text.assemble(("stopped", "bold yellow"), f": the output pipe closed (broken pipe){kept}"))
        return 128 + int(signal.SIGPIPE)
    except OSError as exc:  # any other write or read the store did not wrap: the same one line
        console.print(Text.assemble(("error", "bold red"), f": {StorageError.from_os(exc, 'write or read')}"))
        return 1
    except KeyboardInterrupt as exc:
        if main_thread:  # a second Ctrl-C must not break Ray's shutdown at exit (orphaned agents)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        if isinstance(exc.__cause__, BrokenPipeError):  # `| tee` closed by the same Ctrl-C (api)
            _stdout_to_devnull()
        _Interrupted.signum = _Interrupted.signum or signal.SIGINT
        # Ctrl-C under `2>&1 | tee`: tee got the signal too, so stderr may be a closed pipe
        kept = _interrupted_message(state.get("run_dir"), state["command"])
        _last_line(Text.assemble(("interrupted", "bold yellow"), kept))
        return 128 + int(_Interrupted.signum)
    finally:
        if main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
