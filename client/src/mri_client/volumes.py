"""``mri-client volume``: NIfTI files, zips and DICOM folders -> one ``POST /volume`` per volume.

A folder is searched (recursively) for NIfTI files (each one volume) and DICOM files, which are
grouped by ``SeriesInstanceUID`` (pydicom reads the headers only): one request per series. The mask
is written into the masks folder (``--masks-dir``, else the folder of ``--output``, else the current
folder): ``<name>.mask.nii.gz`` for NIfTI, ``<name>.seg.dcm`` (DICOM Segmentation) for a series.
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import MRIClient
from .files import is_dicom

logger = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz")
COLUMNS = [
    "path",
    "series",
    "status",
    "sequences",
    "slices",
    "tumour_slices",
    "tumour_voxels",
    "tumour_volume_ml",
    "mask_path",
    "error",
]


@dataclass
class VolumeInput:
    """One volume to send: ``kind`` "nifti", "zip" or "dicom"; ``files`` the paths of its files;
    ``name`` the stem of its mask file; ``series`` the SeriesInstanceUID (DICOM)."""

    path: Path
    kind: str
    name: str
    files: list[Path] = field(default_factory=list)
    series: str = ""


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _series_uid(path: Path) -> str | None:
    """SeriesInstanceUID of a DICOM file (``DICM`` marker), None for anything else."""
    import pydicom

    if not is_dicom(path):
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
    except Exception:  # unreadable: not part of a series
        return None
    return str(ds.get("SeriesInstanceUID", "") or "")


def find_volumes(paths: Iterable[str | Path]) -> list[VolumeInput]:
    """Volumes in ``paths``: a file is one volume (NIfTI, zip, or a single DICOM); a folder gives
    its NIfTI files and one volume per DICOM series below it, in sorted order."""
    found: list[VolumeInput] = []
    for raw in paths:
        root = Path(raw)
        if not root.is_dir():
            kind = "zip" if root.suffix.lower() == ".zip" else "nifti" if _is_nifti(root) else "dicom"
            found.append(VolumeInput(root, kind, _stem(root), [root]))
            continue
        series: dict[str, list[Path]] = defaultdict(list)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            if _is_nifti(path):
                found.append(VolumeInput(path, "nifti", _stem(path), [path]))
            elif (uid := _series_uid(path)) is not None:
                series[uid].append(path)
        for number, (uid, files) in enumerate(sorted(series.items()), start=1):
            name = root.name if len(series) == 1 else f"{root.name}.series{number}"
            found.append(VolumeInput(root, "dicom", name, files, uid))
        if not series and not any(v.path.is_relative_to(root) for v in found):
            logger.warning("no NIfTI file or DICOM series in %s", root)
    return found


def process_volume(
    client: MRIClient, item: VolumeInput, masks_dir: Path, dicom_output: str, postprocess: str | None = None
) -> dict[str, Any]:
    """Send one volume, write its mask, and return its result row."""
    row: dict[str, Any] = {"path": str(item.path), "series": item.series}
    try:
        files = [(p.name, p.read_bytes()) for p in item.files]
        seg = item.kind != "nifti" and dicom_output == "seg"
        if seg:
            result = client.volume(files, output="dicom-seg", postprocess=postprocess)
            target = masks_dir / f"{item.name}.seg.dcm"
            data = result["dicom_seg"]
        else:
            result = client.volume(files, mask_format="nifti", postprocess=postprocess)
            target = masks_dir / f"{item.name}.mask.nii.gz"
            data = base64.b64decode(result["mask"]["data"])
            row.update(sequences=result["sequences"], slices=result["shape"][0])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        tumour_slices = result["tumour_slices"]
        row.update(
            status="ok",
            tumour_slices=len(tumour_slices) if isinstance(tumour_slices, list) else tumour_slices,
            tumour_voxels=result["tumour_voxels"],
            tumour_volume_ml=result["tumour_volume_ml"],
            mask_path=str(target),
        )
    except Exception as exc:  # one bad volume must not stop the others
        logger.debug("%s failed", item.path, exc_info=True)
        row.update(status="error", error=str(exc) or type(exc).__name__)
    return row
