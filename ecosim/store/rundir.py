"""The layout of a run directory, in one place.

::

    RUN_DIR/config.toml                         the resolved config (itself a valid config)
    RUN_DIR/generations/gen-000012.parquet      one generation row (ecosim.store.logs)
    RUN_DIR/networks/gen-000012-s0003.parquet   one species' network rows of one generation
    RUN_DIR/checkpoints/gen-000012/             state.json + weights.safetensors (ecosim.store.checkpoint)
    RUN_DIR/checkpoints/LATEST                  name of the newest complete checkpoint
    RUN_DIR/events/event-000003.parquet         one recovery event (lost actor, node, resume; ecosim.store.logs)
    RUN_DIR/sessions/session-000001.parquet     one start or resume: machine, cluster, versions (ecosim.store.logs)
    RUN_DIR/champion.safetensors                the best network ever trained (ecosim.store.networks)
    RUN_DIR/champions/net-000123.safetensors    kept weights: each generation's best network, one file per id
    RUN_DIR/show/                               default output of ``ecosim show``
    RUN_DIR/report/, RUN_DIR/export/            default outputs of ``ecosim report`` / ``ecosim export``
    RUN_DIR/damaged/generations/, .../networks/ log files that could not be read, set aside by ``ecosim resume``

A pack of a run's logs (:mod:`ecosim.store.archive`) has the same layout with one log file per kind
(``generations/gen-packed.parquet``, ``networks/gen-packed.parquet``) and no checkpoint or weights.

Generations are numbered from 0; a checkpoint ``gen-000012`` holds the state after generation 12.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ecosim.errors import CheckpointError

_CHECKPOINT = re.compile(r"^gen-(\d{6})$")
#: the one log file of each kind in a pack of a run's logs (matches the readers' ``gen-*.parquet``)
PACKED_LOG = "gen-packed.parquet"
_KEPT = re.compile(r"^net-(\d{6,})\.safetensors$")


@dataclass(frozen=True)
class RunDir:
    """Every path of one run directory.

    Args:
        root: the run directory (need not exist yet).

    >>> RunDir("runs/x").checkpoint(12).name
    'gen-000012'
    """

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        """``config.toml``: the resolved config of the run."""
        return self.root / "config.toml"

    def require(self) -> None:
        """Check that :attr:`root` is a run directory (it has ``config.toml``).

        Raises:
            CheckpointError: one line naming the folder and the missing file.
        """
        if not self.config.is_file():
            if not self.root.exists():
                what = "does not exist"
            elif not self.root.is_dir():  # e.g. RUN_DIR/config.toml given for RUN_DIR
                what = f"is a file, not a run directory (give the folder {str(self.root.parent)!r})"
            else:
                what = f"is not a run directory: {self.config} is missing"
            raise CheckpointError(f"{str(self.root)!r} {what}")

    @property
    def generations(self) -> Path:
        """Folder of the generation log (one Parquet file per generation)."""
        return self.root / "generations"

    @property
    def networks(self) -> Path:
        """Folder of the network log (one Parquet file per generation and species)."""
        return self.root / "networks"

    @property
    def events(self) -> Path:
        """Folder of the events log (one Parquet file per recovery event)."""
        return self.root / "events"

    @property
    def sessions(self) -> Path:
        """Folder of the sessions log (one Parquet file per start or resume of the run)."""
        return self.root / "sessions"

    @property
    def damaged(self) -> Path:
        """Folder of damaged log files set aside (``damaged/generations/``, ``damaged/networks/``)."""
        return self.root / "damaged"

    @property
    def checkpoints(self) -> Path:
        """Folder of the checkpoints."""
        return self.root / "checkpoints"

    @property
    def latest(self) -> Path:
        """``checkpoints/LATEST``: the name of the newest complete checkpoint."""
        return self.checkpoints / "LATEST"

    @property
    def champion(self) -> Path:
        """``champion.safetensors``: the best network ever trained."""
        return self.root / "champion.safetensors"

    @property
    def champions(self) -> Path:
        """Folder of kept networks: the best network of each generation, one file per network id.

        The engine writes ``champion_file(id)`` after training each generation (the generation
        champion; in asynchronous mode, each species step's best). A network that stays the best
        for several generations overwrites its own file, so the folder grows by at most one file per
        generation. These are what ``ecosim show --network/--generation`` can draw kernels from.
        """
        return self.root / "champions"

    def champion_file(self, network_id: int) -> Path:
        """The kept-network file of ``network_id``: ``champions/net-000123.safetensors``."""
        return self.champions / f"net-{int(network_id):06d}.safetensors"

    def kept_network_ids(self) -> list[int]:
        """Ids of the networks whose weights are kept in :attr:`champions`, ascending (``[]`` if none)."""
        if not self.champions.is_dir():
            return []
        ids = (_KEPT.match(p.name) for p in self.champions.iterdir())
        return sorted(int(m.group(1)) for m in ids if m)

    @property
    def show(self) -> Path:
        """Default output folder of ``ecosim show`` (architecture, kernel and lineage pictures)."""
        return self.root / "show"

    @property
    def report(self) -> Path:
        """Default output folder of ``ecosim report``."""
        return self.root / "report"

    @property
    def export(self) -> Path:
        """Default output folder of ``ecosim export``."""
        return self.root / "export"

    def generation_file(self, generation: int) -> Path:
        """The generation-log file of ``generation``."""
        return self.generations / f"gen-{generation:06d}.parquet"

    def networks_file(self, generation: int, species_id: int) -> Path:
        """The network-log file of one species in ``generation``."""
        return self.networks / f"gen-{generation:06d}-s{species_id:04d}.parquet"

    def checkpoint(self, generation: int) -> Path:
        """The checkpoint folder holding the state after ``generation``."""
        return self.checkpoints / f"gen-{generation:06d}"

    @staticmethod
    def checkpoint_generation(folder: str | os.PathLike[str]) -> int | None:
        """The generation of a checkpoint folder name (``gen-000012`` → 12), or ``None``."""
        m = _CHECKPOINT.match(Path(folder).name)
        return int(m.group(1)) if m else None

    def latest_generation(self) -> int | None:
        """The generation of the newest complete checkpoint named by ``LATEST``, or ``None``.

        ``None`` when ``LATEST`` is missing, unreadable or names no checkpoint folder.
        """
        try:
            name = self.latest.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        gen = self.checkpoint_generation(name)
        return gen if gen is not None and self.checkpoint(gen).is_dir() else None

    @property
    def is_pack(self) -> bool:
        """Whether this folder is a pack of a run's logs (:func:`ecosim.store.archive.pack_logs`), not a run."""
        return (self.generations / PACKED_LOG).is_file()

    def refuse_pack(self, what: str) -> None:
        """Raise when this folder is a pack of a run's logs, which holds no weights or checkpoints.

        Args:
            what: what the caller would do, e.g. ``"show"`` or ``"export"``.

        Raises:
            CheckpointError: it is a pack (one line naming the folder and what to use instead).
        """
        if self.is_pack:
            raise CheckpointError(
                f"{str(self.root)!r} is a pack of a run's logs (ecosim.store.archive): it holds no weights to "
                f"{what}; use the run directory it was packed from"
            )

    def holds_run(self) -> bool:
        """Whether a generation was ever completed: ``LATEST`` or a checkpoint folder exists (intact or not)."""
        if self.latest.is_file():
            return True
        return self.checkpoints.is_dir() and any(
            self.checkpoint_generation(p) is not None for p in self.checkpoints.iterdir() if p.is_dir()
        )


def enclosing_run(path: str | Path) -> RunDir | None:
    """The run directory or pack that holds ``path`` (``path`` itself or a folder above it).

    A run directory is recognised by its checkpoints (``checkpoints/`` or ``LATEST``), a pack by
    its packed log (:attr:`RunDir.is_pack`); a folder with only a ``config.toml`` is neither.

    Returns:
        the :class:`RunDir` (its root resolved), or ``None`` when no folder at or above ``path`` is one.
    """
    p = Path(path).resolve()
    for folder in (p, *p.parents):
        d = RunDir(folder)
        if d.is_pack or (d.config.is_file() and (d.checkpoints.is_dir() or d.latest.is_file())):
            return d
    return None


#: a run directory's folders that hold its logs and checkpoints: no report or picture goes in them
RUN_DATA_FOLDERS = frozenset({"generations", "networks", "events", "sessions", "checkpoints", "champions", "damaged"})


def check_output_folder(out: str | Path) -> None:
    """Refuse a folder for a report or pictures that lies in a pack or in a run's logs or checkpoints.

    A pack is kept as it was packed (it may be committed); a run's log and checkpoint folders are
    read by ``resume`` and ``report``, which would trip over figures there. ``RUN_DIR/report`` and
    ``RUN_DIR/show`` are fine.

    Raises:
        ConfigError: one line naming ``--out (out_dir)`` and the pack or run directory.
    """
    from ecosim.errors import ConfigError

    holder = enclosing_run(out)
    if holder is None:
        return
    if holder.is_pack:
        raise ConfigError(
            f"--out (out_dir) {str(out)!r} lies in the pack {str(holder.root)!r}, kept as it was packed: "
            "name a folder outside it"
        )
    if Path(out).resolve().relative_to(holder.root).parts[:1] in {(name,) for name in RUN_DATA_FOLDERS}:
        raise ConfigError(
            f"--out (out_dir) {str(out)!r} lies in the logs or checkpoints of the run directory "
            f"{str(holder.root)!r}: name another folder (e.g. RUN_DIR/report)"
        )


__all__ = ["PACKED_LOG", "RUN_DATA_FOLDERS", "RunDir", "check_output_folder", "enclosing_run"]
