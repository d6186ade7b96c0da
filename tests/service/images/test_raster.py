"""PNG, JPEG and TIFF variants: bit depths, layouts, photometric interpretations."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imaging.windowing import percentile_window
from service.errors import InvalidImage
from service.images import ImageLimits, decode_image
from tests.service import samples

LIMITS = ImageLimits()


def _decode(data: bytes) -> np.ndarray:
    return decode_image(data, None, LIMITS).pixels


def test_png_16bit_grey_is_windowed_by_the_documented_rule():
    flair = samples.lgg_pixels()[..., 1].astype(np.uint16) * 200 + 500

    pixels = _decode(samples.png_bytes(flair))

    assert np.array_equal(pixels[..., 1], percentile_window(flair))


def test_png_16bit_rgb_windows_each_channel():
    rgb = samples.lgg_pixels().astype(np.uint16)
    scaled = np.dstack([rgb[..., 0] * 10, rgb[..., 1] * 200, rgb[..., 2] * 3000 // 255])

    pixels = _decode(samples.png_bytes(scaled))

    for c in range(3):
        assert np.array_equal(pixels[..., c], percentile_window(scaled[..., c]))


def test_jpeg_is_close_to_the_original():
    rgb = samples.lgg_pixels()

    pixels = _decode(samples.jpeg_bytes(rgb, quality=98))

    assert np.abs(pixels.astype(int) - rgb).mean() < 2.0


def test_palette_png():
    grey = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    buffer = io.BytesIO()
    Image.fromarray(grey).convert("P").save(buffer, "PNG")

    pixels = _decode(buffer.getvalue())

    assert pixels.shape == (64, 64, 3) and np.abs(pixels[..., 1].astype(int) - grey).max() <= 4


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_tiff_16bit_multichannel(planar):
    rgb = samples.lgg_pixels().astype(np.uint16) * 100
    data = rgb if planar == "contig" else np.moveaxis(rgb, -1, 0)

    pixels = _decode(samples.tiff_bytes(data, photometric="rgb", planarconfig=planar))

    for c in range(3):
        assert np.array_equal(pixels[..., c], percentile_window(rgb[..., c]))


def test_tiff_float_and_signed():
    flair = samples.lgg_pixels()[..., 1]
    for data in (flair.astype(np.float32) / 255.0, flair.astype(np.int16) - 100):
        assert np.array_equal(_decode(samples.tiff_bytes(data))[..., 1], percentile_window(data))


def test_tiff_rgba_and_min_is_white():
    rgb = samples.lgg_pixels()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])

    assert np.array_equal(
        _decode(samples.tiff_bytes(rgba, photometric="rgb", extrasamples=["unassalpha"])), rgb
    )
    inverted = _decode(samples.tiff_bytes(255 - rgb[..., 1], photometric="miniswhite"))
    assert np.array_equal(inverted[..., 1], rgb[..., 1])


@pytest.mark.parametrize("compression", ["tiff_lzw", "packbits", "tiff_adobe_deflate"])
def test_compressed_tiff(compression):
    rgb = samples.lgg_pixels()
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "TIFF", compression=compression)

    assert np.array_equal(_decode(buffer.getvalue()), rgb)


def test_lzw_tiff_16bit_grey():
    grey = samples.lgg_pixels()[..., 1].astype(np.uint16) * 100
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "TIFF", compression="tiff_lzw")

    assert np.array_equal(_decode(buffer.getvalue())[..., 1], percentile_window(grey))


def test_tiff_pixels_nobody_can_decode_are_422(monkeypatch):
    import tifffile

    data = samples.tiff_bytes(samples.lgg_pixels(), photometric="rgb")

    def broken(*args, **kwargs):
        raise ValueError("codec")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", broken)
    monkeypatch.setattr(Image, "open", broken)

    with pytest.raises(InvalidImage, match="TIFF pixel data"):
        _decode(data)


def _with_compression_code(data: bytes, code: int) -> bytes:
    """The TIFF ``data`` with its Compression tag rewritten to ``code`` (pixels left as they are)."""
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        offset = tif.pages.first.tags["Compression"].valueoffset
    patched = bytearray(data)
    patched[offset : offset + 2] = code.to_bytes(2, "little")
    return bytes(patched)


def test_tiff_with_a_compression_code_tifffile_does_not_know_is_422():
    data = _with_compression_code(samples.tiff_bytes(samples.lgg_pixels(), photometric="rgb"), 32774)

    with pytest.raises(InvalidImage, match="could not be decoded"):
        _decode(data)


def test_tiff_with_an_unknown_compression_is_a_422_answer_and_the_service_stays_up(client):
    data = _with_compression_code(samples.tiff_bytes(samples.lgg_pixels(), photometric="rgb"), 32774)

    response = client.post("/classify", files={"file": ("odd.tif", data, "image/tiff")})

    assert response.status_code == 422 and "could not be decoded" in response.json()["detail"]
    assert client.get("/v2/health/ready").status_code == 200
