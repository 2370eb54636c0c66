"""Export of a run's champion for use without ecosim (paper §II-B: a network is its genome and genes).

``ecosim export RUN_DIR [--out DIR] [--format pt2|torchscript|onnx]`` reads
``RUN_DIR/champion.safetensors`` (:func:`ecosim.store.networks.load_network`) and writes,
by default into ``RUN_DIR/export/``:

* ``champion.genome.json``: the genome (:meth:`Genome.to_dict`, with ``schema_version``);
* ``champion.safetensors``: genome + gene weights + metadata (a copy of the run's file);
* ``champion.json``: what a user needs to feed the network: input shape, classes, the
  normalisation built into the exported module, activation, fitness, provenance (``source``:
  the champion file's absolute path) and the module files in the folder (``formats``: this
  export's and those an earlier export of the same champion left there);
* ``champion.pt2`` (``--format pt2``, the default): a :func:`torch.export` program that plain
  PyTorch loads with :func:`torch.export.load`, no ecosim needed;
* ``champion.pt`` (``--format torchscript``): the same as TorchScript (:func:`torch.jit.load`;
  ``torch.jit`` is deprecated since torch 2.14, so prefer ``pt2``);
* ``champion.onnx`` (``--format onnx``): the same function as ONNX (needs the ``onnx`` package).

The exported module takes images as float tensors in ``[0, 1]`` of shape ``(N, C, H, W)``
(``uint8 / 255``), any batch size ``N``, applies the dataset normalisation ``(x - mean) / std``
per channel, then the phenotype, and returns log-probabilities ``(N, classes)``::

    model = torch.export.load("champion.pt2").module()
    predicted = model(images_uint8.float() / 255).argmax(1)

Wrong inputs fail with a short message rather than an error deep inside a convolution: in
``pt2``, values outside ``[0, 1]`` (e.g. uint8 images not divided by 255) raise
``RuntimeError: expects float images in [0, 1] of shape (N, 1, 28, 28) ...`` and a wrong
``(C, H, W)`` raises ``AssertionError: Guard failed: images.size()[1] == 1`` (the dimension and
its expected size). TorchScript cannot shorten its errors: whatever a TorchScript module raises
comes as ``torch.jit.Error``, whose text starts with ``The following operation failed in the
TorchScript interpreter.`` and the interpreter's traceback (about 20 lines); its last line is the
clear message, e.g. ``builtins.ValueError: expects float images of shape (N, 1, 28, 28) in
[0, 1]; got shape [2, 3, 28, 28]``. ONNX Runtime checks shape and dtype against the model's
declared input. Float64 images (numpy's default dtype) compute as float32 in TorchScript; a
``pt2`` program refuses them in one line, ``RuntimeError: Tensor dtype mismatch! Expected: Float,
Got: double`` (call ``.float()`` first).
"""

from __future__ import annotations

import functools
import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ecosim.errors import CheckpointError, EcosimError
from ecosim.store.rundir import RunDir

FORMATS: tuple[str, ...] = ("pt2", "torchscript", "onnx")
"""Export formats: ``pt2`` (:func:`torch.export`, the default), ``torchscript``, ``onnx``."""

DEFAULT_FORMATS: tuple[str, ...] = ("pt2",)

#: file name of each format, in the output folder
FILES: dict[str, str] = {"pt2": "champion.pt2", "torchscript": "champion.pt", "onnx": "champion.onnx"}

#: batch sizes used to trace the module and to check the trace on another batch size
_TRACE_BATCH, _CHECK_BATCH = 2, 5


def _images_message(c: int, h: int, w: int) -> str:
    return f"expects float images in [0, 1] of shape (N, {c}, {h}, {w}) (uint8 images divided by 255)"


def _check_images(x: torch.Tensor, c: int, h: int, w: int) -> torch.Tensor:
    expected = "(N, " + str(c) + ", " + str(h) + ", " + str(w) + ")"
    if x.dim() != 4 or x.size(1) != c or x.size(2) != h or x.size(3) != w:
        raise ValueError("expects float images of shape " + expected + " in [0, 1]; got shape " + str(x.shape))
    if not x.is_floating_point():
        raise ValueError(
            "expects float images of shape " + expected + " in [0, 1]; got an integer tensor: divide it by 255 first"
        )
    if x.numel() > 0 and (bool(x.min() < 0) or bool(x.max() > 1)):
        raise ValueError(
            "expects float images of shape "
            + expected
            + " in [0, 1]; got values in ["
            + str(float(x.min()))
            + ", "
            + str(float(x.max()))
            + "]: divide uint8 images by 255"
        )
    return x


