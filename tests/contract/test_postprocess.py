"""Mask post-processing: small components removed (scaled with the slice area), holes filled."""

import numpy as np
import pytest

from contract import NATIVE_SLICE_SIZE
from contract.postprocess import NO_POSTPROCESS, postprocess_mask, postprocess_settings


def _mask(size=NATIVE_SLICE_SIZE):
    mask = np.zeros((size, size), bool)
    mask[20:60, 20:60] = True  # a 1,600-pixel lesion with a hole
    mask[35:40, 35:40] = False
    mask[100:103, 100:103] = True  # a 9-pixel speck
    return mask


def test_no_settings_change_nothing():
    mask = _mask()
    assert np.array_equal(postprocess_mask(mask, **NO_POSTPROCESS), mask)


def test_small_components_go_and_large_ones_stay():
    out = postprocess_mask(_mask(), min_component_pixels=10)
    assert not out[100:103, 100:103].any()
    assert out[20:60, 20:60].sum() == 1600 - 25


def test_holes_are_filled_but_the_background_is_not():
    out = postprocess_mask(_mask(), fill_holes=True)
    assert out[20:60, 20:60].all()
    assert out.sum() == 1600 + 9


def test_the_minimum_size_scales_with_the_slice_area():
    small = _mask()[::2, ::2]  # the same slice at half the size: the speck has 4 pixels, the limit is 2.5
    assert postprocess_mask(small, min_component_pixels=10)[50:52, 50:52].all()
    assert not postprocess_mask(small, min_component_pixels=20)[50:52, 50:52].any()


@pytest.mark.parametrize("seed", range(6))
def test_equals_scipy_on_random_masks_of_blobs_specks_and_holes(seed):
    """scipy.ndimage as the reference: holes filled (4-connected background not reaching the border),
    then 8-connected components under the scaled size dropped; masks touching the border included."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(40, 300)), int(rng.integers(40, 300)))
    mask = ndimage.binary_opening(rng.random(shape) < 0.55, iterations=1) & (rng.random(shape) < 0.97)
    mask[: rng.integers(0, 4)] = False  # some masks reach the border, some do not
    for fill in (False, True):
        for minimum in (0, 10, 50):
            expected = ndimage.binary_fill_holes(mask) if fill else mask.copy()
            labels, _ = ndimage.label(expected, structure=np.ones((3, 3)))
            areas = np.bincount(labels.ravel())
            small = areas < minimum * mask.size / NATIVE_SLICE_SIZE**2
            small[0] = False
            expected &= ~small[labels]
            out = postprocess_mask(mask, min_component_pixels=minimum, fill_holes=fill)
            assert np.array_equal(out, expected), (fill, minimum)
    assert np.array_equal(postprocess_mask(np.zeros(shape, bool), 50, True), np.zeros(shape, bool))


def test_bad_arguments_and_card_settings():
    with pytest.raises(ValueError):
        postprocess_mask(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError):
        postprocess_mask(_mask(), min_component_pixels=-1)
    assert postprocess_settings({}) == NO_POSTPROCESS
    assert postprocess_settings({"postprocess": {"min_component_pixels": 25, "other": 1}}) == {
        "min_component_pixels": 25,
        "fill_holes": False,
    }
