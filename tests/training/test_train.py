"""One-epoch training on the committed real slices: loadable models whose reloads give equal outputs."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from contract import CARD_FILE, JOINT_FILE, SPLIT_FILE, read_card
from training.__main__ import main
from training.config import NETWORK_FILES, TrainConfig
from training.train import resume_config, train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    models = {}
    for model in ("classifier", "segmenter"):
        models.update(
            train(
                TrainConfig(
                    model=model,
                    data=str(FIXTURES),
                    out=str(out),
                    runs=str(out / "runs"),
                    image_size=32,
                    epochs=1,
                    batch_size=4,
                    keep="last",
                ),
                verbose=0,
            )
        )
    return out, models


@pytest.mark.slow
def test_training_writes_models_split_and_card(trained):
    trained, _ = trained
    for name in (NETWORK_FILES["classifier"], NETWORK_FILES["segmenter"], SPLIT_FILE, CARD_FILE):
        assert (trained / name).exists(), name
    split = json.loads((trained / SPLIT_FILE).read_text())["patients"]
    patients = sorted(p for part in split.values() for p in part)
    assert patients == ["TCGA_CS_4942", "TCGA_FG_7634", "TCGA_HT_7605"]
    card = read_card(trained)
    assert card["models"]["segmenter"]["parameters"] == 1_210_513
    assert card["models"]["classifier"]["training"]["epochs_run"] == 1
    assert card["data"]["slices"] == 7
    assert (trained / "runs" / "segmenter" / "log.csv").exists()
    assert (trained / "runs" / "segmenter" / "last.keras").exists()


@pytest.mark.slow
def test_saved_models_reload_with_equal_outputs_and_no_optimizer(trained):
    trained, originals = trained
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for kind in ("classifier", "segmenter"):
        name = NETWORK_FILES[kind]
        original = originals[kind]
        reloaded = keras.saving.load_model(trained / name, compile=False)
        np.testing.assert_allclose(
            reloaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-5, atol=1e-6
        )
        # Weights alone take 4 bytes a parameter; Adam's two moments would triple the file.
        size = (trained / name).stat().st_size
        assert size < 1.3 * 4 * original.count_params() + 200_000, size


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


@pytest.mark.slow
def test_joint_run_resumes_exactly_and_writes_one_servable_file(tmp_path):
    common = {
        "model": "joint",
        "data": str(FIXTURES),
        "image_size": 32,
        "epochs": 2,
        "batch_size": 4,
        "healthy_fraction": 1.0,
        "keep": "last",  # no ONNX export at each save: this test is about resuming
    }
    straight = train(TrainConfig(out=str(tmp_path / "a"), runs=str(tmp_path / "ra"), **common), verbose=0)
    assert set(straight) == {"classifier", "segmenter"} and straight["classifier"] is straight["segmenter"]
    shapes = {name: tuple(value.shape) for name, value in straight["segmenter"].output.items()}
    assert shapes == {"mask": (None, 32, 32, 1), "tumour_probability": (None, 1)}
    assert sorted(p.name for p in (tmp_path / "a").glob("*.keras")) == [JOINT_FILE], "one file, both outputs"
    # The same run cut after its first epoch (a time budget), then resumed from its run folder.
    train(
        TrainConfig(out=str(tmp_path / "b"), runs=str(tmp_path / "rb"), max_minutes=1e-6, **common), verbose=0
    )
    run_dir = tmp_path / "rb" / "joint"
    assert json.loads((run_dir / "state.json").read_text())["epochs_done"] == 1
    with pytest.raises(ValueError, match="--resume"):
        train(TrainConfig(out=str(tmp_path / "b"), runs=str(tmp_path / "rb"), **common), verbose=0)
    train(resume_config(run_dir, 0.0), verbose=0, resume=True)
    a, b = (json.loads((tmp_path / r / "joint" / "state.json").read_text()) for r in ("ra", "rb"))
    assert b["epochs_done"] == 2
    np.testing.assert_allclose(a["history"]["loss"], b["history"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(a["history"]["learning_rate"], b["history"]["learning_rate"], rtol=1e-6)
    last_a, last_b = (
        keras.saving.load_model(tmp_path / r / "joint" / "last.keras", compile=False) for r in ("ra", "rb")
    )
    for wa, wb in zip(last_a.weights, last_b.weights, strict=True):
        np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), atol=1e-4, err_msg=wa.path)
    card = read_card(tmp_path / "b")
    assert card["models"]["classifier"]["architecture"] == "joint"
    assert card["models"]["classifier"]["output_name"] == "tumour_probability"
    assert (
        card["models"]["segmenter"]["file"] == JOINT_FILE
        and card["models"]["segmenter"]["output_name"] == "mask"
    )
    assert card["models"]["segmenter"]["training"]["epochs_run"] == 2
