"""Augmentation and the PyDataset of the training loop."""

import numpy as np
import pytest

from training.__main__ import _parser
from contract import FLAIR_CHANNEL
from training.dataset import Augment, SliceDataset


def _slice(size=32):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size, 1), np.uint8)
    mask[4:12, 6:20] = 1
    return image, mask


def test_geometry_moves_image_and_mask_together():
    image, mask = _slice()
    image[..., :] = mask * 200  # the image shows the mask, so both must stay aligned
    augment = Augment(flip=True, rotation=20, scale=0.2, gain=0, shift=0, flair_only=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        out, out_mask = augment(rng, image, mask)
        assert out.shape == image.shape and out_mask.shape == mask.shape
        bright = out[..., 1] > 100
        overlap = (bright & (out_mask[..., 0] > 0)).sum() / max(bright.sum(), 1)
        assert overlap > 0.85


def test_flair_only_repeats_the_flair_channel_as_the_service_does_for_grey_input():
    image, mask = _slice()
    rng = np.random.default_rng(0)
    out, _ = Augment(rotation=0, scale=0, gain=0, shift=0, flip=False, flair_only=1.0)(rng, image, mask)
    assert np.array_equal(out, np.repeat(image[..., FLAIR_CHANNEL : FLAIR_CHANNEL + 1], 3, axis=2).astype(np.float32))
    out, _ = Augment(rotation=0, scale=0, gain=0, shift=0, flip=False, flair_only=0.0)(rng, image, mask)
    assert np.array_equal(out, image.astype(np.float32))
    with pytest.raises(ValueError):
        Augment(flair_only=1.5)


def test_each_epoch_draws_every_kept_slice_and_a_share_of_the_others():
    images = np.zeros((20, 8, 8, 3), np.uint8)
    labels = np.arange(20, dtype=np.float32)[:, None]
    keep = np.arange(20) < 5
    ds = SliceDataset(images, labels, batch_size=4, augment=Augment(), keep=keep, other_fraction=0.4, seed=0)
    drawn = np.concatenate([ds[i][1][:, 0] for i in range(len(ds))]).astype(int)
    assert len(drawn) == 5 + 6 and set(range(5)) <= set(drawn) and len(set(drawn)) == len(drawn)
    validation = SliceDataset(images, labels, batch_size=8)
    assert np.concatenate([validation[i][1][:, 0] for i in range(len(validation))]).tolist() == list(range(20))


def test_cli_augmentation_overrides():
    args = _parser().parse_args(["train", "segmenter", "--augment", "flair_only=0", "--augment", "flip=false"])
    assert dict(args.augment) == {"flair_only": 0.0, "flip": False}
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "segmenter", "--augment", "flair_only"])
