"""The promotion gate: a candidate models folder replaces the served one only if it is not worse
(``python -m training promote CANDIDATE_DIR``).

This is the one decision the test split is for (recipe choices stay on out-of-fold predictions,
:mod:`training.choose`). Both folders are scored on the same test patients and slices, through the
input path the service takes (:func:`training.evaluate.score`: the card's thresholds, 2-D
post-processing and gate of each folder), and compared **paired per patient**, with patient-bootstrap
intervals (:mod:`training.intervals`):

- mean per-patient Dice of the segmenter (``/segment``), three sequences and FLAIR only;
- the worst patient (lowest Dice) of each, with its tumour pixels;
- slice ROC AUC, and accuracy at each folder's own classifier threshold;
- healthy slices given a mask through ``/analyze``'s gate (the candidate's share).

:data:`RULES` decide: a candidate worse on any headline figure is not promoted. Its mean
per-patient Dice is not lower on either input (difference >= 0), nor its worst patient's Dice, nor
(with ``--volumes``, which adds the ``/volume`` Dice of both) its ``/volume`` Dice on either input;
its ROC AUC and its accuracy at its threshold are not lower by more than 0.005 on three sequences,
and at most 3% of healthy slices get a mask through its gate. The comparison is written into the
candidate's card (``promotion``); a promoted candidate's files and card replace the served folder's
(which keeps its record), a refused one changes nothing served.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from contract import CARD_FILE, CARD_TEXT_FILE, SPLIT_FILE, read_card, write_card
from contract.exports import ONNX_SUFFIX
from training import intervals
from training.evaluate import PARTS, score, test_patients, test_slices
from training.metrics import roc_auc
from training.predictor import FolderPredictor

log = logging.getLogger(__name__)

#: The gate's rules: (figure, bound). Dice differences are candidate minus served.
RULES = {
    "dice_three_difference_min": 0.0,
    "dice_flair_difference_min": 0.0,
    "worst_patient_dice_drop_max": 0.0,
    "volume_dice_difference_min": 0.0,
    "auc_drop_max": 0.005,
    "accuracy_drop_max": 0.005,
    "healthy_masked_max": 0.03,
}
#: Tumour pixels (at 256 x 256) of a patient the targets call large: none of them below Dice 0.5.
LARGE_TUMOUR_PIXELS = 10_000
PROMOTED, REFUSED = 0, 4


def _part_figures(
    predictor: FolderPredictor, part: str, path: str, images, truth, patients
) -> dict[str, Any]:
    s = score(predictor, path, images, truth, patients)
    return {
        "patient_dice": s["segmenter"]["patient_dice"],
        "prob": s["prob"],
        "threshold": s["classifier"]["threshold"],
        "accuracy": s["classifier"]["accuracy"],
        "roc_auc": s["classifier"]["roc_auc"],
        "healthy_masked": s["pipeline"]["false_positive_rate"],
    }


def _paired(candidate: dict, served: dict, has: np.ndarray, groups: list[np.ndarray], pixels: dict) -> dict:
    """One input path's figures of both folders and their paired differences."""
    names = sorted(served["patient_dice"])
    dice_c = np.array([candidate["patient_dice"][p] for p in names])
    dice_s = np.array([served["patient_dice"][p] for p in names])

    def auc_difference(rows: np.ndarray) -> float:
        return roc_auc(has[rows], candidate["prob"][rows]) - roc_auc(has[rows], served["prob"][rows])

    def worst(dice: np.ndarray) -> dict:
        k = int(np.argmin(dice))
        return {"patient": names[k], "dice": float(dice[k]), "tumour_pixels": int(pixels[names[k]])}

    def large_below_half(dice: np.ndarray) -> list[str]:
        return [p for p, d in zip(names, dice, strict=True) if pixels[p] >= LARGE_TUMOUR_PIXELS and d < 0.5]

    return {
        "patient_dice_mean": {
            "candidate": intervals.mean_interval(dice_c),
            "served": intervals.mean_interval(dice_s),
            "difference": intervals.difference_interval(dice_c, dice_s),
            "candidate_better_patients": int((dice_c > dice_s).sum()),
            "patients": len(names),
        },
        "worst_patient": {"candidate": worst(dice_c), "served": worst(dice_s)},
        "large_tumours_below_half": {
            "candidate": large_below_half(dice_c),
            "served": large_below_half(dice_s),
        },
        "roc_auc": {
            "candidate": candidate["roc_auc"],
            "served": served["roc_auc"],
            "difference": intervals.slice_interval(groups, auc_difference),
        },
        "accuracy": {
            "candidate": candidate["accuracy"],
            "served": served["accuracy"],
            "thresholds": {"candidate": candidate["threshold"], "served": served["threshold"]},
        },
        "healthy_masked": {"candidate": candidate["healthy_masked"], "served": served["healthy_masked"]},
    }


