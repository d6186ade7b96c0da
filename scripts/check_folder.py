"""Score a labelled folder of slices through a running service: the end-to-end check of an install.

Every slice of a folder in the LGG layout (``<case>_<n>.<ext>`` with its mask ``<case>_<n>_mask.<ext>``;
``.tif`` as in the original download or ``.jpg``/``.png``) is posted to ``/analyze`` with the
``mri_client`` library, over HTTP, and its answer compared with the slice's mask. FOLDER is one
case folder, or a folder of case folders (only those, never its parent). Prints one line per
slice and a summary: classification accuracy, tumour slices found, mean Dice on the tumour slices
(a missed slice scores 0), each case's volume Dice (all its slices pooled) and their mean, and
masks drawn on healthy slices.

    python -m scripts.check_folder ../shared/data/lgg-tif-sample --url http://localhost:8000
    python -m scripts.check_folder CASE_FOLDER --min-accuracy 0.9 --min-dice 0.8   # gate an install

Exit status: 0 when the figures are at or above ``--min-accuracy`` / ``--min-dice`` (the mean
volume Dice), 1 when one is below, 2 when the service is unreachable or not ready within
``--wait`` seconds, or the folder holds no labelled slice.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mri_client import MRIClient, MRIError, rle_to_pixels

from imaging.lgg_layout import labelled_slices, read_mask
from imaging.metrics import dice

logger = logging.getLogger("check_folder")


@dataclass(frozen=True)
class Slice:
    """One labelled slice: its case, number, image file and mask file."""

    case: str
    number: int
    image: Path
    mask: Path


@dataclass
class Report:
    """What the check measured; ``volume_dice`` is ``case -> Dice`` over the case's slices pooled."""

    slices: int = 0
    tumour_slices: int = 0
    correct: int = 0
    found: int = 0
    healthy_with_mask: int = 0
    tumour_dice: list[float] = field(default_factory=list)
    volume_dice: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of the answered slices called right (nan when none was answered)."""
        return self.correct / self.slices if self.slices else float("nan")

    @property
    def mean_tumour_dice(self) -> float:
        """Mean Dice over the tumour slices (nan without any)."""
        return float(np.mean(self.tumour_dice)) if self.tumour_dice else float("nan")

    @property
    def mean_volume_dice(self) -> float:
        """Mean over the cases of their volume Dice (nan when no slice was answered)."""
        return float(np.mean(list(self.volume_dice.values()))) if self.volume_dice else float("nan")


def _slices_of_case(folder: Path) -> list[Slice]:
    return [Slice(folder.name, item.number, item.image, item.mask) for item in labelled_slices(folder)]


def find_slices(folder: Path) -> list[Slice]:
    """The labelled slices of ``folder`` (one case) or of its case folders, by case and number."""
    cases = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = [s for case in cases or [folder] for s in _slices_of_case(case)]
    return sorted(found, key=lambda s: (s.case, s.number))


def predicted_mask(answer: dict, shape: tuple[int, int]) -> np.ndarray:
    """The boolean mask of an /analyze answer (all background when the slice was called negative)."""
    segmentation = answer["segmentation"]
    if segmentation is None:
        return np.zeros(shape, bool)
    mask = segmentation["mask"]
    pixels = rle_to_pixels(mask["counts"], mask["size"])
    return np.frombuffer(bytes(pixels), np.uint8).reshape(mask["size"]).astype(bool)


def check(slices: list[Slice], client: MRIClient) -> Report:
    """Post every slice to /analyze, log a line per slice, and score the answers against the masks."""
    report = Report()
    by_case: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for item in slices:
        truth = read_mask(item.mask)
        try:
            answer = client.analyze(item.image)
        except MRIError as exc:  # counted and reported; the check then fails
            logger.error("%s: %s", item.image.name, exc)
            report.errors.append(f"{item.image.name}: {exc}")
            continue
        pred = predicted_mask(answer, truth.shape)
        has = bool(truth.any())
        called = answer["classification"]["has_tumour"]
        report.slices += 1
        report.tumour_slices += has
        report.correct += called == has
        report.found += has and bool(pred.any())
        report.healthy_with_mask += (not has) and bool(pred.any())
        if has:
            report.tumour_dice.append(dice(truth, pred))
        truths, preds = by_case.setdefault(item.case, ([], []))
        truths.append(truth)
        preds.append(pred)
        logger.info(
            "%-40s truth %-7s probability %.3f  mask pixels %5d  Dice %s",
            item.image.name,
            "tumour" if has else "healthy",
            answer["classification"]["tumour_probability"],
            pred.sum(),
            f"{report.tumour_dice[-1]:.3f}" if has else "-",
        )
    report.volume_dice = {case: dice(np.stack(t), np.stack(p)) for case, (t, p) in by_case.items()}
    return report


def log_summary(report: Report) -> None:
    """The summary lines (the figures the check exists to report)."""
    logger.info(
        "slices %d (tumour %d): classification accuracy %.3f (%d/%d)",
        report.slices,
        report.tumour_slices,
        report.accuracy,
        report.correct,
        report.slices,
    )
    logger.info(
        "tumour slices found %d/%d; mean Dice on tumour slices %.3f; masks on healthy slices %d/%d",
        report.found,
        report.tumour_slices,
        report.mean_tumour_dice,
        report.healthy_with_mask,
        report.slices - report.tumour_slices,
    )
    if report.errors:
        logger.info("slices the service could not answer: %d", len(report.errors))
    for case, score in sorted(report.volume_dice.items()):
        logger.info("case %s: volume Dice %.3f", case, score)
    logger.info("mean volume Dice over %d cases %.3f", len(report.volume_dice), report.mean_volume_dice)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="one case folder, or a folder of case folders (LGG layout)")
    parser.add_argument("--url", default="http://localhost:8000", help="the running service")
    parser.add_argument("--api-key", default=None, help="X-API-Key, when the service needs one")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the service to be ready")
    parser.add_argument("--min-accuracy", type=float, default=None, help="exit 1 below this accuracy")
    parser.add_argument("--min-dice", type=float, default=None, help="exit 1 below this mean volume Dice")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if not args.folder.is_dir():
        logger.error("%s is not a folder", args.folder)
        return 2
    slices = find_slices(args.folder)
    if not slices:
        logger.error(
            "no labelled slices in %s: expected <case>_<n>.<ext> files with <case>_<n>_mask.<ext> "
            "beside them, in this folder or in its case folders",
            args.folder,
        )
        return 2
    with MRIClient(args.url, api_key=args.api_key, retries=5) as client:
        try:
            client.wait_until_ready(timeout=args.wait)
        except MRIError as exc:
            logger.error("%s; nothing checked", exc)
            return 2
        report = check(slices, client)
    log_summary(report)
    below = [f"{len(report.errors)} slices not answered"] if report.errors else []
    if args.min_accuracy is not None and not report.accuracy >= args.min_accuracy:
        below.append(f"accuracy {report.accuracy:.3f} < {args.min_accuracy}")
    if args.min_dice is not None and not report.mean_volume_dice >= args.min_dice:
        below.append(f"mean volume Dice {report.mean_volume_dice:.3f} < {args.min_dice}")
    if below:
        logger.error("FAILED: %s", "; ".join(below))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
