#!/usr/bin/env python
"""Run the Table I experiments (paper §IV): several seeds of one or more experiment configs.

    python experiments/run_experiments.py experiments/mnist-speciation.toml --seeds 0 1 2 \\
        --out runs/table1 [--generations N] [--set section.key=value ...] [--data-root DIR] [--dry-run] \\
        [--train-macs BUDGET]

Each (config, seed) gets its own run directory ``OUT/<config name>/seed<k>`` and runs through
:func:`ecosim.api.run`, one after the other (each run uses Ray inside; a Ray instance started
by the first run is reused by the next). Smaller budgets are overrides of the same configs
(``--generations 5 --set ecosystem.population=16 ...``), never separate code paths.

Re-running the same command continues where it stopped:

* a run whose logs reach its last generation is **skipped**;
* an unfinished run with a checkpoint is **resumed** (:func:`ecosim.api.resume`);
* a run directory without any complete generation is started afresh (its empty log folders
  are removed first);
* a run that went extinct is recorded in ``<run dir>/extinct.txt`` and skipped later;
* a run directory whose config differs from the requested one in what the run computes is an
  error: pick another ``--out``. ``run.generations`` may differ (a larger value extends the
  run), and so may where and how it executes (``run.out``, ``run.address``, ``data.data_root``,
  ``[resources]``, ...); a resumed run keeps its stored config apart from ``run.generations``.

With ``--train-macs BUDGET`` each run stops after the first generation whose cumulative training
compute (the logs' ``train_macs``, multiply-accumulates) reaches ``BUDGET`` (``run.train_macs``,
stored in the run's ``config.toml``, so ``ecosim resume`` keeps to it too), ``run.generations``
being the most it may run: runs of different set-ups then spend the same compute (issue 17). A
larger budget on a later call spends more on the same runs.

At the end the command prints the ``ecosim report`` command for the experiments it covered.
Exit status: 0 when every run finished (or went extinct), 1 when some run failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecosim.atomic import check_writable
from ecosim.cli import configure_logging
from ecosim.config import Config, load_config, parse_overrides
from ecosim.errors import EcosimError, ExtinctionError
from ecosim.store.logs import read_generations

EXTINCT_MARKER = "extinct.txt"

#: keys that may differ between a run directory's config and the requested one: where and how a
#: run executes, not what it computes (``run.generations`` extends a run; ``[resources]`` too)
_OPERATIONAL = frozenset(
    {
        "run.generations",
        "run.train_macs",
        "run.out",
        "run.address",
        "run.dashboard",
        "run.dashboard_host",
        "run.checkpoint_keep",
        "data.data_root",
    }
)


@dataclass(frozen=True)
class Planned:
    """One run of the plan.

    Attributes:
        experiment: the config file's stem, e.g. ``mnist-speciation``.
        seed: ``run.seed``.
        run_dir: ``OUT/<experiment>/seed<seed>``.
        config: the resolved config (file + overrides + seed + out).
        status: ``new``, ``resume``, ``finished``, ``extinct`` or ``restart`` (see :func:`run_status`).
    """

    experiment: str
    seed: int
    run_dir: Path
    config: Config
    status: str


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``--set`` items → overrides (see :func:`ecosim.config.parse_overrides`)."""
    return parse_overrides(items)


def train_macs(run_dir: Path) -> tuple[int, float]:
    """``(generations logged, cumulative training multiply-accumulates)`` of a run directory."""
    gens = read_generations(run_dir)
    if gens.empty:
        return 0, 0.0
    col = gens.get("train_macs", None)
    return int(gens["generation"].max()) + 1, float(col.fillna(0).sum()) if col is not None else 0.0


def run_status(run_dir: Path, config: Config) -> str:
    """What to do with ``run_dir`` to get a finished run of ``config``.

    Args:

    Returns:
        ``new`` (nothing there), ``finished`` (generation ``run.generations - 1`` is logged, or
        the cumulative training compute reached ``run.train_macs``),
        ``extinct`` (``extinct.txt`` present), ``resume`` (a checkpoint and fewer generations
        logged) or ``restart`` (a run directory without any complete generation).

    Raises:
        EcosimError: ``run_dir`` holds a run of a different config (see the module docstring),
            or logs without a checkpoint to resume from (nothing is ever deleted then).
    """
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file() and not (run_dir / "generations").exists():
        return "new"
    if cfg_path.is_file():
        stored = load_config(cfg_path, run_config=True)
        there, wanted = stored.to_dict(), config.to_dict()
        diff = [
            f"{section}.{key}: {value!r} there, {wanted[section][key]!r} requested"
            for section, table in there.items()
            for key, value in table.items()
            if f"{section}.{key}" not in _OPERATIONAL and section != "resources" and wanted[section][key] != value
        ]
        if diff:
            raise EcosimError(
                f"run directory {str(run_dir)!r} holds a run with another config ({'; '.join(diff)}); "
                "use another --out or remove it"
            )
    if (run_dir / EXTINCT_MARKER).is_file():
        return "extinct"
    gens = read_generations(run_dir)
    if not gens.empty and int(gens["generation"].max()) >= config.run.generations - 1:
        return "finished"
    budget = config.run.train_macs
    if budget > 0 and train_macs(run_dir)[1] >= budget:
        return "finished"
    if (run_dir / "checkpoints" / "LATEST").is_file():
        return "resume"
    if gens.empty:
        return "restart"
    raise EcosimError(
        f"run directory {str(run_dir)!r} logged generations up to {int(gens['generation'].max())} but has no "
        f"checkpoint to resume from ({run_dir / 'checkpoints' / 'LATEST'} missing); use another --out or remove it"
    )


