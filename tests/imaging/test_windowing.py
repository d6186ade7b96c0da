"""The documented rule for data that is not 8-bit: per-channel 0.5-99.5 percentile window."""

from __future__ import annotations

import numpy as np

from imaging.windowing import linear_window, percentile_window, to_uint8


def test_percentile_window_maps_percentiles_to_0_and_255():
    values = np.arange(20_000, dtype=np.uint16).reshape(100, 200) * 3 + 1000
    low, high = np.percentile(values, [0.5, 99.5])

    out = percentile_window(values)

    assert out.dtype == np.uint8
    assert out[values <= low].max() == 0 and out[values >= high].min() == 255
    mid = values == 1000 + 3 * 10_000
    expected = np.rint((1000 + 3 * 10_000 - low) / (high - low) * 255)
    assert out[mid][0] == expected


def test_outliers_do_not_squash_the_range():
    values = np.tile(np.linspace(0, 1000, 256), (256, 1))
    values[0, 0] = 1e9  # one hot pixel

    out = percentile_window(values)

    low, high = np.percentile(values, [0.5, 99.5])
    assert high < 1001 and abs(int(out[128, 128]) - (values[128, 128] - low) / (high - low) * 255) <= 1


def test_constant_and_non_finite_channels():
    assert not percentile_window(np.full((40, 40), 777, np.uint16)).any()
    values = np.linspace(0, 1, 1600, dtype=np.float32).reshape(40, 40)
    values[0, :5] = np.nan
    assert percentile_window(values)[0, 0] == 0


def test_channels_are_windowed_separately():
    image = np.stack([np.arange(1600).reshape(40, 40) * k for k in (1, 10, 100)], axis=-1).astype(np.uint32)

    out = to_uint8(image)

    assert out.shape == (40, 40, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_uint8_is_kept_and_bool_is_0_or_255():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert to_uint8(image) is image
    assert set(np.unique(to_uint8(image > 100))) == {0, 255}


def test_linear_window_with_zero_width_is_a_step():
    assert linear_window(np.array([1.0, 5.0, 9.0]), 5.0, 5.0).tolist() == [0, 0, 255]


def test_a_volume_is_windowed_as_a_whole_onto_its_top():
    """Whole volumes (contract.volume.normalise_volume) use the same window: the high percentile of
    all voxels lands on ``top``, brighter voxels above it up to 255."""
    volume = np.random.default_rng(1).gamma(2.0, 300.0, (64, 64, 12)).astype(np.float32)
    low, high = np.percentile(volume, [0.5, 99.5])

    out = percentile_window(volume, top=148.0)

    assert out.shape == volume.shape and out.dtype == np.uint8
    assert out[volume <= low].max() == 0
    near_high = np.abs(volume - high) < (high - low) / 1000
    assert near_high.any() and np.abs(out[near_high].astype(int) - 148).max() <= 1
    assert out.max() > 148


def test_large_arrays_are_windowed_from_a_subsample():
    """Over PERCENTILE_SAMPLE values the percentiles come from every k-th value: the window is the
    same as from all values, but for a level or so."""
    from imaging.windowing import PERCENTILE_SAMPLE

    values = np.random.default_rng(2).normal(1000.0, 200.0, PERCENTILE_SAMPLE * 2 + 7).astype(np.float32)
    low, high = np.percentile(values, [0.5, 99.5])
    exact = linear_window(values, float(low), float(high))

    assert np.abs(percentile_window(values).astype(int) - exact).max() <= 1
