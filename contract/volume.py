"""Whole volumes: how a 3-D scan becomes model slices and how the slice answers become a 3-D mask.

Shared by the service (``POST /volume``) and the evaluation (``training/volume_eval.py``), so both
run the same rules. NumPy, nibabel's orientation helpers and scipy only: no Keras import; the
models are passed in as callables.

Geometry
    A volume is an array on the input's own voxel grid with a 4x4 voxel-to-world affine in RAS+ mm
    (NIfTI convention). Its axes are mapped to the nearest anatomical axes
    (``nibabel.orientations.io_orientation``, as ``nibabel.as_closest_canonical`` does: an exact
    permutation/flip, no resampling). The *slice axis* is the input axis nearest superior-inferior;
    each slice along it is turned into the orientation of the training slices: anterior at the top,
    the patient's right on the image's left. Slices keep the input's order (slice ``k`` of the answer
    is index ``k`` along the input's slice axis) and masks are mapped back onto the input grid.

Intensities
    :func:`normalise_volume`: per sequence (channel), over the **whole volume**, the percentile
    window of :mod:`contract.windowing` (0.5th to 99.5th percentile) onto 0..``VOLUME_TARGET[c]``,
    clipped to 0..255. The targets are the medians, over the 62 training
    patients, of each sequence's 99.5th percentile in the training data
    (``python scripts/volume_intensity_reference.py``), so a volume from a scanner (any scale, any
    dtype) reaches the models with the intensities the training slices have. It does not depend on
    the volume's scale, so a volume stored as uint8, int16 or float gives the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform
from scipy import ndimage

from contract.spec import (
    CHANNELS,
    FLAIR_CHANNEL,
    SEQUENCES_ALL,
    SEQUENCES_FLAIR_ONLY,
    mask_from_probabilities,
)
from contract.windowing import percentile_window

#: Where the high percentile lands, per sequence (pre-contrast, FLAIR, post-contrast): the median
#: 99.5th percentile of the training volumes (scripts/volume_intensity_reference.py).
VOLUME_TARGET = (149.0, 148.0, 142.0)

#: 3-D post-processing of the mask: ``none``; ``largest``: keep the largest 3-D connected component
#: (26-connectivity, across slices); ``drop_small``: drop components under ``SMALL_COMPONENT_FRACTION``
#: of the largest one.
PostProcess = Literal["none", "largest", "drop_small"]
POSTPROCESS_CHOICES: tuple[str, ...] = ("none", "largest", "drop_small")
SMALL_COMPONENT_FRACTION = 0.1
#: Default post-processing and classifier gating, chosen on the validation patients
#: (``python scripts/volume_choices.py``; figures in docs/service.md).
DEFAULT_POSTPROCESS: PostProcess = "drop_small"
DEFAULT_GATE = False

_RAS = axcodes2ornt(("R", "A", "S"))


def volume_sequences(volume: np.ndarray) -> str:
    """``SEQUENCES_ALL`` for a 4-D volume with 3 sequences, else ``SEQUENCES_FLAIR_ONLY`` (contract.spec)."""
    return SEQUENCES_ALL if volume.ndim == 4 else SEQUENCES_FLAIR_ONLY


def normalise_volume(volume: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` (FLAIR) or ``(X, Y, Z, 3)`` (the three sequences) of any numeric dtype ->
    ``(X, Y, Z, 3)`` uint8 on the same grid (module rule; FLAIR repeated on the three channels).

    Non-finite values count as 0; a constant sequence becomes 0.
    """
    if volume.ndim == 3:
        flair = percentile_window(volume, VOLUME_TARGET[FLAIR_CHANNEL])
        return np.repeat(flair[..., None], len(CHANNELS), axis=-1)
    if volume.ndim != 4 or volume.shape[3] != len(CHANNELS):
        raise ValueError(f"expected (X, Y, Z) or (X, Y, Z, 3), got shape {volume.shape}")
    windowed = [percentile_window(volume[..., c], VOLUME_TARGET[c]) for c in range(len(CHANNELS))]
    return np.stack(windowed, axis=-1)


