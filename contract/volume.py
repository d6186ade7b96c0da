"""Whole volumes: how a 3-D scan becomes model slices and how the slice answers become a 3-D mask.

Shared by the service (``POST /volume``) and the evaluation (``training/evaluate_volumes.py``), so both
run the same rules. NumPy, OpenCV, nibabel's orientation helpers and scipy only: no Keras import;
the model is passed in as a callable (:data:`Run`).

Geometry
    A volume is an array on the input's own voxel grid with a 4x4 voxel-to-world affine in RAS+ mm
    (NIfTI convention). Its axes are mapped to the nearest anatomical axes
    (``nibabel.orientations.io_orientation``, as ``nibabel.as_closest_canonical`` does: an exact
    permutation/flip, no resampling). The *slice axis* is the input axis nearest superior-inferior;
    each slice along it is turned into the orientation of the training slices: anterior at the top,
    the patient's right on the image's left. Slices keep the input's order (slice ``k`` of the answer
    is index ``k`` along the input's slice axis) and masks are mapped back onto the input grid. A
    slice that is not square, or whose pixels are not square (the affine's column lengths), reaches
    the model on a square canvas with its true proportions (:mod:`contract.canvas`), not stretched.

Intensities
    Windowed per sequence over the **whole volume** (:mod:`contract.volume_window`, re-exported
    here), so a volume of any scale and dtype reaches the models with the training intensities.

Memory
    :func:`predict_volume` streams: the window is fitted on a strided sample of at most about
    ``PERCENTILE_SAMPLE`` voxels per sequence, and slices are windowed, inferred and mapped back
    one batch at a time (at most ``batch_size`` slices and about ``BATCH_PIXELS`` canvas pixels),
    so no float or 8-bit copy of the whole volume is ever made. Beside the input it holds the
    boolean mask (1 byte per voxel) and, while post-processing, the component labels of the mask's
    bounding box (4 bytes per voxel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform
from scipy import ndimage

from contract.canvas import SquareCanvas
from contract.layout import DEFAULT_GATE
from contract.spec import SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY
from contract.volume_window import VOLUME_TARGET, VolumeWindow, normalise_volume
from imaging.windowing import PERCENTILE_SAMPLE

__all__ = [
    "BATCH_PIXELS",
    "PERCENTILE_SAMPLE",
    "VOLUME_TARGET",
    "AxialFrame",
    "VolumePrediction",
    "VolumeWindow",
    "normalise_volume",
    "postprocess_volume_mask",
    "predict_volume",
    "volume_sequences",
]

#: Most canvas pixels of one batch of slices (32 slices of 256 x 256): bounds the working memory of a
#: batch whatever the slice size (a 1024 x 1024 volume goes 2 slices at a time).
BATCH_PIXELS = 32 * 256 * 256


#: 3-D post-processing of the mask: ``none``; ``largest``: keep the largest 3-D connected component
#: (26-connectivity, across slices); ``drop_small``: drop components under ``SMALL_COMPONENT_FRACTION``
#: of the largest one.
PostProcess = Literal["none", "largest", "drop_small"]
POSTPROCESS_CHOICES: tuple[str, ...] = ("none", "largest", "drop_small")
SMALL_COMPONENT_FRACTION = 0.1
#: The post-processing of a models folder whose card chose none (``python -m training choose`` chooses it
#: on out-of-fold volumes and writes it to the card: :data:`POSTPROCESS_KEY`).
DEFAULT_POSTPROCESS: PostProcess = "drop_small"
POSTPROCESS_KEY = "volume_postprocess"


def postprocess_of(card: dict, override: str | None = None) -> str:
    """``override`` (a setting or query) if given, else the card's 3-D post-processing, else the default."""
    method = override or card.get(POSTPROCESS_KEY) or DEFAULT_POSTPROCESS
    if method not in POSTPROCESS_CHOICES:
        raise ValueError(f"unknown post-processing {method!r}; choose from {POSTPROCESS_CHOICES}")
    return method


_RAS = axcodes2ornt(("R", "A", "S"))


def volume_sequences(volume: np.ndarray) -> str:
    """``SEQUENCES_ALL`` for a 4-D volume with 3 sequences, else ``SEQUENCES_FLAIR_ONLY`` (contract.spec)."""
    return SEQUENCES_ALL if volume.ndim == 4 else SEQUENCES_FLAIR_ONLY


