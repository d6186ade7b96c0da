"""The models shipped in the repository's models/ folder, on real LGG fixture slices.

Known tumour slices must come back positive with a mask overlapping the ground truth
(Dice > 0.5 or IoU > 0.3); slices without tumour must come back negative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from contract import read_card
from contract.layout import layout_files
from service.main import create_app
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.service import samples
from tests.service.apps import started

pytestmark = pytest.mark.slow

PAIRS = samples.lgg_pairs()


def test_the_repository_ships_every_model_file_its_card_names():
    names = layout_files(read_card(DEFAULT_MODELS_DIR))
    assert names
    for name in names:
        assert (DEFAULT_MODELS_DIR / name).is_file(), f"{DEFAULT_MODELS_DIR / name} is missing"


@pytest.fixture(scope="module")
def bundled_client():
    with started(create_app(Settings(models_dir=DEFAULT_MODELS_DIR))) as client:
        yield client


def _id(pair: tuple[Path, Path]) -> str:
    return pair[0].name


def test_there_are_fixture_slices_with_and_without_tumour():
    kinds = {bool(samples.read_mask(mask).any()) for _, mask in PAIRS}
    assert kinds == {True, False}, f"tests/fixtures/lgg needs tumour and healthy slices, found {PAIRS}"


@pytest.mark.parametrize("pair", PAIRS, ids=_id)
def test_slice(bundled_client, pair):
    image, mask_path = pair
    truth = samples.read_mask(mask_path)

    response = bundled_client.post(
        "/analyze", files={"file": (image.name, image.read_bytes(), "application/octet-stream")}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    probability = body["classification"]["tumour_probability"]
    if not truth.any():
        assert body["classification"]["has_tumour"] is False, (
            f"healthy slice called tumour (p={probability:.3f})"
        )
        return
    assert body["classification"]["has_tumour"] is True, f"tumour slice missed (p={probability:.3f})"
    rle = body["segmentation"]["mask"]
    h, w = rle["size"]
    predicted = coco_mask.decode(coco_mask.frPyObjects(rle, h, w)).astype(bool)
    assert predicted.shape == truth.shape
    intersection = float(np.logical_and(predicted, truth).sum())
    dice = 2 * intersection / (predicted.sum() + truth.sum())
    iou = intersection / np.logical_or(predicted, truth).sum()
    assert dice > 0.5 or iou > 0.3, f"mask overlap too small: Dice {dice:.3f}, IoU {iou:.3f}"


TUMOUR_PAIRS = [pair for pair in PAIRS if samples.read_mask(pair[1]).any()]


@pytest.mark.parametrize("pair", TUMOUR_PAIRS, ids=_id)
def test_the_flair_channel_alone_as_16_bit_dicom_still_finds_the_tumour(bundled_client, pair):
    """What a PACS sends: one sequence per file, 16-bit with a rescale, a window and pixel spacing."""
    image, mask_path = pair
    truth = samples.read_mask(mask_path)
    flair = samples.read_rgb(image)[..., 1].astype(np.uint16) * 40 + 100  # stored = (value + 2.5) * 40
    dicom = samples.dicom_bytes(flair, spacing=(0.9, 0.9), rescale=(0.025, -2.5), window=(128, 256))

    response = bundled_client.post("/analyze", files={"file": ("slice.dcm", dicom, "application/dicom")})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["classification"]["has_tumour"] is True, body["classification"]
    rle = body["segmentation"]["mask"]
    predicted = coco_mask.decode(coco_mask.frPyObjects(rle, *rle["size"])).astype(bool)
    dice = 2 * np.logical_and(predicted, truth).sum() / (predicted.sum() + truth.sum())
    assert dice > 0.5, f"Dice {dice:.3f} on the FLAIR-only DICOM"
    assert body["segmentation"]["tumour_area_mm2"] == pytest.approx(predicted.sum() * 0.81)
