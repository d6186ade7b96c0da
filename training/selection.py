"""Promote a candidate model into the served models folder by a rule declared before the runs.

``python -m training select --candidate DIR`` compares, model by model, a candidate folder (its own
``model_card.json`` written by ``python -m training evaluate``) with the served one:

- segmenter: the higher validation mean per-patient Dice wins;
- classifier: the higher validation ROC AUC wins (threshold-free: the noisier accuracy at a
  threshold chosen on the same 14 patients decided the previous comparison by 0.002).

Both sides must have been evaluated by the same evaluation code (their cards say how). The
winner's file and card entry land in the served folder; both sides' validation and test figures
are appended to the list in ``<served>/<model>_selection.json``, which the card keeps (the losers'
figures too, of every selection made in that folder).
Run ``python -m training evaluate`` on the served folder afterwards: the pipeline figures depend
on the pair.

``python -m training compare --baseline DIR --variant DIR --change TEXT`` records a training
ablation instead: two evaluated runs that differ in one training choice (e.g. the upload
augmentation off), side by side in ``<served>/training_ablation.json``; nothing is promoted.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from contract import CLASSIFIER_FILE, SEGMENTER_FILE, read_card, write_card
from training import report
from training.export import copy_export

log = logging.getLogger(__name__)

RULES = {"segmenter": ("patient_dice_mean", "higher validation mean per-patient Dice"),
         "classifier": ("roc_auc", "higher validation ROC AUC")}
FILES = {"segmenter": SEGMENTER_FILE, "classifier": CLASSIFIER_FILE}
SHOWN = {"segmenter": ("patient_dice_mean", "patient_dice_median", "false_positive_rate", "threshold"),
         "classifier": ("roc_auc", "accuracy", "threshold")}
ABLATION_FILE = "training_ablation.json"


def _summary(entry: dict, model: str) -> dict:
    training = entry.get("training", {})
    figures = {part: {k: scores.get(k) for k in SHOWN[model]} for part, scores in entry.get("metrics", {}).items()}
    return {"architecture": entry.get("architecture"), "version": entry.get("version"),
            "image_size": training.get("config", {}).get("image_size"), "epochs_run": training.get("epochs_run"),
            "device": training.get("device"), "augment": training.get("config", {}).get("augment"),
            "metrics": figures}


def _same_split(first: dict, second: dict, names: tuple[Path, Path]) -> None:
    if first.get("split", {}).get("patients") != second.get("split", {}).get("patients"):
        raise ValueError(f"{names[0]} and {names[1]} were trained on different patient splits")


def _evaluated(entry: dict | None, model: str, side: str, folder: Path) -> dict:
    if not entry or "validation" not in entry.get("metrics", {}):
        raise ValueError(f"the {side} {model} has no validation figures: run python -m training evaluate "
                         f"on {folder} first")
    return entry


def _append(record: Path, item: dict) -> None:
    earlier = json.loads(record.read_text()) if record.exists() else []
    record.write_text(json.dumps(earlier + [item], indent=2) + "\n")


def compare(baseline_dir: str | Path, variant_dir: str | Path, change: str, served_dir: str | Path) -> dict:
    """Record two evaluated runs that differ in ``change`` (validation and test figures of both
    models, each side's training config) in ``<served_dir>/training_ablation.json``; returns the record."""
    folders = (Path(baseline_dir), Path(variant_dir))
    cards = [read_card(folder) for folder in folders]
    _same_split(*cards, folders)
    record: dict = {"change": change}
    for side, card, folder in zip(("baseline", "variant"), cards, folders, strict=True):
        record[side] = {"folder": str(folder), **{
            model: _summary(_evaluated(card.get("models", {}).get(model), model, side, folder), model)
            for model in RULES}}
    _append(Path(served_dir) / ABLATION_FILE, record)
    served = read_card(served_dir)
    if served:  # the card shows every record (python -m training evaluate folds them in as well)
        served["training_ablation"] = json.loads((Path(served_dir) / ABLATION_FILE).read_text())
        write_card(served_dir, served)
        report.write_card_markdown(served, served_dir)
    log.info("recorded %s: %s vs %s in %s", change, *folders, Path(served_dir) / ABLATION_FILE)
    return record


def select(candidate_dir: str | Path, served_dir: str | Path, models: tuple[str, ...] = tuple(RULES)) -> dict:
    """Compare and promote; returns ``{model: comparison}`` (each also written as JSON)."""
    candidate_dir, served_dir = Path(candidate_dir), Path(served_dir)
    candidate, served = read_card(candidate_dir), read_card(served_dir)
    _same_split(candidate, served, (candidate_dir, served_dir))
    outcome = {}
    for model in models:
        key, rule = RULES[model]
        entries = {"candidate": candidate.get("models", {}).get(model), "served": served.get("models", {}).get(model)}
        for side, entry in entries.items():
            _evaluated(entry, model, side, candidate_dir if side == "candidate" else served_dir)
        values = {side: entry["metrics"]["validation"][key] for side, entry in entries.items()}
        winner = "candidate" if values["candidate"] > values["served"] else "served"
        comparison = {"rule": rule, "validation_" + key: values, "winner": winner,
                      "runs": {side: _summary(entry, model) for side, entry in entries.items()}}
        if winner == "candidate":
            shutil.copy(candidate_dir / FILES[model], served_dir / FILES[model])
            served["models"][model] = entries["candidate"]
            copy_export(FILES[model], candidate_dir, candidate, served_dir, served)  # its ONNX file too
        log.info("%s: %s %s -> %s", model, rule, values, winner)
        _append(served_dir / f"{model}_selection.json", comparison)
        outcome[model] = comparison
    write_card(served_dir, served)
    return outcome
