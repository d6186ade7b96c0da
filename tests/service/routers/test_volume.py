"""POST /volume with the tiny models: NIfTI in several voxel layouts, 4-D, RLE, DICOM series and
DICOM SEG, and the errors (4xx with a detail, never 500)."""

from __future__ import annotations

import base64
import io

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pycocotools import mask as coco_mask

from imaging.dicom.seg import segmentation
from imaging.dicom.series import read_series
from tests.imaging.dicom.seg_samples import comparable
from tests.service import volume_samples as vs

LAYOUTS = [("R", "A", "S"), ("L", "P", "S"), ("P", "I", "R")]


def _post_nifti(client, data: bytes, **params):
    return client.post("/volume", params=params, files={"file": ("volume.nii.gz", data, "application/gzip")})


def _post_series(client, files: list[bytes], **params):
    return client.post(
        "/volume",
        params=params,
        files=[("files", (f"IM{i}.dcm", b, "application/dicom")) for i, b in enumerate(files)],
    )


def _mask_image(body: dict) -> nib.Nifti1Image:
    assert body["mask"]["format"] == "nifti"
    return vs.read_nifti_bytes(base64.b64decode(body["mask"]["data"]))


@pytest.mark.parametrize("layout", LAYOUTS, ids="".join)
def test_flair_nifti_mask_is_on_the_input_grid(client, layout):
    slices, tumour = vs.synthetic_volume()
    sent = vs.nifti_image(slices, layout)
    response = _post_nifti(client, vs.nifti_bytes(slices, layout))
    assert response.status_code == 200, response.text
    body = response.json()
    mask = _mask_image(body)
    assert mask.shape == sent.shape
    np.testing.assert_allclose(mask.affine, sent.affine, atol=1e-5)
    truth = np.asarray(vs.nifti_image(tumour.astype(np.uint8), layout).dataobj) > 0
    np.testing.assert_array_equal(np.asarray(mask.dataobj) > 0, truth)
    assert body["sequences"] == "FLAIR only"
    assert body["tumour_voxels"] == int(tumour.sum())
    assert body["tumour_volume_ml"] == pytest.approx(tumour.sum() * np.prod(vs.SPACING) / 1000, rel=1e-5)
    assert body["shape"][0] == 8 and len(body["per_slice"]) == 8
    assert sorted(body["spacing_mm"]) == pytest.approx(sorted(vs.SPACING), rel=1e-6)


def test_the_same_volume_in_two_layouts_gives_the_same_mask(client):
    slices, _ = vs.synthetic_volume()
    canonical = []
    for layout in (("R", "A", "S"), ("L", "P", "S")):
        body = _post_nifti(client, vs.nifti_bytes(slices, layout)).json()
        canonical.append(np.asarray(nib.as_closest_canonical(_mask_image(body)).dataobj) > 0)
        assert body["tumour_slices"] == [3, 4, 5]  # both store S ascending: slice 0 is the lowest
    assert vs.dice(*canonical) == 1.0


def test_four_d_nifti_is_three_sequences_and_rle_is_one_run_list_per_slice(client):
    slices, tumour = vs.synthetic_volume()
    three = np.stack([slices * 0.5, slices, slices * 0.2], axis=-1)
    response = _post_nifti(client, vs.nifti_bytes(three, ("L", "P", "S")), mask_format="rle")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sequences"] == "pre-contrast, FLAIR, post-contrast"
    rles = body["mask"]["slices"]
    assert body["mask"]["format"] == "rle" and len(rles) == 8
    decoded = np.stack([coco_mask.decode(coco_mask.frPyObjects(r, *r["size"])) for r in rles], axis=-1)
    truth = np.asarray(vs.nifti_image(tumour.astype(np.uint8), ("L", "P", "S")).dataobj) > 0
    np.testing.assert_array_equal(decoded > 0, truth)  # slice k = input[:, :, k]
    assert [s["tumour_pixels"] for s in body["per_slice"]] == [int(truth[..., k].sum()) for k in range(8)]