def decide(comparison: dict[str, dict]) -> list[str]:
    """The rules a comparison breaks (empty: promote)."""
    broken = []
    for path, key in (("three", "dice_three_difference_min"), ("flair", "dice_flair_difference_min")):
        diff = comparison[path]["patient_dice_mean"]["difference"]["value"]
        if diff < RULES[key]:
            broken.append(
                f"{path}: mean per-patient Dice {diff:+.4f} against the served (must be >= {RULES[key]})"
            )
        worst = comparison[path].get("worst_patient")
        if (
            worst
            and worst["candidate"]["dice"] < worst["served"]["dice"] - RULES["worst_patient_dice_drop_max"]
        ):
            broken.append(
                f"{path}: worst patient's Dice {worst['candidate']['dice']:.4f} "
                f"({worst['candidate']['patient']}) against {worst['served']['dice']:.4f} ({worst['served']['patient']})"
            )
    volume = comparison.get("volume", {})
    for key, value in volume.get("candidate", {}).items():
        if value - volume["served"][key] < RULES["volume_dice_difference_min"]:
            broken.append(f"/volume {key}: Dice {value:.4f} against {volume['served'][key]:.4f}")
    accuracy = comparison["three"].get("accuracy")
    if accuracy and accuracy["candidate"] < accuracy["served"] - RULES["accuracy_drop_max"]:
        broken.append(
            f"three: accuracy {accuracy['candidate']:.4f} against {accuracy['served']:.4f} "
            f"(may drop {RULES['accuracy_drop_max']} at most)"
        )
    auc = comparison["three"]["roc_auc"]
    if auc["candidate"] < auc["served"] - RULES["auc_drop_max"]:
        broken.append(
            f"three: ROC AUC {auc['candidate']:.4f} against {auc['served']:.4f} "
            f"(may drop {RULES['auc_drop_max']} at most)"
        )
    masked = comparison["three"]["healthy_masked"]["candidate"]
    if masked > RULES["healthy_masked_max"]:
        broken.append(
            f"three: {masked:.1%} of healthy slices masked through /analyze's gate "
            f"(at most {RULES['healthy_masked_max']:.0%})"
        )
    return broken


