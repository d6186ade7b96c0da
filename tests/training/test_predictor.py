"""training/predictor.py: a models folder's answers as the service gives them, the card's TTA included."""

from __future__ import annotations

import numpy as np

from contract.tta import FLIP, NO_TTA
from tests.tiny_models import build_random_joint
from training.predictor import FolderPredictor


def test_the_cards_flip_tta_averages_the_answers_to_each_slice_and_its_mirror(tmp_path):
    plain = FolderPredictor(build_random_joint(tmp_path / "plain"))
    flip = FolderPredictor(
        build_random_joint(tmp_path / "flip", tta=FLIP)
    )  # the same weights, the card says flip
    assert (plain.tta, flip.tta) == (NO_TTA, FLIP)

    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    prob, mask = flip.predict(images)
    once_prob, once_mask = plain.predict(images)
    mirror_prob, mirror_mask = plain.predict(images[:, :, ::-1])
    np.testing.assert_allclose(prob, (once_prob + mirror_prob) / 2, atol=1e-6)
    np.testing.assert_allclose(mask, (once_mask + mirror_mask[:, :, ::-1]) / 2, atol=1e-6)
    assert prob.shape == (3,) and mask.shape == (3, 32, 32)
    assert not np.allclose(
        mask, once_mask, atol=1e-4
    )  # the model is not mirror-symmetric: flip changes the answer
