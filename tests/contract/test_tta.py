"""contract/tta.py: flip test-time augmentation, the card's choice."""

from __future__ import annotations

import numpy as np
import pytest

from contract.tta import FLIP, NO_TTA, TTA_KEY, card_tta, flip_tta, with_tta

RNG = np.random.default_rng(0)
BATCH = RNG.uniform(0, 255, (3, 8, 8, 3)).astype(np.float32)
#: Weights that differ from column to column: a model that is not mirror-symmetric.
COLUMN_WEIGHTS = np.linspace(0.5, 2.0, 8, dtype=np.float32)


class Model:
    """A model call that is not mirror-symmetric: a probability and a map, weighted by column."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.batch_sizes.append(len(batch))
        weighted = batch[..., 1] * COLUMN_WEIGHTS  # (N, H, W): FLAIR weighted by its column
        return {
            "tumour_probability": weighted.mean(axis=(1, 2))[:, None] / 255,
            "mask": weighted[..., None] / 255,
        }


def test_flip_averages_the_answers_to_the_slice_and_its_mirror_in_one_call():
    model = Model()
    plain, mirror = model(BATCH), model(BATCH[:, :, ::-1])
    model.batch_sizes.clear()

    answer = flip_tta(model)(BATCH)

    assert model.batch_sizes == [2 * len(BATCH)]  # one call of the batch and its mirror
    np.testing.assert_allclose(
        answer["tumour_probability"],
        (plain["tumour_probability"] + mirror["tumour_probability"]) / 2,
        rtol=1e-6,
    )
    # the mirror's map is flipped back before averaging: column j of the answer mixes both views of column j
    np.testing.assert_allclose(answer["mask"], (plain["mask"] + mirror["mask"][:, :, ::-1]) / 2, rtol=1e-6)
    assert answer["mask"].shape == plain["mask"].shape and answer["mask"].dtype == np.float32
    assert not np.allclose(answer["mask"], plain["mask"]), "the model is not symmetric: the average differs"


def test_a_mirror_symmetric_model_is_unchanged_and_the_answer_is_mirror_invariant():
    def pixelwise(batch):  # the same function at every pixel: flipping in, flipping back changes nothing
        return {
            "mask": batch[..., 1:2] / 255,
            "tumour_probability": batch.mean(axis=(1, 2, 3))[:, None] / 255,
        }

    plain, flipped = pixelwise(BATCH), flip_tta(pixelwise)(BATCH)
    mirrored = flip_tta(Model())(BATCH[:, :, ::-1])
    original = flip_tta(Model())(BATCH)

    for name in plain:
        np.testing.assert_allclose(flipped[name], plain[name], rtol=1e-6)
    np.testing.assert_allclose(mirrored["tumour_probability"], original["tumour_probability"], rtol=1e-6)
    np.testing.assert_allclose(mirrored["mask"], original["mask"][:, :, ::-1], rtol=1e-6)


def test_none_is_the_call_itself_and_the_card_decides():
    model = Model()
    assert with_tta(model, NO_TTA) is model
    assert with_tta(model, FLIP)(BATCH)["mask"].shape == (3, 8, 8, 1)
    assert (
        card_tta({}) == NO_TTA and card_tta({TTA_KEY: FLIP}) == FLIP and card_tta({TTA_KEY: "none"}) == NO_TTA
    )
    with pytest.raises(ValueError, match="tta"):
        card_tta({TTA_KEY: "rotate"})
    with pytest.raises(ValueError, match="tta"):
        with_tta(model, "rotate")
