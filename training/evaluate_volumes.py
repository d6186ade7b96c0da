"""Whole-volume evaluation: each patient's slices as a NIfTI volume through the ``/volume`` pipeline.

For every patient of a split part, the dataset's slices (head to foot, in the training orientation)
are stacked into a volume and written as a gzipped NIfTI file in a given voxel layout (e.g. RAS or
LPS axis order): 3-D FLAIR only, or 4-D with the three sequences on the last axis. The file is read
back with nibabel and run through :func:`contract.volume.predict_volume`, the function
``POST /volume`` runs (intensity normalisation over the volume, axial slices in the training
orientation, batched inference, classifier gating, mask back on the input grid, 3-D
post-processing). ``service/`` is not imported (it must not be imported from ``training/`` and the
pipeline lives in ``contract/`` for both); ``tests/service/routers/test_volume_bundled.py`` checks
that the service answers what this module computes.

Per patient: Dice of the whole volume on the input grid, and the tumour-volume error
``(predicted voxels - true voxels) / true voxels`` (the LGG slices carry no voxel size, so the files
get ``NOMINAL_SPACING_MM``; a relative error does not depend on it).

    python -m training.evaluate_volumes --part test
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

from contract import FLAIR_CHANNEL, SPLIT_FILE, read_card
from contract.layout import GATES
from contract.volume import (
    POSTPROCESS_CHOICES,
    AxialFrame,
    normalise_volume,
    postprocess_of,
    postprocess_volume_mask,
    predict_volume,
)
from contract.volume_window import targets_of
from training import lgg
from training.metrics import dice
from training.predictor import FolderPredictor

log = logging.getLogger(__name__)

#: Voxel size written into the evaluation files (x, y, z in mm); the dataset does not give one.
NOMINAL_SPACING_MM = (1.0, 1.0, 3.0)
LAYOUTS: dict[str, tuple[str, str, str]] = {"RAS": ("R", "A", "S"), "LPS": ("L", "P", "S")}
SEQUENCES = ("flair", "three")
DEFAULT_DATA = "../shared/data/lgg/kaggle_3m"


def patient_slices(root: str | Path, records: Sequence[lgg.SliceRecord]) -> tuple[np.ndarray, np.ndarray]:
    """One patient's slices ``(N, H, W, 3)`` uint8 and masks ``(N, H, W)`` bool, head to foot."""
    records = sorted(records, key=lambda r: r.slice)
    images = np.stack([lgg.read_image(Path(root) / r.image_path) for r in records])
    masks = np.stack([lgg.read_mask(Path(root) / r.mask_path) for r in records])
    return images, masks


def to_nifti(
    slices: np.ndarray, layout: Sequence[str], spacing: Sequence[float] = NOMINAL_SPACING_MM
) -> bytes:
    """``.nii.gz`` bytes of slices ``(N, H, W[, C])`` (head to foot, training orientation) stored
    in the voxel axis order ``layout`` (e.g. ``("L", "P", "S")``); C = 3 gives a 4-D file."""
    ras = np.diag([*spacing, 1.0])
    frame = AxialFrame.of(ras, (slices.shape[2], slices.shape[1], slices.shape[0]))
    canonical = frame.from_slices(slices[::-1])  # to_slices order is foot to head for RAS
    image = nib.Nifti1Image(canonical, ras)
    image = image.as_reoriented(ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(tuple(layout))))
    image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), compresslevel=1)