@dataclass(frozen=True)
class AxialFrame:
    """How an input voxel grid maps to model slices (module docstring, Geometry).

    ``ornt``: nibabel orientation of the input axes (``io_orientation(affine)``); ``shape``: the
    input's spatial shape.
    """

    ornt: np.ndarray
    shape: tuple[int, int, int]

    @classmethod
    def of(cls, affine: np.ndarray, shape: Sequence[int]) -> AxialFrame:
        return cls(io_orientation(np.asarray(affine, dtype=np.float64)), tuple(int(s) for s in shape[:3]))

    @property
    def slice_axis(self) -> int:
        """The input axis nearest superior-inferior."""
        return int(np.flatnonzero(self.ornt[:, 0] == 2)[0])

    @property
    def n_slices(self) -> int:
        return self.shape[self.slice_axis]

    @property
    def slice_shape(self) -> tuple[int, int]:
        """(height, width) of a slice in the training orientation: (anterior-posterior, right-left)."""
        canonical = [self.shape[int(np.flatnonzero(self.ornt[:, 0] == k)[0])] for k in range(3)]
        return canonical[1], canonical[0]

    def _ascending(self) -> bool:
        """True when input slice index grows toward superior (canonical order)."""
        return bool(self.ornt[self.slice_axis, 1] > 0)

    def to_slices(self, volume: np.ndarray) -> np.ndarray:
        """``(X, Y, Z, ...)`` on the input grid -> ``(N, H, W, ...)`` slices in the training
        orientation, slice ``k`` = index ``k`` along the input's slice axis."""
        canonical = apply_orientation(volume, self.ornt)  # (R, A, S, ...)
        slices = np.swapaxes(canonical, 0, 2)[
            :, ::-1, ::-1
        ]  # (S, A, R) -> rows anterior first, cols right first
        return np.ascontiguousarray(slices if self._ascending() else slices[::-1])

    def from_slices(self, slices: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_slices`: ``(N, H, W, ...)`` slices -> the input grid."""
        slices = slices if self._ascending() else slices[::-1]
        canonical = np.swapaxes(slices[:, ::-1, ::-1], 0, 2)
        return np.ascontiguousarray(apply_orientation(canonical, ornt_transform(_RAS, self.ornt)))


def postprocess_volume_mask(mask: np.ndarray, method: str) -> np.ndarray:
    """Apply the 3-D post-processing ``method`` (see ``PostProcess``) to a boolean 3-D mask."""
    if method == "none" or not mask.any():
        return mask
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel())[1:]
    if method == "largest":
        keep = np.array([int(np.argmax(sizes)) + 1])
    elif method == "drop_small":
        keep = np.flatnonzero(sizes >= SMALL_COMPONENT_FRACTION * sizes.max()) + 1
    else:
        raise ValueError(f"unknown post-processing {method!r}; choose from {POSTPROCESS_CHOICES}")
    return np.isin(labels, keep)


#: ``(N, H, W, 3)`` uint8 slices -> ``(N,)`` tumour probabilities / ``(N, S, S[, 1])`` probability maps.
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class VolumePrediction:
    """What the models say about one volume.

    ``probabilities``: classifier tumour probability of each slice (input order); ``has_tumour``:
    ``probabilities >= classifier threshold``; ``mask``: boolean tumour mask on the input's voxel
    grid (spatial shape of the input), after gating and post-processing; ``frame``: the geometry.
    """

    probabilities: np.ndarray
    has_tumour: np.ndarray
    mask: np.ndarray
    frame: AxialFrame

    def slice_pixels(self) -> np.ndarray:
        """Tumour pixels of each slice (input order)."""
        return np.moveaxis(self.mask, self.frame.slice_axis, 0).reshape(self.frame.n_slices, -1).sum(axis=1)


def predict_volume(
    volume: np.ndarray,
    affine: np.ndarray,
    classify: Predict,
    segment: Predict,
    classifier_threshold: float,
    segmenter_threshold: float,
    batch_size: int = 32,
    postprocess: str = DEFAULT_POSTPROCESS,
    gate: bool = DEFAULT_GATE,
    normalise: Callable[[np.ndarray], np.ndarray] = normalise_volume,
) -> VolumePrediction:
    """Run one volume (``(X, Y, Z)`` FLAIR or ``(X, Y, Z, 3)``, any dtype) through both models.

    Intensities are normalised over the whole volume, slices are taken axially in the training
    orientation and inferred ``batch_size`` at a time; with ``gate`` only slices the classifier
    calls positive are segmented (as ``/analyze`` does). Probability maps are resized to the slice
    size and thresholded (``contract.mask_from_probabilities``), mapped back to the input grid and
    post-processed in 3-D. ``normalise`` is :func:`normalise_volume` (another function only to
    measure the rule against alternatives).
    """
    frame = AxialFrame.of(affine, volume.shape)
    slices = frame.to_slices(normalise(volume))
    probabilities = np.concatenate(
        [
            np.asarray(classify(slices[i : i + batch_size]), np.float32).reshape(-1)
            for i in range(0, len(slices), batch_size)
        ]
    )
    has_tumour = probabilities >= classifier_threshold
    wanted = np.flatnonzero(has_tumour) if gate else np.arange(len(slices))
    masks = np.zeros(slices.shape[:3], bool)
    for start in range(0, len(wanted), batch_size):
        chosen = wanted[start : start + batch_size]
        for index, prob in zip(chosen, segment(slices[chosen]), strict=True):
            masks[index] = mask_from_probabilities(prob, frame.slice_shape, segmenter_threshold)
    mask = postprocess_volume_mask(frame.from_slices(masks), postprocess)
    return VolumePrediction(probabilities=probabilities, has_tumour=has_tumour, mask=mask, frame=frame)
