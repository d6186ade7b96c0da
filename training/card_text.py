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
from training.model_tables import figures_markdown

INTENDED_USE = (
    "Research and engineering use only: flag and outline FLAIR abnormalities (lower-grade glioma) on "
    "single axial brain MRI slices laid out like the LGG data (pre-contrast, FLAIR, post-contrast as "
    "channels). Not a medical device; not for diagnosis or treatment decisions."
)


def limitations(card: dict) -> list[str]:
    """The card's limitations, from the facts of its own runs (input size, device, patients, epochs)."""
    split = card.get("split", {}).get("patients", {})
    developed = len(split.get("train", [])) + len(split.get("validation", []))
    items = [
        (
            f"Developed on {developed} patients of one public dataset (TCGA LGG, 5 institutions); other scanners, "
            "protocols, tumour types and paediatric data are out of distribution."
        ),
        "Slice by slice: no 3-D context; the first and last slices of a volume are the least reliable.",
        (
            f"The test figures come from {len(split.get('test', []))} patients only (wide intervals); the test "
            "patients decided only the promotion of the served folder, never a recipe or a threshold."
        ),
    ]
    for role, entry in card.get("models", {}).items():
        training = entry.get("training") or {}
        config, device = training.get("config") or {}, training.get("device") or {}
        if config:
            items.append(
                f"The {role} network was trained at {config.get('image_size')}x{config.get('image_size')} "
                f"input for {training.get('epochs_run')} epochs on {device.get('backend')} "
                f"({', '.join(device.get('devices', []))}); masks are upsampled to the slice size, so "
                "lesions of a few pixels can be missed."
            )
    items.append(
        "Greyscale uploads (a single-sequence DICOM, a grey PNG) are taken as FLAIR repeated on three "
        "channels; they score lower than three sequences (figures 'test_flair_only', 'test_windowed')."
    )
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
    for row, (label, i) in zip(np.atleast_2d(axes), picks, strict=False):
        panels = [images[i], truth[i], pred[i], overlay(images[i], truth[i], pred[i])]
        titles = [f"{label} Dice {dice(truth[i], pred[i]):.2f}", "truth", "prediction", "overlay"]
        for ax, panel, title in zip(row, panels, titles, strict=False):
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
    lines = [
        "# Model card: LGG brain MRI tumour classifier and segmenter",
        "",
        "Generated by `python -m training evaluate` from `model_card.json`; do not edit by hand.",
        "",
        "## Intended use",
        "",
        card.get("intended_use", ""),
        "",
        "## Limitations",
        "",
    ]
    lines += [f"- {item}" for item in card.get("limitations", [])]
    data, split = card.get("data", {}), card.get("split", {}).get("patients", {})
    lines += [
        "",
        "## Data",
        "",
        (
            "LGG segmentation dataset (TCGA lower-grade glioma, TCIA, CC BY 3.0; Buda et al. 2019, Mazurowski et "
            f"al. 2017): {data.get('patients')} patients, {data.get('slices')} slices, {data.get('tumour_slices')} "
            f"with tumour; fingerprint `{data.get('fingerprint')}`."
        ),
        "",
        f"- test: {len(split.get('test', []))} patients (`split.json`; in no fold, used for no choice)",
        f"- development: {len(split.get('train', [])) + len(split.get('validation', []))} patients",
        "",
        "## Models",
        "",
    ]
    for role, entry in card["models"].items():
        flair = entry.get("flair", {})
        lines.append(
            f"- {role} `{entry['name']}`: output `{entry.get('output_name')}` of `{entry['file']}` (version "
            f"`{entry['version']}`), threshold {_fmt(entry.get('threshold'))}"
            + (f", post-processing {_fmt(entry.get('postprocess'))}" if "postprocess" in entry else "")
            + (f"; FLAIR-only input: threshold {_fmt(flair.get('threshold'))}" if flair else "")
        )
        training = entry.get("training") or {}
        if training.get("config"):
            device = training.get("device") or {}
            lines.append(
                f"  - trained: {_fmt(training['config'])}; {training.get('epochs_run')} epochs on "
                f"{device.get('backend')} {device.get('devices')}, {device.get('cpu_count')} cores"
            )
    lines += ["", "## Figures", "", figures_markdown(card)]
    volume = card.get("volume", {}).get("results", {})
    if volume:
        lines += [
            "",
            "## Whole volumes (`POST /volume`, test patients as NIfTI)",
            "",
            (
                "| sequences / layout / post-processing | mean Dice | median Dice | mean abs. volume error | "
                "volume within 20% |"
            ),
            "| --- | --- | --- | --- | --- |",
        ]
        for key, v in volume.items():
            lines.append(
                f"| {key} | {_fmt(v.get('dice_mean'))} | {_fmt(v.get('dice_median'))} | "
                f"{_fmt(v.get('volume_error_abs_mean'))} | {_fmt(v.get('within_20_percent'))} |"
            )
        lines.append(
            f"\nLayout agreement (lowest Dice between layouts): {_fmt(card['volume'].get('layout_agreement'))}"
        )
    path = Path(models_dir) / CARD_TEXT_FILE
    path.write_text("\n".join(lines) + "\n")
    return path
