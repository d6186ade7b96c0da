"""Builders give the right shapes and parameter counts and check their arguments."""

import numpy as np
import pytest

from contract.spec import PREPROCESS_LAYER
from training.models import build_encoder_classifier, build_joint, build_resunet


def test_resunet_matches_the_original_parameter_count():
    model = build_resunet(256)
    assert model.count_params() == 1_210_513
    assert model.input_shape == (None, 256, 256, 3)
    assert model.output_shape == (None, 256, 256, 1)
    assert model.layers[1].name == PREPROCESS_LAYER


def test_resunet_is_size_agnostic_in_parameters():
    assert build_resunet(64).count_params() == 1_210_513
    assert build_resunet(64).output_shape == (None, 64, 64, 1)


@pytest.mark.parametrize("size", [0, 100, 17])
def test_bad_image_size_is_refused_early(size):
    with pytest.raises(ValueError, match="image_size"):
        build_resunet(size)


def test_encoder_classifier_starts_from_a_trained_segmenter(tmp_path):
    segmenter = build_resunet(32)
    segmenter.save(tmp_path / "segmenter.keras")
    model = build_encoder_classifier(32, segmenter=str(tmp_path / "segmenter.keras"))
    assert model.output_shape == (None, 1) and model.count_params() <= 3_000_000
    for name in ("stem_conv1", "enc2_conv2", "bottleneck_short_bn"):
        pairs = zip(model.get_layer(name).get_weights(), segmenter.get_layer(name).get_weights(), strict=True)
        for mine, theirs in pairs:
            np.testing.assert_array_equal(mine, theirs)
    fresh = build_encoder_classifier(32)
    assert not np.array_equal(
        fresh.get_layer("stem_conv1").get_weights()[0], segmenter.get_layer("stem_conv1").get_weights()[0]
    )
    build_joint(32)  # shares the encoder's layer names: a joint model would start it too
    other = tmp_path / "other.keras"
    import keras

    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Dense(1, name="not_an_encoder")(inputs)).save(other)
    with pytest.raises(ValueError, match="no ResUNet encoder"):
        build_encoder_classifier(32, segmenter=str(other))
