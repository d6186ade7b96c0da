"""Loading models from a folder: contract checks, thresholds, versions, thread-safe batches."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from contract.spec import CARD_FILE, JOINT_FILE, file_version
from service.inference import load_models
from service.settings import Settings
from tests.service import samples
from tests.tiny_models import TINY_CARD, build_tiny_models


@pytest.fixture(scope="module")
def loaded(models_dir):
    return load_models(Settings(models_dir=models_dir))


def test_names_versions_sizes_and_card_thresholds(loaded, models_dir):
    assert loaded.classifier.name == "tiny-classifier" and loaded.segmenter.name == "tiny-segmenter"
    assert loaded.classifier.version == loaded.segmenter.version == file_version(models_dir / JOINT_FILE)
    assert loaded.classifier.runner is loaded.segmenter.runner, "one file answers both roles"
    assert loaded.classifier.input_size == loaded.segmenter.input_size == 32
    assert loaded.card["models"]["classifier"]["metrics"]["test"]["roc_auc"] == 0.97


def test_threshold_precedence(tmp_path, models_dir):
    shutil.copy(models_dir / JOINT_FILE, tmp_path / JOINT_FILE)
    card = json.loads(json.dumps(TINY_CARD))
    card["models"]["classifier"]["threshold"] = 0.3
    (tmp_path / CARD_FILE).write_text(json.dumps(card))

    keras_files = {"models_dir": tmp_path, "runtime": "keras"}  # the copied .keras files, no export
    from_card = load_models(Settings(**keras_files))
    overridden = load_models(Settings(**keras_files, classifier_threshold=0.8))
    (tmp_path / CARD_FILE).unlink()
    no_card = load_models(Settings(**keras_files))

    assert from_card.classifier.threshold == 0.3 and from_card.segmenter.threshold == 0.5
    assert overridden.classifier.threshold == 0.8
    assert no_card.classifier.threshold == 0.5 and no_card.card == {}


def test_model_without_preprocess_layer_is_refused(tmp_path, models_dir):
    import keras

    inputs = keras.Input((32, 32, 3))
    prob = keras.layers.Dense(1, activation="sigmoid", name="tumour_probability")(
        keras.layers.GlobalAveragePooling2D()(inputs)
    )
    mask = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(inputs)
    keras.Model(inputs, {"mask": mask, "tumour_probability": prob}).save(tmp_path / JOINT_FILE)

    with pytest.raises(ValueError, match="preprocess"):
        load_models(Settings(models_dir=tmp_path, runtime="keras"))


def test_other_input_size_is_read_from_the_model(tmp_path):
    loaded = load_models(Settings(models_dir=build_tiny_models(tmp_path, size=48)))

    batch = loaded.classifier.prepare([samples.positive_image(100)])

    assert loaded.classifier.input_size == 48 and batch.shape == (1, 48, 48, 3) and batch.dtype == np.float32


def test_concurrent_predictions_match_sequential_ones(loaded):
    runner = loaded.segmenter
    batches = [runner.prepare([samples.flair_image(samples.square_mask(32, i, i, 10))]) for i in range(8)]
    expected = [runner.predict(b) for b in batches]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(runner.predict, batches * 3))

    for i, result in enumerate(results):
        assert np.allclose(result, expected[i % 8])


def test_observer_sees_each_call_but_not_the_warm_up(models_dir):
    calls = []
    loaded = load_models(Settings(models_dir=models_dir), observer=lambda *a: calls.append(a))
    assert calls == []

    loaded.classifier.predict(loaded.classifier.prepare([samples.positive_image()] * 3))

    assert [(label, n) for label, n, _ in calls] == [("joint", 3)]  # the file's label
