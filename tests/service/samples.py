"""Real image bytes for the service tests: PNG, JPEG, TIFF, DICOM and forged headers.

Arrays are in R, G, B(, A) order = (pre-contrast, FLAIR, post-contrast(, alpha)).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[2]
LGG_DIR = REPO / "tests" / "fixtures" / "lgg" / "kaggle_3m"
TUMOUR_SLICE = "TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif"
HEALTHY_SLICE = "TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_17.tif"
JPEG_SLICE = "TCGA_HT_7605_19950916/TCGA_HT_7605_19950916_26.jpg"


def lgg_path(name: str) -> Path:
    """``<case>/<file>`` of tests/fixtures/lgg/kaggle_3m (committed real slices)."""
    return LGG_DIR / name


def lgg_pairs() -> list[tuple[Path, Path]]:
    """(slice, mask) files of the LGG fixtures, sorted."""
    pairs = []
    for image in sorted(LGG_DIR.glob("*/*")):
        if image.stem.endswith("_mask") or image.suffix not in {".tif", ".jpg", ".png"}:
            continue
        masks = sorted(image.parent.glob(f"{image.stem}_mask.*"))
        if masks:
            pairs.append((image, masks[0]))
    return pairs


def read_mask(path: Path) -> np.ndarray:
    """A dataset mask (0/255 TIFF or 0/1 PNG) as booleans."""
    mask = tifffile.imread(path) if path.suffix == ".tif" else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return np.asarray(mask).squeeze() > 0


def lgg_bytes(name: str = TUMOUR_SLICE) -> bytes:
    return lgg_path(name).read_bytes()


def read_rgb(path: Path) -> np.ndarray:
    """A dataset slice (TIFF or JPEG) as (H, W, 3) uint8: pre-contrast, FLAIR, post-contrast."""
    if path.suffix == ".tif":
        return tifffile.imread(path)
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def lgg_pixels(name: str = TUMOUR_SLICE) -> np.ndarray:
    """(256, 256, 3) uint8 slice of the dataset."""
    return tifffile.imread(lgg_path(name))


def flair_image(mask: np.ndarray, bright: int = 220, dark: int = 20) -> np.ndarray:
    """(H, W, 3) uint8 slice whose FLAIR channel is ``bright`` inside ``mask`` and ``dark`` outside;
    the other channels hold a gradient (the tiny models look at FLAIR only)."""
    h, w = mask.shape
    image = np.empty((h, w, 3), np.uint8)
    image[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    image[..., 1] = np.where(mask, bright, dark)
    image[..., 2] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    return image


def square_mask(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


def positive_image(size: int = 64) -> np.ndarray:
    """Bright FLAIR over most of the slice: the tiny classifier says tumour."""
    return flair_image(square_mask(size, 0, 0, int(size * 0.9)))


def negative_image(size: int = 64) -> np.ndarray:
    """A small bright FLAIR square: the tiny classifier says no tumour."""
    return flair_image(square_mask(size, size // 4, size // 4, size // 4))


def _bgr(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return pixels[..., ::-1]
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return pixels[..., [2, 1, 0, 3]]
    return pixels


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG of 8- or 16-bit grey, RGB or RGBA pixels."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(_bgr(pixels)))
    assert ok
    return encoded.tobytes()


def jpeg_bytes(pixels: np.ndarray, quality: int = 95) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(_bgr(pixels)), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return encoded.tobytes()


def tiff_bytes(pixels: np.ndarray, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` in its header but holds almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def dicom_bytes(
    pixels: np.ndarray | None,
    *,
    shape: tuple[int, int] | None = None,
    photometric: str = "MONOCHROME2",
    spacing: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    frames: int | None = None,
    part10: bool = True,
    modality: str | None = "MR",
) -> bytes:
    """An MR image DICOM (explicit VR little endian) of ``pixels`` (grey (H, W) or RGB (H, W, 3),
    uint8/uint16/int16); ``pixels=None`` writes the header of a ``shape`` image without pixel data.
    ``part10=False`` leaves out the preamble, 'DICM' and file meta (a bare dataset); ``modality=None``
    leaves out ``Modality``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    if modality is not None:
        ds.Modality = modality
    rows, columns = shape if pixels is None else pixels.shape[:2]
    ds.Rows, ds.Columns = rows, columns
    colour = pixels is not None and pixels.ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else photometric
    if colour:
        ds.PlanarConfiguration = 0
    dtype = np.dtype(np.uint16) if pixels is None else pixels.dtype
    ds.BitsAllocated = ds.BitsStored = dtype.itemsize * 8
    ds.HighBit = dtype.itemsize * 8 - 1
    ds.PixelRepresentation = 1 if dtype.kind == "i" else 0
    if spacing is not None:
        ds.PixelSpacing = [f"{spacing[0]:g}", f"{spacing[1]:g}"]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = f"{rescale[0]:g}", f"{rescale[1]:g}"
    if frames is not None:
        ds.NumberOfFrames = frames
    if pixels is not None:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    buffer = io.BytesIO()
    if part10:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(buffer, enforce_file_format=True)
    else:
        ds.save_as(buffer, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


#: Transfer syntaxes :func:`compressed_dicom` writes with GDCM (pydicom has no encoder for them).
_GDCM_SYNTAXES = {
    "1.2.840.10008.1.2.4.50": "JPEGBaselineProcess1",
    "1.2.840.10008.1.2.4.57": "JPEGLosslessProcess14",
    "1.2.840.10008.1.2.4.70": "JPEGLosslessProcess14_1",
    "1.2.840.10008.1.2.4.80": "JPEGLSLossless",
}


def compressed_dicom(data: bytes, transfer_syntax: str, **encode_options: object) -> bytes:
    """The DICOM file ``data`` with its pixel data compressed to ``transfer_syntax``, every other
    element kept (rescale, window, ...). RLE Lossless and JPEG 2000 (lossless, or lossy with e.g.
    ``j2k_cr=[20]``) by pydicom's own encoders; JPEG Baseline, JPEG Lossless (process 14, also SV1)
    and JPEG-LS Lossless by GDCM (python-gdcm), whose encapsulated pixel data is put into the original dataset."""
    import pydicom
    from pydicom.uid import UID

    ds = pydicom.dcmread(io.BytesIO(data))
    uid = UID(transfer_syntax)
    if uid in _GDCM_SYNTAXES:
        encoded = pydicom.dcmread(io.BytesIO(_gdcm_transcode(data, _GDCM_SYNTAXES[uid])))
        assert encoded.file_meta.TransferSyntaxUID == uid
        for keyword in ("PhotometricInterpretation", "BitsStored", "HighBit", "PixelRepresentation"):
            setattr(ds, keyword, encoded[keyword].value)
        ds.PixelData = encoded.PixelData
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = uid
    else:
        ds.compress(uid, **encode_options)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _gdcm_transcode(data: bytes, syntax: str) -> bytes:
    import tempfile

    import gdcm

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "in.dcm"), Path(folder, "out.dcm")
        source.write_bytes(data)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(source))
        assert reader.Read(), "GDCM could not read the DICOM file"
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
        change.SetInput(reader.GetImage())
        assert change.Change(), f"GDCM could not encode {syntax}"
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(target))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        assert writer.Write(), "GDCM could not write the DICOM file"
        return target.read_bytes()
