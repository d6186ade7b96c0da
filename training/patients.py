"""The test patients, worst first: what sets the hard ones apart (``python -m training patients``).

For each test patient of a models folder: its per-patient Dice (three sequences and FLAIR only, from
the card's evaluation, :mod:`training.evaluate`), its institution (the TCGA site code in the case
name), its tumour size, and the FLAIR intensities of its slices: the median and 99th percentile of
the brain (FLAIR above :data:`BRAIN_LEVEL`) and the mean over the tumour. A dim FLAIR, or a tumour
little brighter than the brain, is what the model sees least well. The rows go into the card
(``evaluation.patients``) and docs/models.md's tables.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from contract import FLAIR_CHANNEL, NATIVE_SLICE_SIZE, read_card, write_card
from training import lgg
from training.evaluate import test_patients

log = logging.getLogger(__name__)

#: FLAIR grey level above which a pixel counts as brain (the background of the LGG slices is near 0).
BRAIN_LEVEL = 10


def profile(data: str, patient: str, records) -> dict:
    """Institution, slices, tumour pixels and FLAIR intensities of one patient (module docstring)."""
    images, masks = lgg.load_arrays(data, lgg.records_for(records, [patient]), NATIVE_SLICE_SIZE)
    flair, tumour = images[..., FLAIR_CHANNEL], masks[..., 0].astype(bool)
    brain = flair > BRAIN_LEVEL
    return {
        "institution": patient.split("_")[1],
        "slices": len(images),
        "tumour_pixels": int(tumour.sum()),
        "flair_brain_median": float(np.median(flair[brain])),
        "flair_brain_p99": float(np.percentile(flair[brain], 99)),
        "flair_tumour_mean": float(flair[tumour].mean()) if tumour.any() else None,
    }


def patients_table(data: str, models_dir: str | Path) -> list[dict]:
    """One row per test patient, lowest three-sequence Dice first; written into the card."""
    card = read_card(models_dir)
    metrics = card["models"]["segmenter"].get("metrics") or {}
    if "test" not in metrics:
        raise ValueError(f"{models_dir} has no test figures: run python -m training evaluate first")
    dice = {part: metrics[part]["patient_dice"] for part in ("test", "test_flair_only")}
    records = lgg.build_index(data)
    rows = [
        {
            "patient": p,
            "dice_three": dice["test"][p],
            "dice_flair": dice["test_flair_only"][p],
            **profile(data, p, records),
        }
        for p in test_patients(card)
    ]
    rows.sort(key=lambda r: r["dice_three"])
    card.setdefault("evaluation", {})["patients"] = rows
    write_card(models_dir, card)
    for r in rows:
        log.info(
            "%s %s: Dice %.3f / %.3f, %d tumour pixels, FLAIR brain median %.0f p99 %.0f, tumour %s",
            r["patient"],
            r["institution"],
            r["dice_three"],
            r["dice_flair"],
            r["tumour_pixels"],
            r["flair_brain_median"],
            r["flair_brain_p99"],
            r["flair_tumour_mean"],
        )
    return rows
