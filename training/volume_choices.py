"""The ``/volume`` choices on the development patients (part of ``python -m training choose``).

- **Intensity targets** of the per-volume window (:mod:`contract.volume_window`): per sequence, the
  median over the development patients of the 99.5th percentile of the patient's whole volume.
- **3-D post-processing** (:data:`contract.volume.POSTPROCESS_CHOICES`), on out-of-fold volumes: each
  development patient's slices, written as a NIfTI volume (RAS, as ``training.evaluate_volumes`` does),
  go through :func:`contract.volume.predict_volume` (the code ``POST /volume`` runs: the window, the
  gate, the thresholds chosen out of fold) with the fold model that never saw the patient, three
  sequences and FLAIR only. Rule, declared before the run: ``none`` (no post-processing) unless another
  method raises the mean per-patient volume Dice (both inputs) with a patient-bootstrap interval
  wholly above 0; of several such, the largest gain.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from contract import CHANNELS, FLAIR_CHANNEL, JOINT_FILE, MASK_OUTPUT, PROBABILITY_OUTPUT, to_model_input
from contract.volume import POSTPROCESS_CHOICES, postprocess_volume_mask, predict_volume
from imaging.windowing import HIGH_PERCENTILE
from training import intervals
from training.evaluate_volumes import read_nifti, to_nifti
from training.metrics import dice
from training.oof import Development

log = logging.getLogger(__name__)

NONE = "none"


def intensity_targets(dev: Development) -> tuple[float, ...]:
    """Per sequence, the median over patients of the patient volume's high percentile."""
    per_patient = [
        np.percentile(dev.images[rows].reshape(-1, len(CHANNELS)), HIGH_PERCENTILE, axis=0)
        for rows in intervals.patient_groups(dev.patients)
    ]
    return tuple(round(float(v), 1) for v in np.median(np.array(per_patient), axis=0))


def _fold_infer(model):
    size = model.input_shape[1]

    def run(batch: np.ndarray):
        out = model.predict_on_batch(np.stack([to_model_input(im, size) for im in batch]))
        return np.asarray(out[PROBABILITY_OUTPUT])[:, 0], np.asarray(out[MASK_OUTPUT])

    return run


def volume_dice(
    dev: Development,
    runs: Path,
    recipes: dict[str, str],
    paths: dict[str, dict],
    gate: str,
    targets: tuple[float, ...],
) -> dict[str, np.ndarray]:
    """Per post-processing method, each patient's mean volume Dice over the two inputs (out of fold)."""
    groups = intervals.patient_groups(dev.patients)
    scores = {m: np.zeros((len(groups), 2)) for m in POSTPROCESS_CHOICES}
    for column, path in enumerate(("three", "flair")):
        chosen = paths[path]
        for fold in sorted(set(dev.fold_of.tolist())):
            model = keras.saving.load_model(
                runs / recipes[path] / f"fold{fold + 1}" / JOINT_FILE, compile=False
            )
            infer = _fold_infer(model)
            for g, rows in enumerate(groups):
                if dev.fold_of[rows[0]] != fold:
                    continue
                slices = dev.images[rows] if path == "three" else dev.images[rows][..., FLAIR_CHANNEL]
                volume, affine = read_nifti(to_nifti(slices, ("R", "A", "S")))
                truth, _ = read_nifti(to_nifti(dev.truth[rows].astype(np.uint8), ("R", "A", "S")))
                raw = predict_volume(
                    volume,
                    affine,
                    infer,
                    chosen["classifier"]["threshold"],
                    chosen["segmenter"]["threshold"],
                    postprocess=NONE,
                    gate=gate,
                    targets=targets,
                )
                for method in POSTPROCESS_CHOICES:
                    scores[method][g, column] = dice(
                        truth.astype(bool), postprocess_volume_mask(raw.mask, method)
                    )
            log.info("out-of-fold volumes: %s, fold %d done", path, fold + 1)
    return {m: s.mean(axis=1) for m, s in scores.items()}


def choose_postprocess(per_patient: dict[str, np.ndarray]) -> dict:
    """The module docstring's rule on per-patient volume Dice by method."""
    gains = {
        m: intervals.difference_interval(per_patient[m], per_patient[NONE]) for m in per_patient if m != NONE
    }
    better = [m for m, gain in gains.items() if intervals.above_zero(gain)]
    chosen = max(better, key=lambda m: gains[m]["value"]) if better else NONE
    log.info(
        "3-D post-processing: %s (gains over none: %s)",
        chosen,
        {m: round(g["value"], 4) for m, g in gains.items()},
    )
    return {
        "postprocess": chosen,
        "gain_over_none": gains,
        "dice_mean": {m: intervals.mean_interval(v) for m, v in per_patient.items()},
        "rule": "none unless a method raises the mean per-patient volume Dice (interval above 0)",
    }
