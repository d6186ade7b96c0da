"""Builders give the right shapes and parameter counts and check their arguments."""

import numpy as np
import pytest

from contract.spec import PREPROCESS_LAYER
from training.models import build_classifier, build_compact_classifier, build_resunet


def test_resunet_matches_the_original_parameter_count():
    model = build_resunet(256)
    assert model.count_params() == 1_210_513
    assert model.input_shape == (None, 256, 256, 3)
    assert model.output_shape == (None, 256, 256, 1)
    assert model.layers[1].name == PREPROCESS_LAYER


def test_resunet_is_size_agnostic_in_parameters():
    assert build_resunet(64).count_params() == 1_210_513
    assert build_resunet(64).output_shape == (None, 64, 64, 1)


def test_compact_classifier_is_small_and_outputs_one_probability():
    model = build_compact_classifier(128)
    assert model.count_params() <= 3_000_000
    assert model.output_shape == (None, 1)
    assert model.layers[1].name == PREPROCESS_LAYER


def test_resnet50_head_is_the_original_two_way_softmax():
    model = build_classifier("resnet50", 128)
    assert model.output_shape == (None, 2)
    names = [layer.name for layer in model.layers]
    assert names[-7:] == ["head_pool", "head_flatten", "head_dense1", "head_dropout1", "head_dense2",
                          "head_dropout2", "tumour_softmax"]


@pytest.mark.parametrize("size", [0, 100, 17])
def test_bad_image_size_is_refused_early(size):
    with pytest.raises(ValueError, match="image_size"):
        build_resunet(size)


def test_resnet50_refuses_inputs_too_small_for_its_head():
    with pytest.raises(ValueError, match="at least 128"):
        build_classifier("resnet50", 64)


def test_unknown_architecture_and_misplaced_weights_are_refused():
    with pytest.raises(ValueError, match="architecture"):
        build_classifier("vgg")
    with pytest.raises(ValueError, match="resnet50"):
        build_classifier("compact", 64, weights="x.h5")


def test_encoder_classifier_starts_from_a_trained_segmenter(tmp_path):
    segmenter = build_resunet(32)
    segmenter.save(tmp_path / "segmenter.keras")
    model = build_classifier("resunet_encoder", 32, weights=str(tmp_path / "segmenter.keras"))
    assert model.output_shape == (None, 1) and model.count_params() <= 3_000_000
    for name in ("stem_conv1", "enc2_conv2", "bottleneck_short_bn"):
        pairs = zip(model.get_layer(name).get_weights(), segmenter.get_layer(name).get_weights(), strict=True)
        for mine, theirs in pairs:
            np.testing.assert_array_equal(mine, theirs)
    fresh = build_classifier("resunet_encoder", 32)
    assert not np.array_equal(fresh.get_layer("stem_conv1").get_weights()[0],
                              segmenter.get_layer("stem_conv1").get_weights()[0])
    compact = build_compact_classifier(32)
    compact.save(tmp_path / "compact.keras")
    with pytest.raises(ValueError, match="no ResUNet encoder"):
        build_classifier("resunet_encoder", 32, weights=str(tmp_path / "compact.keras"))
