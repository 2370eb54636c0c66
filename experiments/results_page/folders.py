"""Output-folder safety: where ``--plots`` and ``--out`` may be written, and the list of the files
an earlier ``make_results`` wrote (:data:`PLOTS_MANIFEST`), the only ones it replaces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecosim.store.rundir import enclosing_run

#: the list of files an earlier ``make_results`` wrote into ``--plots``: only these are removed before
#: the new figures, so a user's own files in the folder survive
PLOTS_MANIFEST = ".make_results-files"


def plots_conflict(plots: Path, run_dirs: list[Path], inputs: Sequence[Path] = (), page: Path | None = None) -> str:
    """Why ``--plots`` may not be written (``""``: it may): it is, holds or lies inside a run
    directory, holds an input (``--earlier``) or the page (``--out``), or holds files without the
    list of what an earlier ``make_results`` wrote there (:data:`PLOTS_MANIFEST`): only the files on
    that list are removed before the new figures (:func:`clear_plots`), so a folder of unknown
    files is refused rather than mixed with the figures."""
    target = plots.resolve()
    for run in run_dirs:
        run = run.resolve()
        if target == run or target in run.parents or run in target.parents:
            return f"is, holds or lies inside the run directory {str(run)!r}"
    inside = enclosing_run(target)  # any run or pack, not only an input (its report, its show pictures)
    if inside is not None:
        return f"lies inside the run directory or pack {str(inside.root)!r}"
    for kept in [*inputs, *([page] if page is not None else [])]:
        if target in kept.resolve().parents:
            verb = "holds" if kept.exists() else "would hold"  # the page may not be written yet
            return f"{verb} {str(kept)!r}, an input or the page itself"
    if target.is_dir():
        if any(target.rglob("config.toml")):
            return "holds a run directory (a config.toml)"
        if not (target / PLOTS_MANIFEST).is_file() and any(f.is_file() for f in target.rglob("*")):
            return f"holds files and no {PLOTS_MANIFEST} (the list of what an earlier make_results wrote there)"
    elif target.exists():
        return "is a file"
    return ""


def clear_plots(plots: Path) -> set[Path]:
    """Remove the files an earlier ``make_results`` wrote into ``plots`` (those on its
    :data:`PLOTS_MANIFEST`), then the folders that removal left empty; every other file, folder
    and link stays (a listed name that is now a link, or leaves the folder, is not followed).

    Returns:
        the files still in ``plots`` afterwards (a user's own), as absolute paths.
    """
    root = plots.resolve()
    manifest = root / PLOTS_MANIFEST
    emptied: set[Path] = set()
    if manifest.is_file():
        for name in manifest.read_text(encoding="utf-8").splitlines():
            path = root / name
            if not name.strip() or name == PLOTS_MANIFEST or path.is_symlink() or not path.is_file():
                continue
            if root not in path.resolve().parents:  # never outside the folder
                continue
            path.unlink()
            emptied.update(p for p in path.parents if root in p.parents)
        manifest.unlink(missing_ok=True)
    for folder in sorted(emptied, key=lambda d: len(d.parts), reverse=True):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    return {f.resolve() for f in root.rglob("*") if f.is_file()}


def write_plots_manifest(plots: Path, kept: set[Path]) -> None:
    """List in ``plots``' :data:`PLOTS_MANIFEST` every file there but ``kept`` (the files this run wrote)."""
    root = plots.resolve()
    ours = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file() and f.resolve() not in kept)
    (root / PLOTS_MANIFEST).write_text("".join(f"{name}\n" for name in ours), encoding="utf-8")


def out_conflict(out: Path, run_dirs: list[Path], inputs: Sequence[Path] = ()) -> str:
    """Why ``--out`` may not be written (``""``: it may): it is not a Markdown file, is an input
    (``--earlier``), or lies inside a run directory or pack (an input or not: a page there could
    replace a run's ``config.toml``), or its folder is a file."""
    target = out.resolve()
    if target.suffix != ".md":
        return "is not a Markdown file (.md)"
    if target.is_dir():
        return "is a folder"
    if any(target == i.resolve() for i in inputs):
        return "is an input (--earlier)"
    for run in run_dirs:
        if run.resolve() in target.parents:
            return f"lies inside the run directory {str(run)!r}"
    inside = enclosing_run(target.parent)
    if inside is not None:
        return f"lies inside the run directory or pack {str(inside.root)!r}"
    for folder in target.parents:
        if folder.exists():
            return "" if folder.is_dir() else f"has a file {str(folder)!r} among its folders"
    return ""