@functools.cache
def _checked_images() -> Any:
    """The input check, scripted so that it survives TorchScript tracing (a plain ``if`` would be traced away)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..*deprecated", category=FutureWarning)
        return torch.jit.script(_check_images)


class NormalisedClassifier(nn.Module):
    """A phenotype with the dataset normalisation in front: ``net((x - mean) / std)``.

    Args:
        net (nn.Module): maps normalised ``(N, C, H, W)`` images to ``(N, classes)`` log-probabilities.
        mean (sequence of float): per-channel mean, ``[0, 1]`` pixel units, length ``C``.
        std (sequence of float): per-channel standard deviation, positive, length ``C``.

    Raises:
        ValueError: ``mean`` and ``std`` of different lengths, or a non-positive ``std``.

    Shape:
        input ``(N, C, H, W)`` float in ``[0, 1]`` → output ``(N, classes)`` log-probabilities;
        ``(C, H, W)`` is ``input_shape`` when given.

    >>> m = NormalisedClassifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.LogSoftmax(1)), [0.5], [0.25])
    >>> m(torch.rand(3, 1, 2, 2)).shape
    torch.Size([3, 2])
    """

    mean: Tensor
    std: Tensor

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        input_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if len(mean) != len(std) or not all(s > 0 for s in std):
            raise ValueError(f"mean and std need one value per channel and positive std, got mean={mean}, std={std}")
        if input_shape is not None and (len(input_shape) != 3 or input_shape[0] != len(mean)):
            raise ValueError(f"input_shape must be (C, H, W) with C = {len(mean)} channels, got {tuple(input_shape)}")
        self.net = net
        self.input_shape: tuple[int, int, int] | None = (
            None if input_shape is None else (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
        )
        self.checks = True
        self.register_buffer("mean", torch.tensor([float(m) for m in mean], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std], dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: Tensor) -> Tensor:
        """Log-probabilities of ``images`` in ``[0, 1]``, any float dtype (computed in float32); see the class.

        Raises:
            ValueError: integer images (e.g. uint8 0..255: divide by 255 first), values outside
                ``[0, 1]``, or a shape other than ``(N, *input_shape)`` (traced to TorchScript:
                ``torch.jit.Error`` whose last line is this ``builtins.ValueError: ...``).
            RuntimeError: in a :func:`torch.export` program, values outside ``[0, 1]``.
        """
        if self.checks and self.input_shape is not None:
            c, h, w = self.input_shape
            if torch.compiler.is_exporting():  # shapes are guarded by torch.export; values here
                torch._assert_async(torch.logical_and(images.min() >= 0, images.max() <= 1), _images_message(c, h, w))
            elif torch.jit.is_tracing():  # scripted: a plain ``if`` would be traced away
                images = _checked_images()(images, c, h, w)
            else:
                images = _check_images(images, c, h, w)
        # float64 (numpy's default, e.g. ``torch.tensor(x) / 255``) computes as float32, the weights' dtype
        return self.net((images.to(self.mean.dtype) - self.mean) / self.std)

    def extra_repr(self) -> str:
        shape = "" if self.input_shape is None else f", input_shape={self.input_shape}"
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}{shape}"


def _normalisation(dataset: str, data_root: str, metadata: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the champion's dataset: from its metadata, the known constants, or the data."""
    if metadata.get("mean") is not None and metadata.get("std") is not None:
        return [float(v) for v in metadata["mean"]], [float(v) for v in metadata["std"]]
    from ecosim.data.load import load_dataset
    from ecosim.data.record import NORMALISATION

    known = NORMALISATION.get(dataset.strip().lower())
    if known is not None:
        return list(known[0]), list(known[1])
    ds = load_dataset(dataset, data_root or None)  # a folder dataset: computed from its images
    return list(ds.mean), list(ds.std)


def _run_settings(run_dir: Path, metadata: dict[str, Any]) -> tuple[str, str, str]:
    """``(dataset, data_root, activation)`` of the champion: its metadata first, then ``config.toml``."""
    from ecosim.config import Config, load_config

    cfg_path = RunDir(run_dir).config
    try:
        cfg = load_config(cfg_path) if cfg_path.is_file() else Config()
    except (OSError, ValueError) as exc:  # binary bytes, broken TOML, invalid values
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(f"config file {str(cfg_path)!r} is damaged ({reason})") from None
    dataset = str(metadata.get("dataset") or cfg.data.dataset)
    activation = str(metadata.get("activation") or cfg.training.activation)
    return dataset, cfg.data.data_root, activation


def _chw(example: Tensor) -> tuple[int, int, int]:
    """``(C, H, W)`` of an example batch ``(N, C, H, W)``."""
    c, h, w = (int(v) for v in example.shape[1:])
    return c, h, w


