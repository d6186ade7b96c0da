"""Data exploration (the original's visualisation step): class counts and MRI / mask / overlay grids."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training import lgg
from training.card_text import overlay

log = logging.getLogger(__name__)


def run(data: str, output: str, samples: int = 6, seed: int = 0) -> list[Path]:
    """Write ``class_counts.png`` and ``samples.png`` into ``output``; return their paths."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    records = lgg.build_index(data)
    tumour = sum(r.has_tumour for r in records)
    fig, ax = plt.subplots(figsize=(4, 3.5))
    bars = ax.bar(["no tumour", "tumour"], [len(records) - tumour, tumour], color=["tab:blue", "tab:red"])
    ax.bar_label(bars)
    ax.set(ylabel="slices", title=f"{len(records)} slices, {len({r.patient for r in records})} patients")
    fig.tight_layout()
    counts = out / "class_counts.png"
    fig.savefig(counts, dpi=100)
    plt.close(fig)

    rng = np.random.default_rng(seed)
    positives = [r for r in records if r.has_tumour]
    picks = [positives[i] for i in rng.choice(len(positives), min(samples, len(positives)), replace=False)]
    fig, axes = plt.subplots(len(picks), 3, figsize=(6, 2 * len(picks)))
    for row, r in zip(np.atleast_2d(axes), picks, strict=False):
        image = lgg.read_image(Path(data) / r.image_path)
        mask = lgg.read_mask(Path(data) / r.mask_path)
        for ax, panel, title in zip(
            row,
            [image, mask, overlay(image, mask)],
            [r.case + f" #{r.slice}", "mask", "overlay"],
            strict=False,
        ):
            ax.imshow(panel, cmap="gray")
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    grid = out / "samples.png"
    fig.savefig(grid, dpi=80)
    plt.close(fig)
    log.info("wrote %s and %s", counts, grid)
    return [counts, grid]
