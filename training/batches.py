"""``keras.utils.PyDataset`` over in-memory slices: packed batches for the compiled training step.

The slices and masks are held once as one packed ``(N, S, S, 4)`` uint8 array (the three sequences
and the mask, :data:`training.augment.PACKED_CHANNELS`); under JAX it lives on the device, so a
batch is one gather there and nothing crosses from the host but the indices. Augmentation happens
in the model (:class:`training.augment.AugmentLayer`), not here.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def pack(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Slices ``(N, S, S, 3)`` uint8 and masks ``(N, S, S, 1)`` in {0, 1} as one ``(N, S, S, 4)`` uint8 array."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (N, S, S, 3) uint8 slices, got {images.dtype} {images.shape}")
    if masks.shape != (*images.shape[:3], 1):
        raise ValueError(f"masks {masks.shape} do not match slices {images.shape}")
    return np.concatenate([images, masks.astype(np.uint8)], axis=-1)


class SliceDataset(keras.utils.PyDataset):
    """Batches of packed slices ``(B, S, S, 4)`` uint8 (:func:`pack`) for ``model.fit`` of a training
    model (:class:`training.trainer.TrainingModel`: it augments, and reads its targets from the mask).

    With ``draw`` each epoch takes every slice whose ``keep`` flag is set plus a random
    ``other_fraction`` of the rest (the share of healthy slices), shuffled; without it the slices
    come unchanged in order (validation). The draw is a function of ``(seed, epoch)`` alone, never of
    a generator's history, so a run resumed at epoch ``e`` (``epoch=e``) sees exactly the batches it
    would have. ``on_device``: hold the slices as a backend tensor (default: under JAX).
    """

    def __init__(
        self,
        packed: np.ndarray,
        batch_size: int = 16,
        draw: bool = False,
        keep: np.ndarray | None = None,
        other_fraction: float = 1.0,
        seed: int = 0,
        epoch: int = 0,
        on_device: bool | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if packed.dtype != np.uint8 or packed.ndim != 4 or packed.shape[-1] != 4:
            raise ValueError(f"expected packed (N, S, S, 4) uint8 slices, got {packed.dtype} {packed.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0.0 <= other_fraction <= 1.0:
            raise ValueError(f"other_fraction must be in [0, 1], got {other_fraction}")
        self.count = len(packed)
        if on_device is None:
            on_device = keras.backend.backend() == "jax"
        self.packed = keras.ops.convert_to_tensor(packed) if on_device else packed
        self.batch_size, self.draw = batch_size, draw
        self.keep = np.ones(self.count, bool) if keep is None else np.asarray(keep, bool)
        self.other_fraction = other_fraction
        self.seed = seed
        self.epoch = epoch
        self.order = self._draw()

    def _draw(self) -> np.ndarray:
        if not self.draw:
            return np.arange(self.count)
        rng = np.random.default_rng([self.seed, self.epoch])
        kept = np.flatnonzero(self.keep)
        others = np.flatnonzero(~self.keep)
        n_others = self._epoch_size() - len(kept)
        chosen = np.concatenate([kept, rng.choice(others, n_others, replace=False)])
        return rng.permutation(chosen)

    def _epoch_size(self) -> int:
        if not self.draw:
            return self.count
        return int(self.keep.sum()) + round(int((~self.keep).sum()) * self.other_fraction)

    def __len__(self) -> int:
        return math.ceil(self._epoch_size() / self.batch_size)

    def __getitem__(self, index: int):
        """``(packed batch,)``: inputs only (the training model reads its targets from the mask channel)."""
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        if isinstance(self.packed, np.ndarray):
            return (self.packed[rows],)
        return (keras.ops.take(self.packed, rows, axis=0),)  # a gather where the slices live

    def on_epoch_end(self) -> None:
        """The next epoch's draw. At the end of an epoch (not its beginning), so that worker
        threads prefetching the next epoch's first batches never see the previous order."""
        self.epoch += 1
        self.order = self._draw()
