"""Choose thresholds and post-processing on the validation patients, score the test patients, update the card.

Choices (:mod:`training.choices`): the classifier threshold is the median of the accuracy-maximising
thresholds of patient resamples of validation; the segmenter's pixel threshold and post-processing
(:mod:`contract.postprocess`) are those with the best validation mean per-patient Dice. Masks are
scored at the data's own resolution (the contract's default image size): predictions are made at
the model's input size and resized back, as the service does.

The test patients are scored as three-sequence slices (``test``), as the service reads a grey
upload (``test_flair_only``: FLAIR repeated on the three channels), and as it reads a 16-bit grey
upload (``test_windowed``: FLAIR through the service's percentile window, then repeated). The card's
``ablation`` records what the threshold method and the post-processing change on validation and test.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from contract import (
    CLASSIFIER_FILE,
    FLAIR_CHANNEL,
    NATIVE_SLICE_SIZE,
    SEGMENTER_FILE,
    SPLIT_FILE,
    file_version,
    flair_only,
    read_card,
    to_model_input,
    tumour_probability,
    write_card,
)
from contract.postprocess import NO_POSTPROCESS
from contract.windowing import percentile_window
from training import choices, metrics, report
from training import data as lgg
from training.selection import ABLATION_FILE

log = logging.getLogger(__name__)

#: Comparisons folded into the card when present in the models folder: file -> (model, card key).
COMPARISON_FILES = {"loss_comparison.json": ("segmenter", "loss_comparison"),
                    "classifier_comparison.json": ("classifier", "architecture_comparison"),
                    "segmenter_selection.json": ("segmenter", "selection"),
                    "classifier_selection.json": ("classifier", "selection")}
PIPELINE_KEYS = ("patient_dice_mean", "patient_dice_median", "slice_dice_tumour_mean", "false_positive_slices",
                 "false_positive_rate", "healthy_slices", "missed_tumour_slices")


def _predict(model: keras.Model, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    size = model.input_shape[1]
    x = np.stack([to_model_input(im, size) for im in images])
    return model.predict(x, batch_size=batch_size, verbose=0)


def windowed_flair(images: np.ndarray) -> np.ndarray:
    """Slices as the service reads a 16-bit grey upload of their FLAIR: percentile window, repeated."""
    flair = np.stack([percentile_window(im[..., FLAIR_CHANNEL].astype(np.float32) * 257.0) for im in images])
    return np.repeat(flair[..., None], images.shape[-1], axis=-1)


def _part(data: str, records, split: dict, part: str, max_slices: int | None):
    recs = lgg.records_for(records, split["patients"][part])[:max_slices]
    images, masks = lgg.load_arrays(data, recs, NATIVE_SLICE_SIZE)
    return [r.patient for r in recs], images, masks[..., 0].astype(bool)


def _score(truth, patients, prob, seg_prob, clf_threshold: float, seg_threshold: float, post: dict) -> dict:
    """Classifier, segmenter and /analyze (segment only what the classifier calls positive) reports."""
    has = truth.reshape(len(truth), -1).any(axis=1)
    pred = choices.masks(seg_prob, seg_threshold, truth.shape[1], post)
    gated = pred & (prob >= clf_threshold)[:, None, None]
    pipe = metrics.segmentation_report(truth, gated, patients)
    return {"classifier": metrics.classification_report(has, prob, clf_threshold),
            "segmenter": {**metrics.segmentation_report(truth, pred, patients), "threshold": seg_threshold},
            "pipeline": {k: pipe[k] for k in PIPELINE_KEYS}, "pred": pred}


def _ablation(truth, patients, prob, seg_prob, clf_choice: dict, seg_choice: dict) -> dict:
    """What the threshold method and the post-processing change, on one part of the split."""
    has = truth.reshape(len(truth), -1).any(axis=1)
    rows = {}
    for name, t in (("bagged median (served)", clf_choice["threshold"]),
                    ("single validation optimum", clf_choice["single_split"]), ("fixed 0.5", 0.5)):
        rows[f"classifier threshold: {name}"] = {
            "threshold": t, "accuracy": metrics.classification_report(has, prob, t)["accuracy"]}
    for name, post in (("chosen (served)", seg_choice["postprocess"]), ("none", NO_POSTPROCESS)):
        seg = metrics.segmentation_report(truth, choices.masks(seg_prob, seg_choice["threshold"], truth.shape[1],
                                                               post), patients)
        rows[f"segmenter post-processing: {name}"] = {
            **post, "patient_dice_mean": seg["patient_dice_mean"], "false_positive_rate": seg["false_positive_rate"]}
    return rows


def _volume_figures(data: str, models: Path, max_slices: int | None) -> dict:
    """The ``/volume`` path (:mod:`training.volume_eval`, the code the service runs) on the test
    patients built as NIfTI volumes, FLAIR only and three sequences, in two voxel layouts."""
    from training.volume_eval import evaluate_volumes

    figures = evaluate_volumes(data, models, "test", max_patients=None if max_slices is None else 2)
    for key, value in figures["results"].items():
        log.info("volume %s: %s", key, {k: v for k, v in value.items() if k != "patients"})
    return figures


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
    ablation: dict[str, dict] = {}

    def run(part: str, truth, patients, images) -> dict:
        prob, seg_prob = tumour_probability(_predict(classifier, images)), _predict(segmenter, images)
        scores = _score(truth, patients, prob, seg_prob, clf["threshold"], seg["threshold"], seg["postprocess"])
        for key in results:
            results[key][part] = scores[key]
        log.info("%s: classifier %s", part, scores["classifier"])
        log.info("%s: segmenter %s", part, {k: v for k, v in scores["segmenter"].items() if k != "patient_dice"})
        log.info("%s: pipeline %s", part, scores["pipeline"])
        return {**scores, "prob": prob, "seg_prob": seg_prob}

    patients, images, truth = _part(data, records, split, "validation", max_slices)
    has = truth.reshape(len(truth), -1).any(axis=1)
    prob, seg_prob = tumour_probability(_predict(classifier, images)), _predict(segmenter, images)
    clf = choices.choose_classifier_threshold(has, prob, patients)
    seg = choices.choose_segmenter(truth, seg_prob, patients)
    log.info("validation choices: classifier %s; segmenter %s", clf, {k: v for k, v in seg.items() if k != "sweep"})
    val = run("validation", truth, patients, images)
    ablation["validation"] = _ablation(truth, patients, val["prob"], val["seg_prob"], clf, seg)

    patients, images, truth = _part(data, records, split, "test", max_slices)
    test = run("test", truth, patients, images)
    ablation["test"] = _ablation(truth, patients, test["prob"], test["seg_prob"], clf, seg)
    report.roc_curve_png(truth.reshape(len(truth), -1).any(axis=1), test["prob"], reports / "roc_test.png")
    report.overlays_png(images, truth, test["pred"], reports / "segmentation_best_worst_test.png")
    run("test_flair_only", truth, patients, flair_only(images))
    run("test_windowed", truth, patients, windowed_flair(images))

    for name, file in (("classifier", CLASSIFIER_FILE), ("segmenter", SEGMENTER_FILE)):
        entry = card.setdefault("models", {}).setdefault(name, {"file": file})
        entry["version"] = file_version(models / file)
        entry["metrics"] = results[name]
    card["models"]["classifier"]["threshold"] = clf["threshold"]
    card["models"]["classifier"]["threshold_choice"] = clf
    card["models"]["segmenter"]["threshold"] = seg["threshold"]
    card["models"]["segmenter"]["postprocess"] = seg["postprocess"]
    card["models"]["segmenter"]["threshold_choice"] = {k: v for k, v in seg.items() if k != "postprocess"}
    for file, (name, key) in COMPARISON_FILES.items():
        if (models / file).exists():
            card["models"][name][key] = json.loads((models / file).read_text())
    card["pipeline"] = {"description": "analyze: segment only slices the classifier calls positive",
                        "metrics": results["pipeline"]}
    card["ablation"] = ablation
    if (models / ABLATION_FILE).exists():
        card["training_ablation"] = json.loads((models / ABLATION_FILE).read_text())
    card["intended_use"] = report.INTENDED_USE
    card["limitations"] = report.limitations(card)
    card["evaluation"] = {"command": "python -m training evaluate", "max_slices": max_slices,
                          "mask_resolution": NATIVE_SLICE_SIZE, "bootstrap_samples": choices.BOOTSTRAP_SAMPLES}
    write_card(models, card)  # the volume path reads the thresholds just chosen from the card
    card["volume"] = _volume_figures(data, models, max_slices)
    write_card(models, card)
    report.write_card_markdown(card, models)
    return card
