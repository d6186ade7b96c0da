"""POST /volume with the bundled models on twelve real slices of a test patient
(tests/fixtures/lgg-volume): NIfTI FLAIR only in two voxel layouts, 4-D three sequences, a DICOM
series to DICOM SEG, and the same masks as training.evaluate_volumes computes without the service.

The Dice figures they check are logged (docs/service.md quotes them):
``python -m pytest tests/service/routers/test_volume_bundled.py -o log_cli=true --log-cli-level=INFO``."""

from __future__ import annotations

import base64
import io
import logging

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pycocotools import mask as coco_mask

from contract import FLAIR_CHANNEL, read_card
from contract.volume import postprocess_of, predict_volume
from contract.volume_window import targets_of
from service.main import create_app
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.service import volume_samples as vs
from tests.service.apps import started

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

#: Lowest Dice accepted against the expert mask on these twelve slices (logged; with the served
#: joint.keras@c06017ac77ba: FLAIR only 0.911, three sequences 0.888).
MIN_DICE = {"flair": 0.75, "three": 0.8}
#: Lowest Dice of a non-square version of the series with the square answer cut the same way
#: (logged; with the served joint.keras@c06017ac77ba: 0.996, 0.979, 0.979; a misplaced tumour
#: scores far lower). The resizing to the model's input makes the canvas and the square slice
#: differ a little.
MIN_NON_SQUARE_DICE = {"256x192": 0.95, "192x256": 0.95, "256x128 at 2 mm": 0.95}


@pytest.fixture(scope="module")
def bundled():
    with started(create_app(Settings(models_dir=DEFAULT_MODELS_DIR))) as client:
        yield client


@pytest.fixture(scope="module")
def real():
    return vs.real_volume()


def _nifti_answer(client, slices, layout):
    response = client.post("/volume", files={"file": ("v.nii.gz", vs.nifti_bytes(slices, layout))})
    assert response.status_code == 200, response.text
    body = response.json()
    return body, vs.read_nifti_bytes(base64.b64decode(body["mask"]["data"]))


@pytest.mark.parametrize("sequences", ["flair", "three"])
def test_layouts_agree_and_masks_match_the_expert_on_the_input_grid(bundled, real, sequences):
    images, truth = real
    slices = images[..., FLAIR_CHANNEL] if sequences == "flair" else images
    canonical = []
    for layout in (("R", "A", "S"), ("L", "P", "S")):
        body, mask = _nifti_answer(bundled, slices, layout)
        sent = vs.nifti_image(slices, layout)
        assert mask.shape == sent.shape[:3]
        np.testing.assert_allclose(mask.affine, sent.affine, atol=1e-5)
        expert = np.asarray(vs.nifti_image(truth.astype(np.uint8), layout).dataobj) > 0
        score = vs.dice(np.asarray(mask.dataobj) > 0, expert)
        logger.info("%s %s: Dice %.3f with the expert mask", sequences, "".join(layout), score)
        assert score >= MIN_DICE[sequences], f"{sequences} {layout}: Dice {score:.3f}"
        assert body["sequences"] == (
            "FLAIR only" if sequences == "flair" else "pre-contrast, FLAIR, post-contrast"
        )
        canonical.append(np.asarray(nib.as_closest_canonical(mask).dataobj) > 0)
    assert vs.dice(*canonical) >= 0.98


def test_the_evaluation_computes_what_the_service_answers(bundled, real):
    """training.evaluate_volumes runs contract.volume.predict_volume with Keras models directly."""
    from training.evaluate_volumes import keras_infer

    images, _ = real
    infer, (t_cls, t_seg), gate = keras_infer(DEFAULT_MODELS_DIR)
    image = vs.nifti_image(images, ("L", "P", "S"))
    card = read_card(DEFAULT_MODELS_DIR)
    expected = predict_volume(
        np.asanyarray(image.dataobj),
        image.affine,
        infer,
        t_cls,
        t_seg,
        postprocess=postprocess_of(card),
        gate=gate,
        targets=targets_of(card),
    )
    body, mask = _nifti_answer(bundled, images, ("L", "P", "S"))
    served = np.asarray(mask.dataobj) > 0
    assert vs.dice(served, expected.mask) >= 0.999
    np.testing.assert_allclose(
        [s["tumour_probability"] for s in body["per_slice"]], expected.probabilities, atol=1e-4
    )


