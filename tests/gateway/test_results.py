"""gateway/results.py: the gateway's SEG is the service's SEG. The fixture patient's FLAIR series
(classic single-frame, and as one Enhanced MR object) goes to the real service (bundled models) twice:
as its DICOM files to ``POST /volume?output=dicom-seg`` (the service writes the SEG), and as the
gateway sends it (its voxels and affine as NIfTI, the SEG written by the gateway from the answer).
The two SEGs are the same bytes once the UIDs they made are numbered and their dates and times
blanked (:func:`tests.imaging.dicom.seg_samples.comparable`); the SR references that SEG."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from mri_client import MRIClient

from gateway import results, series
from gateway.service_client import analyse
from tests.gateway.conftest import study
from tests.imaging.dicom.seg_samples import comparable

pytestmark = pytest.mark.slow


def _files(datasets: list[pydicom.Dataset]) -> list[tuple[str, bytes]]:
    out = []
    for k, ds in enumerate(datasets):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"{k:03d}.dcm", buffer.getvalue()))
    return out


def _enhanced(instances: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    image = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=instances, series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(),
        instance_number=1,
    )  # fmt: skip
    return [pydicom.dcmread(io.BytesIO(_files([image])[0][1]))]


def gateway_seg(service_url: str, datasets: list[pydicom.Dataset]) -> tuple[pydicom.Dataset, pydicom.Dataset]:
    """The SEG and SR the gateway makes of ``datasets`` (its own steps: read, ask the service, write)."""
    read = series.analysable(datasets)
    answer = analyse(service_url, read.pixels(), read.affine, None, 300)
    models = {role: results.Model(ref["name"], ref["version"]) for role, ref in answer.models.items()}
    findings = results.Findings(
        answer.mask, answer.probabilities, answer.sequences, models["classifier"], models["segmenter"]
    )
    return results.build(read, findings, results.ResultUids.new())


@pytest.mark.parametrize("form", ["classic", "enhanced"])
def test_the_gateways_seg_is_the_services_seg_but_for_uids_and_times(service_url, form):
    flair = study(f"same-seg-{form}", ["flair"])["flair"]
    datasets = flair if form == "classic" else _enhanced(flair)
    with MRIClient(service_url, retries=0, timeout=300) as client:
        theirs = client.volume(_files(datasets), output="dicom-seg")
    service_seg = pydicom.dcmread(io.BytesIO(theirs["dicom_seg"]))
    seg, sr = gateway_seg(service_url, datasets)

    assert seg.SOPInstanceUID != service_seg.SOPInstanceUID
    assert comparable(seg, datasets) == comparable(service_seg, datasets)
    assert 0 < int(np.count_nonzero(seg.pixel_array)) == theirs["tumour_voxels"], (
        "a SEG with the tumour in it"
    )
    evidence = sr.CurrentRequestedProcedureEvidenceSequence
    referenced = {
        ref.ReferencedSOPInstanceUID
        for study in evidence
        for s in study.ReferencedSeriesSequence
        for ref in s.ReferencedSOPSequence
    }
    assert str(seg.SOPInstanceUID) in referenced
