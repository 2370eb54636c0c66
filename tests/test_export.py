"""Export: a champion trained on real MNIST runs in plain PyTorch with the same test accuracy (§II-B, §IV)."""

from __future__ import annotations

import importlib.util
import json
import re
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
from ecosim.phenotype.records import TrainingParams
from ecosim.phenotype.training import train_and_evaluate
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
        result = train_and_evaluate(GENOME, weights, data, TrainingParams(), seed=0, evaluate_before=False)
    finally:
        torch.set_num_threads(threads)
    assert result.status == "ok" and result.fitness > 0.5, result.message
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "config.toml").write_text(cfg.with_overrides({"run.out": str(run_dir)}).to_toml(), encoding="utf-8")
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


AVAILABLE = ["pt2", "torchscript"] + (
    ["onnx"]
    if importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None
    else []
)
FILES = {"pt2": "champion.pt2", "torchscript": "champion.pt", "onnx": "champion.onnx"}

# Runs in a fresh interpreter in which importing ecosim is impossible.
_PLAIN_TORCH = """
import sys
sys.modules["ecosim"] = None  # any 'import ecosim' now raises ImportError
import numpy as np, torch
fmt, path = sys.argv[1], sys.argv[2]
if fmt == "pt2":
    model = torch.export.load(path).module()
elif fmt == "torchscript":
    model = torch.jit.load(path)
else:
    import onnxruntime
    session = onnxruntime.InferenceSession(path)
    model = lambda x: torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
x = np.load(sys.argv[3]); y = np.load(sys.argv[4])
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


@pytest.fixture(scope="module")
def exported(champion_run, tmp_path_factory) -> Path:
    """The champion exported once in every available format (as the CLI does)."""
    run_dir, _ = champion_run
    out = tmp_path_factory.mktemp("export")
    argv = ["export", str(run_dir), "--out", str(out)]
    for fmt in AVAILABLE:
        argv += ["--format", fmt]
    assert main(argv) == 0
    return out


@pytest.mark.parametrize("fmt", AVAILABLE)
def test_exported_model_scores_the_logged_fitness_in_plain_pytorch(champion_run, exported, fmt, tmp_path):
    run_dir, fitness = champion_run
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _PLAIN_TORCH,
            fmt,
            str(exported / FILES[fmt]),
            str(run_dir / "test_images.npy"),
            str(run_dir / "test_labels.npy"),
        ],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip()) == pytest.approx(fitness, abs=1e-12)


def test_pt2_is_the_default_format_and_paths_are_printed(champion_run, tmp_path, capsys):
    run_dir, _ = champion_run
    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "champion.pt2") in printed and str(out / "champion.genome.json") in printed
    assert not (out / "champion.pt").exists()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_genome_json_weights_and_metadata_round_trip(champion_run, exported):
    run_dir, fitness = champion_run
    assert Genome.from_dict(json.loads((exported / "champion.genome.json").read_text(encoding="utf-8"))) == GENOME
    genome, weights, meta = load_network(exported / "champion.safetensors")
    _, original, _ = load_network(run_dir / "champion.safetensors")
    assert genome == GENOME and meta["fitness"] == fitness
    assert all(np.array_equal(a, b) for a, b in zip(weights.arrays(), original.arrays()))
    info = json.loads((exported / "champion.json").read_text(encoding="utf-8"))
    assert info["mean"] == [0.1307] and info["std"] == [0.3081] and info["classes"] == 10
    assert "(N, 1, 28, 28)" in info["input"]
    extra = {"ecosim.json": ""}
    torch.jit.load(str(exported / "champion.pt"), _extra_files=extra)
    assert json.loads(extra["ecosim.json"])["input_shape"] == [1, 28, 28]
    extra = {"ecosim.json": ""}
    torch.export.load(str(exported / "champion.pt2"), extra_files=extra)
    assert json.loads(extra["ecosim.json"])["input_shape"] == [1, 28, 28]


def test_exports_into_one_folder_list_every_format_still_there_and_an_absolute_source(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(Config().to_toml(), encoding="utf-8")
    small = Genome((1, 28, 28), (DenseLayer(10),))
    save_network(
        run_dir / "champion.safetensors",
        small,
        init_weights(small, np.random.default_rng(0)),
        {"network_id": 3, "fitness": 0.5, "dataset": "mnist"},
    )
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    assert main(["export", "run", "--out", "out", "--format", "pt2"]) == 0
    assert main(["export", "run", "--out", "out", "--format", "torchscript"]) == 0
    info = json.loads((tmp_path / "out" / "champion.json").read_text(encoding="utf-8"))
    assert info["formats"] == {"pt2": "champion.pt2", "torchscript": "champion.pt"}
    assert info["source"] == str((run_dir / "champion.safetensors").resolve())
    (tmp_path / "out" / "champion.pt").unlink()  # a file no longer there is no longer listed
    assert main(["export", "run", "--out", "out"]) == 0
    info = json.loads((tmp_path / "out" / "champion.json").read_text(encoding="utf-8"))
    assert info["formats"] == {"pt2": "champion.pt2"}
    save_network(
        run_dir / "champion.safetensors",
        small,
        init_weights(small, np.random.default_rng(1)),
        {"network_id": 9, "fitness": 0.6, "dataset": "mnist"},
    )  # the run went on: a new champion
    assert main(["export", "run", "--out", "out", "--format", "torchscript"]) == 0
    info = json.loads((tmp_path / "out" / "champion.json").read_text(encoding="utf-8"))
    assert info["formats"] == {"torchscript": "champion.pt"}  # the old champion's pt2 is not this one's
    # and it is gone: a user loading the default champion.pt2 would have run the old network
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "champion.genome.json",
        "champion.json",
        "champion.pt",
        "champion.safetensors",
    ]
    (tmp_path / "out" / "champion.pt2").write_text("a user's own file, never listed")
    assert main(["export", "run", "--out", "out", "--format", "torchscript"]) == 0
    assert (tmp_path / "out" / "champion.pt2").read_text() == "a user's own file, never listed"  # not ours: kept


def test_default_output_is_inside_the_run_directory(champion_run):
    run_dir, _ = champion_run
    paths = export_champion(run_dir)
    assert paths["pt2"] == run_dir / "export" / "champion.pt2" and paths["pt2"].stat().st_size > 0


def test_missing_champion_is_a_checkpoint_error_naming_the_path(tmp_path, capsys):
    (tmp_path / "config.toml").write_text(Config().to_toml(), encoding="utf-8")  # a run before its first generation
    with pytest.raises(CheckpointError, match=r"champion\.safetensors is missing"):
        export_champion(tmp_path)
    assert main(["export", str(tmp_path)]) == 2
    assert "champion.safetensors" in "".join(capsys.readouterr().err.split())  # rich wraps, even mid-word


@pytest.mark.parametrize("damage", ["truncated", "binary"])
def test_damaged_champion_is_one_line_naming_the_file(champion_run, tmp_path, damage):
    run_dir, _ = champion_run
    broken = tmp_path / "run"
    broken.mkdir()
    (broken / "config.toml").write_bytes((run_dir / "config.toml").read_bytes())
    data = (run_dir / "champion.safetensors").read_bytes()
    (broken / "champion.safetensors").write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\xff" * 64)
    with pytest.raises(CheckpointError) as info:
        export_champion(broken, tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message and "champion.safetensors" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_damaged_config_is_one_line_naming_the_file(champion_run, tmp_path):
    run_dir, _ = champion_run
    broken = tmp_path / "run"
    broken.mkdir()
    (broken / "champion.safetensors").write_bytes((run_dir / "champion.safetensors").read_bytes())
    (broken / "config.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CheckpointError, match=r"config file '.*config\.toml' is damaged"):
        export_champion(broken, tmp_path / "out")


def test_onnx_needs_the_onnx_package(champion_run, tmp_path):
    run_dir, _ = champion_run
    if importlib.util.find_spec("onnx") is None:
        with pytest.raises(EcosimError, match=r"ecosim\[onnx\]"):
            export_champion(run_dir, tmp_path / "onnx", formats=("pt2", "onnx"))
        assert not (tmp_path / "onnx").exists()  # nothing half-written
    else:
        assert export_champion(run_dir, tmp_path, formats=("onnx",))["onnx"].stat().st_size > 0


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("fmt", ["pt2", "torchscript"])
def test_wrong_inputs_are_short_clear_errors(exported, fmt):
    path = str(exported / FILES[fmt])
    model = torch.export.load(path).module() if fmt == "pt2" else torch.jit.load(path)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    images = torch.rand(3, 1, 28, 28).double()  # numpy's default dtype (`torch.tensor(x) / 255`)
    if fmt == "pt2":  # the program guards its input's dtype: one line (was an error inside the first conv)
        with pytest.raises(RuntimeError, match=r"^Tensor dtype mismatch! Expected: Float, Got: double$"):
            model(images)
    else:  # computed as float32, the weights' dtype
        assert torch.equal(model(images), model(images.float()))
    channels = "images.size()[1] == 1" if fmt == "pt2" else r"(N, 1, 28, 28)"
    with pytest.raises(Exception, match=re.escape(channels)) as info:
        model(torch.rand(2, 3, 28, 28))  # an RGB image into an MNIST model
    if fmt == "torchscript":  # TorchScript puts its interpreter's traceback first (README): the clear line is last
        assert str(info.value).strip().splitlines()[-1] == (
            "builtins.ValueError: expects float images of shape (N, 1, 28, 28) in [0, 1]; got shape [2, 3, 28, 28]"
        )
    with pytest.raises(Exception, match=r"in \[0, 1\].*divide"):
        model(torch.full((2, 1, 28, 28), 7, dtype=torch.uint8))
    with pytest.raises(Exception, match=r"\(N, 1, 28, 28\).*\[0, 1\]|\[0, 1\].*\(N, 1, 28, 28\)"):
        model(torch.rand(2, 1, 28, 28) * 255)  # float, but not divided by 255


def test_unknown_format_is_a_config_error(champion_run, tmp_path):
    from ecosim.errors import ConfigError

    run_dir, _ = champion_run
    with pytest.raises(ConfigError, match="export format 'keras' is unknown; valid formats: pt2, torchscript, onnx"):
        export_champion(run_dir, tmp_path, formats=("keras",))


# a deeper CNN: two mixed-kernel conv layers with non-square strides, then two dense layers
DEEP = Genome(
    (1, 28, 28),
    (
        ConvLayer(((3, 3), (1, 5), (5, 1), (1, 1)), stride=(2, 1)),
        ConvLayer(((3, 1), (3, 3), (1, 3), (5, 5), (1, 1), (3, 5), (7, 3)), stride=(1, 2)),
        DenseLayer(12),
        DenseLayer(10),
    ),
)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_a_mixed_kernel_strided_cnn_exports_exactly(tmp_path):
    from ecosim.phenotype.network import build_phenotype

    weights = init_weights(DEEP, np.random.default_rng(3), std=0.1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(Config().to_toml(), encoding="utf-8")
    save_network(run_dir / "champion.safetensors", DEEP, weights, {"fitness": 0.5, "dataset": "mnist"})
    paths = export_champion(run_dir, tmp_path / "out", formats=("pt2", "torchscript"))
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = build_phenotype(DEEP, weights, activation="relu")((x - 0.1307) / 0.3081)
        for model in (torch.export.load(str(paths["pt2"])).module(), torch.jit.load(str(paths["torchscript"]))):
            assert torch.allclose(model(x), want, atol=1e-5)
