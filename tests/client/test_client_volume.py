"""``mri-client volume`` against the real service (tiny models): NIfTI files and DICOM folders, one
request per series, masks written beside the output, one row per volume."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from mri_client.cli import main
from mri_client.volumes import find_volumes

from tests.service import volume_samples as vs


def _scans(tmp_path):
    slices, _ = vs.synthetic_volume()
    root = tmp_path / "scans"
    (root / "patient1" / "dicom").mkdir(parents=True)
    (root / "patient1" / "flair.nii.gz").write_bytes(vs.nifti_bytes(slices, ("L", "P", "S")))
    for name, series in (
        ("a", vs.dicom_series(slices, series_uid="1.2.3.1")),
        ("b", vs.dicom_series(slices[:6], series_uid="1.2.3.2")),
    ):
        for i, data in enumerate(series):
            (root / "patient1" / "dicom" / f"{name}{i:03d}").write_bytes(data)
    (root / "patient1" / "dicom" / "notes.txt").write_text("not DICOM")
    return root, slices


def test_find_volumes_groups_dicom_files_by_series(tmp_path):
    root, _ = _scans(tmp_path)
    volumes = find_volumes([root])
    assert [(v.kind, len(v.files), v.series) for v in volumes] == [
        ("nifti", 1, ""),
        ("dicom", 8, "1.2.3.1"),
        ("dicom", 6, "1.2.3.2"),
    ]


def test_volume_command_writes_masks_and_one_row_per_volume(service_url, tmp_path):
    root, slices = _scans(tmp_path)
    out = tmp_path / "out" / "volumes.csv"
    out.parent.mkdir()
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a volume")
    code = main(["volume", str(root), str(bad), "--url", service_url, "-o", str(out), "-q"])
    assert code == 1  # one file failed (the run goes on; its row says why)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error"]
    assert "not a volume" in rows[3]["error"]
    nifti_row, seg_a, seg_b = rows[:3]
    assert nifti_row["sequences"] == "FLAIR only" and nifti_row["slices"] == "8"
    mask = nib.Nifti1Image.from_bytes(gzip.decompress(Path(nifti_row["mask_path"]).read_bytes()))
    sent = vs.nifti_image(slices, ("L", "P", "S"))
    assert mask.shape == sent.shape and np.allclose(mask.affine, sent.affine, atol=1e-5)
    assert int(np.asarray(mask.dataobj).sum()) == int(nifti_row["tumour_voxels"])
    assert float(nifti_row["tumour_volume_ml"]) > 0
    for row, series, frames in ((seg_a, "1.2.3.1", 8), (seg_b, "1.2.3.2", 6)):
        assert row["series"] == series
        assert row["mask_path"].startswith(str(out.parent)) and row["mask_path"].endswith(".seg.dcm")
        seg = pydicom.dcmread(io.BytesIO(Path(row["mask_path"]).read_bytes()))
        assert seg.Modality == "SEG"
        referenced = {
            item.ReferencedSOPInstanceUID
            for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        }
        assert len(referenced) == frames
        assert int(row["tumour_voxels"]) > 0 and float(row["tumour_volume_ml"]) > 0


def test_dicom_series_as_nifti_mask(service_url, tmp_path):
    root, _ = _scans(tmp_path)
    masks = tmp_path / "masks"
    code = main(
        [
            "volume",
            str(root / "patient1" / "dicom"),
            "--url",
            service_url,
            "--dicom-output",
            "nifti",
            "--masks-dir",
            str(masks),
            "--format",
            "jsonl",
            "-o",
            str(tmp_path / "r.jsonl"),
            "-q",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in masks.iterdir()) == [
        "dicom.series1.mask.nii.gz",
        "dicom.series2.mask.nii.gz",
    ]
