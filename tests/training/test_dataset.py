"""Augmentation and the PyDataset of the training loop."""

import numpy as np
import pytest

from contract import FLAIR_CHANNEL
from training.__main__ import _parser
from training.dataset import Augment, SliceDataset, _percentiles


def _slice(size=32):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size, 1), np.uint8)
    mask[4:12, 6:20] = 1
    return image, mask


def test_geometry_moves_image_and_mask_together():
    image, mask = _slice()
    image[..., :] = mask * 200  # the image shows the mask, so both must stay aligned
    augment = Augment(flip=True, rotation=20, scale=0.2, gain=0, shift=0, flair_only=0, windowed=0)
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
    out, _ = Augment(rotation=0, scale=0, gain=0, shift=0, flip=False, flair_only=1.0, windowed=0)(rng, image, mask)
    assert np.array_equal(out, np.repeat(image[..., FLAIR_CHANNEL : FLAIR_CHANNEL + 1], 3, axis=2))
    out, _ = Augment(rotation=0, scale=0, gain=0, shift=0, flip=False, flair_only=0.0, windowed=0)(rng, image, mask)
    assert np.array_equal(out, image)
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


def test_windowing_stretches_each_channel_as_the_service_reads_16_bit_data():
    image, mask = _slice()
    image = (image // 4).astype(np.uint8)  # a dull slice: 0..63
    augment = Augment(flip=False, rotation=0, scale=0, gain=0, shift=0, flair_only=0, windowed=1.0, gamma=0.0,
                      window_jitter=0.0)
    out, out_mask = augment(np.random.default_rng(0), image, mask)
    assert np.array_equal(out_mask, mask)
    for c in range(3):  # the 0.5th..99.5th percentile window maps each channel onto the full range
        assert out[..., c].min() == 0 and out[..., c].max() == 255
        assert (out[..., c] == 255).mean() < 0.02
    with pytest.raises(ValueError):
        Augment(windowed=2.0)


def test_batches_depend_on_seed_and_epoch_only_so_a_resumed_run_sees_the_same_data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    masks = (rng.random((12, 16, 16, 1)) > 0.9).astype(np.uint8)
    straight = SliceDataset(images, masks, batch_size=4, augment=Augment(), seed=3)
    straight.on_epoch_end()  # the second epoch of a run ...
    resumed = SliceDataset(images, masks, batch_size=4, augment=Augment(), seed=3, epoch=1)
    # ... and the first epoch of the run resumed after one epoch
    for i in range(len(straight)):
        np.testing.assert_array_equal(straight[i][0], resumed[i][0])
        np.testing.assert_array_equal(straight[i][1], resumed[i][1])
    first = SliceDataset(images, masks, batch_size=4, augment=Augment(), seed=3)
    assert not np.array_equal(first[0][0], straight[0][0])


def test_joint_batches_carry_masks_and_slice_labels():
    images = np.zeros((4, 8, 8, 3), np.uint8)
    masks = np.zeros((4, 8, 8, 1), np.uint8)
    masks[1, 2:4, 2:4] = 1
    _, targets = SliceDataset(images, masks, batch_size=4, joint=True)[0]
    assert targets["mask"].shape == (4, 8, 8, 1)
    assert targets["tumour_probability"][:, 0].tolist() == [0, 1, 0, 0]


def test_window_percentiles_from_the_histogram_equal_numpys():
    rng = np.random.default_rng(5)
    channel = rng.integers(0, 90, (64, 64), dtype=np.uint8)
    curve = 255.0 * (np.arange(256) / 255.0) ** 1.3  # any non-decreasing map of the grey levels
    expected = np.percentile(curve[channel], [0.5, 99.5])
    got = _percentiles(curve, np.bincount(channel.ravel(), minlength=256), (0.5, 99.5))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_intensity_jitter_stays_within_its_range_and_returns_whole_grey_levels():
    image, mask = _slice()
    augment = Augment(flip=False, rotation=0, scale=0, gain=0.1, shift=10, flair_only=0, windowed=0)
    out, _ = augment(np.random.default_rng(2), image, mask)
    assert out.dtype == np.uint8
    diff = out.astype(float) - image.astype(float)
    assert np.abs(diff).max() <= 0.1 * 255 + 10 + 0.5
    with pytest.raises(ValueError, match="uint8"):
        augment(np.random.default_rng(2), image.astype(np.float32), mask)
