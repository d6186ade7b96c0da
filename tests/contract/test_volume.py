"""contract.volume: slices in the training orientation from any voxel layout, per-volume intensity
window, 3-D post-processing, and the volume pipeline with hand-made predictors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

from contract.spec import SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY
from contract.volume import (
    VOLUME_TARGET,
    AxialFrame,
    normalise_volume,
    postprocess_volume_mask,
    predict_volume,
    volume_sequences,
)


def _affine(codes: tuple[str, str, str], shape: tuple[int, int, int]) -> np.ndarray:
    """An affine whose voxel axes point along ``codes`` (e.g. ("L", "P", "S"))."""
    return np.linalg.inv(inv_ornt_aff(axcodes2ornt(codes), shape))


LAYOUTS = [
    ("R", "A", "S"),
    ("L", "P", "S"),
    ("L", "A", "I"),
    ("P", "L", "I"),
    ("S", "R", "A"),
    ("A", "I", "L"),
]


@pytest.mark.parametrize("codes", LAYOUTS, ids="".join)
def test_slices_map_back_onto_the_input_grid_exactly(codes):
    shape = (5, 6, 7)
    volume = np.random.default_rng(0).random(shape)
    frame = AxialFrame.of(_affine(codes, shape), shape)
    slices = frame.to_slices(volume)
    assert slices.shape == (frame.n_slices, *frame.slice_shape)
    assert frame.slice_axis == [c in "SI" for c in codes].index(True)
    assert frame.n_slices == shape[frame.slice_axis]
    np.testing.assert_array_equal(frame.from_slices(slices), volume)


@pytest.mark.parametrize("codes", LAYOUTS, ids="".join)
def test_slices_are_in_the_training_orientation_whatever_the_layout(codes):
    """The voxel most right-anterior-superior lands at the top left of the most superior slice."""
    canonical = np.zeros((4, 5, 6))  # R-L, A-P, S-I extents, RAS index order
    canonical[3, 4, 5] = 1.0  # most right, most anterior, most superior
    canonical[0, 0, 0] = 2.0  # most left, posterior, inferior
    stored = apply_orientation(canonical, ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(codes)))
    frame = AxialFrame.of(_affine(codes, stored.shape), stored.shape)
    slices = frame.to_slices(stored)
    assert slices.shape == (6, 5, 4)
    top = int(np.argwhere(slices == 1.0)[0][0])
    bottom = int(np.argwhere(slices == 2.0)[0][0])
    assert slices[top][0, 0] == 1.0  # top row = anterior, left column = patient's right
    assert slices[bottom][-1, -1] == 2.0
    ascending = "S" in codes  # input slice index grows toward superior
    assert (top, bottom) == ((5, 0) if ascending else (0, 5))


def test_slice_order_follows_the_input_slice_axis():
    shape = (3, 3, 4)
    volume = np.zeros(shape)
    for k in range(4):
        volume[:, :, k] = k
    for codes in (("R", "A", "S"), ("R", "A", "I")):
        slices = AxialFrame.of(_affine(codes, shape), shape).to_slices(volume)
        assert [float(s.mean()) for s in slices] == [0.0, 1.0, 2.0, 3.0]


def test_normalisation_does_not_depend_on_the_scale_or_dtype():
    rng = np.random.default_rng(3)
    volume = rng.integers(0, 200, size=(20, 20, 10)).astype(np.uint8)
    as_float = volume.astype(np.float32) * 37.5 + 1000.0
    np.testing.assert_array_equal(normalise_volume(volume), normalise_volume(as_float))
    out = normalise_volume(volume)
    assert out.shape == (20, 20, 10, 3) and out.dtype == np.uint8
    assert np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2])  # FLAIR on all three
    assert abs(np.percentile(out[..., 1], 99.5) - VOLUME_TARGET[1]) <= 2


def test_normalisation_is_over_the_volume_not_per_slice():
    """A nearly empty top slice stays dark: per-slice stretching would make its faint noise bright."""
    volume = np.zeros((16, 16, 4), np.float32)
    volume[:, :, :3] = 1000.0
    volume[5:8, 5:8, 3] = 20.0  # faint
    out = normalise_volume(volume)
    assert out[..., 3, 1].max() < 10
    assert out[..., 0, 1].max() > 100


def test_three_sequences_are_windowed_each_on_their_own():
    volume = np.stack([np.full((8, 8, 2), v, np.float32) for v in (10.0, 20.0, 30.0)], axis=-1)
    volume[0, 0, 0] = 0.0
    out = normalise_volume(volume)
    assert out.shape == (8, 8, 2, 3)
    assert volume_sequences(volume) == SEQUENCES_ALL
    assert volume_sequences(volume[..., 1]) == SEQUENCES_FLAIR_ONLY
    with pytest.raises(ValueError):
        normalise_volume(np.zeros((4, 4, 4, 2)))


def test_postprocessing_keeps_the_components_it_says():
    mask = np.zeros((10, 10, 10), bool)
    mask[1:5, 1:5, 1:5] = True  # 64 voxels
    mask[7:9, 7:9, 7:9] = True  # 8 voxels, 12.5% of the largest
    mask[9, 0, 9] = True  # 1 voxel
    assert postprocess_volume_mask(mask, "none").sum() == 73
    assert postprocess_volume_mask(mask, "largest").sum() == 64
    assert postprocess_volume_mask(mask, "drop_small").sum() == 72
    diagonal = np.zeros((3, 3, 3), bool)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = True  # 26-connected across slices
    assert postprocess_volume_mask(diagonal, "largest").sum() == 2
    with pytest.raises(ValueError):
        postprocess_volume_mask(mask, "biggest")


def test_predict_volume_batches_gates_and_maps_back():
    """Hand-made predictors: the segmenter marks FLAIR > 127.5, the classifier says tumour on
    slices whose brightest pixel is over 127.5."""
    shape = (12, 10, 7)
    volume = np.zeros(shape, np.float32)
    volume[2:5, 3:6, 2:4] = 50.0
    volume[3:8, 2:7, 4:6] = 200.0
    calls: list[int] = []

    def run(batch):  # the classifier says "tumour" where FLAIR is bright; the segmenter maps FLAIR
        calls.append(len(batch))
        probabilities = (batch[..., 1].reshape(len(batch), -1).max(axis=1) > 127.5).astype(np.float32)
        return probabilities, batch[..., 1:2].astype(np.float32) / 255.0

    for codes in itertools.islice(LAYOUTS, 3):
        affine = _affine(codes, shape)
        calls = []
        done: list[tuple[int, int]] = []
        result = predict_volume(
            volume,
            affine,
            run,
            0.5,
            0.5,
            batch_size=3,
            postprocess="none",
            gate="classifier",
            progress=lambda start, total, done=done: done.append((start, total)),
        )
        assert result.mask.shape == shape
        n = result.frame.n_slices
        assert calls == [3] * (n // 3) + ([n % 3] if n % 3 else [])
        assert done == [(start, n) for start in range(0, n, 3)]
        np.testing.assert_array_equal(result.mask, volume == 200.0)
        assert result.has_tumour.sum() == (result.slice_pixels() > 0).sum()


def test_streaming_gives_what_the_whole_volume_window_gives():
    """predict_volume windows a batch at a time: the slices the models see are exactly those of
    normalise_volume on the whole volume, for 3-D and 4-D, float with NaN and integer voxels."""
    rng = np.random.default_rng(3)
    volumes = [
        rng.normal(300, 80, (11, 11, 13)).astype(np.float32),
        rng.integers(0, 4000, (11, 11, 13, 3)).astype(np.int16),
    ]
    volumes[0][0, 0, :4] = np.nan
    for volume in volumes:
        affine = _affine(("L", "P", "S"), volume.shape[:3])
        seen: list[np.ndarray] = []

        def run(batch, seen=seen):
            seen.append(batch.copy())
            return np.zeros(len(batch), np.float32), np.zeros(batch.shape[:3])

        predict_volume(volume, affine, run, 0.5, 0.5, batch_size=4)
        whole = AxialFrame.of(affine, volume.shape).to_slices(normalise_volume(volume))
        np.testing.assert_array_equal(np.concatenate(seen), whole)
