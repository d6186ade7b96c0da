"""Turn one LGG case folder into a DICOM MR study: pre-contrast, FLAIR and post-contrast series.

The LGG slices (``<case>_<n>.<ext>``, ``n`` ascending head to foot) are 3-channel images whose
channels are three MR sequences on one grid: pre-contrast, FLAIR, post-contrast. Each channel
becomes one classic single-frame MR series (MR Image Storage, 16-bit MONOCHROME2, the 8-bit values
unchanged) of one study, all three on one grid and one Frame of Reference: axial, rows anterior to
posterior and columns from the patient's right to left (the training orientation), slice ``k`` at
``z = -k x slice step`` (head to foot), ``PixelSpacing`` and ``SliceThickness`` set (the dataset
gives no voxel size: ``--spacing`` defaults to the nominal 1 x 1 x 3 mm of ``training/evaluate_volumes.py``).
Headers carry what a scanner would write for the gateway's series selection (SeriesDescription,
ProtocolName, ScanningSequence, InversionTime, ContrastBolusAgent, BodyPartExamined). UIDs are
derived from the case name and ``--seed``, so the same call gives the same study.

    python -m scripts.lgg_to_dicom ../shared/data/lgg/kaggle_3m/TCGA_HT_7605_19950916 out/
    python -m scripts.lgg_to_dicom tests/fixtures/lgg-volume/TCGA_HT_7605_19950916 out/ --sequences flair

writes ``out/<series>/IM0001.dcm ...`` (``pre``, ``flair``, ``post``) and prints one line per series.
"""

from __future__ import annotations

import argparse
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from imaging.lgg_layout import labelled_slices, read_mask

logger = logging.getLogger("lgg_to_dicom")

#: Voxel size (row spacing, column spacing, slice step) in mm when none is given.
NOMINAL_SPACING_MM = (1.0, 1.0, 3.0)


@dataclass(frozen=True)
class Sequence:
    """One LGG channel as a series: its name, channel and the headers a scanner would write."""

    key: str
    channel: int
    description: str
    number: int
    scanning_sequence: str
    inversion_time: float | None
    contrast: str | None


SEQUENCES = {
    "pre": Sequence("pre", 0, "AX T1 PRE", 2, "SE", None, None),
    "flair": Sequence("flair", 1, "AX T2 FLAIR", 3, "IR", 2500.0, None),
    "post": Sequence("post", 2, "AX T1 POST GAD", 4, "SE", None, "Gadolinium"),
}


@dataclass(frozen=True)
class Case:
    """A case read into memory: ``images`` ``(N, H, W, 3)`` uint8 and ``masks`` ``(N, H, W)`` bool,
    head to foot (slice numbers in ``numbers``)."""

    name: str
    numbers: list[int]
    images: np.ndarray
    masks: np.ndarray


def read_case(case_dir: str | Path) -> Case:
    """The labelled slices of one LGG case folder, head to foot."""
    slices = labelled_slices(Path(case_dir))
    if not slices:
        raise ValueError(f"{case_dir}: no labelled LGG slices")
    images = []
    for item in slices:
        image = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read {item.image}")
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    masks = np.stack([read_mask(item.mask) for item in slices])
    return Case(Path(case_dir).name, [item.number for item in slices], np.stack(images), masks)


def case_study(
    case: Case,
    sequences: tuple[str, ...] = ("pre", "flair", "post"),
    spacing: tuple[float, float, float] = NOMINAL_SPACING_MM,
    seed: str = "",
) -> dict[str, list[pydicom.Dataset]]:
    """``series key -> instances`` (datasets with file meta, ready to save or send) of one study."""
    uid = _uid_maker(f"{case.name}|{seed}")
    study = {"study": uid("study"), "frame": uid("frame")}
    return {key: _series(case, SEQUENCES[key], spacing, study, uid) for key in sequences}


