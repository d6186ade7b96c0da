"""The model-file contract shared by training and serving."""

import numpy as np
import pytest

from contract import spec  # the module under test (contract/__init__.py re-exports its names)


def test_to_model_input_resizes_and_keeps_the_raw_range():
    image = np.full((256, 200, 3), 200, np.uint8)
    x = spec.to_model_input(image, 128)
    assert x.shape == (128, 128, 3) and x.dtype == np.float32
    assert np.allclose(x, 200.0)
    assert spec.to_model_input(np.zeros((64, 64, 3), np.uint8), 64).shape == (64, 64, 3)


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.float32)]
)
def test_to_model_input_refuses_other_layouts(bad):
    with pytest.raises(ValueError):
        spec.to_model_input(bad, 8)


def test_mask_from_probabilities_resizes_back_then_thresholds():
    prob = np.zeros((4, 4, 1), np.float32)
    prob[:2, :2] = 1.0
    mask = spec.mask_from_probabilities(prob, (8, 12), 0.5)
    assert mask.shape == (8, 12) and mask.dtype == bool
    assert mask[0, 0] and not mask[-1, -1]
    assert mask.sum() == pytest.approx(8 * 12 / 4, rel=0.35)


def test_tumour_probability_reads_sigmoid_and_softmax_heads():
    assert spec.tumour_probability(np.array([[0.2], [0.9]])).tolist() == pytest.approx([0.2, 0.9])
    assert spec.tumour_probability(np.array([[0.8, 0.2], [0.1, 0.9]])).tolist() == pytest.approx([0.2, 0.9])
    with pytest.raises(ValueError):
        spec.tumour_probability(np.zeros((2, 3)))


def test_file_version_is_a_content_hash(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"weights-1")
    b.write_bytes(b"weights-1")
    assert spec.file_version(a) == spec.file_version(b) and len(spec.file_version(a)) == 12
    b.write_bytes(b"weights-2")
    assert spec.file_version(a) != spec.file_version(b)


def test_card_round_trip(tmp_path):
    assert spec.read_card(tmp_path) == {}
    spec.write_card(tmp_path, {"models": {"classifier": {"threshold": 0.4}}})
    assert spec.read_card(tmp_path)["models"]["classifier"]["threshold"] == 0.4


def test_flair_only_puts_flair_in_every_channel_of_one_slice_or_a_batch():
    image = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 200, 30)], axis=-1)
    assert spec.CHANNELS[spec.FLAIR_CHANNEL] == "FLAIR"
    assert np.all(spec.flair_only(image) == 200) and spec.flair_only(image).shape == (4, 4, 3)
    assert np.all(spec.flair_only(np.stack([image, image])) == 200)
