"""The training code runs on JAX (the GPU machine's backend), and what it saves serves on TensorFlow.

A subprocess trains one epoch with ``KERAS_BACKEND=jax`` on the committed real slices and records
its model's outputs on a fixed batch; this process (the test suite's backend, TensorFlow in CI)
reloads the saved file and must give the same outputs.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from contract import read_card
from training.config import NETWORK_FILES

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "lgg" / "kaggle_3m"

TRAIN_ON_JAX = """
import sys
import numpy as np
from training.config import TrainConfig
from training.train import train

out, inputs = sys.argv[1], sys.argv[2]
model = train(TrainConfig(model="segmenter", data=sys.argv[3], out=out, runs=out + "/runs",
                             image_size=32, epochs=1, batch_size=4, keep="last"), verbose=0)["segmenter"]
np.save(out + "/outputs.npy", np.asarray(model.predict(np.load(inputs), verbose=0)))
"""


@pytest.mark.slow
def test_a_model_trained_on_jax_reloads_here_with_equal_outputs(tmp_path):
    inputs = tmp_path / "inputs.npy"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.save(inputs, x)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", TRAIN_ON_JAX, str(tmp_path), str(inputs), str(FIXTURES)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    assert read_card(tmp_path)["models"]["segmenter"]["training"]["device"]["backend"] == "jax"
    reloaded = keras.saving.load_model(tmp_path / NETWORK_FILES["segmenter"], compile=False)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), np.load(tmp_path / "outputs.npy"), rtol=1e-4, atol=1e-5
    )
