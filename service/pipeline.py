"""Decode uploads, run one model batch per request and build the answers (blocking: worker thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from contract import volume as contract_volume
from contract.postprocess import postprocess_mask, postprocess_settings
from contract.spec import mask_from_probabilities, tumour_probability
from contract.volume import VolumePrediction
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


def classify(runner: ModelRunner, slices: Sequence[DecodedSlice]) -> list[Classification]:
    """Classifier answers for ``slices``, inferred as one batch."""
    probabilities = tumour_probability(runner.predict(runner.prepare([s.pixels for s in slices])))
    model = _model_ref(runner)
    return [
        Classification(
            tumour_probability=float(p),
            has_tumour=bool(p >= runner.threshold),
            threshold=runner.threshold,
            sequences=s.sequences,
            model=model,
        )
        for s, p in zip(slices, probabilities, strict=True)
    ]


def segment(
    runner: ModelRunner, slices: Sequence[DecodedSlice], mask_format: MaskFormat
) -> list[Segmentation]:
    """Segmenter answers for ``slices``, inferred as one batch; masks at each upload's size, thresholded
    and post-processed (:mod:`contract.postprocess`) as the model card says."""
    if not slices:
        return []
    outputs = runner.predict(runner.prepare([s.pixels for s in slices]))
    model = _model_ref(runner)
    post = postprocess_settings(runner.card)  # chosen on validation, in the model card
    return [
        _segmentation(
            postprocess_mask(mask_from_probabilities(prob, s.shape, runner.threshold), **post),
            s, mask_format, runner.threshold, model,
        )
        for s, prob in zip(slices, outputs, strict=True)
    ]


def analyze(models: LoadedModels, slices: Sequence[DecodedSlice], mask_format: MaskFormat) -> list[Analysis]:
    """Classify all slices (one batch), then segment the positive ones (one batch)."""
    classifications = classify(models.classifier, slices)
    positive = [i for i, c in enumerate(classifications) if c.has_tumour]
    segmented = segment(models.segmenter, [slices[i] for i in positive], mask_format)
    segmentations = dict(zip(positive, segmented, strict=True))
    return [
        Analysis(classification=c, segmentation=segmentations.get(i), sequences=slices[i].sequences)
        for i, c in enumerate(classifications)
    ]


def _model_ref(runner: ModelRunner) -> ModelRef:
    return ModelRef(name=runner.name, version=runner.version)


def _segmentation(
    mask: np.ndarray, image: DecodedSlice, mask_format: MaskFormat, threshold: float, model: ModelRef
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
        threshold=threshold,
        sequences=image.sequences,
        model=model,
    )


def predict_volume(
    models: LoadedModels,
    data: np.ndarray,
    affine: np.ndarray,
    batch_size: int,
    postprocess: str,
    gate: bool,
    progress: contract_volume.Progress | None = None,
) -> VolumePrediction:
    """One volume through both models, ``batch_size`` slices per model call (``contract.volume``);
    ``progress`` is called before each batch (it may raise to stop)."""
    classifier, segmenter = models.classifier, models.segmenter
    return contract_volume.predict_volume(
        data,
        affine,
        classify=lambda batch: tumour_probability(classifier.predict(classifier.prepare(list(batch)))),
        segment=lambda batch: segmenter.predict(segmenter.prepare(list(batch))),
        classifier_threshold=classifier.threshold,
        segmenter_threshold=segmenter.threshold,
        batch_size=batch_size,
        postprocess=postprocess,
        gate=gate,
        progress=progress,
    )
