"""gateway/capture.py: the outline burned into the FLAIR slices, a valid Secondary Capture series."""

from __future__ import annotations

import numpy as np

from gateway import capture, series
from tests.gateway.conftest import dciodvfy_errors, study


def test_the_outline_is_red_on_the_mask_edge_only_and_the_images_are_valid(tmp_path):
    flair = study("capture-unit", ["flair"])["flair"]
    read = series.analysable(flair)
    voxels = read.pixels()
    mask = np.zeros(read.shape, np.uint8)
    mask[5, 100:140, 90:130] = 1
    images = capture.outlined(voxels, mask)
    red = np.all(images == capture.OUTLINE_RGB, axis=-1)
    assert red[5, 100, 90:130].all() and red[5, 100:140, 129].all(), "the edge"
    assert not red[5, 101:139, 91:129].any(), "not inside"
    assert not red[4].any() and not red[6].any(), "no other slice"
    grey = images[4]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and grey.max() == 255

    instances = capture.secondary_capture(read, voxels, mask, "1.2.826.0.1.3680043.10.543.1")
    assert len(instances) == len(flair) and [int(ds.InstanceNumber) for ds in instances] == list(range(1, 13))
    assert {ds.StudyInstanceUID for ds in instances} == {flair[0].StudyInstanceUID}
    assert instances[5].BurnedInAnnotation == "YES" and instances[5].SeriesNumber == capture.SERIES_NUMBER
    np.testing.assert_array_equal(instances[5].pixel_array, images[5])
    assert dciodvfy_errors(instances[5], tmp_path) == []
