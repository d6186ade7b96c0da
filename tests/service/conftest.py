"""Fixtures of the service tests: tiny contract-following Keras models and apps that serve them.

The tiny models look at the FLAIR channel only (weights set by hand, no training):
- classifier: probability = sigmoid(20 * (mean FLAIR / 255 - 0.5)) -> positive when the mean
  FLAIR intensity is above 127.5;
- segmenter: pixel probability = sigmoid(20 * (FLAIR / 255 - 0.5)) -> mask = FLAIR > 127.5.
So the expected answers of the service are known for synthetic slices (see samples.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contract.spec import CARD_FILE, CLASSIFIER_FILE, PREPROCESS_LAYER, SEGMENTER_FILE
from service.main import create_app
from service.settings import Settings
from tests.service.apps import started
from training.export import export_folder

TINY_SIZE = 32

TINY_CARD: dict[str, Any] = {
    "models": {
        "classifier": {
            "name": "tiny-classifier",
            "architecture": "tiny-cnn",
            "parameters": 0,
            "threshold": 0.5,
            "input": {"size": TINY_SIZE},
            "metrics": {"test": {"roc_auc": 0.97, "accuracy": 0.93}, "validation": {"roc_auc": 0.95}},
        },
        "segmenter": {
            "name": "tiny-segmenter",
            "architecture": "tiny-fcn",
            "parameters": 0,
            "threshold": 0.5,
            "input": {"size": TINY_SIZE},
            "metrics": {"test": {"dice": 0.81}, "validation": {"dice": 0.8}},
        },
    },
    "data": {"name": "synthetic"},
}


def _flair_features(keras: Any, x: Any) -> Any:
    """A 3x3 conv whose first filter copies FLAIR (centre tap), the other filters zero."""
    conv = keras.layers.Conv2D(4, 3, padding="same", name="features")
    y = conv(x)
    kernel = np.zeros((3, 3, 3, 4), np.float32)
    kernel[1, 1, 1, 0] = 1.0
    conv.set_weights([kernel, np.zeros(4, np.float32)])
    return y


def build_tiny_models(models_dir: Path, size: int = TINY_SIZE, card: dict[str, Any] | None = None) -> Path:
    """Write classifier.keras, segmenter.keras and model_card.json (contract layout) into ``models_dir``."""
    import keras

    models_dir.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1.0 / 255.0, name=PREPROCESS_LAYER)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(_flair_features(keras, x))
    head = keras.layers.Dense(1, activation="sigmoid", name="tumour")
    classifier = keras.Model(inputs, head(pooled), name="tiny_classifier")
    head.set_weights([np.array([[20.0], [0.0], [0.0], [0.0]], np.float32), np.array([-10.0], np.float32)])
    classifier.save(models_dir / CLASSIFIER_FILE)

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1.0 / 255.0, name=PREPROCESS_LAYER)(inputs)
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")
    segmenter = keras.Model(inputs, out(_flair_features(keras, x)), name="tiny_segmenter")
    out.set_weights(
        [np.array([20.0, 0.0, 0.0, 0.0], np.float32).reshape(1, 1, 4, 1), np.array([-10.0], np.float32)]
    )
    segmenter.save(models_dir / SEGMENTER_FILE)

    card = json.loads(json.dumps(TINY_CARD if card is None else card))
    if card.get("models"):
        card["models"]["classifier"]["parameters"] = classifier.count_params()
        card["models"]["segmenter"]["parameters"] = segmenter.count_params()
    (models_dir / CARD_FILE).write_text(json.dumps(card, indent=2))
    export_folder(models_dir)  # the ONNX files the ONNX runtimes serve, named in the card
    return models_dir


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with the tiny models and their card (shared by all service tests)."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def client(models_dir: Path) -> Iterator[TestClient]:
    """A started app (lifespan run: models loaded) with default settings and the tiny models."""
    with started(create_app(Settings(models_dir=models_dir))) as test_client:
        yield test_client


@pytest.fixture
def make_client(models_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """Start another app: ``make_client(api_key="k", max_upload_bytes=1000, ...)`` (settings fields)."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            settings = Settings(**{"models_dir": models_dir, **overrides})
            return stack.enter_context(started(create_app(settings), raise_server_exceptions=False))

        yield make
