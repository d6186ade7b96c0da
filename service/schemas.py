"""Pydantic models of the JSON answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from contract.spec import SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY

#: What an answer was computed from: the three sequences of a 3-channel upload, or FLAIR alone
#: (a greyscale upload). Tells which of the model card's figures apply (``test`` / ``test_flair_only``).
Sequences = Annotated[
    Literal[SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY],  # type: ignore[valid-type]
    Field(
        description=f'"{SEQUENCES_ALL}" for a 3-channel upload, "{SEQUENCES_FLAIR_ONLY}" for a greyscale '
        "one (taken as FLAIR); tells which of the model card's figures apply."
    ),
]


class ModelRef(BaseModel):
    """Which model answered: its name and version (first 12 hex digits of the file's SHA-256)."""

    name: str
    version: str


class Classification(BaseModel):
    """Classifier answer for one slice."""

    tumour_probability: float = Field(description="Probability in [0, 1] that the slice shows a tumour.")
    has_tumour: bool = Field(description="tumour_probability >= threshold.")
    threshold: float = Field(description="Cut-off used for has_tumour.")
    sequences: Sequences
    model: ModelRef


class RleMask(BaseModel):
    """COCO uncompressed RLE: column-major runs, alternating background/tumour, background first."""

    format: Literal["rle"] = "rle"
    size: list[int] = Field(description="[height, width] of the uploaded image.")
    counts: list[int]


class PngMask(BaseModel):
    """Base64 of an 8-bit greyscale PNG of the uploaded image's size: 255 = tumour, 0 = background."""

    format: Literal["png"] = "png"
    size: list[int] = Field(description="[height, width] of the uploaded image.")
    data: str


Mask = Annotated[RleMask | PngMask, Field(discriminator="format")]


class Segmentation(BaseModel):
    """Segmenter answer for one slice; the mask has the size of the uploaded image."""

    mask: Mask
    tumour_pixels: int = Field(description="Number of tumour pixels in the mask.")
    tumour_fraction: float = Field(description="tumour_pixels / (height * width).")
    bbox: list[int] | None = Field(
        description="[x_min, y_min, x_max, y_max] of the tumour pixels (inclusive), null when none."
    )
    tumour_area_mm2: float | None = Field(
        None, description="tumour_pixels x pixel area, when the file gave a pixel spacing (DICOM)."
    )
    pixel_spacing_mm: list[float] | None = Field(
        None, description="[row, column] spacing in mm from the file (DICOM PixelSpacing), else null."
    )
    threshold: float = Field(description="Per-pixel probability cut-off used for the mask.")
    sequences: Sequences
    model: ModelRef


class Analysis(BaseModel):
    """Classification of one slice, and its segmentation when the classifier says tumour."""

    classification: Classification
    segmentation: Segmentation | None = Field(description="null when has_tumour is false.")
    sequences: Sequences


class ClassificationBatch(BaseModel):
    """Answers for the slices of field ``files``, in the order they were sent."""

    results: list[Classification]


class SegmentationBatch(BaseModel):
    """Answers for the slices of field ``files``, in the order they were sent."""

    results: list[Segmentation]


class AnalysisBatch(BaseModel):
    """Answers for the slices of field ``files``, in the order they were sent."""

    results: list[Analysis]


class Live(BaseModel):
    live: bool = True


class Ready(BaseModel):
    ready: bool = True


class InputSpec(BaseModel):
    """The tensor a model takes (see contract/spec.py)."""

    shape: list[int | None] = Field(description="[batch, S, S, 3]; batch is null (any).")
    dtype: str
    channels: list[str]
    range: list[float] = Field(description="[min, max] of the raw intensities the model takes.")


class FlairPath(BaseModel):
    """What answers a role for FLAIR-only input (a grey upload, a FLAIR-only volume)."""

    file: str
    version: str
    threshold: float


class ModelInfo(BaseModel):
    """One served model."""

    role: Literal["classifier", "segmenter"]
    name: str
    version: str
    architecture: str | None = None
    parameters: int | None = None
    input: InputSpec
    threshold: float
    metrics: dict[str, Any] | None = Field(description="Test-set metrics from the model card, if any.")
    file: str = Field(
        description="The model file that answers (one file answers both roles of a joint model)."
    )
    output: str = Field(description="The output of that file this role reads.")
    flair_only: FlairPath | None = Field(
        None, description="The file and threshold answering FLAIR-only input, when not the same as above."
    )


class DeviceInfo(BaseModel):
    """A device the runtime sees at start-up."""

    name: str = Field(
        description="As the runtime names it, e.g. /physical_device:GPU:0, CPUExecutionProvider."
    )
    type: str = Field(description="CPU or GPU.")


class RuntimeTrial(BaseModel):
    """One candidate of the start-up choice: runtime, threads, precision, and its time or refusal."""

    runtime: str
    threads: int
    precision: str = Field(
        description="Inference precision: f32, or a reduced one (e.g. bf16) the runtime offered."
    )
    ms: float | None = Field(
        description="Median time of one served call on one probe slice (every model file, "
        "test-time augmentation included); null when not timed."
    )
    refused: str | None = Field(
        description="Why it cannot serve (not installed, no export, not at parity, no GPU)."
    )


class RuntimeChoice(BaseModel):
    """How the runtime, threads and precision were chosen at start-up (docs/runtimes.md)."""

    measured: bool = Field(
        description="True: the fastest of the candidates timed; false: the settings left one."
    )
    cores: int = Field(description="Cores the process may use (CPU affinity, cgroup CPU quota).")
    cores_per_call: int = Field(
        description="Most threads one model call may take: cores / model files "
        "(each file runs one call at a time), so the calls' threads never exceed the cores."
    )
    seconds: float = Field(description="Start-up time spent loading, checking and timing the candidates.")
    candidates: list[RuntimeTrial]


class ModelList(BaseModel):
    models: list[ModelInfo]
    gate: str = Field(
        description="Which slices count as tumour slices in /analyze and /volume: the classifier's "
        "verdict (classifier), a drawn mask (mask) or both."
    )
    runtime: str = Field(
        description="The inference runtime serving the models (MRI_RUNTIME, or measured: auto)."
    )
    intra_op_threads: int = Field(
        description="Threads of each model call (MRI_INTRA_OP_THREADS, or measured; "
        "0: the runtime's own default)."
    )
    precision: str = Field(
        description="Inference precision of the runtime: f32, or a reduced one that passed parity."
    )
    runtime_choice: RuntimeChoice
    tta: Literal["none", "flip"] = Field(
        description="Test-time augmentation of every model call: flip (the slice and "
        "its mirror, averaged) or none."
    )
    tta_source: Literal["card", "setting"] = Field(
        description="Where tta comes from: the model card or MRI_TTA."
    )
    devices: list[DeviceInfo] = Field(description="Devices the runtime saw at start-up.")
    inference_device: str = Field(description="Where the models run: the first GPU if any, else the CPU.")
