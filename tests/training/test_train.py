"""One-epoch training on the committed real slices: loadable models whose reloads give equal outputs."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from contract import CARD_FILE, CARD_TEXT_FILE, CLASSIFIER_FILE, SEGMENTER_FILE, SPLIT_FILE, read_card
from training.__main__ import main
from training.config import TrainConfig
from training.evaluate import evaluate
from training.train import train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    models = {}
    for model in ("classifier", "segmenter"):
        models[model], _ = train(TrainConfig(model=model, data=str(FIXTURES), out=str(out), runs=str(out / "runs"),
                                             image_size=32, epochs=1, batch_size=4), verbose=0)
    return out, models


@pytest.mark.slow
def test_training_writes_models_split_and_card(trained):
    trained, _ = trained
    for name in (CLASSIFIER_FILE, SEGMENTER_FILE, SPLIT_FILE, CARD_FILE):
        assert (trained / name).exists(), name
    split = json.loads((trained / SPLIT_FILE).read_text())["patients"]
    assert sorted(sum(split.values(), [])) == ["TCGA_CS_4942", "TCGA_FG_7634", "TCGA_HT_7605"]
    card = read_card(trained)
    assert card["models"]["segmenter"]["parameters"] == 1_210_513
    assert card["models"]["classifier"]["training"]["epochs_run"] == 1
    assert card["data"]["slices"] == 7
    assert (trained / "runs" / "segmenter" / "log.csv").exists()


@pytest.mark.slow
def test_saved_models_reload_with_equal_outputs_and_no_optimizer(trained):
    trained, originals = trained
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for kind, name in (("classifier", CLASSIFIER_FILE), ("segmenter", SEGMENTER_FILE)):
        original = originals[kind]
        reloaded = keras.saving.load_model(trained / name, compile=False)
        np.testing.assert_allclose(reloaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        # Weights alone take 4 bytes a parameter; Adam's two moments would triple the file.
        size = (trained / name).stat().st_size
        assert size < 1.3 * 4 * original.count_params() + 200_000, size


@pytest.mark.slow
def test_evaluate_writes_metrics_card_and_figures(trained, tmp_path):
    trained, _ = trained
    card = evaluate(str(FIXTURES), str(trained), str(tmp_path))
    test = card["models"]["classifier"]["metrics"]["test"]
    assert 0.0 <= test["accuracy"] <= 1.0 and test["slices"] > 0
    seg = card["models"]["segmenter"]["metrics"]["test"]
    flair_only = card["models"]["segmenter"]["metrics"]["test_flair_only"]
    assert flair_only["patients"] == seg["patients"] and 0.0 <= flair_only["patient_dice_mean"] <= 1.0
    assert card["models"]["classifier"]["metrics"]["test_flair_only"]["slices"] == test["slices"]
    assert 0.0 <= seg["patient_dice_mean"] <= 1.0
    assert 0.0 < card["models"]["segmenter"]["threshold"] < 1.0
    assert (tmp_path / "roc_test.png").stat().st_size > 1000
    assert (tmp_path / "segmentation_best_worst_test.png").stat().st_size > 1000
    assert "Intended use" in (trained / CARD_TEXT_FILE).read_text()


@pytest.mark.slow
def test_cli_index_and_explore(tmp_path):
    assert main(["index", "--data", str(FIXTURES), "--output", str(tmp_path / "index.csv")]) == 0
    assert len((tmp_path / "index.csv").read_text().splitlines()) == 8
    assert main(["explore", "--data", str(FIXTURES), "--output", str(tmp_path), "--samples", "2"]) == 0
    assert (tmp_path / "class_counts.png").exists() and (tmp_path / "samples.png").exists()


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        TrainConfig(model="detector")
    with pytest.raises(ValueError):
        TrainConfig(model="segmenter", epochs=0)
