"""End to end with real parts: pynetdicom (the scanner) pushes a real LGG patient's three MR series
to Orthanc; Orthanc's Lua script routes each stable MR series to the gateway (a real process); the
gateway asks the real service (bundled models) and stores a SEG and an SR back in Orthanc; the test
finds them with QIDO-RS, reads them with highdicom, validates them with dciodvfy and compares the
SEG with the service's own ``/volume`` answer (identical: the same mask, and for a DICOM series the
same SEG as ``output=dicom-seg`` but for UIDs and times) and with the expert mask (Dice reported)."""

from __future__ import annotations

import gzip
import io
import json
import logging

import highdicom as hd
import httpx
import nibabel as nib
import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from mri_client import MRIClient

from tests.gateway.conftest import dciodvfy_errors, fixture_case, needs_orthanc, push, study, wait_for
from tests.imaging.dicom.seg_samples import comparable
from tests.service.volume_samples import dice, nifti_bytes

#: The voxel size (x, y, z mm) of the series scripts/lgg_to_dicom.py makes (row, column, slice step):
#: the NIfTI compared with the gateway's answer has the same, so pixels are square in both.
SERIES_SPACING_XYZ = (1.0, 1.0, 3.0)

pytestmark = [pytest.mark.slow, needs_orthanc]
logger = logging.getLogger(__name__)

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def results_in(orthanc, study_uid: str) -> tuple[pydicom.Dataset, pydicom.Dataset]:
    """The SEG and SR of ``study_uid`` found with QIDO-RS and fetched with WADO-RS (one of each)."""
    session = requests.Session()
    session.auth = orthanc.auth
    client = DICOMwebClient(url=orthanc.dicomweb, session=session)

    def found():
        seg = client.search_for_series(study_uid, search_filters={"Modality": "SEG"})
        sr = client.search_for_series(study_uid, search_filters={"Modality": "SR"})
        return (seg, sr) if seg and sr else None

    seg_series, sr_series = wait_for(found, 120, "SEG and SR in Orthanc", every=0.5)
    assert len(seg_series) == 1 and len(sr_series) == 1, "one SEG and one SR series, nothing sent twice"
    seg = client.retrieve_series(study_uid, seg_series[0]["0020000E"]["Value"][0])
    sr = client.retrieve_series(study_uid, sr_series[0]["0020000E"]["Value"][0])
    assert len(seg) == 1 and len(sr) == 1
    return seg[0], sr[0]


def seg_mask(seg: pydicom.Dataset, flair: list[pydicom.Dataset]) -> np.ndarray:
    """The SEG as a (slices, rows, columns) mask in the order of ``flair`` (the series as sent)."""
    segmentation = hd.seg.Segmentation.from_dataset(seg)
    volume = segmentation.get_pixels_by_source_instance(
        [str(ds.SOPInstanceUID) for ds in flair], segment_numbers=[1], ignore_spatial_locations=True
    )
    return volume[..., 0].astype(bool)


def sr_measurements(sr: pydicom.Dataset) -> dict[str, float]:
    report = hd.sr.Comprehensive3DSR.from_dataset(sr)
    groups = report.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 1
    out = {m.name.meaning: m.value for m in groups[0].get_measurements()}
    referenced = groups[0].referenced_segment
    out["_segment_sop"] = referenced.referenced_sop_instance_uid if referenced else None
    return out


def service_mask(service_url: str, files: dict) -> tuple[np.ndarray, dict]:
    response = httpx.post(f"{service_url}/volume", params={"mask_format": "nifti"}, files=files, timeout=300)
    assert response.status_code == 200, response.text
    answer = response.json()
    import base64

    image = nib.Nifti1Image.from_bytes(gzip.decompress(base64.b64decode(answer["mask"]["data"])))
    return np.asarray(image.dataobj) > 0, answer


def dicom_files(instances: list[pydicom.Dataset]) -> list:
    out = []
    for ds in instances:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(("files", (f"{ds.SOPInstanceUID}.dcm", buffer.getvalue(), "application/dicom")))
    return out


