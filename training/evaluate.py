"""The served folder on the test patients, once (``python -m training evaluate``).

Every choice was made before, on out-of-fold predictions (:mod:`training.choose`); this module only
scores: the test patients (the card's split, ``split.json``'s ``test``: never in a fold) as three-sequence slices
(``test``), as a grey upload is read (``test_flair_only``: FLAIR repeated) and as a 16-bit grey upload
is read (``test_windowed``), each through the input path the service takes for it (``three`` or
``flair``), at the card's thresholds, post-processing and gate. ``members`` scores ensembles of the
first 1..k fold models the same way (the member count is a latency choice; these figures are
reported beside it, not acted on).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from contract import FLAIR_CHANNEL, NATIVE_SLICE_SIZE, flair_only, read_card, write_card
from contract.layout import GATES
from contract.tta import TTA_KEY
from imaging.windowing import percentile_window
from training import card_text, lgg, metrics, thresholds
from training.predictor import FolderPredictor

log = logging.getLogger(__name__)

PIPELINE_KEYS = (
    "patient_dice_mean",
    "patient_dice_median",
    "slice_dice_tumour_mean",
    "false_positive_slices",
    "false_positive_rate",
    "healthy_slices",
    "missed_tumour_slices",
)


def windowed_flair(images: np.ndarray) -> np.ndarray:
    """Slices as the service reads a 16-bit grey upload of their FLAIR: percentile window, repeated."""
    flair = np.stack([percentile_window(im[..., FLAIR_CHANNEL].astype(np.float32) * 257.0) for im in images])
    return np.repeat(flair[..., None], images.shape[-1], axis=-1)


#: Test parts: (card key, input path, how the slices are given).
PARTS = (
    ("test", "three", lambda im: im),
    ("test_flair_only", "flair", flair_only),
    ("test_windowed", "flair", windowed_flair),
)


def test_patients(card: dict) -> list[str]:
    """The test patients of a models folder: its card's patient split (``split.json``'s ``test`` part), else its
    cross-validation's (``folds.json``'s ``test``: the same patients, in no fold)."""
    split = (
        (card.get("split") or {}).get("patients") or (card.get("cross_validation") or {}).get("folds") or {}
    )
    if "test" not in split:
        raise ValueError(
            "the model card has no test patients (split.patients.test or cross_validation.folds.test)"
        )
    return list(split["test"])


def test_slices(data: str, patients: list[str], max_slices: int | None = None):
    """The test patients' slices at the native size: (patients per slice, images, truth masks)."""
    records = lgg.records_for(lgg.build_index(data), patients)[:max_slices]
    images, masks = lgg.load_arrays(data, records, NATIVE_SLICE_SIZE)
    return [r.patient for r in records], images, masks[..., 0].astype(bool)


def gated(pred: np.ndarray, prob: np.ndarray, threshold: float, gate: str) -> np.ndarray:
    """The masks a gate lets through (:data:`contract.layout.GATES`): all drawn masks for ``mask``,
    those of slices the classifier calls tumour for ``classifier`` and ``both``."""
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
    return pred if gate == "mask" else pred & (prob >= threshold)[:, None, None]


def score(predictor: FolderPredictor, path: str, images, truth, patients) -> dict:
    """Classifier, segmenter and pipeline (the gate's masks) figures of one part."""
    prob, seg = predictor.predict(images, path)
    t_cls, spec = predictor.threshold("classifier", path), predictor.spec("segmenter", path)
    t_seg = predictor.threshold("segmenter", path)
    pred = thresholds.masks(seg, t_seg, truth.shape[1], spec.postprocess)
    has = truth.reshape(len(truth), -1).any(axis=1)
    pipe = metrics.segmentation_report(truth, gated(pred, prob, t_cls, predictor.gate), patients)
    return {
        "classifier": metrics.classification_report(has, prob, t_cls),
        "segmenter": {**metrics.segmentation_report(truth, pred, patients), "threshold": t_seg},
        "pipeline": {k: pipe[k] for k in PIPELINE_KEYS},
        "prob": prob,
        "pred": pred,
    }


