"""``keras.utils.PyDataset`` over in-memory slices, with augmentation (NumPy/OpenCV, any backend)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import keras
import numpy as np

from contract import flair_only
from imaging.windowing import HIGH_PERCENTILE, LOW_PERCENTILE, linear_window


@dataclass(frozen=True)
class Augment:
    """Augmentation ranges: flips, rotation (degrees), scaling, intensity jitter, upload windowing, FLAIR only.

    Geometric changes are applied identically to image and mask (nearest-neighbour for masks);
    intensity jitter multiplies each channel by ``1 +- gain`` and adds ``+- shift`` grey levels.
    With probability ``windowed`` the slice goes through what a 16-bit upload goes through: a gamma
    in ``[1 / (1 + gamma), 1 + gamma]`` (another scanner's contrast curve), then the service's
    percentile window (:mod:`contract.windowing`) per channel, half the time with its bounds moved
    by up to ``window_jitter`` of the range (a window taken over the whole volume rather than the
    slice). With probability ``flair_only`` the slice becomes its FLAIR channel repeated three
    times, which is how the service reads a greyscale upload (a single-sequence DICOM, a grey PNG),
    so that such input is not out of distribution.
    """

    flip: bool = True
    rotation: float = 10.0
    scale: float = 0.1
    gain: float = 0.1
    shift: float = 10.0
    flair_only: float = 0.2
    windowed: float = 0.2
    gamma: float = 0.4
    window_jitter: float = 0.15

    def __post_init__(self) -> None:
        for name in ("flair_only", "windowed"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.gamma < 0 or not 0 <= self.window_jitter < 0.5:
            raise ValueError("gamma must be >= 0 and window_jitter in [0, 0.5)")

    def _intensity_tables(self, rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
        """One lookup table per channel, ``(256, 1, 3)`` uint8: jitter, and maybe gamma + window.

        Every intensity change here maps each grey level of a channel to one new level, so it is
        computed once per level (256 values) instead of once per pixel, and applied with ``cv2.LUT``.
        The window's percentiles are those of the jittered (and gamma-curved) channel, computed
        exactly from the channel's histogram.
        """
        levels = np.arange(256, dtype=np.float64)[:, None]
        gain = 1.0 + rng.uniform(-self.gain, self.gain, 3)
        shift = rng.uniform(-self.shift, self.shift, 3)
        values = np.clip(levels * gain + shift, 0, 255)  # (256, 3)
        if rng.random() < self.windowed:
            exponent = (1.0 + self.gamma) ** rng.uniform(-1.0, 1.0)
            values = 255.0 * (values / 255.0) ** exponent
            volume_like = rng.random() < 0.5
            for c in range(3):
                counts = np.bincount(image[..., c].ravel(), minlength=256)
                low, high = _percentiles(values[:, c], counts, (LOW_PERCENTILE, HIGH_PERCENTILE))
                if volume_like:
                    span = max(high - low, 1.0)
                    low, high = (
                        low + span * rng.uniform(-self.window_jitter, self.window_jitter),
                        high + span * rng.uniform(-self.window_jitter, self.window_jitter),
                    )
                values[:, c] = linear_window(values[:, c], float(low), float(high))
        return np.rint(values).astype(np.uint8)[:, None, :]

    def __call__(self, rng: np.random.Generator, image: np.ndarray, mask: np.ndarray | None):
        """Augment one ``(S, S, 3)`` uint8 slice (and its ``(S, S, 1)`` mask): a uint8 slice back.

        Intensities come back as whole grey levels, as an upload is read.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (S, S, 3) uint8 slice, got {image.dtype} {image.shape}")
        size = image.shape[0]
        if self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        angle = rng.uniform(-self.rotation, self.rotation)
        scale = 1.0 + rng.uniform(-self.scale, self.scale)
        image = np.ascontiguousarray(image)
        if angle or scale != 1.0:
            matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
            image = cv2.warpAffine(
                image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
            if mask is not None:
                mask = cv2.warpAffine(
                    np.ascontiguousarray(mask[..., 0]),
                    matrix,
                    (size, size),
                    flags=cv2.INTER_NEAREST,
                    borderMode=cv2.BORDER_CONSTANT,
                )[..., None]
        image = cv2.LUT(image, self._intensity_tables(rng, image))
        if rng.random() < self.flair_only:
            image = flair_only(image)
        return image, mask


def _percentiles(values: np.ndarray, counts: np.ndarray, percentiles) -> list[float]:
    """``np.percentile`` (linear interpolation) of the pixels of a channel whose grey level ``k``
    occurs ``counts[k]`` times and is mapped to ``values[k]`` (non-decreasing in ``k``)."""
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    out = []
    for q in percentiles:
        position = q / 100.0 * (n - 1)
        below, above = int(np.floor(position)), int(np.ceil(position))
        lo = values[np.searchsorted(cumulative, below, side="right")]
        hi = values[np.searchsorted(cumulative, above, side="right")]
        out.append(float(lo + (hi - lo) * (position - below)))
    return out


class SliceDataset(keras.utils.PyDataset):
    """Batches of ``(images float32 [0, 255], targets)`` for ``model.fit``.

    ``targets`` are masks ``(N, S, S, 1)`` for the segmenter, labels ``(N, 1)`` for the
    classifier, or both as ``{"mask": masks, "tumour_probability": labels}`` for the joint model
    (labels then come from the masks). Each epoch draws every slice whose ``keep`` flag is set plus
    a random ``other_fraction`` of the rest (the segmenter's share of healthy slices), shuffled;
    ``augment=None`` gives the slices unchanged in order (validation).

    Randomness is a function of ``(seed, epoch, batch index)`` alone, never of a generator's
    history, so a run resumed at epoch ``e`` (``epoch=e``) sees exactly the batches it would have.
    """

    def __init__(
        self,
        images,
        targets,
        batch_size: int = 16,
        augment: Augment | None = None,
        keep: np.ndarray | None = None,
        other_fraction: float = 1.0,
        seed: int = 0,
        epoch: int = 0,
        joint: bool = False,
        **kwargs,
    ):
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
        self.seed, self.joint = seed, joint
        self.epoch = epoch
        self.order = self._draw()

    def _draw(self) -> np.ndarray:
        if self.augment is None:
            return np.arange(len(self.images))
        rng = np.random.default_rng([self.seed, self.epoch])
        kept = np.flatnonzero(self.keep)
        others = np.flatnonzero(~self.keep)
        n_others = self._epoch_size() - len(kept)
        chosen = np.concatenate([kept, rng.choice(others, n_others, replace=False)])
        return rng.permutation(chosen)

    def _epoch_size(self) -> int:
        if self.augment is None:
            return len(self.images)
        return int(self.keep.sum()) + round(int((~self.keep).sum()) * self.other_fraction)

    def __len__(self) -> int:
        return math.ceil(self._epoch_size() / self.batch_size)

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.images[idx]
        targets = self.targets[idx]
        if self.augment is not None:
            images = images.copy()
            targets = targets.copy()
            rng = np.random.default_rng([self.seed, self.epoch, index])
            is_mask = targets.ndim == 4
            for i in range(len(idx)):
                image, mask = self.augment(
                    rng, self.images[idx[i]], self.targets[idx[i]] if is_mask else None
                )
                images[i] = image
                if is_mask:
                    targets[i] = mask
        images, targets = images.astype(np.float32), targets.astype(np.float32)
        if self.joint:
            labels = targets.reshape(len(targets), -1).any(axis=1).astype(np.float32)[:, None]
            return images, {"mask": targets, "tumour_probability": labels}
        return images, targets

    def on_epoch_end(self) -> None:
        """The next epoch's draw. At the end of an epoch (not its beginning), so that worker
        threads prefetching the next epoch's first batches never see the previous order."""
        self.epoch += 1
        self.order = self._draw()
