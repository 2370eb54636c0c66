"""``ecosim show``: the architecture, kernel and lineage pictures of one network of a run.

Which network (paper §III-E, Figs. 7–8; future work of §V):

* by default the run's champion, ``RUN_DIR/champion.safetensors``;
* ``network_id``: a network whose weights were kept, ``RUN_DIR/champions/net-<id>.safetensors``
  (the engine keeps the best network of every generation, :attr:`RunDir.champions`);
* ``generation``: the champion of that generation (the best ``ok`` row of the networks log,
  lowest id on ties), from the kept files.

Weights of other networks are not kept. Their architecture and lineage can still be drawn from
the networks log (``from_log=True``): the ``layers`` column is :meth:`Genome.summary`, which
holds every kernel shape, stride and node count (:func:`genome_from_summary`); only kernels
need weights. The same goes for a pack of a run's logs (:mod:`ecosim.store.archive`), which
holds no weights at all: its champion is the best network the generations log records, and the
input shape comes from the dataset's name (:data:`ecosim.data.record.INPUT_SHAPES`), checked
against the logged parameter count.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ecosim.config import load_config
from ecosim.data.record import INPUT_SHAPES
from ecosim.errors import CheckpointError, ConfigError
from ecosim.genome.genome import Genome
from ecosim.genome.weights import Weights
from ecosim.report.runs import _read_log
from ecosim.report.show._common import ShowError, WeightsNotKeptError, check_format, save_figure
from ecosim.report.show.architecture import architecture_figure, genome_from_summary
from ecosim.report.show.kernels import kernels_figure
from ecosim.report.show.lineage import lineage, lineage_figure
from ecosim.report.tables import run_champion
from ecosim.store.logs import read_generations, read_networks
from ecosim.store.networks import load_network
from ecosim.store.rundir import RunDir, check_output_folder

PathLike = str | os.PathLike[str]


def _ids_text(ids: list[int], limit: int = 20) -> str:
    if not ids:
        return "none"
    text = ", ".join(str(i) for i in ids[:limit])
    return text + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def generation_champion(networks: pd.DataFrame, generation: int) -> int:
    """Id of the best network of ``generation`` in the networks log: highest fitness among ``ok`` rows, lowest id on
    ties.

    This is the network the engine keeps for that generation (:attr:`RunDir.champions`).

    Raises:
        ShowError: no row (or no ``ok`` row with a fitness) in ``generation``; the message gives
            the logged generations.
    """
    rows = networks[networks["generation"] == int(generation)]
    if "status" in rows:
        rows = rows[rows["status"].fillna("ok") == "ok"]
    rows = rows[rows["fitness"].notna()]
    if rows.empty:
        gens = sorted(set(networks["generation"].astype(int))) if not networks.empty else []
        span = f"{gens[0]}–{gens[-1]}" if gens else "none"
        raise ShowError(
            f"generation {generation} has no scored network in the networks log (logged generations: {span})"
        )
    best = rows.sort_values(["fitness", "network_id"], ascending=[False, True], kind="stable").iloc[0]
    return int(best["network_id"])


def _logged_champion(layout: RunDir, generation: int) -> int | None:
    """The champion the generations log recorded for ``generation`` (``champion_id``), or ``None``.

    The engine's own record: it stays right when a damaged networks-log file was set aside and
    the rows left would crown another network.
    """
    try:
        gens = read_generations(layout.root)
    except Exception:  # noqa: BLE001 -- no readable generations log: the networks log decides
        return None
    if "champion_id" not in gens:
        return None
    row = gens[gens["generation"] == generation]
    if row.empty or pd.isna(row["champion_id"].iloc[0]):
        return None
    return int(row["champion_id"].iloc[0])


def _input_shape(layout: RunDir) -> tuple[int, int, int]:
    """The run's input shape ``(C, H, W)``: from the champion or any kept network, else by the dataset's name."""
    candidates = [layout.champion] + [layout.champion_file(i) for i in layout.kept_network_ids()]
    for path in candidates:
        if path.is_file():
            return load_network(path)[0].input_shape
    try:
        dataset = load_config(layout.config, run_config=True).data.dataset if layout.config.is_file() else None
    except ConfigError as exc:  # a config of another version: name the file
        raise ShowError(f"{str(layout.config)!r}: {exc}") from None
    if dataset in INPUT_SHAPES:
        return INPUT_SHAPES[dataset]
    raise ShowError(
        f"run {str(layout.root)!r} has no champion.safetensors nor kept network to take the input shape from, "
        f"and data.dataset = {dataset!r} is not one of {', '.join(INPUT_SHAPES)}"
    )


def _logged_run_champion(layout: RunDir, networks: pd.DataFrame) -> int:
    """The run's champion by its logs (:func:`~ecosim.report.tables.run_champion`), else the networks
    log's best row (highest fitness, earliest generation, lowest id).

    Raises:
        ShowError: no scored network in the logs.
    """
    try:
        best = run_champion(read_generations(layout.root))
    except Exception:  # noqa: BLE001 -- no readable generations log: the networks log decides
        best = None
    if best is not None:
        return best[0]
    rows = networks[networks["fitness"].notna()] if "fitness" in networks else networks.iloc[0:0]
    if "status" in rows:
        rows = rows[rows["status"].fillna("ok") == "ok"]
    if rows.empty:
        raise ShowError(f"run {str(layout.root)!r} has no scored network in its logs")
    top = rows.sort_values(["fitness", "generation", "network_id"], ascending=[False, True, True], kind="stable")
    return int(top["network_id"].iloc[0])


def _refuse_pack_without_log(layout: RunDir, from_log: bool) -> None:
    """A pack holds logs only: ``show`` draws from them with ``from_log``, else one line says so."""
    if layout.is_pack and not from_log:
        raise CheckpointError(
            f"{str(layout.root)!r} is a pack of a run's logs (ecosim.store.archive): it holds no weights; "
            "give --from-log and --out DIR (from_log=True, out_dir) to draw the architecture and lineage from its logs"
        )


def _kept_metadata(layout: RunDir, network_id: int | None, champion: bool) -> dict[str, Any]:
    """The metadata of the weights file ``show`` drew (the run's champion, else the kept file)."""
    path = layout.champion if champion or network_id is None else layout.champion_file(network_id)
    if not path.is_file():  # runs from before kept files: the champion itself
        path = layout.champion
    return load_network(path)[2] if path.is_file() else {}


def _logged_layers(networks: pd.DataFrame, network_id: int) -> str | None:
    rows = networks[networks["network_id"] == network_id]
    if rows.empty or "layers" not in rows or rows["layers"].isna().all():
        return None
    return str(rows["layers"].dropna().iloc[0])


def resolve_network(
    run_dir: PathLike,
    network_id: int | None = None,
    generation: int | None = None,
    from_log: bool = False,
    networks: pd.DataFrame | None = None,
) -> tuple[int | None, Genome, Weights | None]:
    """Find the network ``ecosim show`` draws: ``(network_id, genome, weights or None)``.

    Args:
        run_dir: the run directory.
        network_id: a network id (kept weights, or the log with ``from_log``); ``None``: see ``generation``.
        generation: the champion of this generation; with neither, the run's champion.
        from_log: when the weights were not kept, rebuild the genome from the networks log
            ``layers`` column and return ``weights=None`` instead of raising.
        networks: the networks log, if already read.

    Returns:
        The id (``None`` only for a champion file without ``network_id`` metadata), the genome and
        the weights (``None`` when rebuilt from the log).

    Raises:
        ShowError: both ``network_id`` and ``generation``; no champion; an id or generation not in
            the log; a kept file whose genome differs from the log's.
        WeightsNotKeptError: the network is logged but its weights were not kept (and not
            ``from_log``); the message lists the kept ids.
        CheckpointError: a kept file that cannot be read; a pack of a run's logs without ``from_log``.
        ShowError: a network rebuilt from the log whose parameter count differs from the logged one
            (the input shape taken from the dataset's name is wrong).
    """
    if network_id is not None and generation is not None:
        raise ShowError(
            f"give network_id or generation, not both (got network_id={network_id}, generation={generation})"
        )
    layout = RunDir(run_dir)
    _refuse_pack_without_log(layout, from_log)
    if networks is None:
        networks = _read_log(read_networks, layout.root, layout.networks)
    if network_id is None and generation is None and not layout.is_pack:
        if not layout.champion.is_file():
            raise ShowError(
                f"run {str(layout.root)!r} has no champion.safetensors: no generation has completed, "
                "or every network diverged or failed"
            )
        genome, weights, meta = load_network(layout.champion)
        nid = meta.get("network_id")
        return (None if nid is None else int(nid)), genome, weights
    if network_id is None and generation is None:  # a pack: the champion its logs record
        nid = _logged_run_champion(layout, networks)
    elif network_id is not None:
        nid = int(network_id)
    else:
        nid = _logged_champion(layout, int(generation))  # type: ignore[arg-type]
        if nid is None:  # logs from before champion_id: the best row of the networks log
            nid = generation_champion(networks, int(generation))  # type: ignore[arg-type]
    logged = _logged_layers(networks, nid)
    path = layout.champion_file(nid)
    if not path.is_file() and layout.champion.is_file():
        champ = load_network(layout.champion)
        if champ[2].get("network_id") == nid:  # runs from before kept files: the champion itself
            path = layout.champion
    if path.is_file():
        genome, weights, _ = load_network(path)
        if logged is not None and genome.summary() != logged:
            raise ShowError(
                f"kept file {str(path)!r} holds {genome.summary()} but the networks log has {logged} for "
                f"network {nid} (a stale file from generations discarded on resume?)"
            )
        return nid, genome, weights
    if networks.empty or nid not in set(networks["network_id"].astype(int)):
        span = "none" if networks.empty else f"{int(networks['network_id'].min())}–{int(networks['network_id'].max())}"
        raise ShowError(f"network {nid} is not in the networks log of {str(layout.root)!r} (logged ids: {span})")
    if not from_log:
        raise WeightsNotKeptError(
            f"weights of network {nid} were not kept in {str(layout.champions)!r} (kept: "
            f"{_ids_text(layout.kept_network_ids())}); its architecture and lineage can be drawn from the log "
            "(--from-log, from_log=True)"
        )
    if logged is None:
        raise ShowError(f"network {nid} has no layers summary in the networks log")
    genome = genome_from_summary(logged, shape := _input_shape(layout))
    rows = networks[networks["network_id"] == nid]
    logged_count = rows["parameters"].iloc[0] if "parameters" in rows and not rows.empty else float("nan")
    if pd.notna(logged_count) and int(logged_count) != genome.parameter_count():
        raise ShowError(
            f"network {nid} rebuilt on input shape {shape} has {genome.parameter_count()} parameters, the networks "
            f"log {int(logged_count)}: the run's input shape is not {shape}"
        )
    return nid, genome, None


def write_pictures(
    run_dir: PathLike,
    network_id: int | None = None,
    generation: int | None = None,
    fmt: str = "png",
    out_dir: PathLike | None = None,
    from_log: bool = False,
) -> dict[str, Path]:
    """Write the architecture, kernel and lineage pictures of one network of a run (``ecosim show``).

    Pictures (paper §III-E, Figs. 7–8):

    * ``architecture``: :func:`architecture_figure` — every layer with nodes, stride, output shape
      and parameters; each conv layer's kernels stacked on their shared centre tile (Fig. 7);
    * ``kernels``: :func:`kernels_figure` — learned weights, one tile per kernel in its own shape
      (input channels averaged); an MLP gets a picture saying it has no conv layer; left out
      when the weights were not kept (``from_log``), with a warning;
    * ``lineage``: :func:`lineage_figure` of :func:`lineage` — the ancestry back to generation 0;
      left out, with a warning, when the network is not in the networks log.

    Files are named ``net-000123-architecture.png`` etc. (``champion-...`` when the champion file
    has no network id).

    Args:
        run_dir: the run directory.
        network_id: a network whose weights were kept (:attr:`RunDir.champions`); default the champion.
        generation: instead, the champion of this generation (:func:`generation_champion`).
        fmt: ``"png"`` (default), ``"pdf"`` or ``"svg"``.
        out_dir: output folder; default :attr:`RunDir.show` (``RUN_DIR/show``); required for a pack.
        from_log: draw architecture and lineage from the networks log when the weights were not kept
            (required for a pack, which keeps none).

    Returns:
        ``{"architecture": path, "kernels": path, "lineage": path}`` of the files written.

    Raises:
        ShowError: an unknown ``fmt``, both ``network_id`` and ``generation``, no champion, an id
            or generation not in the run, a pack without ``out_dir``. ConfigError: ``out_dir`` in a
            pack or in a run's logs (:func:`ecosim.store.rundir.check_output_folder`). WeightsNotKeptError: the
            network's weights were not kept (the message lists the kept ids). CheckpointError:
            ``run_dir`` is not a run directory, or is a pack without ``from_log``. Nothing is
            written when an error is raised.

    >>> write_pictures("runs/mnist", generation=12, fmt="svg")              # doctest: +SKIP
    {'architecture': PosixPath('runs/mnist/show/net-000345-architecture.svg'), ...}
    """
    fmt = check_format(fmt)
    layout = RunDir(run_dir)
    layout.require()
    _refuse_pack_without_log(layout, from_log)
    if layout.is_pack and out_dir is None:  # a pack stays as packed (it may be committed)
        raise ShowError(f"{str(layout.root)!r} is a pack of a run's logs: give --out DIR (out_dir) for the pictures")
    if out_dir is not None:
        check_output_folder(Path(out_dir))  # not into a pack, nor a run's logs
    networks = _read_log(read_networks, layout.root, layout.networks)
    nid, genome, weights = resolve_network(layout.root, network_id, generation, from_log, networks)
    lin = None
    if nid is not None and not networks.empty and nid in set(networks["network_id"].astype(int)):
        lin = lineage(networks, nid)
    else:
        warnings.warn(
            f"network {nid} is not in the networks log of {str(layout.root)!r}: no lineage picture", stacklevel=2
        )
    out = Path(out_dir) if out_dir is not None else layout.show
    stem = "champion" if nid is None else f"net-{nid:06d}"
    written = {
        "architecture": save_figure(architecture_figure(genome, weights), out / f"{stem}-architecture.{fmt}", fmt)
    }
    if weights is not None:
        meta = _kept_metadata(layout, nid, network_id is None and generation is None)
        kept_at = meta.get("generation")
        if generation is not None and kept_at is not None and int(kept_at) != int(generation):
            warnings.warn(
                f"network {nid}'s weights are kept once, as last saved: after generation {kept_at}, where it was "
                f"saved again, not after generation {generation}; the kernels picture and the architecture "
                "picture's mean |w| show those (the lineage picture ends at the network's last generation)",
                stacklevel=2,
            )
        source = "" if kept_at is None else f"weights after generation {kept_at}"
        if source and meta.get("fitness") is not None:
            source += f", fitness {100 * float(meta['fitness']):.2f}%"
        figure = kernels_figure(genome, weights, source=source)
        written["kernels"] = save_figure(figure, out / f"{stem}-kernels.{fmt}", fmt)
    else:
        why = "a pack keeps no weights" if layout.is_pack else f"weights of network {nid} were not kept"
        warnings.warn(f"{why}: no kernels picture", stacklevel=2)
    if lin is not None:
        written["lineage"] = save_figure(lineage_figure(lin), out / f"{stem}-lineage.{fmt}", fmt)
    return written


def architecture_picture(run_dir: PathLike, out_dir: PathLike, fmt: str = "png", network_id: int | None = None) -> Path:
    """Write the final champion's architecture picture (for ``ecosim report``), ``champion-architecture.<fmt>``.

    Args:
        run_dir: the run directory.
        out_dir: output folder (created if needed).
        fmt: ``"png"`` (default), ``"pdf"`` or ``"svg"``.
        network_id: the network to draw (``ecosim report`` gives the last generation's champion,
            which its text lists): from its kept file, else its genome from the networks log (a pack,
            a run from before kept files; :func:`resolve_network`). ``None``: ``champion.safetensors``.

    Returns:
        The path written.

    Raises:
        ShowError: no champion file, or an unknown ``fmt``. CheckpointError: an unreadable champion.
    """
    fmt = check_format(fmt)
    layout = RunDir(run_dir)
    if network_id is not None:  # its kept file, else (a pack, an older run) its genome from the networks log
        _, genome, weights = resolve_network(layout.root, network_id, from_log=True)
        return save_figure(architecture_figure(genome, weights), Path(out_dir) / f"champion-architecture.{fmt}", fmt)
    layout.refuse_pack("show")
    if not layout.champion.is_file():
        raise ShowError(
            f"run {str(layout.root)!r} has no champion.safetensors: no generation has completed, "
            "or every network diverged or failed"
        )
    genome, weights, _ = load_network(layout.champion)
    return save_figure(architecture_figure(genome, weights), Path(out_dir) / f"champion-architecture.{fmt}", fmt)


__all__ = ["architecture_picture", "generation_champion", "resolve_network", "write_pictures"]
