"""Score a labelled folder of slices through a running service: the end-to-end check of an install.

Every slice of a folder in the LGG layout (``<case>/<case>_<n>.<ext>`` with ``<case>_<n>_mask.<ext>``,
``.tif`` as in the original download or ``.jpg``/``.png``) is posted to ``/analyze`` with the
``mri_client`` library, over HTTP, and its answer compared with the slice's mask. Prints one line
per slice and a summary: classification accuracy, tumour slices found, mean Dice on the tumour
slices (a missed slice scores 0), each case's volume Dice, and masks drawn on healthy slices.

    python scripts/check_folder.py ../shared/data/lgg-tif-sample --url http://localhost:8000
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from mri_client import MRIClient, rle_to_pixels

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.data import build_index, read_mask  # noqa: E402
from training.metrics import dice  # noqa: E402

logger = logging.getLogger("check_folder")


def predicted_mask(answer: dict, shape: tuple[int, int]) -> np.ndarray:
    """The boolean mask of an /analyze answer (all background when the slice was called negative)."""
    segmentation = answer["segmentation"]
    if segmentation is None:
        return np.zeros(shape, bool)
    mask = segmentation["mask"]
    pixels = rle_to_pixels(mask["counts"], mask["size"])
    return np.frombuffer(bytes(pixels), np.uint8).reshape(mask["size"]).astype(bool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder of case folders (LGG layout), or one case folder")
    parser.add_argument("--url", default="http://localhost:8000", help="the running service")
    parser.add_argument("--api-key", default=None, help="X-API-Key, when the service needs one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if any(p.is_dir() for p in args.folder.iterdir()):  # a folder of case folders
        root, records = args.folder, build_index(args.folder)
    else:  # one case folder
        root = args.folder.parent
        records = [r for r in build_index(root) if r.case == args.folder.name]
    truths, preds, cases, correct = [], [], [], 0
    with MRIClient(args.url, api_key=args.api_key, retries=5) as client:
        client.wait_until_ready(timeout=300)
        for record in records:
            truth = read_mask(root / record.mask_path)
            answer = client.analyze(root / record.image_path)
            pred = predicted_mask(answer, truth.shape)
            called = answer["classification"]["has_tumour"]
            correct += called == bool(record.has_tumour)
            truths.append(truth)
            preds.append(pred)
            cases.append(record.case)
            logger.info("%-40s truth %-7s probability %.3f  mask pixels %5d  Dice %s",
                        Path(record.image_path).name, "tumour" if record.has_tumour else "healthy",
                        answer["classification"]["tumour_probability"], pred.sum(),
                        f"{dice(truth, pred):.3f}" if record.has_tumour else "-")
    has = np.array([t.any() for t in truths])
    drawn = np.array([p.any() for p in preds])
    slice_dice = [dice(t, p) for t, p, h in zip(truths, preds, has) if h]
    logger.info("slices %d (tumour %d): classification accuracy %.3f (%d/%d)",
                len(records), has.sum(), correct / len(records), correct, len(records))
    logger.info("tumour slices found %d/%d; mean Dice on tumour slices %.3f; masks on healthy slices %d/%d",
                (has & drawn).sum(), has.sum(), np.mean(slice_dice) if slice_dice else float("nan"),
                (drawn & ~has).sum(), (~has).sum())
    for case in sorted(set(cases)):
        idx = [i for i, c in enumerate(cases) if c == case]
        logger.info("case %s: volume Dice %.3f over %d slices", case,
                    dice(np.stack([truths[i] for i in idx]), np.stack([preds[i] for i in idx])), len(idx))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
