"""Augmentation inside the training step (Keras ops): what each setting does to a packed batch."""

import keras
import numpy as np
import pytest

from contract import FLAIR_CHANNEL
from training.augment import Augment, AugmentLayer
from training.batches import pack

NONE = {
    "flip": False,
    "rotation": 0.0,
    "scale": 0.0,
    "gain": 0.0,
    "shift": 0.0,
    "flair_only": 0.0,
    "windowed": 0.0,
}


def _batch(count=6, size=32, seed=1):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    masks = np.zeros((count, size, size, 1), np.uint8)
    masks[:, 4:12, 6:20] = 1
    return pack(images, masks)


def _run(settings: dict, packed: np.ndarray, seed: int = 0, training: bool = True) -> np.ndarray:
    return keras.ops.convert_to_numpy(AugmentLayer(settings, seed=seed)(packed, training=training))


def test_outside_training_the_batch_passes_unchanged():
    packed = _batch()
    out = _run({}, packed, training=False)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, packed.astype(np.float32))


def test_geometry_moves_image_and_mask_together():
    packed = _batch()
    packed[..., :3] = packed[..., 3:] * 200  # the image shows the mask, so both must stay aligned
    out = _run({**NONE, "flip": True, "rotation": 20.0, "scale": 0.2}, packed)
    assert not np.array_equal(out, packed.astype(np.float32)), "something moved"
    for image, mask in zip(out[..., FLAIR_CHANNEL], out[..., 3], strict=True):
        bright = image > 100
        assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() > 0
        assert (bright & (mask > 0)).sum() / max(bright.sum(), 1) > 0.85


def test_flair_only_repeats_the_flair_channel_as_the_service_does_for_grey_input():
    packed = _batch()
    out = _run({**NONE, "flair_only": 1.0}, packed)
    np.testing.assert_array_equal(
        out[..., :3], np.repeat(packed[..., FLAIR_CHANNEL : FLAIR_CHANNEL + 1], 3, -1)
    )
    np.testing.assert_array_equal(_run(NONE, packed), packed.astype(np.float32))


def test_windowing_stretches_each_channel_as_the_service_reads_16_bit_data():
    packed = _batch()
    packed[..., :3] //= 4  # a dull slice: 0..63
    out = _run({**NONE, "windowed": 1.0, "gamma": 0.0, "window_jitter": 0.0}, packed)
    np.testing.assert_array_equal(out[..., 3], packed[..., 3])
    for image in out[..., :3]:
        for c in range(3):  # the 0.5th..99.5th percentile window maps each channel onto the full range
            assert image[..., c].min() == 0 and image[..., c].max() == 255
            assert (image[..., c] == 255).mean() < 0.03  # the top 0.5% and its ties (64 grey levels)


def test_intensity_jitter_stays_within_its_range_and_gives_whole_grey_levels():
    packed = _batch()
    out = _run({**NONE, "gain": 0.1, "shift": 10.0}, packed)
    np.testing.assert_array_equal(out, np.round(out))
    assert np.abs(out[..., :3] - packed[..., :3]).max() <= 0.1 * 255 + 10 + 0.5
    assert out[..., :3].min() >= 0 and out[..., :3].max() <= 255


def test_the_seed_decides_the_draw_and_the_settings_are_checked():
    packed = _batch()
    a, b, c = _run({}, packed, seed=5), _run({}, packed, seed=5), _run({}, packed, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for bad in ({"flair_only": 1.5}, {"windowed": 2.0}, {"scale": 1.0}, {"window_jitter": 0.6}):
        with pytest.raises(ValueError):
            Augment(**bad)
    layer = AugmentLayer({"flair_only": 0.5}, seed=3)
    assert AugmentLayer.from_config(layer.get_config()).augment == layer.augment