def plan(
    configs: Sequence[str | Path],
    seeds: Sequence[int],
    out: Path,
    overrides: dict[str, Any],
    budget: float | None = None,
) -> list[Planned]:
    """Every (config, seed) run with its directory and status, configs first, then seeds.

    Raises:
        ConfigError: an unreadable config or a bad override. EcosimError: see :func:`run_status`.
    """
    runs = []
    for path in configs:
        name = Path(path).stem
        for seed in seeds:
            run_dir = out / name / f"seed{seed}"
            extra = {"run.train_macs": float(budget)} if budget is not None else {}
            stored = run_dir / "config.toml"
            if budget is None and "run.train_macs" not in overrides and stored.is_file():  # keep its budget
                extra = {"run.train_macs": load_config(stored, run_config=True).run.train_macs}
            cfg = load_config(path, {**overrides, **extra, "run.seed": int(seed), "run.out": str(run_dir)})
            runs.append(Planned(name, int(seed), run_dir, cfg, run_status(run_dir, cfg)))
    return runs


def _execute(p: Planned) -> str:
    """Run, resume or skip one planned run; returns its final status.

    With a budget (``run.train_macs`` > 0, training multiply-accumulates) the run stops after the
    first generation that reaches it, or at ``run.generations``.
    """
    status = _execute_once(p)
    budget = p.config.run.train_macs
    if budget > 0 and status == "finished":
        done, spent = train_macs(p.run_dir)
        print(
            f"  compute budget: {spent:.3g} of {budget:.3g} training MACs after {done} generation{'s' * (done != 1)}",
            flush=True,
        )
    return status


def _execute_once(p: Planned) -> str:
    """Run, resume or skip one planned run to ``p.config.run.generations``; returns its final status."""
    from ecosim.api import resume, run
    from ecosim.cli import console
    from ecosim.progress import RichReporter

    if p.status in ("finished", "extinct"):
        return p.status
    if p.status == "restart":  # no complete generation: nothing of value in the folders
        for folder in ("generations", "networks", "checkpoints", "sessions"):
            shutil.rmtree(p.run_dir / folder, ignore_errors=True)
        (p.run_dir / "champion.safetensors").unlink(missing_ok=True)
        (p.run_dir / "config.toml").unlink(missing_ok=True)
    # a live bar on a terminal; otherwise one plain line per generation (a log file stays readable)
    bar = RichReporter(console) if console.is_terminal else None
    reporters = [bar] if bar is not None else []

    def lines(line: str) -> None:
        print(line, flush=True)

    progress = None if bar is not None else lines
    try:
        if p.status == "resume":
            stored = load_config(p.run_dir / "config.toml", run_config=True)
            extend = {
                key: value
                for key, value, there in (
                    ("run.generations", p.config.run.generations, stored.run.generations),
                    ("run.train_macs", p.config.run.train_macs, stored.run.train_macs),
                )
                if value != there
            }
            result = resume(p.run_dir, extend or None, reporters, progress)
        else:
            result = run(p.config, reporters, progress)
    except ExtinctionError as exc:
        (p.run_dir / EXTINCT_MARKER).write_text(f"{exc}\n", encoding="utf-8")
        print(f"  went extinct: {exc}")
        return "extinct"
    finally:
        if bar is not None:
            bar.close()
    best = "none" if result.best_fitness is None else f"{result.best_fitness:.4f}"
    print(f"  best fitness {best} (network {result.best_network_id})")
    return "finished"