def read_nifti(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Voxels and affine of ``.nii.gz`` bytes (nibabel)."""
    image = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    return np.asanyarray(image.dataobj), image.affine


def keras_infer(models_dir: str | Path, path: str = "three"):
    """The :data:`contract.volume.Run` of a models folder on input ``path`` (one pass of its file), as
    the service computes it (:class:`training.predictor.FolderPredictor`), that path's thresholds
    (classifier, segmenter) and the card's ``/volume`` gate."""
    predictor = FolderPredictor(models_dir)
    thresholds = (predictor.threshold("classifier", path), predictor.threshold("segmenter", path))
    return (lambda batch: predictor.predict(np.asarray(batch), path)), thresholds, predictor.volume_gate


def _canonical(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return apply_orientation(mask, io_orientation(affine))


def evaluate_volumes(
    data: str | Path = DEFAULT_DATA,
    models_dir: str | Path = "models",
    part: str = "test",
    sequences: Sequence[str] = SEQUENCES,
    layouts: Sequence[str] = ("RAS", "LPS"),
    postprocess: Sequence[str] | None = None,
    gate: str | None = None,
    batch_size: int = 32,
    max_patients: int | None = None,
    normalise: Callable[[np.ndarray], np.ndarray] = normalise_volume,
    patients: Sequence[str] | None = None,
) -> dict:
    """Per-patient Dice and tumour-volume error of the volume pipeline on ``part`` of the split.

    Returns ``{"<sequences>/<layout>/<postprocess>": {"patients": {id: {...}}, "dice_mean": ...,
    "dice_median", "volume_error_abs_mean", "within_20_percent", ...}, "layout_agreement": {...}}``;
    ``layout_agreement`` is, per sequences and post-processing, the lowest Dice between the masks of
    the different layouts of one patient (mapped to one orientation).
    """
    if patients is None:  # the part of the folder's split
        patients = json.loads((Path(models_dir) / SPLIT_FILE).read_text())["patients"][part]
    records = lgg.build_index(data)
    patients = list(patients)[:max_patients]
    if postprocess is None:  # the card's choice
        postprocess = (postprocess_of(read_card(models_dir)),)
    targets = targets_of(read_card(models_dir))
    predictors = {seq: keras_infer(models_dir, seq) for seq in sequences}
    results: dict[str, dict] = {}
    agreement: dict[str, float] = {}
    start = time.perf_counter()
    for patient in patients:
        images, truth = patient_slices(data, lgg.records_for(records, [patient]))
        for seq in sequences:
            slices = images if seq == "three" else images[..., FLAIR_CHANNEL]
            infer, (t_cls, t_seg), card_gate = predictors[seq]
            canon_masks: dict[str, list[np.ndarray]] = {}
            for layout in layouts:
                volume, affine = read_nifti(to_nifti(slices, LAYOUTS[layout]))
                truth_grid, _ = read_nifti(to_nifti(truth.astype(np.uint8), LAYOUTS[layout]))
                raw = predict_volume(
                    volume,
                    affine,
                    infer,
                    t_cls,
                    t_seg,
                    batch_size,
                    "none",
                    gate or card_gate,
                    targets=targets,
                    normalise=normalise,
                )
                for method in postprocess:
                    mask = postprocess_volume_mask(raw.mask, method)
                    row = _patient_row(truth_grid.astype(bool), mask)
                    results.setdefault(f"{seq}/{layout}/{method}", {"patients": {}})["patients"][patient] = (
                        row
                    )
                    canon_masks.setdefault(method, []).append(_canonical(mask, affine))
            for method, masks in canon_masks.items():
                key = f"{seq}/{method}"
                agreement[key] = min([agreement.get(key, 1.0)] + [dice(masks[0], m) for m in masks[1:]])
        log.info("%s done (%.0f s)", patient, time.perf_counter() - start)
    for entry in results.values():
        entry.update(_summary(entry["patients"]))
    return {
        "part": part,
        "gate": gate or next(iter(predictors.values()))[2],
        "thresholds": {seq: list(p[1]) for seq, p in predictors.items()},
        "nominal_spacing_mm": NOMINAL_SPACING_MM,
        "results": results,
        "layout_agreement": agreement,
    }


def _patient_row(truth: np.ndarray, mask: np.ndarray) -> dict:
    true_voxels, predicted = int(truth.sum()), int(mask.sum())
    error = (predicted - true_voxels) / true_voxels if true_voxels else None
    return {
        "dice": dice(truth, mask),
        "true_voxels": true_voxels,
        "predicted_voxels": predicted,
        "volume_error": error,
    }


def _summary(rows: dict[str, dict]) -> dict:
    dices = np.array([r["dice"] for r in rows.values()])
    errors = np.array([r["volume_error"] for r in rows.values() if r["volume_error"] is not None])
    return {
        "dice_mean": float(dices.mean()),
        "dice_median": float(np.median(dices)),
        "volume_error_abs_mean": float(np.abs(errors).mean()) if len(errors) else None,
        "volume_error_abs_median": float(np.median(np.abs(errors))) if len(errors) else None,
        "volume_error_signed_mean": float(errors.mean()) if len(errors) else None,
        "within_20_percent": int((np.abs(errors) <= 0.2).sum()),
        "with_tumour": len(errors),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--part", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--sequences", nargs="+", default=list(SEQUENCES), choices=SEQUENCES)
    parser.add_argument("--layouts", nargs="+", default=["RAS", "LPS"], choices=list(LAYOUTS))
    parser.add_argument(
        "--postprocess",
        nargs="+",
        default=None,
        choices=POSTPROCESS_CHOICES,
        help="3-D post-processing(s) to score (default: the model card's)",
    )
    parser.add_argument("--gate", choices=GATES, default=None, help="the gate (default: the model card's)")
    parser.add_argument("--output", help="write the whole result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    report = evaluate_volumes(
        args.data, args.models_dir, args.part, args.sequences, args.layouts, args.postprocess, gate=args.gate
    )
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    for key, entry in report["results"].items():
        log.info(
            "%s %s: Dice mean %.3f median %.3f | |volume error| mean %.3f median %.3f, within 20%%: %d/%d",
            report["part"],
            key,
            entry["dice_mean"],
            entry["dice_median"],
            entry["volume_error_abs_mean"],
            entry["volume_error_abs_median"],
            entry["within_20_percent"],
            entry["with_tumour"],
        )
    log.info("layout agreement (lowest Dice between layouts): %s", report["layout_agreement"])


if __name__ == "__main__":
    main()