def test_nifti_2_uncompressed_and_int16_give_the_same_answer(client):
    slices, _ = vs.synthetic_volume()
    plain = _post_nifti(client, vs.nifti_bytes(slices)).json()
    other = _post_nifti(client, vs.nifti_bytes((slices * 7).astype(np.int16), gz=False, two=True)).json()
    assert other["tumour_voxels"] == plain["tumour_voxels"]
    assert other["per_slice"] == plain["per_slice"]


def test_postprocess_query_and_setting(client):
    slices, _ = vs.synthetic_volume()
    slices[6, 20, 20] = 400.0  # one stray voxel far from the tumour
    data = vs.nifti_bytes(slices, spacing=(1.0, 1.0, 3.0))  # square pixels: the voxel reaches the model as is
    bodies = {m: _post_nifti(client, data, postprocess=m).json() for m in ("none", "largest")}
    assert bodies["none"]["tumour_voxels"] == bodies["largest"]["tumour_voxels"] + 1
    assert bodies["largest"]["postprocess"] == "largest"
    assert _post_nifti(client, data, postprocess="bogus").status_code == 422


def test_dicom_series_in_any_file_order_gives_rle_per_instance(client):
    slices, tumour = vs.synthetic_volume()
    response = _post_series(client, vs.dicom_series(slices))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shape"] == [8, 32, 32] and body["mask"]["format"] == "rle"
    assert body["spacing_mm"] == pytest.approx([3.0, 0.8, 0.9])
    # slices ascend along the normal (foot to head): answer slice k is input slice 7 - k
    decoded = [coco_mask.decode(coco_mask.frPyObjects(r, *r["size"])) > 0 for r in body["mask"]["slices"]]
    for k, mask in enumerate(decoded):
        np.testing.assert_array_equal(mask, tumour[7 - k])
    assert body["tumour_volume_ml"] == pytest.approx(tumour.sum() * 3.0 * 0.8 * 0.9 / 1000)