def build_parser() -> argparse.ArgumentParser:
    """The runner's argument parser."""
    p = argparse.ArgumentParser(
        prog="run_experiments.py",
        allow_abbrev=False,
        description="Run seeds of Table I experiment configs, each in OUT/<experiment>/seed<k>; "
        "finished runs are skipped, unfinished ones resumed.",
    )
    p.add_argument(
        "configs",
        nargs="+",
        metavar="CONFIG.toml",
        help="experiment configs (e.g. experiments/*.toml)",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="run seeds (default: 0)")
    p.add_argument("--out", default="runs/table1", help="root of the run directories (default: runs/table1)")
    p.add_argument("--generations", type=int, default=None, help="override run.generations")
    p.add_argument("--data-root", default=None, help="override data.data_root")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="any config key (TOML value)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument(
        "--train-macs",
        type=float,
        default=None,
        metavar="BUDGET",
        help="stop each run after the first generation whose cumulative training compute reaches BUDGET "
        "multiply-accumulates (run.train_macs, e.g. 1.2e13; run.generations stays the most it may run); "
        "0 = no budget; left out, a run keeps the budget it has (new runs: the config's, 0 by default)",
    )
    return p


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM as Ctrl-C: the run in progress stops cleanly (its last complete generation is kept)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one during clean-up is ignored
    raise KeyboardInterrupt


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before the plan, what would run twice into one folder.

    Raises:
        EcosimError: a seed given twice, two configs of one name (one ``OUT/<name>`` folder).
    """
    seen: set[int] = set()
    for seed in args.seeds:
        if seed in seen:
            raise EcosimError(f"--seeds: seed {seed} is given twice (each seed is one run directory)")
        seen.add(seed)
    names: dict[str, str] = {}
    for path in args.configs:
        stem = Path(path).stem
        if stem in names:
            raise EcosimError(
                f"configs {names[stem]!r} and {str(path)!r} share the name {stem!r}, so one folder "
                f"{str(Path(args.out) / stem)!r}: give each config once, under its own name"
            )
        names[stem] = str(path)


def check_planned(planned: Sequence[Planned], data_root: str | None) -> None:
    """Refuse, before any run starts, what would make each run to do fail one by one: a ``--data-root``
    that is not a folder, a run directory no folder can be made in. Finished (or extinct) runs write nothing and
    need no data: with every run finished, a read-only ``--out`` and a missing data root are fine.

    Raises:
        EcosimError: the data root. StorageError: the run directory (one line naming it).
    """
    todo = [p for p in planned if p.status not in ("finished", "extinct")]  # as _execute_once skips them
    if todo and data_root is not None and not Path(data_root).is_dir():
        raise EcosimError(f"--data-root {data_root!r} is not a folder")
    for p in todo:
        check_writable(p.run_dir, "the run directory")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (130 after Ctrl-C, 143 after SIGTERM: run it again to continue)."""
    args = build_parser().parse_args(argv)
    configure_logging()  # ecosim's info/warning lines, as the ecosim command prints them
    out = Path(args.out)
    try:
        overrides = parse_set(args.set)
        if args.generations is not None:
            overrides["run.generations"] = args.generations
        if args.data_root is not None:
            overrides["data.data_root"] = args.data_root
        if args.train_macs is not None:
            if not math.isfinite(args.train_macs) or args.train_macs < 0:
                raise EcosimError(f"--train-macs must be finite and ≥ 0 multiply-accumulates, got {args.train_macs}")
            if "run.train_macs" in overrides:
                raise EcosimError("--train-macs and --set run.train_macs both set the budget: give one")
        check_arguments(args)
        planned = plan(args.configs, args.seeds, out, overrides, args.train_macs)
        check_planned(planned, args.data_root)
    except EcosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in planned:
        print(f"{p.experiment} seed {p.seed}: {p.status} ({p.run_dir})")
    if args.dry_run:
        return 0
    failed = []
    terminated: list[int] = []
    if threading.current_thread() is threading.main_thread():  # schedulers and `kill` send SIGTERM

        def on_sigterm(signum: int, frame: Any) -> None:
            terminated.append(signum)
            _on_sigterm(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
    for i, p in enumerate(planned, 1):
        print(
            f"[{i}/{len(planned)}] {p.experiment} seed {p.seed}: {p.status} → {p.run_dir}",
            flush=True,
        )
        try:
            _execute(p)
        except KeyboardInterrupt:
            where = (
                f"{p.run_dir} keeps its last complete generation"
                if (p.run_dir / "config.toml").is_file()
                else f"{p.experiment} seed {p.seed} had not started"
            )
            print(
                f"stopped: {where}; run the same command again to continue (finished runs are skipped, "
                "the others resume or start)",
                file=sys.stderr,
            )
            return 143 if terminated else 130
        except EcosimError as exc:  # ecosim's own one-line errors (an edited config.toml, Ray that did not start)
            print(f"  failed: {exc}", file=sys.stderr)
            failed.append(p)
        except Exception as exc:  # noqa: BLE001 -- one broken run must not stop the others
            print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            failed.append(p)
    experiments = sorted({str(out / p.experiment) for p in planned if (out / p.experiment).is_dir()})
    if experiments:
        print("\nreport:\n  ecosim report " + " ".join(experiments) + f" --out {out / 'report'}")
    if failed:
        print(
            f"{len(failed)} run(s) failed: " + ", ".join(str(p.run_dir) for p in failed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
