"""DICOM slices built from a real LGG slice: display settings ignored, rescale, MONOCHROME1, colour,
Modality, compressed transfer syntaxes (written here, and pydicom's own compressed test files)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder, pixel_array

from contract.spec import SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY
from imaging.windowing import percentile_window
from service.errors import InvalidImage, UnsupportedImage
from service.images import ImageLimits, decode_image
from service.images.dicom import modality_pixels
from tests.service import samples

LIMITS = ImageLimits()
FLAIR = samples.lgg_pixels()[..., 1]
STORED = FLAIR.astype(np.uint16) * 16 + 100  # 12-bit data as an MR scanner would store it
PLAIN = percentile_window(STORED)  # what every display setting below must give back

#: Display settings that must not change the model input: (WindowCenter, WindowWidth) pairs.
WINDOWS = {
    "full-range": (2048, 4096),
    "narrow": (1000.5, 1001),
    "top-half": (3072, 2048),
    "60%-wide": (2100, 2458),
}


def _decode(data: bytes, content_type: str | None = None):
    return decode_image(data, content_type, LIMITS)


def _dataset(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
def test_the_window_does_not_reach_the_model(window):
    decoded = _decode(samples.dicom_bytes(STORED, window=window))

    assert decoded.format == "dicom" and decoded.pixels.shape == (256, 256, 3)
    assert np.array_equal(decoded.pixels[..., 1], PLAIN)
    assert np.array_equal(decoded.pixels[..., 0], decoded.pixels[..., 2])  # grey = FLAIR everywhere
    assert decoded.sequences == SEQUENCES_FLAIR_ONLY


def test_a_voi_lut_sequence_does_not_reach_the_model():
    ds = _dataset(samples.dicom_bytes(STORED))
    lut = Dataset()
    lut.LUTDescriptor = [256, 3072, 16]
    lut.LUTData = np.arange(0, 65536, 256, dtype="<u2").tobytes()  # a ramp over 3072..3327 only
    lut["LUTData"].VR = "OW"
    ds.VOILUTSequence = [lut]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)

    assert np.array_equal(_decode(buffer.getvalue()).pixels[..., 1], PLAIN)


def test_the_percentile_rule_applies_to_the_modality_values():
    # stored = (value + 1000) / 2 -> value = 2 * stored - 1000
    stored = ((STORED.astype(np.float64) + 1000) / 2).astype(np.uint16)
    data = samples.dicom_bytes(stored, rescale=(2.0, -1000.0), window=(500, 100))

    values = modality_pixels(_dataset(data))
    assert values.dtype == np.float32 and np.array_equal(values, 2.0 * stored - 1000.0)
    assert np.array_equal(_decode(data).pixels[..., 1], percentile_window(2.0 * stored - 1000.0))
    assert np.abs(_decode(data).pixels[..., 1].astype(int) - PLAIN).max() <= 1


def test_monochrome1_is_inverted():
    data = samples.dicom_bytes(4095 - STORED, photometric="MONOCHROME1", window=(1000, 200))

    assert np.array_equal(modality_pixels(_dataset(data)), -(4095.0 - STORED))
    assert np.abs(_decode(data).pixels.astype(int) - PLAIN[..., None]).max() <= 1


def test_signed_16bit():
    decoded = _decode(samples.dicom_bytes(STORED.astype(np.int16) - 2048, window=(0, 4096)))

    assert np.abs(decoded.pixels[..., 1].astype(int) - PLAIN).max() <= 1


def test_rgb_dicom_keeps_the_channels():
    rgb = samples.lgg_pixels()
    decoded = _decode(samples.dicom_bytes(rgb))

    assert np.array_equal(decoded.pixels, rgb) and decoded.sequences == SEQUENCES_ALL


def test_pixel_spacing_is_reported():
    assert _decode(samples.dicom_bytes(STORED, spacing=(0.45, 0.5))).pixel_spacing_mm == (0.45, 0.5)
    assert _decode(samples.dicom_bytes(STORED)).pixel_spacing_mm is None


def test_bare_dataset_with_dicom_content_type():
    decoded = _decode(samples.dicom_bytes(STORED, window=(2048, 4096), part10=False), "application/dicom")

    assert np.array_equal(decoded.pixels[..., 1], PLAIN)


def test_multi_frame_is_refused():
    with pytest.raises(InvalidImage, match="frames"):
        _decode(samples.dicom_bytes(np.concatenate([STORED, STORED]), frames=2))


@pytest.mark.parametrize("modality", ["CT", "PT", "OT", "SEG"])
def test_a_modality_other_than_mr_is_refused(modality):
    with pytest.raises(InvalidImage, match=f"Modality is {modality}, not MR"):
        _decode(samples.dicom_bytes(STORED, modality=modality))


def test_a_file_without_modality_is_taken_like_a_png():
    assert np.array_equal(_decode(samples.dicom_bytes(STORED, modality=None)).pixels[..., 1], PLAIN)


LOSSLESS = {
    "RLE": uid.RLELossless,
    "JPEG-Lossless": uid.JPEGLossless,
    "JPEG-Lossless-SV1": uid.JPEGLosslessSV1,
    "JPEG-LS-Lossless": uid.JPEGLSLossless,
    "JPEG2000-Lossless": uid.JPEG2000Lossless,
}


@pytest.mark.parametrize("syntax", LOSSLESS.values(), ids=LOSSLESS.keys())
def test_lossless_compression_gives_the_same_model_input(syntax):
    plain = samples.dicom_bytes(STORED, rescale=(0.025, -2.5), window=(3072, 2048))
    compressed = samples.compressed_dicom(plain, syntax)

    assert _dataset(compressed).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(_decode(compressed).pixels, _decode(plain).pixels)
    # the decoders the image installs (not GDCM, which wrote some of these) read it back exactly
    plugin = "pydicom" if syntax == uid.RLELossless else "pylibjpeg"
    assert np.array_equal(pixel_array(io.BytesIO(compressed), decoding_plugin=plugin), STORED)


def test_lossy_jpeg_2000_decodes_close_to_the_original():
    plain = samples.dicom_bytes(STORED)
    compressed = samples.compressed_dicom(plain, uid.JPEG2000, j2k_cr=[10])

    assert len(compressed) < len(plain) / 5
    difference = np.abs(_decode(compressed).pixels.astype(int) - PLAIN[..., None])
    assert difference.mean() < 2


def test_jpeg_baseline_8_bit_decodes():
    plain = samples.dicom_bytes(FLAIR)
    compressed = samples.compressed_dicom(plain, uid.JPEGBaseline8Bit)

    assert _dataset(compressed).file_meta.TransferSyntaxUID == uid.JPEGBaseline8Bit
    difference = np.abs(_decode(compressed).pixels.astype(int) - _decode(plain).pixels)
    assert difference.mean() < 2


def _as_mr(name: str) -> bytes:
    """One of pydicom's bundled test files (real compressed data), tagged MR (some are NM, OT)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.Modality = "MR"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
    ],
)
def test_pydicom_compressed_mr_files_match_their_uncompressed_original(name):
    assert np.array_equal(_decode(_as_mr(name)).pixels, _decode(_as_mr("MR_small.dcm")).pixels)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", uid.JPEGBaseline8Bit),
        ("JPGExtended.dcm", uid.JPEGExtended12Bit),
        ("SC_rgb_jls_lossy_line.dcm", uid.JPEGLSNearLossless),
        ("693_J2KI.dcm", uid.JPEG2000),
        ("image_dfl.dcm", uid.DeflatedExplicitVRLittleEndian),
    ],
)
def test_pydicom_compressed_files_of_other_syntaxes_decode(name, syntax):
    data = _as_mr(name)
    ds = _dataset(data)
    decoded = _decode(data)

    assert ds.file_meta.TransferSyntaxUID == syntax
    assert decoded.shape == (ds.Rows, ds.Columns) and decoded.pixels.std() > 10


@pytest.mark.parametrize(
    "syntax",
    [uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, *LOSSLESS.values(), uid.JPEGLSNearLossless, uid.JPEG2000],
)
def test_the_service_image_decoders_cover_the_compressed_syntaxes(syntax):
    """The image installs pylibjpeg (+ libjpeg, openjpeg), not GDCM: they alone must decode these."""
    assert {"pylibjpeg", "pydicom"} & set(get_decoder(syntax).available_plugins)


def _encapsulated(transfer_syntax: str) -> bytes:
    ds = _dataset(samples.dicom_bytes(FLAIR))
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_an_undecodable_transfer_syntax_is_a_415_naming_it():
    with pytest.raises(UnsupportedImage) as error:
        _decode(_encapsulated(uid.MPEG2MPML))

    assert "MPEG2 Main Profile / Main Level" in error.value.detail
    assert uid.MPEG2MPML in error.value.detail


def test_an_unknown_private_transfer_syntax_is_a_415_with_its_uid():
    with pytest.raises(UnsupportedImage, match=r"unknown transfer syntax \(1\.2\.826\.0\.1\.3680043\.9\.9\)"):
        _decode(_encapsulated("1.2.826.0.1.3680043.9.9"))
