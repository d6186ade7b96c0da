"""training/predictor.py: a models folder's answers as the service gives them, the card's TTA included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contract.spec import CARD_FILE, JOINT_FILE, MASK_OUTPUT, PROBABILITY_OUTPUT
from contract.tta import FLIP, TTA_KEY
from training.predictor import FolderPredictor


@pytest.fixture(scope="module")
def asymmetric(tmp_path_factory):
    """A models folder of one joint model with random weights (not mirror-symmetric), its card naming no TTA."""
    import keras

    from training.models import build_joint

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("asymmetric")
    build_joint(32, base_filters=4).save(folder / JOINT_FILE)
    outputs = {"classifier": PROBABILITY_OUTPUT, "segmenter": MASK_OUTPUT}
    card = {"models": {role: {"name": f"random-{role}", "file": JOINT_FILE, "output_name": output}
                       for role, output in outputs.items()}}
    (folder / CARD_FILE).write_text(json.dumps(card))
    return folder


def _slices() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)


def test_the_cards_flip_tta_averages_the_answers_to_each_slice_and_its_mirror(asymmetric):
    plain = FolderPredictor(asymmetric)
    assert plain.tta == "none"
    card = json.loads((asymmetric / CARD_FILE).read_text())
    (asymmetric / CARD_FILE).write_text(json.dumps({**card, TTA_KEY: FLIP}))
    try:
        flip = FolderPredictor(asymmetric)
    finally:
        (asymmetric / CARD_FILE).write_text(json.dumps(card))
    assert flip.tta == FLIP

    images = _slices()
    prob, mask = flip.predict(images)
    once_prob, once_mask = plain.predict(images)
    mirror_prob, mirror_mask = plain.predict(images[:, :, ::-1])
    np.testing.assert_allclose(prob, (once_prob + mirror_prob) / 2, atol=1e-6)
    np.testing.assert_allclose(mask, (once_mask + mirror_mask[:, :, ::-1]) / 2, atol=1e-6)
    assert prob.shape == (3,) and mask.shape == (3, 32, 32)
    assert not np.allclose(mask, once_mask, atol=1e-4)  # the model is not mirror-symmetric: flip changes the answer