def test_three_series_routed_by_orthanc_come_back_as_seg_and_sr(
    service_url, gateway_factory, orthanc_factory, tmp_path, record_property
):
    gateway = gateway_factory(MRI_GATEWAY_SERVICE_URL=service_url)
    orthanc = orthanc_factory(gateway)
    gateway.start(MRI_GATEWAY_PEERS=orthanc.peer)
    series = study("e2e-three")
    push([ds for key in ("pre", "flair", "post") for ds in series[key]], orthanc.dicom_port, called="ORTHANC")
    study_uid = str(series["flair"][0].StudyInstanceUID)

    seg, sr = results_in(orthanc, study_uid)
    jobs = gateway.wait_finished(3)
    by_series = {j["series_instance_uid"]: j for j in jobs}
    flair_job = by_series[str(series["flair"][0].SeriesInstanceUID)]
    assert flair_job["state"] == "sent", flair_job
    assert flair_job["result"]["sequences"] == "pre-contrast, FLAIR, post-contrast"
    for key in ("pre", "post"):
        other = by_series[str(series[key][0].SeriesInstanceUID)]
        assert other["state"] == "skipped" and "contrast input" in other["reason"], other

    # in the source study, referencing the FLAIR series
    assert seg.StudyInstanceUID == sr.StudyInstanceUID == study_uid
    assert seg.SOPClassUID == SEG_CLASS
    referenced = {item.SeriesInstanceUID for item in seg.ReferencedSeriesSequence}
    assert referenced == {series["flair"][0].SeriesInstanceUID}

    # the same mask as the service's own answer for the same three sequences (a 4-D NIfTI made here
    # from the fixture's images with the series' voxel size, not by the gateway), and the expert mask
    case = fixture_case()
    mask = seg_mask(seg, series["flair"])
    three = nifti_bytes(case.images, spacing=SERIES_SPACING_XYZ)
    expected, answer = service_mask(service_url, {"file": ("three.nii.gz", three, "application/gzip")})
    from contract.volume import AxialFrame

    frame = AxialFrame.of(nib.Nifti1Image.from_bytes(gzip.decompress(three)).affine, expected.shape)
    expected_slices = frame.to_slices(expected)[::-1]  # head to foot, training orientation
    assert answer["sequences"] == "pre-contrast, FLAIR, post-contrast"
    np.testing.assert_array_equal(mask, expected_slices)
    score = dice(mask, case.masks)
    record_property("dice_three_sequences", round(score, 4))
    logger.warning(
        "gateway SEG vs expert mask, three sequences: Dice %.3f (%d vs %d voxels)",
        score,
        mask.sum(),
        case.masks.sum(),
    )
    assert score > 0.5

    # SR: volume = SEG voxels x voxel volume; slices; probability; the SEG referenced
    figures = sr_measurements(sr)
    voxel_ml = float(np.prod([*series["flair"][0].PixelSpacing, series["flair"][0].SliceThickness])) / 1000
    assert figures["Volume"] == pytest.approx(mask.sum() * voxel_ml, rel=1e-6)
    assert figures["Slices with tumour"] == int(mask.any(axis=(1, 2)).sum())
    assert figures["Highest slice tumour probability"] == pytest.approx(
        max(s["tumour_probability"] for s in answer["per_slice"]), abs=1e-6
    )
    assert figures["_segment_sop"] == seg.SOPInstanceUID

    # valid objects
    assert dciodvfy_errors(seg, tmp_path) == []
    assert dciodvfy_errors(sr, tmp_path) == []


