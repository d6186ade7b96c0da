"""Out-of-fold predictions: each development patient predicted by the fold model that never saw it.

For a recipe's fold folders (:mod:`training.cv`), every fold model predicts the slices of its
held-out patients; together they give one prediction per development slice. Variants:

- ``input``: ``three`` (the three sequences, as in the data) or ``flair`` (FLAIR only, repeated on
  the three channels, :func:`contract.flair_only`: how the service reads a grey upload);
- ``tta``: ``none`` or ``flip`` (:mod:`contract.tta`, as the service applies it: the mean of the
  prediction and the mirrored prediction of the left-right mirrored slice).

Arrays are cached in ``<recipe_dir>/oof-<input>-<tta>.npz``: ``prob`` ``(N,)`` tumour probability,
``mask`` ``(N, S, S)`` float16 per-pixel probability at the model's input size ``S``, and
``patients`` / ``slices`` naming each row (development slices in index order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract import (
    JOINT_FILE,
    MASK_OUTPUT,
    NATIVE_SLICE_SIZE,
    PROBABILITY_OUTPUT,
    flair_only,
    to_model_input,
)
from contract.tta import NO_TTA, TTAS, with_tta
from training import lgg

log = logging.getLogger(__name__)

INPUTS = ("three", "flair")


@dataclass(frozen=True)
class Development:
    """The development slices at the data's native size: images uint8 ``(N, S0, S0, 3)``, truth masks
    bool ``(N, S0, S0)``, the patient of each slice and the fold (0-based) that holds it out."""

    images: np.ndarray
    truth: np.ndarray
    patients: list[str]
    fold_of: np.ndarray

    @property
    def has_tumour(self) -> np.ndarray:
        return self.truth.reshape(len(self.truth), -1).any(axis=1)


def load_development(data: str | Path, folds: dict) -> Development:
    """Every slice of the folds' patients, in index order."""
    fold_of_patient = {p: i for i, fold in enumerate(folds["folds"]) for p in fold}
    records = [r for r in lgg.build_index(data) if r.patient in fold_of_patient]
    images, masks = lgg.load_arrays(data, records, NATIVE_SLICE_SIZE)
    return Development(
        images,
        masks[..., 0].astype(bool),
        [r.patient for r in records],
        np.array([fold_of_patient[r.patient] for r in records]),
    )


def predict_joint(
    model, images: np.ndarray, tta: str = NO_TTA, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """A joint model's ``(probabilities (N,), masks (N, S, S))`` for uint8 slices ``(N, H, W, 3)``, each
    call under test-time augmentation ``tta`` (:func:`contract.tta.with_tta`)."""
    size = model.input_shape[1]
    call = with_tta(lambda x: model.predict_on_batch(x), tta)
    probs, masks = [], []
    for start in range(0, len(images), batch_size):
        out = call(np.stack([to_model_input(im, size) for im in images[start : start + batch_size]]))
        probs.append(np.asarray(out[PROBABILITY_OUTPUT])[:, 0])
        masks.append(np.asarray(out[MASK_OUTPUT])[..., 0].astype(np.float16))
    return np.concatenate(probs), np.concatenate(masks)


def out_of_fold(recipe_dir: str | Path, dev: Development, input: str = "three", tta: str = NO_TTA) -> dict:
    """The out-of-fold predictions of the fold models in ``recipe_dir`` (cached; module docstring)."""
    import keras

    if input not in INPUTS or tta not in TTAS:
        raise ValueError(f"input must be one of {INPUTS} and tta one of {TTAS}")
    cache = Path(recipe_dir) / f"oof-{input}-{tta}.npz"
    if cache.exists():
        cached = dict(np.load(cache))
        if cached["prob"].shape[0] == len(dev.patients) and list(cached["patients"]) == dev.patients:
            return cached
    k = int(dev.fold_of.max()) + 1
    prob, mask = None, None
    for fold in range(k):
        path = Path(recipe_dir) / f"fold{fold + 1}" / JOINT_FILE
        if not path.exists():
            raise ValueError(f"{path} is missing: train the fold first (python -m training cv)")
        model = keras.saving.load_model(path, compile=False)
        rows = np.flatnonzero(dev.fold_of == fold)
        images = dev.images[rows] if input == "three" else flair_only(dev.images[rows])
        p, m = predict_joint(model, images, tta)
        if prob is None:
            prob, mask = (
                np.zeros(len(dev.patients), np.float32),
                np.zeros((len(dev.patients), *m.shape[1:]), np.float16),
            )
        prob[rows], mask[rows] = p, m
        log.info(
            "%s: fold %d predicted %d held-out slices (%s, tta %s)",
            recipe_dir,
            fold + 1,
            len(rows),
            input,
            tta,
        )
    result = {"prob": prob, "mask": mask, "patients": np.array(dev.patients)}
    np.savez(cache, **result)
    return result
