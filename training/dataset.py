"""``keras.utils.PyDataset`` over in-memory slices, with augmentation (NumPy/OpenCV, any backend)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import keras
import numpy as np

from contract import flair_only


@dataclass(frozen=True)
class Augment:
    """Augmentation ranges: horizontal flips, rotation (degrees), scaling, intensity jitter, FLAIR only.

    Geometric changes are applied identically to image and mask (nearest-neighbour for masks);
    intensity jitter multiplies each channel by ``1 +- gain`` and adds ``+- shift`` grey levels.
    With probability ``flair_only`` the slice becomes its FLAIR channel repeated three times, which
    is how the service reads a greyscale upload (a single-sequence DICOM, a grey PNG), so that such
    input is not out of distribution.
    """

    flip: bool = True
    rotation: float = 10.0
    scale: float = 0.1
    gain: float = 0.1
    shift: float = 10.0
    flair_only: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.flair_only <= 1.0:
            raise ValueError(f"flair_only must be a probability in [0, 1], got {self.flair_only}")

    def __call__(self, rng: np.random.Generator, image: np.ndarray, mask: np.ndarray | None):
        size = image.shape[0]
        if self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        angle = rng.uniform(-self.rotation, self.rotation)
        scale = 1.0 + rng.uniform(-self.scale, self.scale)
        if angle or scale != 1.0:
            matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
            image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT)
            if mask is not None:
                mask = cv2.warpAffine(np.ascontiguousarray(mask[..., 0]), matrix, (size, size),
                                      flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)[..., None]
        image = image.astype(np.float32)
        image = image * (1.0 + rng.uniform(-self.gain, self.gain, 3)) + rng.uniform(-self.shift, self.shift, 3)
        if rng.random() < self.flair_only:
            image = flair_only(image)
        return np.clip(image, 0, 255), mask


class SliceDataset(keras.utils.PyDataset):
    """Batches of ``(images float32 [0, 255], targets)`` for ``model.fit``.

    ``targets`` are masks ``(N, S, S, 1)`` for the segmenter or labels ``(N, 1)`` for the
    classifier. Each epoch draws every slice whose ``keep`` flag is set plus a random
    ``other_fraction`` of the rest (the segmenter's share of healthy slices), shuffled with
    ``seed``; ``augment=None`` gives the slices unchanged in order (validation).
    """

    def __init__(self, images, targets, batch_size: int = 16, augment: Augment | None = None,
                 keep: np.ndarray | None = None, other_fraction: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0.0 <= other_fraction <= 1.0:
            raise ValueError(f"other_fraction must be in [0, 1], got {other_fraction}")
        self.images, self.targets = images, targets
        self.batch_size, self.augment = batch_size, augment
        self.keep = np.ones(len(images), bool) if keep is None else np.asarray(keep, bool)
        self.other_fraction = other_fraction
        self.rng = np.random.default_rng(seed)
        self.order = self._draw()

    def _draw(self) -> np.ndarray:
        if self.augment is None:
            return np.arange(len(self.images))
        kept = np.flatnonzero(self.keep)
        others = np.flatnonzero(~self.keep)
        n_others = int(round(len(others) * self.other_fraction))
        chosen = np.concatenate([kept, self.rng.choice(others, n_others, replace=False)])
        return self.rng.permutation(chosen)

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.images[idx].astype(np.float32)
        targets = self.targets[idx].astype(np.float32)
        if self.augment is not None:
            is_mask = targets.ndim == 4
            for i in range(len(idx)):
                image, mask = self.augment(self.rng, self.images[idx[i]], self.targets[idx[i]] if is_mask else None)
                images[i] = image
                if is_mask:
                    targets[i] = mask
        return images, targets

    def on_epoch_end(self) -> None:
        self.order = self._draw()