def compare(
    data: str,
    candidate_dir: str | Path,
    served_dir: str | Path,
    max_slices: int | None = None,
    volumes: bool = False,
) -> dict:
    """Score both folders on the served folder's test patients; the paired comparison per input path."""
    served_card, candidate_card = read_card(served_dir), read_card(candidate_dir)
    patients_list = test_patients(served_card)
    if sorted(test_patients(candidate_card)) != sorted(patients_list):
        raise ValueError(
            f"{candidate_dir} was split with other test patients than {served_dir}: they cannot be "
            "compared (a candidate must never have trained on the served folder's test patients)"
        )
    patients, images, truth = test_slices(data, patients_list, max_slices)
    has = truth.reshape(len(truth), -1).any(axis=1)
    groups = intervals.patient_groups(patients)
    pixels: dict[str, int] = {}
    for p, t in zip(patients, truth, strict=True):
        pixels[p] = pixels.get(p, 0) + int(t.sum())
    predictors = {"candidate": FolderPredictor(candidate_dir), "served": FolderPredictor(served_dir)}
    comparison: dict[str, Any] = {}
    for part, path, given in PARTS[:2]:  # three sequences; FLAIR only, as a grey upload is read
        figures = {
            name: _part_figures(p, part, path, given(images), truth, patients)
            for name, p in predictors.items()
        }
        comparison[path] = _paired(figures["candidate"], figures["served"], has, groups, pixels)
        log.info(
            "%s: Dice %s, AUC %s",
            path,
            comparison[path]["patient_dice_mean"]["difference"],
            comparison[path]["roc_auc"]["difference"],
        )
    if volumes:
        from training.evaluate_volumes import evaluate_volumes

        comparison["volume"] = {
            name: {
                key: round(r["dice_mean"], 4)
                for key, r in evaluate_volumes(
                    data, folder, "test", patients=patients_list, layouts=("LPS",)
                )["results"].items()
            }
            for name, folder in (("candidate", candidate_dir), ("served", served_dir))
        }
    return comparison


def promote(
    data: str,
    candidate_dir: str | Path,
    served_dir: str | Path,
    max_slices: int | None = None,
    volumes: bool = False,
    dry_run: bool = False,
) -> dict:
    """Compare, decide by :data:`RULES`, record, and replace the served folder when the candidate passes."""
    candidate_dir, served_dir = Path(candidate_dir), Path(served_dir)
    comparison = compare(data, candidate_dir, served_dir, max_slices, volumes)
    broken = decide(comparison)
    served_card = read_card(served_dir)
    record = {
        "command": "python -m training promote",
        "date": time.strftime("%Y-%m-%d"),
        "rules": RULES,
        "served_before": {
            "folder": str(served_dir),
            "version": _version(served_card),
            "architecture": _architecture(served_card),
        },
        "candidate": {"folder": str(candidate_dir), "version": _version(read_card(candidate_dir))},
        "test_patients": len(test_patients(served_card)),
        "max_slices": max_slices,
        "comparison": comparison,
        "broken_rules": broken,
        "promoted": not broken and not dry_run,
    }
    card = read_card(candidate_dir)
    card["promotion"] = record
    write_card(candidate_dir, card)
    if broken:
        log.warning("refused: %s", "; ".join(broken))
    elif dry_run:
        log.info("passes the gate (dry run: nothing replaced)")
    else:
        _replace(candidate_dir, served_dir)
        log.info("promoted %s into %s", candidate_dir, served_dir)
    return record


def _version(card: dict) -> str | None:
    return ((card.get("models") or {}).get("segmenter") or {}).get("version")


def _architecture(card: dict) -> str | None:
    return ((card.get("models") or {}).get("segmenter") or {}).get("architecture")


def _replace(candidate_dir: Path, served_dir: Path) -> None:
    """The served folder's model files and card become the candidate's (its split, folds and the card's record
    of the cross-validated recipe choices stay)."""
    recipes = read_card(served_dir).get("cross_validation")
    for old in [*served_dir.glob("*.keras"), *served_dir.glob(f"*{ONNX_SUFFIX}")]:
        old.unlink()
    for item in candidate_dir.iterdir():
        if item.suffix in (".keras", ONNX_SUFFIX) or item.name in (CARD_FILE, CARD_TEXT_FILE):
            shutil.copy2(item, served_dir / item.name)
    if not (served_dir / SPLIT_FILE).exists() and (candidate_dir / SPLIT_FILE).exists():
        shutil.copy2(candidate_dir / SPLIT_FILE, served_dir / SPLIT_FILE)
    card = read_card(served_dir)
    if recipes and "cross_validation" not in card:
        card["cross_validation"] = recipes
        write_card(served_dir, card)
