"""Export of a run's champion for use without ecosim (paper §II-B: a network is its genome and genes).

``ecosim export RUN_DIR [--out DIR] [--format torchscript|onnx]`` reads
``RUN_DIR/champion.safetensors`` (:func:`ecosim.store.networks.load_network`) and writes,
by default into ``RUN_DIR/export/``:

* ``champion.genome.json``: the genome (:meth:`Genome.to_dict`, with ``schema_version``);
* ``champion.safetensors``: genome + gene weights + metadata (a copy of the run's file);
* ``champion.json``: what a user needs to feed the network: input shape, classes, the
  normalisation built into the exported module, activation, fitness and provenance;
* ``champion.pt`` (``--format torchscript``, the default): a TorchScript module that plain
  PyTorch loads with :func:`torch.jit.load`, no ecosim needed;
* ``champion.onnx`` (``--format onnx``): the same function as ONNX (needs the ``onnx`` package).

The exported module takes images as float tensors in ``[0, 1]`` of shape ``(N, C, H, W)``
(``uint8 / 255``), applies the dataset normalisation ``(x - mean) / std`` per channel, then the
phenotype, and returns log-probabilities ``(N, classes)``::

    model = torch.jit.load("champion.pt")
    predicted = model(images_uint8.float() / 255).argmax(1)
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

FORMATS: tuple[str, ...] = ("torchscript", "onnx")

#: batch sizes used to trace the module and to check the trace on another batch size
_TRACE_BATCH, _CHECK_BATCH = 2, 5


def _check_float_images(x: torch.Tensor) -> torch.Tensor:
    if not x.is_floating_point():
        raise ValueError("expects float images in [0, 1]; got an integer tensor: divide it by 255 first")
    return x


@functools.cache
def _float_images() -> Any:
    """The input check, scripted so that it survives tracing (a plain ``if`` would be traced away)."""
    return torch.jit.script(_check_float_images)


class NormalisedClassifier(nn.Module):
    """A phenotype with the dataset normalisation in front: ``net((x - mean) / std)``.

    Args:
        net (nn.Module): maps normalised ``(N, C, H, W)`` images to ``(N, classes)`` log-probabilities.
        mean (sequence of float): per-channel mean, ``[0, 1]`` pixel units, length ``C``.
        std (sequence of float): per-channel standard deviation, positive, length ``C``.

    Raises:
        ValueError: ``mean`` and ``std`` of different lengths, or a non-positive ``std``.

    Shape:
        input ``(N, C, H, W)`` float in ``[0, 1]`` → output ``(N, classes)`` log-probabilities.

    >>> m = NormalisedClassifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.LogSoftmax(1)), [0.5], [0.25])
    >>> m(torch.rand(3, 1, 2, 2)).shape
    torch.Size([3, 2])
    """

    mean: Tensor
    std: Tensor

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not all(s > 0 for s in std):
            raise ValueError(
                f"mean and std need one value per channel and positive std, got mean={mean}, std={std}"
            )
        self.net = net
        self.register_buffer(
            "mean", torch.tensor([float(m) for m in mean], dtype=torch.float32).view(1, -1, 1, 1)
        )
        self.register_buffer(
            "std", torch.tensor([float(s) for s in std], dtype=torch.float32).view(1, -1, 1, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities of images ``x`` in ``[0, 1]``; see the class docstring.

        Raises:
            ValueError: integer images (e.g. uint8 0..255): divide by 255 first.
        """
        return self.net((_float_images()(x) - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def _normalisation(
    dataset: str, data_root: str, metadata: dict[str, Any]
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the champion's dataset: from its metadata, the known constants, or the data."""
    if metadata.get("mean") is not None and metadata.get("std") is not None:
        return [float(v) for v in metadata["mean"]], [float(v) for v in metadata["std"]]
    from ecosim.data import datasets as _data

    known = getattr(_data, "_STATS", {}).get(dataset.strip().lower())
    if known is not None:
        return list(known[0]), list(known[1])
    ds = _data.load_dataset(
        dataset, data_root or None
    )  # a folder dataset: computed from its images
    return list(ds.mean), list(ds.std)


def _run_settings(run_dir: Path, metadata: dict[str, Any]) -> tuple[str, str, str]:
    """``(dataset, data_root, activation)`` of the champion: its metadata first, then ``config.toml``."""
    from ecosim.config import Config, load_config

    cfg_path = RunDir(run_dir).config
    cfg = load_config(cfg_path) if cfg_path.is_file() else Config()
    dataset = str(metadata.get("dataset") or cfg.data.dataset)
    activation = str(metadata.get("activation") or cfg.training.activation)
    return dataset, cfg.data.data_root, activation


def _check_trace(traced: Any, module: nn.Module, shape: tuple[int, int, int]) -> None:
    """The traced module must equal the eager one on a batch size it was not traced with."""
    x = torch.rand(_CHECK_BATCH, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = module(x), traced(x)
    if got.shape != want.shape or not torch.allclose(got, want, atol=1e-5, rtol=1e-5):
        raise EcosimError(
            f"the traced champion differs from the eager one on a batch of {_CHECK_BATCH} "
            f"(max abs difference {float((got - want).abs().max()):.3g}); TorchScript export failed"
        )


def export_champion(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    formats: Sequence[str] = ("torchscript",),
) -> dict[str, Path]:
    """Export the champion of a run as genome JSON, weights, metadata and TorchScript (or ONNX).

    Args:
        run_dir: a run directory holding ``champion.safetensors`` (and normally ``config.toml``).
        out_dir: output folder; ``None`` (default) uses ``run_dir/export``.
        formats: any of :data:`FORMATS` (default ``("torchscript",)``).

    Returns:
        ``{"genome": ..., "weights": ..., "metadata": ..., "torchscript": ..., "onnx": ...}``:
        the paths written (the last two only when requested).

    Raises:
        CheckpointError: no ``champion.safetensors`` in ``run_dir`` (the message names the path),
            or an unreadable one.
        ConfigError: an unknown format.
        EcosimError: ONNX requested without the ``onnx`` package, or a trace that does not
            reproduce the phenotype.

    Shape:
        the exported module maps ``(N, C, H, W)`` float images in ``[0, 1]`` to ``(N, classes)``
        log-probabilities, ``(C, H, W) = genome.input_shape``.

    >>> paths = export_champion("runs/mnist-seed0-20250101-120000")           # doctest: +SKIP
    >>> torch.jit.load(paths["torchscript"])(torch.rand(4, 1, 28, 28)).shape  # doctest: +SKIP
    torch.Size([4, 10])
    """
    from ecosim.errors import ConfigError
    from ecosim.phenotype.network import build_phenotype
    from ecosim.store.networks import load_network

    if "onnx" in formats:  # fail before writing anything
        _require_onnx()
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(
            f"export format {bad[0]!r} is unknown; valid formats: {', '.join(FORMATS)}"
        )
    run = Path(run_dir)
    champion = RunDir(run).champion
    if not champion.is_file():
        raise CheckpointError(
            f"run directory {str(run)!r} has no champion to export: {champion} is missing "
            "(a champion is written after the first generation)"
        )
    genome, weights, metadata = load_network(champion)
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
    info = {
        "input": "float images in [0, 1] (uint8 / 255), shape (N, C, H, W); normalisation is built in",
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
        "source": str(champion),
    }
    written["metadata"] = out / "champion.json"
    written["metadata"].write_text(
        json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )

    module = NormalisedClassifier(
        build_phenotype(genome, weights, activation=activation), mean, std
    ).eval()
    example = torch.rand(
        _TRACE_BATCH, *genome.input_shape, generator=torch.Generator().manual_seed(1)
    )
    if "torchscript" in formats:
        with warnings.catch_warnings(), torch.no_grad():
            # the phenotype's input-shape check is a Python branch the trace drops (TracerWarning),
            # and recent torch marks torch.jit as deprecated (FutureWarning); the trace is checked below
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit\..*deprecated", category=FutureWarning
            )
            traced = torch.jit.trace(module, example)
            _check_trace(traced, module, genome.input_shape)
            written["torchscript"] = out / "champion.pt"
            torch.jit.save(
                traced, str(written["torchscript"]), _extra_files={"ecosim.json": json.dumps(info)}
            )
    if "onnx" in formats:
        written["onnx"] = _export_onnx(module, example, out / "champion.onnx")
    return written


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise EcosimError(
            f"--format onnx needs the 'onnx' package, which is not installed ({exc}); "
            "install it with: pip install 'ecosim[onnx]'"
        ) from exc


def _export_onnx(module: nn.Module, example: Tensor, path: Path) -> Path:
    """Write ``module`` as ONNX with a dynamic batch dimension (input ``images``, output ``log_probs``)."""
    _require_onnx()
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["log_probs"],
            dynamic_axes={"images": {0: "N"}, "log_probs": {0: "N"}},
            dynamo=False,
        )
    return path


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


__all__ = ["FORMATS", "NormalisedClassifier", "export_champion"]
