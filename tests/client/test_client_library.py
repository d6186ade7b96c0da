"""MRIClient against the real service on loopback, on real LGG slices."""

from __future__ import annotations

import io
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from mri_client import MRIClient, MRIError, mask_to_png
from PIL import Image

from .conftest import API_KEY, REPO, write_dicom


def test_classify_segment_analyze_on_paths_and_bytes(service_url, lgg_slices):
    tif = next(p for p in lgg_slices if p.suffix == ".tif")
    with MRIClient(service_url, retries=0) as client:
        assert client.ready()
        by_path = client.classify(tif)
        by_bytes = client.classify(tif.read_bytes())  # content type sniffed from the bytes
        assert by_path == by_bytes
        assert set(by_path) >= {"tumour_probability", "has_tumour", "threshold", "model"}
        assert by_path["has_tumour"] is True  # tiny models: a brain slice is "tumour"

        seg = client.segment(str(tif))
        assert seg["mask"]["format"] == "rle" and seg["mask"]["size"] == [256, 256]
        assert 0 < seg["tumour_pixels"] < 256 * 256

        analysis = client.analyze(tif, mask_format="png")
        assert analysis["classification"]["has_tumour"] is True
        assert analysis["segmentation"]["mask"]["format"] == "png"
        assert analysis["segmentation"]["tumour_pixels"] == seg["tumour_pixels"]


def test_dicom_variants_of_a_real_slice_give_the_same_mask(service_url, lgg_slices, tmp_path):
    tif = next(p for p in lgg_slices if p.suffix == ".tif")
    variants = {
        "plain": write_dicom(tif, tmp_path / "plain"),
        "no-spacing": write_dicom(tif, tmp_path / "no-spacing", spacing_mm=None),
        "monochrome1": write_dicom(tif, tmp_path / "monochrome1", monochrome1=True),
        "16-bit": write_dicom(tif, tmp_path / "16-bit", gain=200),
    }
    with MRIClient(service_url, retries=0) as client:
        seg = {name: client.segment(path) for name, path in variants.items()}
        # the DICOM files hold the TIFF's FLAIR channel; a grey 16-bit PNG of it is normalised by the
        # same percentile rule (DICOM windows are display settings and are not applied)
        flair16 = tmp_path / "flair16.png"
        Image.fromarray(np.asarray(Image.open(tif))[..., 1].astype(np.uint16) * 200).save(flair16)
        reference = client.segment(flair16)

    plain = seg["plain"]["tumour_pixels"]
    assert plain > 0 and plain == reference["tumour_pixels"]
    for name in ("no-spacing", "monochrome1", "16-bit"):
        assert seg[name]["tumour_pixels"] == pytest.approx(plain, rel=0.01), name
    assert seg["plain"]["tumour_area_mm2"] == pytest.approx(plain * 0.25)
    assert seg["no-spacing"]["tumour_area_mm2"] is None and seg["no-spacing"]["pixel_spacing_mm"] is None


def test_rle_and_png_masks_decode_to_the_same_mask(service_url, lgg_slices):
    with MRIClient(service_url, retries=0) as client:
        for image in lgg_slices[:3]:
            rle = client.segment(image, mask_format="rle")
            png = client.segment(image, mask_format="png")
            from_rle = np.asarray(Image.open(io.BytesIO(mask_to_png(rle["mask"]))))
            from_png = np.asarray(Image.open(io.BytesIO(mask_to_png(png["mask"]))))
            assert from_rle.shape == (256, 256) and from_rle.dtype == np.uint8
            np.testing.assert_array_equal(from_rle, from_png)
            assert int((from_rle == 255).sum()) == rle["tumour_pixels"]
            if rle["bbox"]:
                x0, y0, x1, y1 = rle["bbox"]
                rows, cols = np.nonzero(from_rle)
                assert (cols.min(), rows.min(), cols.max(), rows.max()) == (x0, y0, x1, y1)


def test_empty_slice_has_no_segmentation(service_url):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, format="PNG")
    with MRIClient(service_url, retries=0) as client:
        analysis = client.analyze(buffer.getvalue(), filename="black.png")
    assert analysis["classification"]["has_tumour"] is False
    assert analysis["segmentation"] is None


def test_bad_input_raises_with_the_server_detail(service_url, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    with MRIClient(service_url, retries=3, backoff=0.01) as client:
        with pytest.raises(MRIError) as info:
            client.classify(broken)
        with pytest.raises(MRIError) as unsupported:
            client.classify(b"plain text, not an image", filename="notes.txt")
    assert info.value.status_code in (415, 422) and info.value.detail
    assert unsupported.value.status_code == 415


def test_api_key(keyed_service_url, lgg_slices):
    with MRIClient(keyed_service_url, retries=0) as client:
        with pytest.raises(MRIError) as info:
            client.classify(lgg_slices[0])
        assert info.value.status_code == 401
    with MRIClient(keyed_service_url, api_key="wrong", retries=0) as client, pytest.raises(MRIError):
        client.classify(lgg_slices[0])
    with MRIClient(keyed_service_url, api_key=API_KEY, retries=0) as client:
        assert client.classify(lgg_slices[0])["has_tumour"] is True  # tiny models: a brain slice is "tumour"
        assert {m["role"] for m in client.models()["models"]} == {"classifier", "segmenter"}


def test_connection_error_without_server_is_an_mri_error():
    with MRIClient("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2) as client:
        assert client.ready() is False
        with pytest.raises(MRIError, match="ConnectError"):
            client.classify(b"\x89PNG\r\n\x1a\n")
        with pytest.raises(MRIError, match=r"not ready after 0.2 s: cannot connect \(ConnectError"):
            client.wait_until_ready(timeout=0.2, interval=0.05)


def test_client_package_needs_only_httpx_tqdm_and_pydicom():
    """pydicom (pure Python) reads DICOM headers to group a folder into series (mri-client volume)."""
    project = tomllib.loads((REPO / "client" / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0].split("=")[0] for d in project["dependencies"]) == [
        "httpx",
        "pydicom",
        "tqdm",
    ]
    assert project["scripts"]["mri-client"] == "mri_client.cli:main"
    code = (
        "import sys, mri_client, mri_client.cli, mri_client.masks\n"
        "heavy = {'numpy', 'PIL', 'tensorflow', 'keras', 'cv2'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path("/"))