def test_flair_only_pulled_over_dicomweb_comes_back_by_stow(
    service_url, gateway_factory, orthanc_factory, tmp_path, record_property
):
    """POST /jobs pulls a FLAIR-only study with WADO-RS; the SEG and SR go back with STOW-RS; the SEG
    equals the service's answer for the same DICOM files posted to /volume."""
    orthanc = orthanc_factory(  # no routing: the gateway pulls, with the credentials Orthanc asks for
        AuthenticationEnabled=True, RegisteredUsers={"gateway": "pull-and-store"}
    )
    gateway = gateway_factory(
        MRI_GATEWAY_SERVICE_URL=service_url, MRI_GATEWAY_DICOMWEB_SERVERS=orthanc.server
    ).start()
    flair = study("pull-flair", ["flair"])["flair"]
    push(flair, orthanc.dicom_port, called="ORTHANC")
    study_uid = str(flair[0].StudyInstanceUID)

    pull = {"server": "ORTHANC", "study_instance_uid": study_uid}
    created = httpx.post(f"{gateway.url}/jobs", json=pull, timeout=30)
    assert created.status_code == 202, created.text
    [job] = created.json()
    assert job["destination"] == f"dicomweb://{orthanc.dicomweb}" and job["source"] == "dicomweb"
    seg, sr = results_in(orthanc, study_uid)
    [job] = gateway.wait_finished(1)
    assert job["state"] == "sent" and job["result"]["sequences"] == "FLAIR only", job
    assert job["instances"] == len(flair)

    # the study pulled again (it now holds the SEG and SR too): no second SEG and SR
    again = httpx.post(f"{gateway.url}/jobs", json=pull, timeout=30).json()
    assert len(again) == 3 and job["id"] not in [j["id"] for j in again]
    jobs = {j["series_instance_uid"]: j for j in gateway.wait_finished(4)[1:]}
    again = jobs.pop(str(flair[0].SeriesInstanceUID))
    assert again["state"] == "skipped" and again["reason"].startswith(f"already analysed: job {job['id']}"), (
        again
    )
    assert sorted(j["reason"] for j in jobs.values()) == [
        f"not a brain MR series: Modality {m}" for m in ("SEG", "SR")
    ]
    results_in(orthanc, study_uid)  # still one of each

    mask = seg_mask(seg, flair)
    expected, answer = service_mask(service_url, dicom_files(flair))
    # the service's mask of a DICOM series is on its grid (slice, row, column), slices ascending along
    # the normal: foot to head here, the reverse of the instances' order (head to foot)
    assert answer["sequences"] == "FLAIR only"
    np.testing.assert_array_equal(mask, expected[::-1])
    score = dice(mask, fixture_case().masks)
    record_property("dice_flair_only", round(score, 4))
    logger.warning("gateway SEG vs expert mask, FLAIR only: Dice %.3f", score)
    assert sr_measurements(sr)["Volume"] == pytest.approx(answer["tumour_volume_ml"], rel=1e-6)
    assert dciodvfy_errors(seg, tmp_path) == [] and dciodvfy_errors(sr, tmp_path) == []

    # the SEG in the PACS is the service's own SEG of the same DICOM files, but for UIDs and times
    with MRIClient(service_url, retries=0, timeout=300) as client:
        theirs = client.volume(
            [(name, data) for _, (name, data, _) in dicom_files(flair)], output="dicom-seg"
        )
    assert comparable(seg, flair) == comparable(pydicom.dcmread(io.BytesIO(theirs["dicom_seg"])), flair)

    # the log names studies and series by hashes only, never patients
    log = gateway.log()
    for secret in (
        str(flair[0].PatientName),
        str(flair[0].PatientID),
        study_uid,
        str(flair[0].SeriesInstanceUID),
        str(flair[0].SOPInstanceUID),
        str(seg.SOPInstanceUID),
    ):
        assert secret not in log


def test_pull_of_an_unknown_study_is_404_and_wrong_credentials_502(gateway_factory, orthanc_factory):
    orthanc = orthanc_factory(AuthenticationEnabled=True, RegisteredUsers={"gateway": "right"})
    gateway = gateway_factory(MRI_GATEWAY_DICOMWEB_SERVERS=orthanc.server).start()
    answer = httpx.post(
        f"{gateway.url}/jobs", json={"dicomweb_url": orthanc.dicomweb, "study_instance_uid": "1.2.3"}
    )
    assert answer.status_code == 404, answer.text
    wrong = gateway_factory(
        MRI_GATEWAY_DICOMWEB_SERVERS=json.dumps(
            {"ORTHANC": {"url": orthanc.dicomweb, "username": "gateway", "password": "wrong"}}
        )
    ).start()
    answer = httpx.post(f"{wrong.url}/jobs", json={"server": "ORTHANC", "study_instance_uid": "1.2.3"})
    assert answer.status_code == 502 and "credentials" in answer.text, answer.text
    assert gateway.jobs() == [] and wrong.jobs() == []


def test_the_same_series_sent_twice_by_the_pacs_gives_one_seg_and_one_sr(
    service_url, gateway_factory, orthanc_factory
):
    gateway = gateway_factory(MRI_GATEWAY_SERVICE_URL=service_url)
    orthanc = orthanc_factory(gateway)
    gateway.start(MRI_GATEWAY_PEERS=orthanc.peer)
    flair = study("twice-orthanc", ["flair"])["flair"]
    push(flair, orthanc.dicom_port, called="ORTHANC")
    study_uid = str(flair[0].StudyInstanceUID)
    results_in(orthanc, study_uid)
    [first] = gateway.wait_finished(1)
    [series] = orthanc.series_of("MR")
    orthanc.post("/modalities/gateway/store", {"Resources": [series["ID"]], "Synchronous": True})  # again
    [_, again] = gateway.wait_finished(2)
    assert first["state"] == "sent" and again["state"] == "skipped", again
    assert again["reason"].startswith(f"already analysed: job {first['id']}")
    assert len(orthanc.series_of("SEG")) == 1 and len(orthanc.series_of("SR")) == 1
    results_in(orthanc, study_uid)
    assert len(orthanc.get(f"/series/{orthanc.series_of('SEG')[0]['ID']}")["Instances"]) == 1
