"""PNG figures and the human-readable model card (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from contract import CARD_TEXT_FILE
from training.metrics import dice
from training.readme import training_ablation_markdown

INTENDED_USE = (
    "Research and engineering use only: flag and outline FLAIR abnormalities (lower-grade glioma) on "
    "single axial brain MRI slices laid out like the LGG data (pre-contrast, FLAIR, post-contrast as "
    "channels). Not a medical device; not for diagnosis or treatment decisions."
)


def limitations(card: dict) -> list[str]:
    """The card's limitations, from the facts of its own runs (input size, device, patients, epochs)."""
    models = card.get("models", {})
    train_patients = len(card.get("split", {}).get("patients", {}).get("train", []))
    items = [f"Trained on {train_patients} patients of one public dataset (TCGA LGG, 5 institutions); other "
             "scanners, protocols, tumour types and paediatric data are out of distribution.",
             "Slice by slice: no 3-D context; the very first and last slices of a volume are the least reliable.",
             f"Thresholds and post-processing were chosen on {len(card.get('split', {}).get('patients', {}).get('validation', []))} "
             "validation patients (bagged over patient resamples; the spread is in the card): few for such choices."]
    for name, entry in models.items():
        training = entry.get("training", {})
        size = training.get("config", {}).get("image_size")
        device = training.get("device", {})
        text = (f"The {name} was trained at {size}x{size} input for {training.get('epochs_run')} epochs "
                f"({training.get('duration_s')} s in its last run) on {device.get('backend')} "
                f"{device.get('devices')}, {device.get('cpu_count')} CPU cores")
        if size and size < card.get("evaluation", {}).get("mask_resolution", size):
            text += "; its masks are upsampled to the slice size, so lesions of a few pixels can be missed"
        items.append(text + ".")
    items.append("Greyscale uploads (a single-sequence DICOM, a grey PNG) are taken as FLAIR repeated on three "
                 "channels; the models saw such slices in training (FLAIR-only and windowing augmentation), but "
                 "score lower on them than on three sequences (metrics 'test_flair_only', 'test_windowed').")
    return items


def roc_curve_png(truth: np.ndarray, prob: np.ndarray, path: str | Path) -> None:
    """ROC curve of tumour probabilities against slice labels, with the AUC in the legend."""
    fpr, tpr, _ = roc_curve(truth, prob)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUC = {roc_auc_score(truth, prob):.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="Classifier ROC, test patients")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def overlay(image: np.ndarray, truth: np.ndarray | None = None, pred: np.ndarray | None = None) -> np.ndarray:
    """RGB overlay of the FLAIR channel: truth in green, prediction in red (overlap yellow)."""
    flair = image[..., 1].astype(np.float32)
    out = np.repeat(flair[..., None], 3, axis=2) * 0.7
    if truth is not None:
        out[truth, 1] = 255
    if pred is not None:
        out[pred, 0] = 255
    return out.clip(0, 255).astype(np.uint8)


