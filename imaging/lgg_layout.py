"""The LGG folder layout, read the same way by training and by the install check.

A case folder holds ``<case>_<n>.<ext>`` slices, each with its mask ``<case>_<n>_mask.<ext>``
(``tif`` in the Kaggle ``lgg-mri-segmentation`` download, ``jpg``/``png`` in re-encoded copies).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".tif", ".tiff", ".jpg", ".jpeg", ".png")
MASK_SUFFIX = "_mask"
_SLICE_RE = re.compile(r"^(?P<case>.+)_(?P<n>\d+)$")


class LabelledSlice(NamedTuple):
    """One slice file of a case folder, its number and its mask file."""

    number: int
    image: Path
    mask: Path


def labelled_slices(case_dir: Path) -> list[LabelledSlice]:
    """The slices of one case folder that have a number and a mask beside them, by number.

    Files of other kinds are ignored; an image without a number or a mask is skipped with a warning.
    """
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for path in Path(case_dir).iterdir():
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if path.stem.endswith(MASK_SUFFIX):
            masks[path.stem[: -len(MASK_SUFFIX)]] = path
        else:
            images[path.stem] = path
    found = []
    for stem, image in images.items():
        match = _SLICE_RE.match(stem)
        if match is None or stem not in masks:
            log.warning("skipping %s: no slice number or no mask beside it", image)
            continue
        found.append(LabelledSlice(int(match["n"]), image, masks[stem]))
    return sorted(found)


def read_mask(path: str | Path) -> np.ndarray:
    """A mask file as a boolean ``(H, W)`` array: any non-zero pixel (of any channel) is tumour."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"cannot read mask {path}")
    return (mask.max(axis=2) if mask.ndim == 3 else mask) > 0
