"""training/oof.py: out-of-fold predictions of a joint model, flip TTA as the service applies it."""

from __future__ import annotations

import numpy as np
import pytest

from contract import MASK_OUTPUT, PROBABILITY_OUTPUT, to_model_input
from training.oof import predict_joint


@pytest.fixture(scope="module")
def model():
    """A joint model with random weights (not mirror-symmetric)."""
    import keras

    from training.models import build_joint

    keras.utils.set_random_seed(0)
    return build_joint(32, base_filters=4)


def test_flip_predictions_are_the_mean_of_the_slice_and_its_mirror_the_mask_mirrored_back(model):
    images = np.random.default_rng(2).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    prob, mask = predict_joint(model, images, "flip", batch_size=2)  # batches of 2, 2 and 1
    answers = [
        model.predict_on_batch(np.stack([to_model_input(im, 32) for im in x]))
        for x in (images, images[:, :, ::-1])
    ]
    plain, mirrored = ({k: np.asarray(a[k]) for k in (PROBABILITY_OUTPUT, MASK_OUTPUT)} for a in answers)
    np.testing.assert_allclose(
        prob, (plain[PROBABILITY_OUTPUT] + mirrored[PROBABILITY_OUTPUT])[:, 0] / 2, atol=1e-5
    )
    np.testing.assert_allclose(
        mask, (plain[MASK_OUTPUT] + mirrored[MASK_OUTPUT][:, :, ::-1])[..., 0] / 2, atol=1e-3
    )
    assert mask.dtype == np.float16 and mask.shape == (5, 32, 32)

    none_prob, none_mask = predict_joint(model, images)
    np.testing.assert_allclose(none_prob, plain[PROBABILITY_OUTPUT][:, 0], atol=1e-5)
    assert not np.allclose(none_mask.astype(np.float32), mask.astype(np.float32), atol=1e-3)
