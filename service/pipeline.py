"""Decode uploads, run one model batch per request and build the answers (blocking: worker thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from contract import volume as contract_volume
from contract.postprocess import postprocess_mask
from contract.spec import mask_from_probabilities, tumour_probability
from contract.volume import VolumePrediction
from contract.volume_window import targets_of
from service.errors import ImageError
from service.images import DecodedSlice, ImageLimits, decode_image
from service.inference import LoadedModels, ModelRunner
from service.masks import bounding_box, png_base64, rle_counts
from service.schemas import Analysis, Classification, ModelRef, PngMask, RleMask, Segmentation

MaskFormat = Literal["rle", "png"]


@dataclass(frozen=True)
class Upload:
    """The bytes of one uploaded file; ``label`` names it in error messages (e.g. ``files[1] (a.png)``)."""

    label: str
    data: bytes
    content_type: str | None


def decode_uploads(uploads: Sequence[Upload], limits: ImageLimits) -> list[DecodedSlice]:
    """Decode every upload; the first bad one fails the request, its label in the error detail.

    Each slice's declared size is checked, before its pixels are decoded, against what is left of
    ``limits.request_pixels`` after the slices before it.
    """
    slices: list[DecodedSlice] = []
    left = limits.request_pixels
    for upload in uploads:
        try:
            decoded = decode_image(upload.data, upload.content_type, replace(limits, pixels_left=left))
        except ImageError as exc:
            raise exc.for_upload(upload.label) from None
        slices.append(decoded)
        left -= decoded.shape[0] * decoded.shape[1]
    return slices


def _groups(slices: Sequence[DecodedSlice]) -> dict[str, list[int]]:
    """Indices of the slices of each ``sequences`` value (each goes through its own input path)."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(slices):
        groups.setdefault(s.sequences, []).append(i)
    return groups


def classify(models: LoadedModels, slices: Sequence[DecodedSlice]) -> list[Classification]:
    """Classifier answers for ``slices``: one batch per input path (three sequences, FLAIR only)."""
    answers: dict[int, Classification] = {}
    for sequences, rows in _groups(slices).items():
        runner = models.runner("classifier", sequences)
        probs = tumour_probability(runner.predict(runner.prepare([slices[i].pixels for i in rows])))
        for i, p in zip(rows, probs, strict=True):
            answers[i] = _classification(runner, float(p), sequences)
    return [answers[i] for i in range(len(slices))]


def segment(
    models: LoadedModels, slices: Sequence[DecodedSlice], mask_format: MaskFormat
) -> list[Segmentation]:
    """Segmenter answers for ``slices``, one batch per input path; masks at each upload's size,
    thresholded and post-processed (:mod:`contract.postprocess`) as the model card says."""
    answers: dict[int, Segmentation] = {}
    for sequences, rows in _groups(slices).items():
        runner = models.runner("segmenter", sequences)
        outputs = runner.predict(runner.prepare([slices[i].pixels for i in rows]))
        for i, prob in zip(rows, outputs, strict=True):
            answers[i] = _segmentation(_mask(runner, prob, slices[i]), slices[i], mask_format, runner)
    return [answers[i] for i in range(len(slices))]


def analyze(models: LoadedModels, slices: Sequence[DecodedSlice], mask_format: MaskFormat) -> list[Analysis]:
    """Classification of every slice, and segmentation of the slices the card's gate lets through
    (:data:`contract.layout.GATES`: the classifier's verdict, a drawn mask, or both): one pass of the
    model file per input path answers both roles.
    """
    classifications: dict[int, Classification] = {}
    masks: dict[int, np.ndarray] = {}
    for sequences, rows in _groups(slices).items():
        classifier, segmenter = models.runner("classifier", sequences), models.runner("segmenter", sequences)
        outputs = classifier.runner.run(classifier.prepare([slices[i].pixels for i in rows]))
        probs, maps = tumour_probability(classifier.read(outputs)), segmenter.read(outputs)
        for k, p in enumerate(probs):
            classifications[rows[k]] = _classification(classifier, float(p), sequences)
        for k, prob in enumerate(maps):  # the classifier gate needs no mask of a slice it calls healthy
            if models.gate != "classifier" or probs[k] >= classifier.threshold:
                masks[rows[k]] = _mask(segmenter, prob, slices[rows[k]])
    results = []
    for i, c in enumerate(classifications[j] for j in range(len(slices))):
        mask = masks.get(i)
        drawn = mask is not None and bool(mask.any())
        passes = {"classifier": c.has_tumour, "mask": drawn, "both": c.has_tumour and drawn}[models.gate]
        segmentation = None
        if passes and mask is not None:
            segmentation = _segmentation(
                mask, slices[i], mask_format, models.runner("segmenter", slices[i].sequences)
            )
        results.append(Analysis(classification=c, segmentation=segmentation, sequences=slices[i].sequences))
    return results


def _classification(runner: ModelRunner, probability: float, sequences: str) -> Classification:
    return Classification(
        tumour_probability=probability,
        has_tumour=bool(probability >= runner.threshold),
        threshold=runner.threshold,
        sequences=sequences,
        model=_model_ref(runner),
    )


def _mask(runner: ModelRunner, prob: np.ndarray, image: DecodedSlice) -> np.ndarray:
    """One probability map as the upload's mask: resized, thresholded, post-processed (card)."""
    return postprocess_mask(
        mask_from_probabilities(prob, image.shape, runner.threshold), **runner.postprocess
    )


def _model_ref(runner: ModelRunner) -> ModelRef:
    return ModelRef(name=runner.name, version=runner.version)


def _segmentation(
    mask: np.ndarray, image: DecodedSlice, mask_format: MaskFormat, runner: ModelRunner
) -> Segmentation:
    height, width = mask.shape
    pixels = int(mask.sum())
    encoded: RleMask | PngMask
    if mask_format == "png":
        encoded = PngMask(size=[height, width], data=png_base64(mask))
    else:
        encoded = RleMask(size=[height, width], counts=rle_counts(mask))
    spacing = image.pixel_spacing_mm
    return Segmentation(
        mask=encoded,
        tumour_pixels=pixels,
        tumour_fraction=pixels / float(height * width),
        bbox=bounding_box(mask),
        tumour_area_mm2=pixels * spacing[0] * spacing[1] if spacing else None,
        pixel_spacing_mm=list(spacing) if spacing else None,
        threshold=runner.threshold,
        sequences=image.sequences,
        model=_model_ref(runner),
    )


def predict_volume(
    models: LoadedModels,
    data: np.ndarray,
    affine: np.ndarray,
    batch_size: int,
    postprocess: str,
    progress: contract_volume.Progress | None = None,
) -> VolumePrediction:
    """One volume through the model file of its input path (FLAIR only: a 3-D volume), ``batch_size``
    slices per call (``contract.volume``), one pass per batch; the card's gate; ``progress`` is called
    before each batch (it may raise to stop)."""
    sequences = contract_volume.volume_sequences(data)
    classifier, segmenter = models.runner("classifier", sequences), models.runner("segmenter", sequences)

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = classifier.runner.run(classifier.prepare(list(batch)))
        return tumour_probability(classifier.read(outputs)), segmenter.read(outputs)

    return contract_volume.predict_volume(
        data,
        affine,
        run,
        classifier_threshold=classifier.threshold,
        segmenter_threshold=segmenter.threshold,
        batch_size=batch_size,
        postprocess=postprocess,
        gate=models.volume_gate,
        progress=progress,
        targets=targets_of(models.card),
    )
