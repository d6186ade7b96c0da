"""The packed slices of the training loop: each epoch's draw, validation order, resumable order."""

import numpy as np
import pytest

from training.__main__ import _parser
from training.batches import SliceDataset, pack


def _packed(count=20, size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    masks = (rng.random((count, size, size, 1)) > 0.9).astype(np.uint8)
    return pack(images, masks)


def test_pack_puts_the_mask_behind_the_sequences_and_refuses_other_shapes():
    images = np.full((2, 4, 4, 3), 7, np.uint8)
    masks = np.zeros((2, 4, 4, 1), np.uint8)
    masks[1, 1, 1] = 1
    packed = pack(images, masks)
    assert packed.shape == (2, 4, 4, 4) and packed.dtype == np.uint8
    assert (packed[..., :3] == 7).all() and packed[..., 3].sum() == 1 and packed[1, 1, 1, 3] == 1
    with pytest.raises(ValueError, match="uint8"):
        pack(images.astype(np.float32), masks)
    with pytest.raises(ValueError, match="do not match"):
        pack(images, masks[:1])


def test_each_epoch_draws_every_kept_slice_and_a_share_of_the_others():
    packed = _packed()
    packed[..., 0] = np.arange(20, dtype=np.uint8)[:, None, None]  # each slice says which it is
    keep = np.arange(20) < 5
    ds = SliceDataset(packed, batch_size=4, draw=True, keep=keep, other_fraction=0.4, seed=0, on_device=False)
    drawn = np.concatenate([np.asarray(ds[i][0])[:, 0, 0, 0] for i in range(len(ds))]).astype(int)
    assert len(drawn) == 5 + 6 and set(range(5)) <= set(drawn) and len(set(drawn)) == len(drawn)
    validation = SliceDataset(packed, batch_size=8, on_device=False)
    assert np.concatenate([validation[i][0][:, 0, 0, 0] for i in range(len(validation))]).tolist() == list(
        range(20)
    )


def test_batches_depend_on_seed_and_epoch_only_so_a_resumed_run_sees_the_same_data():
    packed = _packed(12, 16)
    straight = SliceDataset(packed, batch_size=4, draw=True, seed=3, on_device=False)
    straight.on_epoch_end()  # the second epoch of a run ...
    resumed = SliceDataset(packed, batch_size=4, draw=True, seed=3, epoch=1, on_device=False)
    # ... and the first epoch of the run resumed after one epoch
    for i in range(len(straight)):
        np.testing.assert_array_equal(straight[i][0], resumed[i][0])
    first = SliceDataset(packed, batch_size=4, draw=True, seed=3, on_device=False)
    assert not np.array_equal(first[0][0], straight[0][0])


def test_slices_held_as_a_backend_tensor_give_the_same_batches():
    packed = _packed()
    host = SliceDataset(packed, batch_size=6, draw=True, seed=1, on_device=False)
    device = SliceDataset(packed, batch_size=6, draw=True, seed=1, on_device=True)
    for i in range(len(host)):
        np.testing.assert_array_equal(np.asarray(device[i][0]), host[i][0])


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="packed"):
        SliceDataset(np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        SliceDataset(_packed(), batch_size=0)


def test_cli_augmentation_overrides():
    args = _parser().parse_args(
        ["train", "segmenter", "--augment", "flair_only=0", "--augment", "flip=false"]
    )
    assert dict(args.augment) == {"flair_only": 0.0, "flip": False}
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "segmenter", "--augment", "flair_only"])
