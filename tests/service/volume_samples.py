"""Volumes for the /volume tests: NIfTI files in chosen voxel layouts and DICOM MR series.

``synthetic_volume`` suits the tiny test models (mask = normalised FLAIR > 127.5): background 0,
"brain" 100 and a bright 6x6x3 "tumour" of 400 (1.3% of the voxels, so the volume's 99.5th
percentile is the tumour's value and the brain stays well under the mask threshold).
``real_volume`` stacks the twelve real slices of tests/fixtures/lgg-volume (a test patient).
"""

from __future__ import annotations

import copy
import gzip
import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from nibabel.orientations import axcodes2ornt, ornt_transform
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from contract.volume import AxialFrame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lgg-volume" / "TCGA_HT_7605_19950916"
SPACING = (0.9, 0.8, 3.0)  # x (R-L), y (A-P), z (S-I) in mm


def synthetic_volume(slices: int = 8, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Slices ``(N, size, size)`` float32 head to foot in the training orientation, and the tumour."""
    volume = np.zeros((slices, size, size), np.float32)
    volume[:, 4:-4, 6:-6] = 100.0
    tumour = np.zeros(volume.shape, bool)
    tumour[2:5, 8:14, 9:15] = True  # upper part, anterior, patient's right (image left)
    volume[tumour] = 400.0
    return volume, tumour


def real_volume() -> tuple[np.ndarray, np.ndarray]:
    """The fixture patient's twelve slices ``(12, 256, 256, 3)`` uint8 and masks, head to foot."""
    import cv2

    images, masks = [], []
    for n in range(20, 32):
        image = cv2.imread(str(FIXTURES / f"TCGA_HT_7605_19950916_{n}.jpg"), cv2.IMREAD_COLOR)
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        masks.append(
            cv2.imread(str(FIXTURES / f"TCGA_HT_7605_19950916_{n}_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
        )
    return np.stack(images), np.stack(masks)


def nifti_image(
    slices: np.ndarray, layout: tuple[str, str, str] = ("R", "A", "S"), spacing=SPACING, two: bool = False
) -> nib.Nifti1Image:
    """A NIfTI image of slices ``(N, H, W[, C])`` (head to foot, training orientation) stored in the
    voxel axis order ``layout``; ``two`` = NIfTI-2."""
    ras = np.diag([*spacing, 1.0])
    ras[:3, 3] = [-100.0, -120.0, -40.0]
    frame = AxialFrame.of(ras, (slices.shape[2], slices.shape[1], slices.shape[0]))
    image = (nib.Nifti2Image if two else nib.Nifti1Image)(frame.from_slices(slices[::-1]), ras)
    image = image.as_reoriented(ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(layout)))
    image.header.set_xyzt_units("mm")
    return image


def nifti_bytes(
    slices: np.ndarray, layout: tuple[str, str, str] = ("R", "A", "S"), gz: bool = True, **kw
) -> bytes:
    data = nifti_image(slices, layout, **kw).to_bytes()
    return gzip.compress(data, mtime=0) if gz else data


def read_nifti_bytes(data: bytes) -> nib.Nifti1Image:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return nib.Nifti1Image.from_bytes(raw)


def dicom_series(
    slices: np.ndarray,
    spacing: tuple[float, float, float] = (0.8, 0.9, 3.0),
    modality: str = "MR",
    series_uid: str | None = None,
    positions: list[float] | None = None,
) -> list[bytes]:
    """One 16-bit MR DICOM file per slice ``(N, rows, cols)`` (head to foot, training orientation:
    axial, rows anterior to posterior, columns patient's right to left), RescaleSlope 2, intercept
    -100, a display window, instances shuffled so that order must come from the positions.
    ``positions``: z (superior) of each slice; default descending by ``spacing[2]``."""
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    z = positions if positions is not None else [40.0 - k * spacing[2] for k in range(len(slices))]
    files = []
    for k, image in enumerate(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = (
            "TEST01",
            "Test^Volume",
            "19700101",
            "O",
        )
        ds.StudyInstanceUID, ds.StudyID, ds.StudyDate, ds.StudyTime = study_uid, "1", "20260101", "120000"
        ds.AccessionNumber, ds.ReferringPhysicianName = "A1", ""
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.Modality = series_uid, 3, modality
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_uid, ""
        ds.Manufacturer, ds.InstanceNumber = "test", k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]  # columns grow to patient's left, rows to posterior
        ds.ImagePositionPatient = [-100.0, -120.0, z[k]]
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = image.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 2, -100, "US"
        ds.WindowCenter, ds.WindowWidth = 300, 200  # display only: must not change the answer
        stored = np.rint((np.asarray(image, np.float64) * 10 + 100) / 2).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    order = np.random.default_rng(1).permutation(len(files))
    return [files[i] for i in order]


def edit_series(files: list[bytes], change) -> list[bytes]:
    """The DICOM ``files`` each read, changed by ``change(dataset)`` and written again."""
    edited = []
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        change(ds)
        buffer = io.BytesIO()
        ds.save_as(buffer)
        edited.append(buffer.getvalue())
    return edited


def zip_bytes(files: list[bytes], extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, data in enumerate(files):
            archive.writestr(f"series/IM{i:04d}", data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def enhanced_mr(files: list[bytes], enhanced_sop: bool = False, per_frame_measures: bool = False) -> bytes:
    """One multi-frame MR object of the single-frame ``files`` (highdicom's Legacy Converted Enhanced
    MR Image, frames in the given file order; ``enhanced_sop``: labelled Enhanced MR Image Storage,
    ``per_frame_measures``: pixel spacing and thickness in each frame's functional groups instead of
    the shared ones), as a scanner's Enhanced MR export carries its geometry."""
    import highdicom as hd
    from pydicom.uid import EnhancedMRImageStorage

    sources = [pydicom.dcmread(io.BytesIO(f)) for f in files]
    image = hd.legacy.LegacyConvertedEnhancedMRImage(
        sources,
        series_instance_uid=sources[0].SeriesInstanceUID,
        series_number=3,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    if enhanced_sop:
        image.SOPClassUID = image.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    if per_frame_measures:
        shared = image.SharedFunctionalGroupsSequence[0]
        measures = shared.PixelMeasuresSequence
        del shared.PixelMeasuresSequence
        for item in image.PerFrameFunctionalGroupsSequence:
            item.PixelMeasuresSequence = copy.deepcopy(measures)
    buffer = io.BytesIO()
    image.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
