"""Start-up (issue 18): the driver reads MNIST-family files without torch or torchvision."""

import subprocess
import sys

import numpy as np
import pytest

from ecosim.data.load import load_dataset

DRIVER = """
import sys
from ecosim.config import Config
from ecosim.data.arrays import prepare_data
import ecosim.api, ecosim.engine.coordinator, ecosim.engine.species
data, shape, classes = prepare_data(Config().with_overrides({"data.data_root": sys.argv[1], "data.dataset":
sys.argv[2]}))
assert shape == (1, 28, 28) and classes == 10 and len(data.train_labels) == 60000
print(sorted(m for m in ("torch", "torchvision") if m in sys.modules))
"""


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_driver_loads_mnist_family_data_without_torch(data_root, name):
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(data_root), name], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_idx_files_read_with_numpy_equal_torchvision(data_root):
    from torchvision import datasets

    ours = load_dataset("fashion-mnist", str(data_root))
    for train, images, labels in (
        (True, ours.train_images, ours.train_labels),
        (False, ours.test_images, ours.test_labels),
    ):
        ref = datasets.FashionMNIST(str(data_root), train=train)
        assert np.array_equal(ref.data.numpy()[:, None], images) and images.flags.writeable
        assert np.array_equal(ref.targets.numpy(), labels) and labels.dtype == np.int64


SIGTERM_DURING_RAY_INIT = """
import os, signal, sys, threading, time
import ecosim.api
from ecosim.config import Config

def ours(signum, frame):  # as the CLI's handler: SIGTERM is an interrupt
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, ours)

def watch():  # SIGTERM as soon as ray.init has put its own handler (sys.exit) in place
    while signal.getsignal(signal.SIGTERM) is ours:
        time.sleep(0.0002)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
try:
    ecosim.api._start_ray(Config().with_overrides({"resources.num_cpus": 1}))
except KeyboardInterrupt:
    print("interrupted")
    sys.exit(143)
"""


@pytest.mark.ray
def test_sigterm_while_ray_starts_reaches_the_callers_handler():
    """Ray's SIGTERM handler (``sys.exit(15)``) made a run killed during start-up exit 15 without a
    word (fresh-user test, session 25); the caller's handler must decide."""
    res = subprocess.run([sys.executable, "-c", SIGTERM_DURING_RAY_INIT], capture_output=True, text=True, timeout=180)
    assert res.returncode == 143 and res.stdout.strip() == "interrupted", (res.returncode, res.stderr[-2000:])