def evaluate(
    data: str, models_dir: str | Path, reports_dir: str | Path, max_slices: int | None = None
) -> dict:
    """Score the served folder on the test patients (slices, then whole volumes); write the figures into its
    card and ``MODEL_CARD.md``, the ROC and overlay PNGs into ``reports_dir``; return the card."""
    models_dir, reports = Path(models_dir), Path(reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    card = read_card(models_dir)
    predictor = FolderPredictor(models_dir)
    patients, images, truth = test_slices(data, test_patients(card), max_slices)
    results: dict[str, dict] = {"classifier": {}, "segmenter": {}, "pipeline": {}}
    for part, path, given in PARTS:
        scores = score(predictor, path, given(images), truth, patients)
        for key, by_part in results.items():
            by_part[part] = scores[key]
        log.info(
            "%s (%s path): classifier AUC %s accuracy %.3f; Dice %.3f; pipeline healthy masks %.3f",
            part,
            path,
            scores["classifier"]["roc_auc"],
            scores["classifier"]["accuracy"],
            scores["segmenter"]["patient_dice_mean"],
            scores["pipeline"]["false_positive_rate"],
        )
        if part == "test":
            has = truth.reshape(len(truth), -1).any(axis=1)
            card_text.roc_curve_png(has, scores["prob"], reports / "roc_test.png")
            card_text.overlays_png(
                images, truth, scores["pred"], reports / "segmentation_best_worst_test.png"
            )
    for role in ("classifier", "segmenter"):
        card["models"][role]["metrics"] = results[role]
    card["pipeline"] = {
        "gate": predictor.gate,
        "metrics": results["pipeline"],
        "description": "the masks of the slices the gate lets through (/analyze, /volume)",
    }
    card["evaluation"] = {
        "command": "python -m training evaluate",
        "max_slices": max_slices,
        "mask_resolution": NATIVE_SLICE_SIZE,
        "test_patients": len(set(patients)),
    }
    write_card(models_dir, card)  # the volume path reads the card written just now
    card["volume"] = _volume_figures(data, models_dir, max_slices)
    card["intended_use"] = card_text.INTENDED_USE
    card["limitations"] = card_text.limitations(card)
    write_card(models_dir, card)
    card_text.write_card_markdown(card, models_dir)
    return card


def _volume_figures(data: str, models_dir: Path, max_slices: int | None) -> dict:
    """The ``/volume`` path (:mod:`training.evaluate_volumes`, the code the service runs) on the test
    patients built as NIfTI volumes, FLAIR only and three sequences, in two voxel layouts."""
    from training.evaluate_volumes import evaluate_volumes

    card = read_card(models_dir)
    figures = evaluate_volumes(
        data, models_dir, "test", max_patients=None if max_slices is None else 2, patients=test_patients(card)
    )
    for key, value in figures["results"].items():
        log.info("volume %s: %s", key, {k: v for k, v in value.items() if k != "patients"})
    return figures


def members(
    data: str, runs: str | Path, models_dir: str | Path, counts: list[int], max_slices: int | None = None
) -> dict:
    """Test figures of ensembles of the first ``n`` fold models, for each ``n`` in ``counts``
    (three-sequence and FLAIR-only paths, the served thresholds); written into the card's ``ensemble``."""
    import tempfile

    from training.ensemble import build_ensemble, fold_models, save_compact

    models_dir = Path(models_dir)
    card = read_card(models_dir)
    cv = card["cross_validation"]
    patients, images, truth = test_slices(data, test_patients(card), max_slices)
    rows = {}
    for n in counts:
        with tempfile.TemporaryDirectory() as tmp:
            files = {
                path: card["models"]["segmenter"]["file"]
                if path == "three"
                else card["models"]["segmenter"].get("flair", {}).get("file")
                for path in ("three", "flair")
            }
            for path, file in files.items():
                if file and not (Path(tmp) / file).exists():
                    save_compact(
                        build_ensemble(fold_models(Path(runs) / cv["recipes"][path], n)), Path(tmp) / file
                    )
            write_card(tmp, {**card, TTA_KEY: cv["tta"]})  # FolderPredictor applies the chosen tta
            predictor = FolderPredictor(tmp)
            rows[str(n)] = {}
            for part, path, given in PARTS[:2]:
                s = score(predictor, path, given(images), truth, patients)
                rows[str(n)][part] = {
                    "patient_dice_mean": s["segmenter"]["patient_dice_mean"],
                    "roc_auc": s["classifier"]["roc_auc"],
                    "accuracy": s["classifier"]["accuracy"],
                    "healthy_masked": s["pipeline"]["false_positive_rate"],
                }
        log.info("%d member(s): %s", n, rows[str(n)])
    card.setdefault("ensemble", {})["test_by_members"] = rows
    write_card(models_dir, card)
    return rows
