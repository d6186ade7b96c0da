"""Index the LGG data, split it by patient, and load slices into memory.

Layout (as in the Kaggle ``lgg-mri-segmentation`` download and ../shared/data/lgg):
``<root>/<case>/<case>_<n>.<ext>`` with its mask ``<case>_<n>_mask.<ext>``; ``ext`` is ``tif`` in the
original download, ``jpg`` (images) / ``png`` (masks) in the re-encoded copy. A case folder is
``TCGA_<institution>_<patient>_<date>``; the patient id is ``TCGA_<institution>_<patient>``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from contract import to_model_input
from imaging.lgg_layout import labelled_slices, read_mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SliceRecord:
    """One slice: its case folder, patient id, slice index, file paths and whether it holds tumour."""

    case: str
    patient: str
    slice: int
    image_path: str
    mask_path: str
    has_tumour: int


def patient_of(case: str) -> str:
    """Patient id of a case folder name: ``TCGA_CS_4941_19960909`` -> ``TCGA_CS_4941``."""
    parts = case.split("_")
    return "_".join(parts[:3]) if len(parts) >= 3 else case


def read_image(path: str | Path) -> np.ndarray:
    """Read a slice as ``(H, W, 3)`` uint8 with channels in file order (pre-contrast, FLAIR, post-contrast).

    OpenCV returns BGR-ordered channels for colour files; they are put back into the stored order.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def build_index(root: str | Path) -> list[SliceRecord]:
    """Scan ``root`` for ``<case>/<case>_<n>.<ext>`` slices with masks; sorted by case and slice."""
    root = Path(root)
    records = [
        SliceRecord(
            case=case_dir.name,
            patient=patient_of(case_dir.name),
            slice=item.number,
            image_path=str(item.image.relative_to(root)),
            mask_path=str(item.mask.relative_to(root)),
            has_tumour=int(read_mask(item.mask).any()),
        )
        for case_dir in sorted(p for p in root.iterdir() if p.is_dir())
        for item in labelled_slices(case_dir)
    ]
    if not records:
        raise ValueError(f"no slices with masks found under {root}")
    records.sort(key=lambda r: (r.case, r.slice))
    log.info("indexed %d slices of %d cases under %s", len(records), len({r.case for r in records}), root)
    return records


def write_index(records: list[SliceRecord], path: str | Path) -> None:
    """Write the index as CSV (like the original ``data_mask.csv``)."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(SliceRecord.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in records)


def read_index(path: str | Path) -> list[SliceRecord]:
    """Read an index CSV written by :func:`write_index`."""
    with open(path, newline="") as fh:
        return [
            SliceRecord(**{**row, "slice": int(row["slice"]), "has_tumour": int(row["has_tumour"])})
            for row in csv.DictReader(fh)
        ]


def split_patients(
    records: list[SliceRecord], seed: int = 42, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[str]]:
    """Seeded patient-level split: ``{"train": [...], "validation": [...], "test": [...]}`` of patient ids.

    Patients are stratified by whether they have any tumour slice, so that each part holds both
    kinds. No patient appears in two parts.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    by_patient: dict[str, int] = {}
    for r in records:
        by_patient[r.patient] = max(by_patient.get(r.patient, 0), r.has_tumour)
    if len(by_patient) < 3:
        raise ValueError(f"need at least 3 patients to split, got {len(by_patient)}")
    rng = random.Random(seed)
    split: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for stratum in (0, 1):
        patients = sorted(p for p, t in by_patient.items() if t == stratum)
        rng.shuffle(patients)
        n_val = round(len(patients) * fractions[1])
        n_test = round(len(patients) * fractions[2])
        split["validation"] += patients[:n_val]
        split["test"] += patients[n_val : n_val + n_test]
        split["train"] += patients[n_val + n_test :]
    for part in ("validation", "test"):  # tiny data sets: every part gets at least one patient
        if not split[part]:
            split[part].append(split["train"].pop())
    for part in split.values():
        part.sort()
    return split


def records_for(records: list[SliceRecord], patients: list[str]) -> list[SliceRecord]:
    """The records of the given patients, in index order."""
    wanted = set(patients)
    return [r for r in records if r.patient in wanted]


def load_arrays(root: str | Path, records: list[SliceRecord], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Load slices resized to ``size`` with the contract's preprocessing.

    Returns ``images`` uint8 ``(N, size, size, 3)`` and ``masks`` uint8 ``(N, size, size, 1)`` in {0, 1}.
    """
    root = Path(root)
    images = np.empty((len(records), size, size, 3), np.uint8)
    masks = np.empty((len(records), size, size, 1), np.uint8)
    for i, r in enumerate(records):
        images[i] = to_model_input(read_image(root / r.image_path), size).round().astype(np.uint8)
        mask = read_mask(root / r.mask_path).astype(np.float32)
        if mask.shape != (size, size):
            mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
        masks[i, ..., 0] = mask >= 0.5
    return images, masks


def fingerprint(root: str | Path, records: list[SliceRecord]) -> str:
    """SHA-256 (first 16 hex digits) over the relative paths and sizes of every indexed file."""
    root = Path(root)
    digest = hashlib.sha256()
    for r in records:
        for rel in (r.image_path, r.mask_path):
            digest.update(f"{rel}:{(root / rel).stat().st_size}\n".encode())
    return digest.hexdigest()[:16]