def _uid_maker(base: str):
    def uid(*parts: object) -> str:
        return generate_uid(entropy_srcs=[base, *map(str, parts)])

    return uid


def _series(case: Case, seq: Sequence, spacing, study: dict[str, str], uid) -> list[pydicom.Dataset]:
    rows, columns = case.images.shape[1:3]
    row_mm, column_mm, step = spacing
    patient = "_".join(case.name.split("_")[:3])  # TCGA_HT_7605 (TCIA's de-identified subject)
    date = case.name.split("_")[-1] if case.name.split("_")[-1].isdigit() else "20000101"
    series_uid = uid("series", seq.key)
    out = []
    for k, number in enumerate(case.numbers):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = uid("instance", seq.key, number)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.PatientID, ds.PatientName = patient, patient.replace("_", "^", 1)
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyInstanceUID, ds.StudyID, ds.AccessionNumber = study["study"], "1", ""
        ds.StudyDate, ds.StudyTime, ds.ReferringPhysicianName = date, "120000", ""
        ds.StudyDescription = "MR BRAIN"
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.Modality = series_uid, seq.number, "MR"
        ds.SeriesDescription = ds.ProtocolName = seq.description
        ds.SeriesDate, ds.SeriesTime = date, f"12{seq.number:02d}00"
        ds.BodyPartExamined, ds.PatientPosition = "BRAIN", "HFS"
        ds.Manufacturer = "LGG (TCIA) via scripts/lgg_to_dicom.py"
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = study["frame"], ""
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = seq.scanning_sequence, "NONE", ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = (
            (9000.0, 120.0, 1)
            if seq.key == "flair"
            else (
                500.0,
                15.0,
                1,
            )
        )
        if seq.inversion_time is not None:
            ds.InversionTime = seq.inversion_time
        if seq.contrast is not None:
            ds.ContrastBolusAgent = seq.contrast
        ds.InstanceNumber, ds.AcquisitionNumber = k + 1, 1
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # columns to the left, rows to posterior
        ds.ImagePositionPatient = [-(columns / 2) * column_mm, -(rows / 2) * row_mm, -k * step]
        ds.SliceLocation = -k * step
        ds.PixelSpacing = [row_mm, column_mm]
        ds.SliceThickness = step
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.ascontiguousarray(case.images[k, :, :, seq.channel], dtype="<u2").tobytes()
        out.append(ds)
    return out


def dicom_bytes(ds: pydicom.Dataset) -> bytes:
    """Part 10 bytes of one instance."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_study(study: dict[str, list[pydicom.Dataset]], out_dir: str | Path) -> dict[str, Path]:
    """Write each series into ``out_dir/<key>/IM0001.dcm ...``; ``key -> folder``."""
    folders = {}
    for key, instances in study.items():
        folder = Path(out_dir) / key
        folder.mkdir(parents=True, exist_ok=True)
        for ds in instances:
            (folder / f"IM{int(ds.InstanceNumber):04d}.dcm").write_bytes(dicom_bytes(ds))
        folders[key] = folder
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case_dir", type=Path, help="one LGG case folder (<case>_<n>.<ext> with masks)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--sequences", nargs="+", choices=sorted(SEQUENCES), default=["pre", "flair", "post"])
    parser.add_argument(
        "--spacing",
        nargs=3,
        type=float,
        default=NOMINAL_SPACING_MM,
        metavar=("ROW_MM", "COLUMN_MM", "STEP_MM"),
    )
    parser.add_argument("--seed", default="", help="another seed gives another study (new UIDs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    case = read_case(args.case_dir)
    study = case_study(case, tuple(args.sequences), tuple(args.spacing), args.seed)
    for key, folder in write_study(study, args.out_dir).items():
        first = study[key][0]
        logger.info(
            "%s: %d instances, %s, series %s",
            folder,
            len(study[key]),
            first.SeriesDescription,
            first.SeriesInstanceUID,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