def test_dicom_zip_to_dicom_seg_read_back_by_pydicom_and_highdicom(client):
    slices, tumour = vs.synthetic_volume()
    files = vs.dicom_series(slices)
    archive = vs.zip_bytes(files, extra={"DICOMDIR": b"x", "__MACOSX/._IM0": b"y"})
    response = client.post("/volume", params={"output": "dicom-seg"}, files={"file": ("series.zip", archive)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom"
    assert int(response.headers["x-tumour-voxels"]) == int(tumour.sum())
    seg_ds = pydicom.dcmread(io.BytesIO(response.content))
    assert seg_ds.Modality == "SEG" and seg_ds.SegmentSequence[0].SegmentLabel == "FLAIR abnormality"
    seg = hd.seg.Segmentation.from_dataset(seg_ds)
    sources = {pydicom.dcmread(io.BytesIO(f)).SOPInstanceUID: pydicom.dcmread(io.BytesIO(f)) for f in files}
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    assert referenced == set(sources)
    for uid, source in sources.items():
        frame_mask = seg.get_pixels_by_source_instance(
            [uid], segment_numbers=[1], ignore_spatial_locations=True, assert_missing_frames_are_empty=True
        )[0, ..., 0]
        # instance n holds slice n - 1 of the head-to-foot stack
        np.testing.assert_array_equal(frame_mask > 0, tumour[int(source.InstanceNumber) - 1])


def test_the_seg_answered_is_the_one_the_dicom_layer_gives_the_gateway(client):
    """The gateway's call (imaging.dicom: the series read from its whole datasets, the mask of the
    JSON answer) gives the service's SEG, but for its UIDs and creation times."""
    slices, _ = vs.synthetic_volume()
    files = vs.dicom_series(slices)
    answered = _post_series(client, files, output="dicom-seg")
    body = _post_series(client, files).json()
    assert answered.status_code == 200 and body["mask"]["format"] == "rle"
    mask = np.stack([coco_mask.decode(coco_mask.frPyObjects(r, *r["size"])) for r in body["mask"]["slices"]])
    datasets = [pydicom.dcmread(io.BytesIO(f)) for f in files[::-1]]
    segmenter = body["model"]["segmenter"]
    ours = segmentation(read_series(datasets), mask, segmenter["name"], segmenter["version"])
    theirs = pydicom.dcmread(io.BytesIO(answered.content))
    assert comparable(theirs, datasets) == comparable(ours, datasets)


def test_display_window_and_rescale_do_not_change_the_answer(client):
    slices, _ = vs.synthetic_volume()
    files = vs.dicom_series(slices)
    changed = []
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.WindowCenter, ds.WindowWidth = 50, 10
        buffer = io.BytesIO()
        ds.save_as(buffer)
        changed.append(buffer.getvalue())
    first, second = (_post_series(client, f).json() for f in (files, changed))
    assert first["per_slice"] == second["per_slice"]


def test_nifti_cannot_be_answered_as_dicom_seg(client):
    slices, _ = vs.synthetic_volume()
    response = _post_nifti(client, vs.nifti_bytes(slices), output="dicom-seg")
    assert response.status_code == 422 and "DICOM series" in response.json()["detail"]


def _error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    text = detail if isinstance(detail, str) else str(detail)
    for word in words:
        assert word in text, text


def test_gap_duplicate_two_series_and_ct_are_422_saying_which(client):
    slices, _ = vs.synthetic_volume(slices=5)
    positions = [40.0, 37.0, 34.0, 28.0, 25.0]  # one slice missing between 34 and 28
    _error(
        _post_series(client, vs.dicom_series(slices, positions=positions)), 422, "gap", "6.00 mm", "3.00 mm"
    )
    duplicate = vs.dicom_series(slices)
    _error(_post_series(client, duplicate + duplicate[:1]), 422, "duplicate")
    other = vs.dicom_series(slices, series_uid="1.2.3.4")
    _error(_post_series(client, vs.dicom_series(slices) + other), 422, "2 series", "1.2.3.4 (5 files)")
    _error(_post_series(client, vs.dicom_series(slices, modality="CT")), 422, "Modality is CT")


def test_limits_are_checked_before_decoding(make_client):
    small = make_client(max_volume_slices=6, max_volume_bytes=100_000, max_volume_upload_bytes=200_000)
    slices, _ = vs.synthetic_volume(slices=8)
    _error(_post_nifti(small, vs.nifti_bytes(slices)), 422, "8 slices", "limit is 6")
    _error(_post_series(small, vs.dicom_series(slices)), 422, "8 slices", "limit is 6")
    _error(
        small.post("/volume", files={"file": ("s.zip", vs.zip_bytes(vs.dicom_series(slices)))}),
        422,
        "8 slices",
    )
    big = np.zeros((4, 200, 200), np.float32)  # 640 kB of voxels, a few kB gzipped
    _error(_post_nifti(small, vs.nifti_bytes(big)), 413, "limit is 100000 bytes")
    noise = np.random.default_rng(0).integers(0, 255, size=(3, 300, 300)).astype(np.uint8)
    _error(_post_nifti(small, vs.nifti_bytes(noise, gz=False)), 413, "larger than 200000 bytes")


@pytest.mark.parametrize(
    ("data", "status", "word"),
    [
        (b"hello, not a volume", 415, "not a volume"),
        (b"\x1f\x8bbroken gzip", 422, "gzip"),
        (b"PK\x03\x04broken zip", 422, "zip"),
        (b"", 415, "empty"),
    ],
)
def test_bad_bytes_are_4xx(client, data, status, word):
    _error(client.post("/volume", files={"file": ("x.nii.gz", data)}), status, word)


def test_bad_nifti_shapes_and_truncation_are_422(client):
    _error(_post_nifti(client, vs.nifti_bytes(np.zeros((4, 32, 32, 2), np.float32))), 422, "3 volumes")
    whole = vs.nifti_bytes(vs.synthetic_volume()[0], gz=False)
    _error(_post_nifti(client, whole[: len(whole) - 100]), 422, "shorter")
    _error(_post_nifti(client, vs.nifti_bytes(np.zeros((4, 8, 8), np.float32))), 422, "8x8", "from 32")


def test_field_rules(client):
    slices, _ = vs.synthetic_volume()
    _error(client.post("/volume"), 422, "exactly one")
    _error(
        _post_series(client, [vs.nifti_bytes(slices), vs.nifti_bytes(slices)]),
        415,
        "none of the 2 files sent is a DICOM",
    )
    _error(_post_nifti(client, vs.nifti_bytes(slices), mask_format="png"), 422)


_edit = vs.edit_series


def test_series_without_positions_multi_frame_or_colour_are_422(client):
    slices, _ = vs.synthetic_volume(slices=3)
    files = vs.dicom_series(slices)
    _error(
        _post_series(client, _edit(files, lambda ds: delattr(ds, "ImagePositionPatient"))),
        422,
        "ImagePositionPatient",
    )
    _error(_post_series(client, _edit(files, lambda ds: setattr(ds, "NumberOfFrames", 2))), 422, "2 frames")
    _error(_post_series(client, _edit(files, lambda ds: setattr(ds, "SamplesPerPixel", 3))), 422, "grey")


def test_singular_nifti_affine_is_422(client):
    image = vs.nifti_image(vs.synthetic_volume()[0])
    image.set_sform(np.zeros((4, 4)), code=1)
    image.set_qform(None, code=0)
    _error(_post_nifti(client, image.to_bytes()), 422, "affine")


def test_a_single_dicom_file_is_a_one_slice_series_with_its_thickness(client):
    slices, tumour = vs.synthetic_volume()
    one = [f for f in vs.dicom_series(slices) if pydicom.dcmread(io.BytesIO(f)).InstanceNumber == 4]
    response = client.post("/volume", files={"file": ("IM4.dcm", one[0], "application/dicom")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shape"] == [1, 32, 32] and body["spacing_mm"] == pytest.approx([3.0, 0.8, 0.9])
    assert body["tumour_voxels"] == int(tumour[3].sum())


def test_a_series_without_tumour_still_gets_a_dicom_seg(client):
    slices = np.zeros((3, 32, 32), np.float32)  # empty: the tiny segmenter marks nothing
    response = _post_series(client, vs.dicom_series(slices), output="dicom-seg")
    assert response.status_code == 200, response.text
    assert response.headers["x-tumour-voxels"] == "0"
    assert pydicom.dcmread(io.BytesIO(response.content)).Modality == "SEG"


def test_an_undecodable_transfer_syntax_is_415_naming_it_and_broken_pixels_422(client):
    slices, _ = vs.synthetic_volume(slices=3)

    def mpeg2(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
        ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3 not decoded here"])

    def broken_jpeg_ls(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
        ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8 not a JPEG-LS stream"])

    _error(_post_series(client, _edit(vs.dicom_series(slices), mpeg2)), 415, "MPEG2", "cannot be decoded")
    _error(_post_series(client, _edit(vs.dicom_series(slices), broken_jpeg_ls)), 422, "broken or truncated")


def test_an_enhanced_mr_file_answers_as_its_series_and_its_seg_references_frames(client):
    slices, tumour = vs.synthetic_volume()
    files = vs.dicom_series(slices)
    series = _post_series(client, files).json()
    multi = vs.enhanced_mr(files, enhanced_sop=True)
    response = client.post("/volume", files={"file": ("enhanced.dcm", multi, "application/dicom")})
    assert response.status_code == 200, response.text
    body = response.json()
    for key in (
        "shape",
        "spacing_mm",
        "per_slice",
        "tumour_slices",
        "tumour_voxels",
        "tumour_volume_ml",
        "mask",
    ):
        assert body[key] == series[key], key
    seg_response = client.post(
        "/volume",
        params={"output": "dicom-seg"},
        files={"file": ("enhanced.dcm", multi, "application/dicom")},
    )
    assert seg_response.status_code == 200, seg_response.text
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(io.BytesIO(seg_response.content)))
    source = pydicom.dcmread(io.BytesIO(multi))
    frames = (
        seg.get_pixels_by_source_frame(
            source.SOPInstanceUID,
            list(range(1, len(files) + 1)),
            segment_numbers=[1],
            ignore_spatial_locations=True,
            assert_missing_frames_are_empty=True,
        )[..., 0]
        > 0
    )
    # frame n of the source lies where the single-frame instance of the same position lies
    for n, item in enumerate(source.PerFrameFunctionalGroupsSequence):
        z = float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        k = round((40.0 - z) / 3.0)  # dicom_series: slice k of the head-to-foot stack at 40 - 3k
        np.testing.assert_array_equal(frames[n], tumour[k])


def test_junk_beside_a_zipped_series_is_skipped_and_counted(client):
    slices, tumour = vs.synthetic_volume()
    junk = {"README.TXT": b"burned by the PACS", "Thumbs.db": b"\0" * 512, "IMAGES/notes.txt": b"x"}
    response = client.post("/volume", files={"file": ("s.zip", vs.zip_bytes(vs.dicom_series(slices), junk))})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["skipped_files"] == 3 and body["tumour_voxels"] == int(tumour.sum()) and body["warnings"] == []
    )


def test_a_nifti_without_voxel_size_has_no_spacing_no_ml_and_says_so(client):
    image = vs.nifti_image(vs.synthetic_volume()[0])
    image.header["pixdim"][1:4] = 0
    image.set_sform(None, code=0)
    image.set_qform(None, code=0)
    raw = bytearray(image.to_bytes())
    raw[80:92] = np.zeros(3, "<f4").tobytes()  # nibabel writes pixdims from the affine: zero them again
    response = _post_nifti(client, bytes(raw))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["spacing_mm"] is None and body["tumour_volume_ml"] is None and body["tumour_voxels"] > 0
    assert any("no voxel size" in w for w in body["warnings"])
    assert any("no orientation" in w for w in body["warnings"])
    mask = _mask_image(body)
    assert mask.header["sform_code"] == 0 and mask.header["qform_code"] == 0  # no geometry invented
    header = vs.gzip.decompress(base64.b64decode(body["mask"]["data"]))[:348]
    assert np.all(np.frombuffer(header[80:92], "<f4") == 0)  # (nibabel would read these zeros as 1)


def test_a_dicom_series_without_pixel_spacing_has_no_spacing_and_a_unitless_mask(client):
    slices, _ = vs.synthetic_volume()
    files = _edit(vs.dicom_series(slices), lambda ds: delattr(ds, "PixelSpacing"))
    body = _post_series(client, files, mask_format="nifti").json()
    assert body["spacing_mm"] is None and body["tumour_volume_ml"] is None
    assert any("PixelSpacing" in w for w in body["warnings"])
    assert _mask_image(body).header.get_xyzt_units()[0] == "unknown"


def test_a_volume_over_the_memory_limit_is_413_before_decoding(make_client):
    small = make_client(max_volume_memory_bytes=80 * 2**20)
    big = np.zeros((40, 256, 256), np.uint8)  # 2.6 M voxels: about 90 MiB with the model
    _error(_post_nifti(small, vs.nifti_bytes(big)), 413, "needs about", "of memory", "limit is 80.0 MiB")


def test_a_volume_past_its_time_budget_is_503_with_retry_after(make_client):
    slow = make_client(volume_timeout_s=1e-6)
    slices, _ = vs.synthetic_volume()
    response = _post_nifti(slow, vs.nifti_bytes(slices))
    _error(response, 503, "time budget")
    assert response.headers["retry-after"] == "1"


def test_non_square_slices_are_padded_not_stretched(client):
    """A 64 x 48 crop of a 64 x 64 volume: the tiny segmenter marks what it sees, so a stretched slice
    would move and widen the tumour; on the canvas it stays where it is, also with 2 mm columns."""
    slices = np.zeros((8, 64, 64), np.float32)
    slices[:, 8:-8, 8:-8] = 100.0
    tumour = np.zeros(slices.shape, bool)
    tumour[2:5, 16:28, 20:32] = True  # 1.3% of the voxels
    slices[tumour] = 400.0
    cropped, truth = slices[:, :, 16:], tumour[:, :, 16:]  # 48 columns: the patient's right cut off
    for spacing in ((1.0, 1.0, 3.0), (2.0, 1.0, 3.0)):
        body = _post_nifti(client, vs.nifti_bytes(cropped, spacing=spacing), postprocess="none").json()
        mask = np.asarray(_mask_image(body).dataobj) > 0
        expected = np.asarray(vs.nifti_image(truth.astype(np.uint8), spacing=spacing).dataobj) > 0
        # the tiny model sees 32 x 32: a 2 mm column halves the tumour's width on its input
        assert vs.dice(mask, expected) >= (0.95 if spacing[0] == spacing[1] else 0.7), spacing
        np.testing.assert_allclose(
            np.argwhere(mask).mean(axis=0), np.argwhere(expected).mean(axis=0), atol=1.0
        )
