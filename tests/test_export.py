"""Export: a champion trained on real MNIST runs in plain PyTorch with the same test accuracy (§II-B, §IV)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ecosim.cli import main
from ecosim.config import Config
from ecosim.data import prepare_data
from ecosim.errors import CheckpointError, EcosimError
from ecosim.export import export_champion
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.phenotype.training import TrainSettings, train_and_evaluate
from ecosim.store.networks import load_network, save_network

# mixed kernel shapes in one layer (§III-E) and a stride, so the export covers the masked conv
GENOME = Genome(
    (1, 28, 28),
    (
        ConvLayer(((3, 3), (5, 3), (1, 1), (3, 5), (5, 5), (3, 3)), stride=(2, 2)),
        DenseLayer(16),
        DenseLayer(10),
    ),
)


@pytest.fixture(scope="module")
def champion_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A run directory holding a real champion: briefly trained on MNIST, scored on the 10,000 test images."""
    cfg = Config().with_overrides(
        {"data.dataset": "mnist", "data.data_root": str(data_root), "training.train_fraction": 0.1}
    )
    data, input_shape, classes = prepare_data(cfg)
    assert input_shape == GENOME.input_shape and classes == GENOME.classes
    weights = init_weights(GENOME, np.random.default_rng(0), std=0.1)
    threads = torch.get_num_threads()
    try:  # one thread, as in a Ray task (and much faster than two on a busy machine)
        result = train_and_evaluate(
            GENOME, weights, data, TrainSettings(threads=1), seed=0, evaluate_before=False
        )
    finally:
        torch.set_num_threads(threads)
    assert result.status == "ok" and result.fitness > 0.5, result.message
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "config.toml").write_text(
        cfg.with_overrides({"run.out": str(run_dir)}).to_toml(), encoding="utf-8"
    )
    save_network(
        run_dir / "champion.safetensors",
        GENOME,
        result.weights,
        {
            "network_id": 7,
            "fitness": result.fitness,
            "test_accuracy": result.test_accuracy,
            "generation": 0,
            "parameters": GENOME.parameter_count(),
            "dataset": "mnist",
            "activation": "relu",
        },
    )
    np.save(run_dir / "test_images.npy", data.eval_images)
    np.save(run_dir / "test_labels.npy", data.eval_labels)
    return run_dir, result.fitness


# Runs in a fresh interpreter in which importing ecosim is impossible.
_PLAIN_TORCH = """
import sys
sys.modules["ecosim"] = None  # any 'import ecosim' now raises ImportError
import numpy as np, torch
model = torch.jit.load(sys.argv[1])
x = np.load(sys.argv[2]); y = np.load(sys.argv[3])
correct = 0
with torch.no_grad():
    for i in range(0, len(y), 1000):
        out = model(torch.from_numpy(x[i:i + 1000]).float() / 255.0)
        assert out.shape == (len(y[i:i + 1000]), 10), out.shape
        assert torch.allclose(out.exp().sum(1), torch.ones(len(out)), atol=1e-4)  # log-probabilities
        correct += int((out.argmax(1).numpy() == y[i:i + 1000]).sum())
assert sys.modules["ecosim"] is None and not any(m.startswith("ecosim.") for m in sys.modules)
print(correct / len(y))
"""


def test_exported_torchscript_scores_the_logged_fitness_in_plain_pytorch(
    champion_run, tmp_path, capsys
):
    run_dir, fitness = champion_run
    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "champion.pt") in printed and str(out / "champion.genome.json") in printed
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _PLAIN_TORCH,
            str(out / "champion.pt"),
            str(run_dir / "test_images.npy"),
            str(run_dir / "test_labels.npy"),
        ],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip()) == pytest.approx(fitness, abs=1e-12)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_genome_json_weights_and_metadata_round_trip(champion_run, tmp_path):
    run_dir, fitness = champion_run
    paths = export_champion(run_dir, tmp_path / "e")
    assert Genome.from_dict(json.loads(paths["genome"].read_text(encoding="utf-8"))) == GENOME
    genome, weights, meta = load_network(paths["weights"])
    _, original, _ = load_network(run_dir / "champion.safetensors")
    assert genome == GENOME and meta["fitness"] == fitness
    assert all(np.array_equal(a, b) for a, b in zip(weights.arrays(), original.arrays()))
    info = json.loads(paths["metadata"].read_text(encoding="utf-8"))
    assert info["mean"] == [0.1307] and info["std"] == [0.3081] and info["classes"] == 10
    extra = {"ecosim.json": ""}
    torch.jit.load(str(paths["torchscript"]), _extra_files=extra)
    assert json.loads(extra["ecosim.json"])["input_shape"] == [1, 28, 28]


def test_default_output_is_inside_the_run_directory(champion_run):
    run_dir, _ = champion_run
    paths = export_champion(run_dir)
    assert (
        paths["torchscript"] == run_dir / "export" / "champion.pt"
        and paths["torchscript"].stat().st_size > 0
    )


def test_missing_champion_is_a_checkpoint_error_naming_the_path(tmp_path, capsys):
    with pytest.raises(CheckpointError, match=r"champion\.safetensors is missing"):
        export_champion(tmp_path)
    assert main(["export", str(tmp_path)]) == 2
    assert "champion.safetensors" in "".join(
        capsys.readouterr().err.split()
    )  # rich wraps, even mid-word


def test_onnx_needs_the_onnx_package(champion_run, tmp_path):
    run_dir, _ = champion_run
    if importlib.util.find_spec("onnx") is None:
        with pytest.raises(EcosimError, match=r"ecosim\[onnx\]"):
            export_champion(run_dir, tmp_path / "onnx", formats=("torchscript", "onnx"))
        assert not (tmp_path / "onnx").exists()  # nothing half-written
    else:
        assert export_champion(run_dir, tmp_path, formats=("onnx",))["onnx"].stat().st_size > 0


def test_exported_model_refuses_integer_images(champion_run, tmp_path):
    run_dir, _ = champion_run
    path = export_champion(run_dir, tmp_path)["torchscript"]
    model = torch.jit.load(str(path))
    with pytest.raises(Exception, match="divide it by 255"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