@dataclass(frozen=True)
class AxialFrame:
    """How an input voxel grid maps to model slices (module docstring, Geometry).

    ``ornt``: nibabel orientation of the input axes (``io_orientation(affine)``); ``shape``: the
    input's spatial shape; ``zooms``: the length of each affine column (voxel size per input axis,
    in the affine's unit).
    """

    ornt: np.ndarray
    shape: tuple[int, int, int]
    zooms: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def of(cls, affine: np.ndarray, shape: Sequence[int]) -> AxialFrame:
        affine = np.asarray(affine, dtype=np.float64)
        zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
        return cls(io_orientation(affine), tuple(int(s) for s in shape[:3]), tuple(float(z) for z in zooms))

    def _input_axis(self, canonical: int) -> int:
        return int(np.flatnonzero(self.ornt[:, 0] == canonical)[0])

    @property
    def slice_axis(self) -> int:
        """The input axis nearest superior-inferior."""
        return self._input_axis(2)

    @property
    def n_slices(self) -> int:
        return self.shape[self.slice_axis]

    @property
    def slice_shape(self) -> tuple[int, int]:
        """(height, width) of a slice in the training orientation: (anterior-posterior, right-left)."""
        return self.shape[self._input_axis(1)], self.shape[self._input_axis(0)]

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """(row, column) pixel size of a slice in the training orientation."""
        return self.zooms[self._input_axis(1)], self.zooms[self._input_axis(0)]

    def _ascending(self) -> bool:
        """True when input slice index grows toward superior (canonical order)."""
        return bool(self.ornt[self.slice_axis, 1] > 0)

    def to_slices(self, volume: np.ndarray) -> np.ndarray:
        """``(X, Y, Z, ...)`` on the input grid -> ``(N, H, W, ...)`` slices in the training
        orientation, slice ``k`` = index ``k`` along the input's slice axis. Also takes a block of
        consecutive indices along the slice axis (:meth:`block`): slice ``k`` is then its index ``k``."""
        canonical = apply_orientation(volume, self.ornt)  # (R, A, S, ...)
        slices = np.swapaxes(canonical, 0, 2)[
            :, ::-1, ::-1
        ]  # (S, A, R) -> rows anterior first, cols right first
        return np.ascontiguousarray(slices if self._ascending() else slices[::-1])

    def from_slices(self, slices: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_slices`: ``(N, H, W, ...)`` slices -> the input grid (or a block of it)."""
        slices = slices if self._ascending() else slices[::-1]
        canonical = np.swapaxes(slices[:, ::-1, ::-1], 0, 2)
        return np.ascontiguousarray(apply_orientation(canonical, ornt_transform(_RAS, self.ornt)))

    def block(self, volume: np.ndarray, start: int, stop: int) -> np.ndarray:
        """The view of ``volume`` at slice indices ``start:stop`` (all other axes whole)."""
        index = [slice(None)] * volume.ndim
        index[self.slice_axis] = slice(start, stop)
        return volume[tuple(index)]


def postprocess_volume_mask(mask: np.ndarray, method: str, in_place: bool = False) -> np.ndarray:
    """Apply the 3-D post-processing ``method`` (see ``PostProcess``) to a boolean 3-D mask.

    Returns a new mask, or ``mask`` itself changed with ``in_place``; only the mask's bounding box
    is labelled."""
    if method not in POSTPROCESS_CHOICES:
        raise ValueError(f"unknown post-processing {method!r}; choose from {POSTPROCESS_CHOICES}")
    if method == "none" or not mask.any():
        return mask
    if not in_place:
        mask = mask.copy()
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in _nonzero_extent(mask))
    labels, count = _label(mask[box])
    sizes = np.zeros(count + 1, np.int64)
    step = max(1, _LABEL_CHUNK // max(1, labels[0].size))
    for k in range(0, labels.shape[0], step):  # in chunks: bincount casts its input to int64
        sizes += np.bincount(labels[k : k + step].ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = np.zeros(count + 1, bool)
    if method == "largest":
        keep[int(np.argmax(sizes))] = True
    else:
        keep[sizes >= SMALL_COMPONENT_FRACTION * sizes.max()] = True
        keep[0] = False
    region = mask[box]
    for k in range(labels.shape[0]):
        region[k] = keep[labels[k]]
    return mask


#: Labels counted per bincount call (its int64 copy of them: 32 MiB).
_LABEL_CHUNK = 1 << 22


def _nonzero_extent(mask: np.ndarray) -> list[np.ndarray]:
    """Per axis, the indices where the mask has any voxel (for its bounding box)."""
    extent = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        extent.append(np.flatnonzero(mask.any(axis=others)))
    return extent


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components in 4-byte labels (a smaller type would cost more: on overflow scipy
    labels again into a 4-byte copy and compares the two)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), bool), output=np.int32)
    return labels, int(count)


#: ``(N, H, W, 3)`` uint8 slices -> ``(N,)`` tumour probabilities and ``(N, S, S[, 1])`` probability
#: maps: one call of the model file.
Run = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
#: Called before each batch with (slices done, slices in all); may raise to stop the work.
Progress = Callable[[int, int], None]


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
        return np.array(
            [int(np.count_nonzero(self.frame.block(self.mask, k, k + 1))) for k in range(self.frame.n_slices)]
        )


def predict_volume(
    volume: np.ndarray,
    affine: np.ndarray,
    run: Run,
    classifier_threshold: float,
    segmenter_threshold: float,
    batch_size: int = 32,
    postprocess: str = DEFAULT_POSTPROCESS,
    gate: str = DEFAULT_GATE,
    normalise: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: Progress | None = None,
    targets: Sequence[float] = VOLUME_TARGET,
) -> VolumePrediction:
    """Run one volume (``(X, Y, Z)`` FLAIR or ``(X, Y, Z, 3)``, any dtype) through the model.

    Intensities are windowed over the whole volume (:class:`VolumeWindow`), slices are taken axially
    in the training orientation, put on their square canvas (:mod:`contract.canvas`; the pixel size
    is the affine's) and inferred a batch at a time (module docstring, Memory) by ``run`` (one call of
    the model file answers both roles); the ``gate``
    (:data:`contract.layout.GATES`) keeps the masks of the slices it lets through, as ``/analyze``
    does (``classifier`` and ``both``: those the classifier calls tumour). Probability maps come
    back to the slice size and are thresholded (``>= segmenter_threshold``), mapped back to the input
    grid and post-processed in 3-D. ``normalise`` replaces the window by a whole-volume function
    (``(X, Y, Z[, 3])`` -> ``(X, Y, Z, 3)`` uint8; only to measure the rule against alternatives).
    ``progress`` is called before each batch; ``targets``: the intensity targets of the window
    (:func:`contract.volume_window.targets_of` the model card).
    """
    frame = AxialFrame.of(affine, volume.shape)
    if normalise is None or normalise is normalise_volume:
        source, window = volume, VolumeWindow.fit(volume, targets)
    else:
        source, window = normalise(volume), None
    canvas = SquareCanvas.of(frame.slice_shape, frame.pixel_spacing)
    per_batch = max(1, min(batch_size, BATCH_PIXELS // canvas.side**2))
    probabilities = np.zeros(frame.n_slices, np.float32)
    mask = np.zeros(frame.shape, bool)
    for start, stop in _batches(frame.n_slices, per_batch):
        if progress is not None:
            progress(start, frame.n_slices)
        block = frame.to_slices(frame.block(source, start, stop))
        slices = window.apply(block) if window is not None else block
        batch_probabilities, maps = run(canvas.put(slices))
        probabilities[start:stop] = np.asarray(batch_probabilities, np.float32).reshape(-1)
        masks = np.zeros((stop - start, *frame.slice_shape), bool)
        for i, prob in enumerate(maps):
            if gate == "mask" or probabilities[start + i] >= classifier_threshold:
                masks[i] = canvas.take(prob) >= segmenter_threshold
        frame.block(mask, start, stop)[...] = frame.from_slices(masks)
    return VolumePrediction(
        probabilities=probabilities,
        has_tumour=probabilities >= classifier_threshold,
        mask=postprocess_volume_mask(mask, postprocess, in_place=True),
        frame=frame,
    )


def _batches(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)
