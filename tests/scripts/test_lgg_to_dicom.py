"""scripts/lgg_to_dicom.py: a real LGG case folder -> three valid DICOM MR series on one grid."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from scripts import lgg_to_dicom
from tests.gateway.conftest import CASE, REPO


def test_command_writes_three_series_of_one_study_with_the_channels_unchanged(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "scripts.lgg_to_dicom", str(CASE), str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    case = lgg_to_dicom.read_case(CASE)
    series = {
        key: [pydicom.dcmread(p) for p in sorted((tmp_path / key).glob("*.dcm"))]
        for key in ("pre", "flair", "post")
    }
    assert {len(v) for v in series.values()} == {len(case.numbers)} == {12}
    assert len({ds.StudyInstanceUID for v in series.values() for ds in v}) == 1
    assert len({ds.FrameOfReferenceUID for v in series.values() for ds in v}) == 1
    assert len({v[0].SeriesInstanceUID for v in series.values()}) == 3
    for channel, key in enumerate(("pre", "flair", "post")):
        for k, ds in enumerate(series[key]):
            np.testing.assert_array_equal(ds.pixel_array, case.images[k, :, :, channel])
            assert [float(v) for v in ds.ImagePositionPatient][2] == pytest.approx(-3.0 * k)  # head to foot
            assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0] and float(ds.SliceThickness) == 3.0
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert "FLAIR" in series["flair"][0].SeriesDescription and series["post"][0].ContrastBolusAgent
    assert int(case.masks.sum()) > 0


def test_same_seed_same_uids_other_seed_other_study():
    module, case = lgg_to_dicom, lgg_to_dicom.read_case(CASE)
    a, b = module.case_study(case, ("flair",)), module.case_study(case, ("flair",))
    c = module.case_study(case, ("flair",), seed="other")
    assert a["flair"][0].SOPInstanceUID == b["flair"][0].SOPInstanceUID
    assert c["flair"][0].StudyInstanceUID != a["flair"][0].StudyInstanceUID


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools (dciodvfy) not installed")
def test_instances_are_valid_mr_images(tmp_path):
    study = lgg_to_dicom.case_study(lgg_to_dicom.read_case(CASE), ("flair",))
    path = tmp_path / "mr.dcm"
    study["flair"][0].save_as(path, enforce_file_format=True)
    run = subprocess.run(["dciodvfy", str(path)], check=False, capture_output=True, text=True)
    assert not [line for line in run.stderr.splitlines() if line.startswith("Error")], run.stderr


def test_folder_without_slices_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no labelled"):
        lgg_to_dicom.read_case(tmp_path)
