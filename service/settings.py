"""Service configuration, read from ``MRI_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.layout import DEFAULT_GATE, Gate
from contract.spec import DEFAULT_THRESHOLD
from contract.volume import DEFAULT_POSTPROCESS, PostProcess
from service.runtimes import AUTO, RuntimeSetting

#: The repository's ``models/`` folder, next to the ``service`` package.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

#: Cut-off of a model whose card names none and no MRI_*_THRESHOLD is set (service/inference.py).

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]

#: Cross-request batching defaults, chosen with scripts/benchmark_load.py (README, "Load").
DEFAULT_MAX_BATCH_SIZE = 16
DEFAULT_MAX_BATCH_WAIT_MS = 0.0
DEFAULT_MAX_QUEUE = 16
DEFAULT_RETRY_AFTER_S = 1

#: Runtime, threads and precision are measured at start-up unless set (service/runtimes/selection.py).
DEFAULT_RUNTIME: RuntimeSetting = AUTO
#: Test-time augmentation: the model card's choice (contract/tta.py), unless set.
TTA_FROM_CARD = "card"
TtaSetting = Literal["card", "flip", "none"]


class Settings(BaseSettings):
    """All settings of the service; each field ``x`` is set by the environment variable ``MRI_X``."""

    model_config = SettingsConfigDict(env_prefix="MRI_", extra="ignore")

    models_dir: Path = Field(
        DEFAULT_MODELS_DIR,
        description="Folder with the model file (joint.keras, its ONNX export) and model_card.json (contract/layout.py).",
    )
    classifier_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Tumour-probability cut-off of has_tumour; unset: the model card's threshold, "
        f"else {DEFAULT_THRESHOLD}.",
    )
    segmenter_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Per-pixel probability cut-off of the mask; unset: the model card's, "
        f"else {DEFAULT_THRESHOLD}.",
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024,
        gt=0,
        description="Largest request body in bytes (all files of a request together, with form overhead); "
        "POST /volume has its own (MRI_MAX_VOLUME_UPLOAD_BYTES).",
    )
    min_image_side: int = Field(32, ge=1, description="Smallest accepted image width and height.")
    max_image_side: int = Field(4096, ge=1, description="Largest accepted image width and height.")
    max_image_pixels: int = Field(
        4096 * 4096, ge=1, description="Largest accepted width x height of a slice."
    )
    max_request_pixels: int = Field(
        4 * 4096 * 4096,
        ge=1,
        description="Most pixels of all slices of one request together (bounds the memory a request decodes).",
    )
    max_files_per_request: int = Field(
        16, ge=1, description="Most slices in one request (form field `files`)."
    )
    max_volume_upload_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Largest request body of POST /volume in bytes (instead of MRI_MAX_UPLOAD_BYTES there).",
    )
    max_volume_slices: int = Field(
        512,
        ge=1,
        description="Most slices in one volume (DICOM series: files), checked from the header or the zip "
        "directory.",
    )
    max_volume_bytes: int = Field(
        512 * 1024 * 1024,
        gt=0,
        description="Most bytes of decompressed voxel data of one volume (NIfTI after gunzip, DICOM pixel "
        "data, zip contents), checked before decoding.",
    )
    volume_batch_size: int = Field(32, ge=1, description="Slices per model call in POST /volume.")
    volume_postprocess: PostProcess | None = Field(
        None,
        description="3-D post-processing of /volume masks: none; largest (the largest 3-D component); "
        "drop_small (components under a tenth of the largest dropped). Unset: the model card's choice, "
        f"else {DEFAULT_POSTPROCESS}.",
    )
    gate: Gate | None = Field(
        None,
        description="Which slices are tumour slices (get a mask in /analyze, count in /volume): classifier "
        "(the classifier's verdict), mask (a mask was drawn) or both. Unset: the model card's gate, else "
        f"{DEFAULT_GATE}.",
    )
    max_volume_memory_bytes: int = Field(
        1024 * 1024 * 1024,
        gt=0,
        description="Most memory one volume may need (estimated from its headers before decoding; docs: memory model); past it 413.",
    )
    volume_memory_budget_bytes: int = Field(
        2 * 1024 * 1024 * 1024,
        gt=0,
        description="Memory all volumes being worked on may need together; a volume that does not fit waits (FIFO).",
    )
    max_volume_waiting: int = Field(
        4,
        ge=0,
        description="Most volumes waiting for the memory budget; one more is answered 503 with Retry-After.",
    )
    volume_wait_s: float = Field(
        120.0,
        gt=0,
        description="Most seconds a volume waits for the memory budget before a 503 with Retry-After.",
    )
    volume_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Time budget of one volume (reading, inference, answer), checked between files and slice batches; past it 503.",
    )
    body_timeout_s: float = Field(
        120.0, gt=0, description="Most seconds a request may take to send its whole body; past it 408."
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Most bytes of a request's header block (names and values); past it 431.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, every request except health, metrics, docs and the page (/, /web/*) needs "
        "header X-API-Key with this value; unset: no authentication.",
    )
    log_level: LogLevel = Field(
        "INFO", description="Level of the service's loggers (health probes are logged at DEBUG)."
    )
    log_format: LogFormat = Field(
        "text", description="'text' (one line per record) or 'json' (one JSON object per record)."
    )
    batching: bool = Field(
        True,
        description="Run slices of requests that arrive together as one model call (per model); false: every "
        "request is its own model call.",
    )
    max_batch_size: int = Field(
        DEFAULT_MAX_BATCH_SIZE, ge=1, description="Most slices in one cross-request model call."
    )
    max_batch_wait_ms: float = Field(
        DEFAULT_MAX_BATCH_WAIT_MS,
        ge=0.0,
        description="Under load, how long a model call waits for more requests to fill its batch (0: takes what is queued).",
    )
    max_queue: int = Field(
        DEFAULT_MAX_QUEUE,
        ge=1,
        description="Most requests waiting for a model (each holds a worker thread; the pool is sized to at "
        "least MRI_MAX_QUEUE + MRI_MAX_BATCH_SIZE + 8); one more is answered 503 with Retry-After at once.",
    )
    retry_after_s: int = Field(
        DEFAULT_RETRY_AFTER_S,
        ge=0,
        description="Retry-After (seconds) of the 503 answered when the queue is full.",
    )
    runtime: RuntimeSetting = Field(
        DEFAULT_RUNTIME,
        description="Inference runtime: keras (the .keras files, TensorFlow), onnxruntime or openvino "
        "(the .onnx exports named in the model card); auto: every installed one is timed at start-up "
        "and the fastest that passes the parity probe serves (docs/runtimes.md).",
    )
    intra_op_threads: int | None = Field(
        None,
        ge=0,
        description="Threads each model call uses (the runtime's intra-op pool); 0 = the runtime's default; "
        "unset: 1, 2, 4, ... up to the cores a call may use (affinity, cgroup quota) are timed at start-up "
        "and the fastest serves.",
    )
    tta: TtaSetting = Field(
        TTA_FROM_CARD,
        description="Test-time augmentation of every model call: flip (the slice and its mirror, averaged: "
        "twice the model's work), none, or card (the model card's tta, none when it names none).",
    )
    require_gpu: bool = Field(
        False, description="Fail start-up (models not loaded) when the runtime sees, or would use, no GPU."
    )
    exit_on_load_failure: bool = Field(
        False,
        description="Exit the process (status 3) when the models cannot be loaded, so that restart policies "
        "act (the images set true).",
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