def test_a_dicom_series_round_trips_to_a_dicom_seg(bundled, real):
    images, truth = real
    files = vs.dicom_series(images[..., FLAIR_CHANNEL], spacing=(0.9, 0.9, 3.0))
    answer = bundled.post(
        "/volume", files=[("files", (f"{i}.dcm", f, "application/dicom")) for i, f in enumerate(files)]
    )
    assert answer.status_code == 200, answer.text
    rles = answer.json()["mask"]["slices"]  # ascending along the normal: foot to head
    json_masks = [coco_mask.decode(coco_mask.frPyObjects(r, *r["size"])) > 0 for r in rles][::-1]
    assert vs.dice(np.stack(json_masks), truth) >= MIN_DICE["flair"]

    response = bundled.post(
        "/volume",
        params={"output": "dicom-seg"},
        files=[("files", (f"{i}", f, "application/dicom")) for i, f in enumerate(files)],
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom"
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(io.BytesIO(response.content)))
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Neoplasm"
    sources = [pydicom.dcmread(io.BytesIO(f)) for f in files]
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    for source in sources:
        frame = (
            seg.get_pixels_by_source_instance(
                [source.SOPInstanceUID],
                segment_numbers=[1],
                ignore_spatial_locations=True,
                assert_missing_frames_are_empty=True,
            )[0, ..., 0]
            > 0
        )
        np.testing.assert_array_equal(frame, json_masks[int(source.InstanceNumber) - 1])
    assert float(response.headers["x-tumour-volume-ml"]) == pytest.approx(
        answer.json()["tumour_volume_ml"], rel=1e-4
    )


def test_an_enhanced_mr_of_the_real_series_answers_as_the_series(bundled, real):
    """Issue 18 (a): the twelve real slices as one multi-frame Enhanced MR object (frames placed by
    their per-frame functional groups) give the single-frame series' answer and geometry."""
    images, truth = real
    files = vs.dicom_series(images[..., FLAIR_CHANNEL], spacing=(0.9, 0.9, 3.0))
    series = bundled.post(
        "/volume", files=[("files", (f"{i}.dcm", f, "application/dicom")) for i, f in enumerate(files)]
    ).json()
    multi = vs.enhanced_mr(files, enhanced_sop=True, per_frame_measures=True)
    response = bundled.post("/volume", files={"file": ("enhanced.dcm", multi, "application/dicom")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shape"] == [12, 256, 256] and body["spacing_mm"] == pytest.approx([3.0, 0.9, 0.9])
    assert body["mask"] == series["mask"] and body["per_slice"] == series["per_slice"]
    masks = [coco_mask.decode(coco_mask.frPyObjects(r, *r["size"])) > 0 for r in body["mask"]["slices"]][::-1]
    assert vs.dice(np.stack(masks), truth) >= MIN_DICE["flair"]
    assert body["tumour_volume_ml"] == pytest.approx(body["tumour_voxels"] * 3.0 * 0.9 * 0.9 / 1000)


def _rle_masks(body) -> np.ndarray:
    """(slices, rows, columns) of a DICOM answer, head to foot."""
    return np.stack(
        [coco_mask.decode(coco_mask.frPyObjects(r, *r["size"])) > 0 for r in body["mask"]["slices"]]
    )[::-1]


@pytest.mark.parametrize(
    ("name", "rows", "columns", "column_step"),
    [
        ("256x192", slice(None), slice(32, 224), 1),  # a wide field of view cut to 192 columns
        ("192x256", slice(40, 232), slice(None), 1),  # rows cut, not centred on the brain
        ("256x128 at 2 mm", slice(None), slice(None), 2),  # every two columns averaged: 0.9 x 1.8 mm pixels
    ],
)
def test_non_square_slices_put_the_tumour_where_the_square_answer_puts_it(
    bundled, real, name, rows, columns, column_step
):
    """Issue 18 (b): a real series cropped (or with columns twice as wide) gives the mask of the
    square series cropped (or pooled) the same way: the slices are padded and resampled with their
    true spacing, not stretched to the model's square input."""
    images, truth = real
    flair = images[..., FLAIR_CHANNEL].astype(np.float32)
    square = _rle_masks(_series_answer(bundled, flair, (0.9, 0.9, 3.0)))
    part = flair[:, rows, columns]
    expected = square[:, rows, columns]
    if column_step == 2:
        part = (part[..., 0::2] + part[..., 1::2]) / 2
        expected = expected[..., 0::2] | expected[..., 1::2]
    cropped = _rle_masks(_series_answer(bundled, part, (0.9, 0.9 * column_step, 3.0)))
    score = vs.dice(cropped, expected)
    logger.info("%s: Dice %.3f with the square answer cut the same way", name, score)
    assert score >= MIN_NON_SQUARE_DICE[name], f"{name}: Dice {score:.3f} with the square answer"
    assert vs.dice(cropped, truth[:, rows, columns][..., ::column_step]) >= MIN_DICE["flair"] - 0.1


def _series_answer(client, slices: np.ndarray, spacing) -> dict:
    files = vs.dicom_series(slices, spacing=spacing)
    response = client.post(
        "/volume", files=[("files", (f"{i}.dcm", f, "application/dicom")) for i, f in enumerate(files)]
    )
    assert response.status_code == 200, response.text
    return response.json()