def _check_same(exported: Any, module: nn.Module, shape: tuple[int, int, int], what: str) -> None:
    """The exported module must equal the eager one on a batch size it was not traced with."""
    x = torch.rand(_CHECK_BATCH, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = module(x), exported(x)
    if got.shape != want.shape or not torch.allclose(got, want, atol=1e-5, rtol=1e-5):
        raise EcosimError(
            f"the exported champion differs from the eager one on a batch of {_CHECK_BATCH} "
            f"(max abs difference {float((got - want).abs().max()):.3g}); {what} export failed"
        )


def _read_champion(run: Path) -> tuple[Path, Any, Any, dict[str, Any]]:
    """``(path, genome, weights, metadata)`` of the run's champion, or a one-line error naming the file."""
    from ecosim.store.networks import load_network

    RunDir(run).require()
    RunDir(run).refuse_pack("export")
    champion = RunDir(run).champion
    if not champion.is_file():
        raise CheckpointError(
            f"run directory {str(run)!r} has no champion to export: {champion} is missing "
            "(a champion is written once a network of a completed generation trained without diverging or failing)"
        )
    try:
        genome, weights, metadata = load_network(champion)
    except CheckpointError as exc:
        raise CheckpointError(" ".join(str(exc).split())) from None
    return champion, genome, weights, metadata


def export_champion(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> dict[str, Path]:
    """Export the champion of a run as genome JSON, weights, metadata and a module plain PyTorch runs.

    Args:
        run_dir: a run directory holding ``champion.safetensors`` (and normally ``config.toml``).
        out_dir: output folder; ``None`` (default) uses ``run_dir/export``.
        formats: any of :data:`FORMATS` (default ``("pt2",)``: :func:`torch.export`).

    Returns:
        ``{"genome": ..., "weights": ..., "metadata": ..., <format>: ...}``: the paths written,
        one per requested format (file names in :data:`FILES`). ``champion.json`` lists these
        formats and those an earlier export of the same champion left in ``out_dir``; its
        ``source`` is the absolute path of the champion file. Module files an earlier export of
        another champion listed there (the run went on since) and this one does not rewrite are
        removed.

    Raises:
        CheckpointError: no ``champion.safetensors`` in ``run_dir``, or a damaged one, or a
            damaged ``config.toml``; one line naming the file.
        ConfigError: an unknown format.
        EcosimError: ONNX requested without the ``onnx`` package, or an exported module that
            does not reproduce the phenotype.

    Shape:
        the exported module maps ``(N, C, H, W)`` float images in ``[0, 1]`` to ``(N, classes)``
        log-probabilities, ``(C, H, W) = genome.input_shape``.

    >>> paths = export_champion("runs/mnist-seed0-20250101-120000")                  # doctest: +SKIP
    >>> torch.export.load(paths["pt2"]).module()(torch.rand(4, 1, 28, 28)).shape     # doctest: +SKIP
    torch.Size([4, 10])
    """
    from ecosim.errors import ConfigError
    from ecosim.phenotype.network import build_phenotype

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"export format {bad[0]!r} is unknown; valid formats: {', '.join(FORMATS)}")
    if "onnx" in formats:  # fail before writing anything
        _require_onnx()
    run = Path(run_dir)
    champion, genome, weights, metadata = _read_champion(run)
    dataset, data_root, activation = _run_settings(run, metadata)
    mean, std = _normalisation(dataset, data_root, metadata)
    out = Path(out_dir) if out_dir is not None else RunDir(run).export
    out.mkdir(parents=True, exist_ok=True)

    written: dict[str, Path] = {}
    written["genome"] = out / "champion.genome.json"
    written["genome"].write_text(json.dumps(genome.to_dict(), indent=2) + "\n", encoding="utf-8")
    written["weights"] = out / "champion.safetensors"
    if written["weights"].resolve() != champion.resolve():
        shutil.copyfile(champion, written["weights"])
    c, h, w = genome.input_shape
    info = {
        "input": f"float images in [0, 1] (uint8 / 255), shape (N, {c}, {h}, {w}); normalisation is built in",
        "output": "log-probabilities, shape (N, classes)",
        "input_shape": list(genome.input_shape),
        "classes": genome.classes,
        "mean": mean,
        "std": std,
        "activation": activation,
        "dataset": dataset,
        "genome_summary": genome.summary(),
        "parameters": genome.parameter_count(),
        "champion": metadata,
        "source": str(champion.resolve()),
        "formats": {**_earlier_formats(out, metadata, formats), **{f: FILES[f] for f in formats}},
    }
    written["metadata"] = out / "champion.json"  # written last: it lists only files that exist

    module = NormalisedClassifier(
        build_phenotype(genome, weights, activation=activation), mean, std, genome.input_shape
    ).eval()
    example = torch.rand(_TRACE_BATCH, *genome.input_shape, generator=torch.Generator().manual_seed(1))
    if "pt2" in formats:
        written["pt2"] = _export_pt2(module, example, out / FILES["pt2"], info)
    if "torchscript" in formats:
        written["torchscript"] = _export_torchscript(module, example, out / FILES["torchscript"], info)
    if "onnx" in formats:
        written["onnx"] = _export_onnx(module, example, out / FILES["onnx"])
    for stale in _stale_module_files(out, metadata, formats):
        stale.unlink(missing_ok=True)  # another champion's module: loading it would run the wrong network
    written["metadata"].write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return written


def _earlier_export(out: Path) -> dict[str, Any] | None:
    """The ``champion.json`` an earlier export left in ``out``, or ``None`` (none, or unreadable)."""
    try:
        earlier = json.loads((out / "champion.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return earlier if isinstance(earlier, dict) else None


def _stale_module_files(out: Path, metadata: dict[str, Any], formats: Sequence[str]) -> list[Path]:
    """Module files an earlier export of *another* champion listed in ``out`` and this one does not
    replace (e.g. ``champion.pt2`` after the run went on and ``--format torchscript``): they are removed,
    so that no file in ``out`` holds a network other than the one ``champion.json`` describes. Only
    files that export listed are touched."""
    earlier = _earlier_export(out)
    if earlier is None or earlier.get("champion") == json.loads(json.dumps(metadata)):
        return []
    listed = earlier.get("formats")
    names = listed if isinstance(listed, dict) else {}
    return [out / FILES[f] for f in FORMATS if f in names and f not in formats and (out / FILES[f]).is_file()]


def _earlier_formats(out: Path, metadata: dict[str, Any], formats: Sequence[str]) -> dict[str, str]:
    """Formats an earlier export of the same champion left in ``out`` (files still there), to list them too."""
    earlier = _earlier_export(out)  # none, or unreadable: list only this one's
    if earlier is None or earlier.get("champion") != json.loads(json.dumps(metadata)):
        return {}  # another champion (the run went on): its module files are not this one's
    formats_listed = earlier.get("formats")
    listed: dict[str, Any] = formats_listed if isinstance(formats_listed, dict) else {}
    return {f: FILES[f] for f in FORMATS if f in listed and f not in formats and (out / FILES[f]).is_file()}


def _export_pt2(module: NormalisedClassifier, example: Tensor, path: Path, info: dict[str, Any]) -> Path:
    """Write ``module`` as a :func:`torch.export` program with a dynamic batch dimension."""
    from torch.export import Dim

    batch = Dim("N", min=1, max=1 << 24)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    _check_same(program.module(), module, _chw(example), "torch.export")
    torch.export.save(program, str(path), extra_files={"ecosim.json": json.dumps(info)})
    return path


def _export_torchscript(module: NormalisedClassifier, example: Tensor, path: Path, info: dict[str, Any]) -> Path:
    """Write ``module`` as a traced TorchScript module (the input check is scripted, so it survives)."""
    with warnings.catch_warnings(), torch.no_grad():
        # the phenotype's input-shape check is a Python branch the trace drops (TracerWarning),
        # and torch 2.14 marks torch.jit as deprecated (FutureWarning); the trace is checked below
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..*deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*TorchScript.*deprecated", category=DeprecationWarning)
        traced = torch.jit.trace(module, example)
        _check_same(traced, module, _chw(example), "TorchScript")
        torch.jit.save(traced, str(path), _extra_files={"ecosim.json": json.dumps(info)})
    return path


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise EcosimError(
            f"--format onnx needs the 'onnx' package, which is not installed ({exc}); "
            "install it with: pip install 'ecosim[onnx]'"
        ) from exc


def _export_onnx(module: NormalisedClassifier, example: Tensor, path: Path) -> Path:
    """Write ``module`` as ONNX with a dynamic batch dimension (input ``images``, output ``log_probs``).

    ONNX has no assertion op: the module's own input checks are left out, and ONNX Runtime checks
    the input's shape and dtype against the declared ``images`` input instead.
    """
    _require_onnx()
    module.checks = False
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the legacy (TorchScript-based) exporter: deprecated, and it traces like torch.jit.trace
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=["images"],
                output_names=["log_probs"],
                dynamic_axes={"images": {0: "N"}, "log_probs": {0: "N"}},
                dynamo=False,
            )
    finally:
        module.checks = True
    return path


__all__ = ["DEFAULT_FORMATS", "FILES", "FORMATS", "NormalisedClassifier", "export_champion"]
