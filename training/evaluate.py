"""Choose thresholds on the validation patients, score the test patients, update the model card.

Classifier threshold: the one with the best validation accuracy. Segmenter pixel threshold: the one
with the best mean per-patient Dice on validation. Masks are scored at the data's own resolution
(256x256): predictions are made at the model's input size and resized back, as the service does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from contract import (CLASSIFIER_FILE, SEGMENTER_FILE, SPLIT_FILE, file_version, flair_only,
                      mask_from_probabilities, read_card, to_model_input, tumour_probability, write_card)
from training import data as lgg
from training import metrics, report

log = logging.getLogger(__name__)

SEGMENTER_THRESHOLDS = np.round(np.arange(0.2, 0.85, 0.05), 2)
NATIVE_SIZE = 256
#: Comparisons written by scripts/train_cpu.sh, folded into the card: file -> (model, card key).
COMPARISON_FILES = {"loss_comparison.json": ("segmenter", "loss_comparison"),
                    "classifier_comparison.json": ("classifier", "architecture_comparison")}


def _predict(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    size = model.input_shape[1]
    x = np.stack([to_model_input(im, size) for im in images])
    return model.predict(x, batch_size=batch_size, verbose=0)


def _masks(prob: np.ndarray, threshold: float) -> np.ndarray:
    return np.stack([mask_from_probabilities(p, (NATIVE_SIZE, NATIVE_SIZE), threshold) for p in prob])


def _part(data: str, records, split: dict, part: str, max_slices: int | None):
    recs = lgg.records_for(records, split["patients"][part])[:max_slices]
    images, masks = lgg.load_arrays(data, recs, NATIVE_SIZE)
    return recs, images, masks[..., 0].astype(bool)


def evaluate(data: str, models_dir: str, reports_dir: str, max_slices: int | None = None) -> dict:
    """Evaluate the models in ``models_dir``; write metrics into its card and PNGs into ``reports_dir``.

    Returns the updated card.
    """
    models, reports = Path(models_dir), Path(reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    split = json.loads((models / SPLIT_FILE).read_text())
    records = lgg.build_index(data)
    classifier = keras.saving.load_model(models / CLASSIFIER_FILE, compile=False)
    segmenter = keras.saving.load_model(models / SEGMENTER_FILE, compile=False)
    card = read_card(models)
    results: dict[str, dict] = {"classifier": {}, "segmenter": {}, "pipeline": {}}
    thresholds: dict[str, float] = {}

    for part in ("validation", "test"):
        recs, images, truth = _part(data, records, split, part, max_slices)
        patients = [r.patient for r in recs]
        has = truth.reshape(len(truth), -1).any(axis=1)
        prob = tumour_probability(_predict(classifier, images))
        seg_prob = _predict(segmenter, images, batch_size=16)
        if part == "validation":
            thresholds["classifier"] = metrics.best_threshold(has, prob)
            scores = {float(t): metrics.segmentation_report(truth, _masks(seg_prob, t), patients)["patient_dice_mean"]
                      for t in SEGMENTER_THRESHOLDS}
            thresholds["segmenter"] = max(scores, key=scores.get)
            log.info("validation thresholds: %s (segmenter sweep %s)", thresholds, scores)
        results["classifier"][part] = metrics.classification_report(has, prob, thresholds["classifier"])
        pred = _masks(seg_prob, thresholds["segmenter"])
        seg = metrics.segmentation_report(truth, pred, patients)
        seg["threshold"] = thresholds["segmenter"]
        results["segmenter"][part] = seg
        gated = pred & (prob >= thresholds["classifier"])[:, None, None]
        pipe = metrics.segmentation_report(truth, gated, patients)
        results["pipeline"][part] = {k: pipe[k] for k in (
            "patient_dice_mean", "patient_dice_median", "slice_dice_tumour_mean", "false_positive_slices",
            "false_positive_rate", "healthy_slices", "missed_tumour_slices")}
        log.info("%s classifier: %s", part, {k: v for k, v in results["classifier"][part].items()})
        log.info("%s segmenter: %s", part, {k: v for k, v in seg.items() if k != "patient_dice"})
        log.info("%s pipeline: %s", part, results["pipeline"][part])
        if part == "test":
            report.roc_curve_png(has, prob, reports / "roc_test.png")
            report.overlays_png(images, truth, pred, reports / "segmentation_best_worst_test.png")
            # The same patients as the service reads a grey upload (a single-sequence DICOM, a grey
            # PNG): FLAIR repeated on the three channels; thresholds as chosen on validation.
            flair = flair_only(images)
            flair_prob = tumour_probability(_predict(classifier, flair))
            results["classifier"]["test_flair_only"] = metrics.classification_report(
                has, flair_prob, thresholds["classifier"])
            flair_seg = metrics.segmentation_report(
                truth, _masks(_predict(segmenter, flair, batch_size=16), thresholds["segmenter"]), patients)
            results["segmenter"]["test_flair_only"] = {**flair_seg, "threshold": thresholds["segmenter"]}
            log.info("test, FLAIR only: classifier %s", results["classifier"]["test_flair_only"])
            log.info("test, FLAIR only: segmenter %s", {k: v for k, v in flair_seg.items() if k != "patient_dice"})

    for name, file in (("classifier", CLASSIFIER_FILE), ("segmenter", SEGMENTER_FILE)):
        entry = card.setdefault("models", {}).setdefault(name, {"file": file})
        entry["version"] = file_version(models / file)
        entry["threshold"] = thresholds[name]
        entry["metrics"] = results[name]
    for file, (name, key) in COMPARISON_FILES.items():
        if (models / file).exists():
            card["models"][name][key] = json.loads((models / file).read_text())
    card["pipeline"] = {"description": "analyze: segment only slices the classifier calls positive",
                        "metrics": results["pipeline"]}
    card["intended_use"] = report.INTENDED_USE
    card["limitations"] = report.LIMITATIONS
    card["evaluation"] = {"command": "python -m training evaluate", "max_slices": max_slices,
                          "mask_resolution": NATIVE_SIZE, "segmenter_thresholds_tried": SEGMENTER_THRESHOLDS.tolist()}
    write_card(models, card)
    report.write_card_markdown(card, models)
    return card
