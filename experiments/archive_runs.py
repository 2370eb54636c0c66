#!/usr/bin/env python
"""Pack the logs of a folder of runs into a folder kept in version control (``experiments/archive/``).

    python experiments/archive_runs.py runs/compare experiments/archive/compare

Every run directory below SRC (``<experiment>/seed<k>/``, as ``run_experiments.py`` lays them
out) is packed into the same place below DEST by :func:`ecosim.store.archive.pack_logs`: its
config and one Parquet file per log, no checkpoint and no weights (about 1% of the run directory).
A SRC that is one experiment folder (or one run) keeps its ``<experiment>/<run>`` folders below
DEST, however SRC is written (``runs/compare/mnist-x``, or ``.`` inside it: ``DEST/mnist-x/seed0``);
packs found below SRC (DEST inside SRC) are left alone. ``make_results.py DEST`` then makes the same
page as ``make_results.py SRC``, from the repository alone, after the run directories are
gone. A run still in progress (its lock held) is skipped and named; pack it again when it has
finished (a pack is replaced).

Exit status: 0 when every run was packed, 1 when some run was skipped, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecosim.errors import EcosimError
from ecosim.report.runs import find_run_dirs
from ecosim.store.archive import pack_logs
from ecosim.store.rundir import RunDir, enclosing_run


def main(argv: list[str] | None = None) -> int:
    """Pack every run below ``SRC`` into ``DEST`` (module docstring); prints one line per run."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("src", help="a run directory or a folder of runs, e.g. runs/compare")
    p.add_argument("dest", help="the archive folder, e.g. experiments/archive/compare")
    args = p.parse_args(argv)
    src, dest = Path(args.src), Path(args.dest)
    if RunDir(src).is_pack:
        p.error(f"argument src: {str(src)!r} is a pack already (copy the folder to keep it elsewhere)")
    file = next((f for f in (dest, *dest.parents) if f.exists() and not f.is_dir()), None)
    if file is not None:
        p.error(f"argument dest: {str(dest)!r} is or lies below the file {str(file)!r}: give a folder")
    holder = enclosing_run(dest)
    if holder is not None:
        what = "pack" if holder.is_pack else "run directory"
        p.error(f"argument dest: {str(dest)!r} is or lies in the {what} {str(holder.root)!r}: give a folder outside it")
    runs = find_run_dirs(src.resolve())  # resolved: "." keeps the folder names it stands for
    if not runs:
        p.error(f"argument src: {str(src)!r} holds no run directory (a folder with config.toml)")
    if all(RunDir(run).is_pack for run in runs):
        p.error(f"argument src: {str(src)!r} holds only packs: copy the folder to keep them elsewhere")
    skipped = 0
    for run in runs:
        if RunDir(run).is_pack:  # e.g. DEST inside SRC: packs are kept, not packed again
            continue
        rel = run.relative_to(src.resolve())
        if len(rel.parts) < 2:  # SRC is an experiment folder or a run: keep <experiment>/<run>
            rel = Path(run.parent.name, run.name)
        try:
            out = pack_logs(run, dest / rel)
        except EcosimError as exc:
            skipped += 1
            print(f"skipped {run}: {exc}", file=sys.stderr)
            continue
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        print(f"packed {run} -> {out} ({size / 1e3:.0f} kB)")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