def overlays_png(images, truth, pred, path: str | Path, n: int = 4) -> None:
    """Grid of the ``n`` best and ``n`` worst tumour slices by Dice: MRI, truth, prediction, overlay."""
    has = np.flatnonzero(truth.reshape(len(truth), -1).any(axis=1))
    scores = np.array([dice(truth[i], pred[i]) for i in has])
    order = has[np.argsort(scores)]
    picks = [("worst", i) for i in order[:n]] + [("best", i) for i in order[::-1][:n]]
    fig, axes = plt.subplots(len(picks), 4, figsize=(8, 2 * len(picks)))
    for row, (label, i) in zip(np.atleast_2d(axes), picks):
        panels = [images[i], truth[i], pred[i], overlay(images[i], truth[i], pred[i])]
        titles = [f"{label} Dice {dice(truth[i], pred[i]):.2f}", "truth", "prediction", "overlay"]
        for ax, panel, title in zip(row, panels, titles):
            ax.imshow(panel, cmap="gray")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def write_card_markdown(card: dict, models_dir: str | Path) -> Path:
    """Write the readable twin of ``model_card.json`` (``MODEL_CARD.md``) and return its path."""
    lines = ["# Model card: LGG brain MRI tumour classifier and segmenter", "",
             "Generated by `python -m training evaluate` from `model_card.json`; do not edit by hand.", "",
             "## Intended use", "", card.get("intended_use", ""), "", "## Limitations", ""]
    lines += [f"- {item}" for item in card.get("limitations", [])]
    data = card.get("data", {})
    lines += ["", "## Data", "",
              "LGG segmentation dataset (TCGA lower-grade glioma, TCIA; Buda et al. 2019, Mazurowski et al. 2017), "
              f"{data.get('patients')} patients, {data.get('slices')} slices, {data.get('tumour_slices')} with tumour; "
              f"fingerprint `{data.get('fingerprint')}`.", ""]
    split = card.get("split", {})
    for part, patients in split.get("patients", {}).items():
        lines.append(f"- {part}: {len(patients)} patients, {split.get('slices', {}).get(part)} slices")
    lines += ["", f"Split seed {split.get('seed')}; patient ids are listed in `split.json`.", ""]
    for name, entry in card.get("models", {}).items():
        training = entry.get("training", {})
        cfg = training.get("config", {})
        lines += [f"## {name}: `{entry.get('file')}`", "",
                  f"- architecture `{entry.get('architecture')}`, {entry.get('parameters')} parameters, "
                  f"input {entry.get('input', {}).get('shape')}, version `{entry.get('version')}`",
                  f"- output: {entry.get('output')}; threshold {_fmt(entry.get('threshold'))} (chosen on validation)",
                  f"- trained {training.get('epochs_run')} epochs (best {training.get('best_epoch')}) in "
                  f"{training.get('duration_s')} s on {training.get('device', {}).get('backend')} / "
                  f"{training.get('device', {}).get('devices')}; loss `{cfg.get('loss') if name == 'segmenter' else 'cross-entropy'}`, "
                  f"batch {cfg.get('batch_size')}, learning rate {cfg.get('learning_rate')}", ""]
        if "threshold_choice" in entry:
            lines.append(f"- threshold choice: {_fmt({k: v for k, v in entry['threshold_choice'].items() if k != 'sweep'})}")
        if "postprocess" in entry:
            lines.append(f"- mask post-processing (chosen on validation): {_fmt(entry['postprocess'])}")
        if "loss_comparison" in entry:
            lines.append(f"- loss comparison (equal budgets, validation soft Dice): {_fmt(entry['loss_comparison'])}")
        if "selection" in entry:
            lines.append(f"- selection against the model it would replace: {_fmt(entry['selection'])}")
        if "architecture_comparison" in entry:
            lines.append(f"- architecture comparison: {_fmt(entry['architecture_comparison'])}")
        before = training.get("continued_from")
        while before:  # the runs these weights were trained on from, latest first
            lines.append(f"- continued from an earlier run of {before.get('epochs_run')} epochs "
                         f"({before.get('duration_s')} s, learning rate {before.get('config', {}).get('learning_rate')})")
            before = before.get("continued_from")
        for part, scores in entry.get("metrics", {}).items():
            shown = {k: v for k, v in scores.items() if k != "patient_dice"}
            lines.append(f"- {part}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in shown.items()))
        lines.append("")
    for part, scores in card.get("pipeline", {}).get("metrics", {}).items():
        lines.append(f"- pipeline ({part}): " + ", ".join(f"{k} {_fmt(v)}" for k, v in scores.items()))
    lines += ablation_markdown(card.get("ablation", {}))
    lines += training_ablation_markdown(card.get("training_ablation", []))
    volume = card.get("volume", {}).get("results", {})
    if volume:
        lines += ["", "## Whole volumes (`POST /volume`, test patients as NIfTI)", "",
                  "| sequences / layout / post-processing | mean Dice | median Dice | mean abs. volume error | "
                  "volume within 20% |", "| --- | --- | --- | --- | --- |"]
        for key, v in volume.items():
            lines.append(f"| {key} | {_fmt(v.get('dice_mean'))} | {_fmt(v.get('dice_median'))} | "
                         f"{_fmt(v.get('volume_error_abs_mean'))} | {_fmt(v.get('within_20_percent'))} |")
        lines.append(f"\nLayout agreement (lowest Dice between layouts): {_fmt(card['volume'].get('layout_agreement'))}")
    path = Path(models_dir) / CARD_TEXT_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def ablation_markdown(ablation: dict) -> list[str]:
    """The card's ablation as a Markdown table: one row per variant, validation and test side by side."""
    if not ablation:
        return []
    parts = list(ablation)
    lines = ["", "## Ablation (same models, one choice changed)", "",
             "| variant | " + " | ".join(parts) + " |", "| --- |" + " --- |" * len(parts)]
    for row in ablation[parts[0]]:
        cells = []
        for part in parts:
            figures = ablation[part].get(row, {})
            cells.append(", ".join(f"{k} {_fmt(v)}" for k, v in figures.items()))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return lines
