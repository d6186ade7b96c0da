"""The bundled models on real LGG slices sent as 16-bit MR DICOM: display settings, photometric
interpretation and lossless compression must not change the answer.

Each fixture slice's FLAIR channel is written as a 16-bit MR DICOM with RescaleSlope/Intercept
(stored = (value + 2.5) * 40), once plainly (no window) and in variants: several windows (one on the
top half of the range), MONOCHROME1, and RLE Lossless, JPEG Lossless (SV1), JPEG-LS Lossless and
JPEG 2000 Lossless compression. All variants of a slice go to /analyze in one batch; each must give
the plain file's verdict, and a mask that differs from the plain file's in at most 10% of its
pixels (or 30 pixels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pydicom import uid

from contract.spec import SEQUENCES_FLAIR_ONLY
from service.main import create_app
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.service import samples
from tests.service.apps import started

pytestmark = pytest.mark.slow

RESCALE = (0.025, -2.5)  # value = 0.025 * stored - 2.5: the slice's 0..255 FLAIR in modality units
#: (WindowCenter, WindowWidth) in modality units (the values span 0..255).
WINDOWS = {"full-range": (128, 256), "60%-wide": (128, 154), "top-half": (192, 128), "narrow": (64, 32)}
COMPRESSIONS = {
    "RLE-Lossless": uid.RLELossless,
    "JPEG-Lossless-SV1": uid.JPEGLosslessSV1,
    "JPEG-LS-Lossless": uid.JPEGLSLossless,
    "JPEG2000-Lossless": uid.JPEG2000Lossless,
}


@pytest.fixture(scope="module")
def bundled_client():
    with started(create_app(Settings(models_dir=DEFAULT_MODELS_DIR))) as client:
        yield client


def variants(flair: np.ndarray) -> dict[str, bytes]:
    """The plain DICOM of one 8-bit FLAIR slice and its variants, by name."""
    stored = flair.astype(np.uint16) * 40 + 100
    plain = samples.dicom_bytes(stored, rescale=RESCALE, spacing=(0.9, 0.9))
    files = {"plain": plain}
    for name, window in WINDOWS.items():
        files[f"window-{name}"] = samples.dicom_bytes(stored, rescale=RESCALE, window=window)
    files["MONOCHROME1"] = samples.dicom_bytes(
        10300 - stored, rescale=RESCALE, photometric="MONOCHROME1", window=(128, 256)
    )
    windowed = samples.dicom_bytes(stored, rescale=RESCALE, window=WINDOWS["top-half"])
    for name, syntax in COMPRESSIONS.items():
        files[name] = samples.compressed_dicom(windowed, syntax)
    return files


def _mask(answer: dict) -> np.ndarray:
    if answer["segmentation"] is None:
        return np.zeros((256, 256), bool)
    rle = answer["segmentation"]["mask"]
    return coco_mask.decode(coco_mask.frPyObjects(rle, *rle["size"])).astype(bool)


@pytest.mark.parametrize("pair", samples.lgg_pairs(), ids=lambda pair: pair[0].name)
def test_every_variant_gives_the_plain_files_answer(bundled_client, pair: tuple[Path, Path]):
    image, truth_path = pair
    files = variants(samples.read_rgb(image)[..., 1])

    response = bundled_client.post(
        "/analyze",
        files=[("files", (f"{name}.dcm", data, "application/dicom")) for name, data in files.items()],
    )

    assert response.status_code == 200, response.text
    answers = dict(zip(files, response.json()["results"], strict=True))
    plain = answers["plain"]
    if samples.read_mask(truth_path).any():  # the plain file itself is right on tumour slices
        assert plain["classification"]["has_tumour"] is True, plain["classification"]
    plain_mask = _mask(plain)
    tolerance = max(0.1 * plain_mask.sum(), 30)
    for name, answer in answers.items():
        assert answer["sequences"] == SEQUENCES_FLAIR_ONLY
        assert answer["classification"]["has_tumour"] == plain["classification"]["has_tumour"], (
            f"{name}: p={answer['classification']['tumour_probability']:.3f}, "
            f"plain p={plain['classification']['tumour_probability']:.3f}"
        )
        differing = int(np.logical_xor(_mask(answer), plain_mask).sum())
        assert differing <= tolerance, f"{name}: {differing} mask pixels differ from the plain file's"
