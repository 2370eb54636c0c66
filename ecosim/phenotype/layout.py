"""How a phenotype is computed, measured on the machine that runs it rather than guessed (issue 18).

A :class:`Layout` is one way of computing the same network: every mixed-shape conv layer
``dense`` (one masked conv) or ``grouped`` (one conv per kernel shape,
:mod:`ecosim.phenotype.conv`), and the batches channels-first or channels-last. Which is fastest
depends on the CPU (or GPU), the thread count and the network, so a constant in the code cannot
be right everywhere (issue 18: on one AMD EPYC, training channels-last and scoring channels-first
took 0.60–0.69× the time of the former fixed rule; ``docs/design.md`` had measured the opposite on
another machine). Training and evaluation are chosen separately.

**Measured on the real work.** The first time a worker meets a network of a new *shape class*
(:func:`shape_class`: the input, each conv layer's output channels, stride and kernel shapes,
each FC layer's nodes) in a phase, its first full batch is computed with every candidate
layout. Only the candidates whose results are bit-identical to the reference layout's (the first
of :func:`layout_candidates`: dense, channels-first under ``auto``) stay eligible: the loss and
every gradient in training, the log-probabilities in evaluation. The next batches go round-robin
over the eligible candidates, timed, until each has :data:`ROUNDS` samples; the one with the
smallest median wins and is used from then on. A batch of another size (the last, partial one)
always runs in the reference layout: torch may pick other kernels for it. Since every eligible
candidate computes the same bits, which one runs a batch never changes a result: the logs of a seeded run are identical
whichever layout wins (``tests/phenotype/test_layout.py``). On the CPUs tried, channels-first and
channels-last are bit-identical in both phases, and dense and grouped in evaluation; grouped
training rounds its weight gradients differently, so under ``auto`` training stays dense (pin
``training.conv_mode = "grouped"`` to train grouped anyway).

**Cached per machine.** Decisions are kept in memory and in ``<cache>/layouts/<machine>.json``
(``<cache>``: ``$ECOSIM_CACHE``, default ``~/.cache/ecosim``; ``<machine>`` a digest of the CPU
model, the torch version and the accelerator), keyed by phase, batch size, threads, the pinned
settings and the shape class, and reused by every worker and every later run on that machine.
A cache that cannot be read or written is one warning, then memory only.

**Pinned.** ``training.conv_mode`` (``dense``/``grouped``) and ``training.memory_format``
(``channels_first``/``channels_last``) pin a choice; with both pinned nothing is measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ecosim.genome.genome import ConvLayer, Genome
from ecosim.machine import cpu_capability, cpu_model
from ecosim.phenotype.conv import MixedConv2d

log = logging.getLogger(__name__)

#: timed batches per eligible candidate before a winner is taken (the medians are compared)
ROUNDS = 3
#: the phases a layout is chosen for
PHASES = ("train", "eval")
#: version of the cache file's format (a file of another version is ignored, then replaced)
CACHE_VERSION = 1

_FORMATS = {"channels_first": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclasses.dataclass(frozen=True)
class Layout:
    """One way of computing a phenotype.

    Attributes:
        conv_mode: ``"dense"`` or ``"grouped"`` (:class:`~ecosim.phenotype.conv.MixedConv2d`).
        memory_format: ``"channels_first"`` or ``"channels_last"``: the strides of the batches.

    >>> Layout("dense", "channels_last").label
    'dense/channels_last'
    """

    conv_mode: str
    memory_format: str

    @property
    def torch_format(self) -> torch.memory_format:
        """``torch.contiguous_format`` or ``torch.channels_last``."""
        return _FORMATS[self.memory_format]

    @property
    def label(self) -> str:
        """``"<conv_mode>/<memory_format>"`` (the form the cache stores)."""
        return f"{self.conv_mode}/{self.memory_format}"

    @classmethod
    def from_label(cls, label: str) -> Layout:
        """Inverse of :attr:`label`.

        Raises:
            ValueError: not ``"<dense|grouped>/<channels_first|channels_last>"``.
        """
        mode, _, fmt = label.partition("/")
        if mode not in ("dense", "grouped") or fmt not in _FORMATS:
            raise ValueError(f"layout label must be '<dense|grouped>/<channels_first|channels_last>', got {label!r}")
        return cls(mode, fmt)


def layout_candidates(genome: Genome, conv_mode: str = "auto", memory_format: str = "auto") -> tuple[Layout, ...]:
    """The layouts worth trying for ``genome``, the reference first.

    Args:
        genome: the network.
        conv_mode: ``"auto"`` (dense, then grouped) or a pinned ``"dense"``/``"grouped"``.
        memory_format: ``"auto"`` (channels-first, then channels-last) or a pinned one.

    Returns:
        One layout per combination that computes differently: grouped only when a conv layer
        mixes kernel shapes (else it is the dense computation), channels-last only with a conv
        layer (an MLP flattens its input first). The first is the reference.

    Raises:
        ValueError: an unknown ``conv_mode`` or ``memory_format``.

    >>> from ecosim.genome import DenseLayer
    >>> g = Genome((1, 8, 8), (ConvLayer(((1, 1), (3, 3))), DenseLayer(2)))
    >>> [c.label for c in layout_candidates(g)]
    ['dense/channels_first', 'dense/channels_last', 'grouped/channels_first', 'grouped/channels_last']
    >>> [c.label for c in layout_candidates(Genome.minimal((1, 8, 8), 2), "grouped")]
    ['grouped/channels_first']
    """
    if conv_mode not in ("auto", "dense", "grouped"):
        raise ValueError(f"conv_mode must be one of 'auto', 'dense', 'grouped', got {conv_mode!r}")
    if memory_format not in ("auto", *_FORMATS):
        raise ValueError(
            f"memory_format must be one of 'auto', 'channels_first', 'channels_last', got {memory_format!r}"
        )
    mixed = any(isinstance(layer, ConvLayer) and len(set(layer.kernels)) > 1 for layer in genome.layers)
    modes = ["dense", "grouped"] if conv_mode == "auto" else [conv_mode]
    if not mixed:
        modes = modes[:1]
    formats = list(_FORMATS) if memory_format == "auto" else [memory_format]
    if genome.n_conv == 0:
        formats = formats[:1]
    return tuple(Layout(m, f) for m in modes for f in formats)


def shape_class(genome: Genome) -> str:
    """The network's shape class: what a layout decision is cached under.

    Everything that decides which kernels torch runs: the input shape, then per conv layer its
    output channels, stride and how many kernels of each shape (their order does not matter:
    the grouped mode sorts them), per FC layer its nodes. Two networks of one class run the same
    convolutions on the same shapes, so a layout verified bit-identical on one batch of one
    is bit-identical on every full batch of both.

    >>> from ecosim.genome import DenseLayer
    >>> shape_class(Genome((1, 28, 28), (ConvLayer(((3, 3), (1, 1), (3, 3)), (2, 1)), DenseLayer(10))))
    '1x28x28|C3s2x1{1x1,3x3*2}|F10'
    """
    parts = ["x".join(map(str, genome.input_shape))]
    for layer in genome.layers:
        if isinstance(layer, ConvLayer):
            counts = Counter(layer.kernels)
            shapes = ",".join(f"{h}x{w}" + (f"*{counts[h, w]}" if counts[h, w] > 1 else "") for h, w in sorted(counts))
            parts.append(f"C{len(layer.kernels)}s{layer.stride[0]}x{layer.stride[1]}{{{shapes}}}")
        else:
            parts.append(f"F{layer.nodes}")
    return "|".join(parts)


def apply_layout(model: nn.Module, layout: Layout) -> None:
    """Set every :class:`MixedConv2d` of ``model`` to ``layout.conv_mode`` (the batches' format is the caller's)."""
    for module in model.modules():
        if isinstance(module, MixedConv2d):
            module.resolved_mode = layout.conv_mode


def machine_description(device: torch.device) -> str:
    """CPU model, torch's CPU kernel level, torch version and accelerator: what a cached layout
    decision is valid for (a virtual machine may name only ``"AMD EPYC"`` for CPUs of different
    instruction sets, whose bit-identical layouts may differ)."""
    text = f"cpu={cpu_model()}; isa={cpu_capability()}; cores={os.cpu_count()}; torch={torch.__version__}"
    if device.type == "cuda":
        text += f"; gpu={torch.cuda.get_device_name(device)}"
    return text


def default_cache_dir() -> Path:
    """``$ECOSIM_CACHE``, else ``~/.cache/ecosim`` (the dataset cache's folder too)."""
    env = os.environ.get("ECOSIM_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ecosim"


class LayoutCache:
    """Layout decisions of one machine: in memory, and in a JSON file shared by processes.

    Args:
        path: the JSON file (``None``: memory only).
        machine: the machine's description, stored in the file.

    Reading merges the file into memory; writing re-reads the file, merges, and replaces it
    atomically (a temporary file, then a rename), so concurrent workers lose no decision of
    their own and never leave a partial file. An unreadable or unwritable file is one warning
    (for this process), then the cache lives in memory.
    """

    def __init__(self, path: Path | None, machine: str) -> None:
        self.path = path
        self.machine = machine
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._warned = False
        self._read()

    def _warn(self, action: str, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            reason = getattr(exc, "strerror", None) or str(exc)
            log.warning(
                "layout cache %s cannot be %s (%s): layout choices are kept in memory only", self.path, action, reason
            )

    def _read(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self._warn("read", exc)
            return
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION and isinstance(data.get("classes"), dict):
            for key, entry in data["classes"].items():
                if isinstance(entry, dict) and isinstance(entry.get("winner"), str):
                    self.entries.setdefault(key, entry)

    def get(self, key: str) -> dict[str, Any] | None:
        """The decision stored under ``key`` (``{"winner": label, ...}``), or ``None``."""
        with self._lock:
            return self.entries.get(key)

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store a decision in memory and (merged with what other processes wrote) in the file."""
        with self._lock:
            self.entries[key] = dict(entry)
            if self.path is None:
                return
            self._read()
            payload = {"version": CACHE_VERSION, "machine": self.machine, "classes": self.entries}
            tmp = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(payload, f, indent=0, sort_keys=True)
                os.replace(tmp, self.path)
                tmp = None
            except OSError as exc:
                self._warn("written", exc)
                self.path = None
            finally:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)


def _identical(a: Sequence[Tensor | None], b: Sequence[Tensor | None]) -> bool:
    """Same length, and each pair both ``None`` or equal bit for bit."""
    return len(a) == len(b) and all(
        (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y)) for x, y in zip(a, b)
    )


class PhaseTuner:
    """The layout of one phase of one shape class: verified, then timed on real batches, then fixed.

    Args:
        key: the cache key (phase, batch size, threads, device, pins, shape class).
        candidates: from :func:`layout_candidates`, the reference first.
        cache: where the decision goes.
        clock: seconds of compute (thread CPU time on one CPU thread; else wall time).

    Use, per full batch (a batch of another size runs in :attr:`reference`): while
    :attr:`verifying`, compute the batch with every candidate and pass the results to
    :meth:`verify` (the reference's result is the one to use); otherwise compute it with the
    :meth:`layout` given, timed, and :meth:`record` the seconds.
    """

    def __init__(self, key: str, candidates: Sequence[Layout], cache: LayoutCache, clock: Callable[[], float]) -> None:
        self.key = key
        self.candidates = tuple(candidates)
        self.cache = cache
        self.clock = clock
        self.winner: Layout | None = self.candidates[0] if len(self.candidates) == 1 else None
        self.eligible: tuple[Layout, ...] | None = self.candidates if self.winner else None
        self.samples: dict[Layout, list[float]] = {c: [] for c in self.candidates}
        self._next = 0
        stored = cache.get(key)
        if self.winner is None and stored is not None:
            try:
                winner = Layout.from_label(stored["winner"])
            except (KeyError, ValueError):
                winner = None
            if winner in self.candidates:
                self.winner, self.eligible = winner, (winner,)

    @property
    def reference(self) -> Layout:
        """The layout whose results every eligible candidate reproduces bit for bit."""
        return self.candidates[0]

    @property
    def verifying(self) -> bool:
        """Whether the next batch must be computed with every candidate (first batch of a new class)."""
        return self.eligible is None

    def layout(self) -> Layout:
        """The layout for the next batch: the winner, or the eligible candidate with the fewest samples."""
        if self.winner is not None:
            return self.winner
        if self.eligible is None:
            return self.reference
        return min(self.eligible, key=lambda c: len(self.samples[c]))

    def verify(self, results: Mapping[Layout, Sequence[Tensor | None]]) -> None:
        """Keep the candidates whose ``results`` equal the reference's bit for bit."""
        ref = results[self.reference]
        self.eligible = tuple(c for c in self.candidates if c in results and _identical(results[c], ref))
        dropped = [c.label for c in self.candidates if c not in self.eligible]
        if dropped:
            log.debug("layout %s: %s compute other bits than %s: not used", self.key, dropped, self.reference.label)
        if len(self.eligible) == 1:
            self._decide()

    def record(self, layout: Layout, seconds: float) -> None:
        """One timed full batch; once every eligible candidate has :data:`ROUNDS`, the winner is fixed."""
        if self.winner is not None or self.eligible is None:
            return
        self.samples[layout].append(seconds)
        if all(len(self.samples[c]) >= ROUNDS for c in self.eligible):
            self._decide()

    def _decide(self) -> None:
        assert self.eligible
        medians = {c: statistics.median(self.samples[c]) if self.samples[c] else 0.0 for c in self.eligible}
        self.winner = min(self.eligible, key=lambda c: medians[c])
        self.cache.put(
            self.key,
            {
                "winner": self.winner.label,
                "eligible": [c.label for c in self.eligible],
                "median_s": {c.label: round(m, 6) for c, m in medians.items()},
                "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        log.debug("layout %s: %s", self.key, self.winner.label)


class LayoutChooser:
    """The tuners of one process (a Ray worker keeps them from task to task) and their cache.

    Args:
        cache_dir: folder of the ``layouts/`` cache (default :func:`default_cache_dir`);
            ``None`` → memory only.
    """

    def __init__(self, cache_dir: Path | None | str = "") -> None:
        self.cache_dir = default_cache_dir() if cache_dir == "" else (Path(cache_dir) if cache_dir else None)
        self._caches: dict[str, LayoutCache] = {}
        self._tuners: dict[str, PhaseTuner] = {}
        self._lock = threading.Lock()

    def cache_for(self, device: torch.device) -> LayoutCache:
        """The decisions cache of this machine with ``device`` (created on first use)."""
        machine = machine_description(device)
        if machine not in self._caches:
            digest = hashlib.sha1(machine.encode()).hexdigest()[:16]
            path = self.cache_dir / "layouts" / f"{digest}.json" if self.cache_dir else None
            self._caches[machine] = LayoutCache(path, machine)
        return self._caches[machine]

    def tuner(
        self,
        genome: Genome,
        phase: str,
        batch_size: int,
        conv_mode: str = "auto",
        memory_format: str = "auto",
        threads: int = 1,
        device: torch.device | None = None,
    ) -> PhaseTuner:
        """The tuner of ``genome``'s shape class in ``phase`` (``"train"`` or ``"eval"``).

        Raises:
            ValueError: an unknown ``phase``, ``conv_mode`` or ``memory_format``.
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(map(repr, PHASES))}, got {phase!r}")
        device = device or torch.device("cpu")
        candidates = layout_candidates(genome, conv_mode, memory_format)
        key = (
            f"{phase}|b{batch_size}|t{threads}|{device.type}|conv_mode={conv_mode}|"
            f"memory_format={memory_format}|{shape_class(genome)}"
        )
        with self._lock:
            tuner = self._tuners.get(key)
            if tuner is None:
                tuner = PhaseTuner(key, candidates, self.cache_for(device), clock(device, threads))
                self._tuners[key] = tuner
            return tuner


def clock(device: torch.device, threads: int) -> Callable[[], float]:
    """Seconds of compute: this thread's CPU time with one CPU thread (other jobs on the machine
    do not count), else wall time (after a CUDA synchronisation)."""
    if device.type == "cuda":

        def cuda_clock() -> float:
            torch.cuda.synchronize(device)
            return time.perf_counter()

        return cuda_clock
    return time.thread_time if threads <= 1 else time.perf_counter


_CHOOSER: LayoutChooser | None = None


def layout_chooser() -> LayoutChooser:
    """This process's :class:`LayoutChooser` (created on first use; cache in :func:`default_cache_dir`)."""
    global _CHOOSER
    if _CHOOSER is None or _CHOOSER.cache_dir != default_cache_dir():
        _CHOOSER = LayoutChooser()
    return _CHOOSER


__all__ = [
    "CACHE_VERSION",
    "PHASES",
    "ROUNDS",
    "Layout",
    "LayoutCache",
    "LayoutChooser",
    "PhaseTuner",
    "apply_layout",
    "clock",
    "default_cache_dir",
    "layout_candidates",
    "layout_chooser",
    "machine_description",
    "shape_class",
]
