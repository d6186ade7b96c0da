"""A classifier file and a segmenter file wrapped as one served file: same answers, one call."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from contract import CARD_FILE, JOINT_FILE, read_card, to_model_input
from service.inference import load_models
from service.settings import Settings
from training import lgg
from training.__main__ import main
from training.models import build_encoder_classifier, build_resunet
from training.models.pair import build_pair

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    folder = tmp_path_factory.mktemp("halves")
    build_encoder_classifier(64).save(folder / "classifier.keras")
    build_resunet(32, base_filters=4).save(folder / "segmenter.keras")
    card = {
        "models": {
            "classifier": {"name": "lgg-classifier", "threshold": 0.6},
            "segmenter": {
                "name": "lgg-segmenter",
                "threshold": 0.4,
                "postprocess": {"min_component_pixels": 10, "fill_holes": True},
            },
        },
        "split": {"patients": {"train": [], "validation": [], "test": ["TCGA_HT_7605"]}},
    }
    (folder / CARD_FILE).write_text(json.dumps(card))
    return folder


def test_the_pair_answers_what_each_network_answers_alone(halves):
    classifier = keras.saving.load_model(halves / "classifier.keras")
    segmenter = keras.saving.load_model(halves / "segmenter.keras")
    pair = build_pair(classifier, segmenter)
    records = lgg.build_index(FIXTURES)
    slices = [lgg.read_image(FIXTURES / r.image_path) for r in records[:3]]
    out = pair.predict_on_batch(np.stack([to_model_input(s, 64) for s in slices]))
    np.testing.assert_allclose(
        out["tumour_probability"],
        classifier.predict_on_batch(np.stack([to_model_input(s, 64) for s in slices])),
        atol=1e-6,
    )
    # the segmenter's input is the pair's, average-pooled: area resizing, without rounding to whole grey levels
    np.testing.assert_allclose(
        out["mask"], segmenter.predict_on_batch(np.stack([to_model_input(s, 32) for s in slices])), atol=0.02
    )
    assert out["mask"].shape == (3, 32, 32, 1)


def test_wrap_writes_one_servable_file_with_the_source_card_settings(halves, tmp_path):
    out = tmp_path / "served"
    assert (
        main(
            [
                "wrap",
                "--classifier",
                str(halves / "classifier.keras"),
                "--segmenter",
                str(halves / "segmenter.keras"),
                "--card",
                str(halves),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    card = read_card(out)
    assert sorted(p.name for p in out.iterdir()) == ["joint.keras", "joint.onnx", "model_card.json"]
    classifier, segmenter = card["models"]["classifier"], card["models"]["segmenter"]
    assert classifier["file"] == segmenter["file"] == JOINT_FILE and classifier["threshold"] == 0.6
    assert segmenter["postprocess"] == {"min_component_pixels": 10, "fill_holes": True}
    assert (card["gate"], card["volume_gate"]) == ("classifier", "mask"), "the two-model layout's gates"
    assert card["wrapped"]["segmenter"]["input"] == [32, 32, 3] and card["split"]["patients"]["test"] == [
        "TCGA_HT_7605"
    ]
    for runtime in ("keras", "onnxruntime"):
        loaded = load_models(Settings(models_dir=out, runtime=runtime))
        assert loaded.classifier.runner is loaded.segmenter.runner and loaded.classifier.threshold == 0.6
        assert loaded.classifier.input_size == 64


def test_sides_that_do_not_divide_and_two_output_halves_are_refused():
    with pytest.raises(ValueError, match="divide"):
        build_pair(build_encoder_classifier(64), build_resunet(48, base_filters=4))
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    two = keras.Model(inputs, [keras.layers.Dense(1)(pooled), keras.layers.Dense(1)(pooled)])
    with pytest.raises(ValueError, match="one output"):
        build_pair(two, build_resunet(32, base_filters=4))
