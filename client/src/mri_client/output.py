"""Result rows (one per file) and their CSV / JSON-lines writers.

Every row has ``path``, ``status`` (``ok`` or ``error``), the command's result fields, the model
that answered (``model``, ``model_version``: the classifier for classify and analyze, the
segmenter for segment; analyze also names the segmenter in ``segmenter_model`` /
``segmenter_version`` when it ran) and ``error`` (the reason, on failed rows). CSV writes booleans
as ``true`` / ``false`` and missing values as empty cells; JSON lines use JSON's own.
"""

from __future__ import annotations

import csv
import json
from typing import IO, Any

COMMAND_FIELDS = {
    "classify": ["tumour_probability", "has_tumour"],
    "segment": ["tumour_pixels", "tumour_fraction", "tumour_area_mm2", "mask_path"],
    "analyze": [
        "tumour_probability",
        "has_tumour",
        "tumour_pixels",
        "tumour_fraction",
        "tumour_area_mm2",
        "mask_path",
    ],
}
#: The role of the model whose name goes into ``model`` / ``model_version``.
MAIN_ROLE = {"classify": "classifier", "segment": "segmenter", "analyze": "classifier", "volume": "segmenter"}
MODEL_FIELDS = ["model", "model_version"]
SEGMENTER_FIELDS = ["segmenter_model", "segmenter_version"]


def columns(command: str) -> list[str]:
    """Output columns: ``path, status, <command fields>, model, model_version, [segmenter_*,] error``."""
    extra = SEGMENTER_FIELDS if command == "analyze" else []
    return ["path", "status", *COMMAND_FIELDS[command], *MODEL_FIELDS, *extra, "error"]


def _model(fields: list[str], answer: dict[str, Any] | None) -> dict[str, Any]:
    model = (answer or {}).get("model") or {}
    return {fields[0]: model.get("name"), fields[1]: model.get("version")} if model else {}


def summarize(command: str, result: dict[str, Any]) -> dict[str, Any]:
    """The row fields of a successful answer (``segmentation`` of /analyze may be null)."""
    if command == "classify":
        classification, segmentation = result, None
    elif command == "segment":
        classification, segmentation = None, result
    else:
        classification, segmentation = result.get("classification"), result.get("segmentation")
    row: dict[str, Any] = {}
    if classification is not None:
        row["tumour_probability"] = classification.get("tumour_probability")
        row["has_tumour"] = classification.get("has_tumour")
    if segmentation is not None:
        for key in ("tumour_pixels", "tumour_fraction", "tumour_area_mm2"):
            row[key] = segmentation.get(key)
    if command == "segment":
        row.update(_model(MODEL_FIELDS, segmentation))
    else:
        row.update(_model(MODEL_FIELDS, classification))
    if command == "analyze":
        row.update(_model(SEGMENTER_FIELDS, segmentation))
    return row


def served_model_fields(command: str, models: dict[str, Any]) -> dict[str, Any]:
    """``model`` / ``model_version`` of a command's main model from a ``GET /v2/models`` answer
    (what a failed row reports: the model the run was served by); empty when it is not listed."""
    for entry in models.get("models", []):
        if entry.get("role") == MAIN_ROLE[command]:
            return _model(MODEL_FIELDS, {"model": entry})
    return {}


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class RowWriter:
    """Write rows as CSV (with a header) or JSON lines; missing fields are empty / null."""

    def __init__(self, stream: IO[str], fmt: str, fields: list[str]) -> None:
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown format {fmt!r}")
        self.stream = stream
        self.fmt = fmt
        self.fields = fields
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
            self._csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        """Write one row and flush, so partial results survive an interruption."""
        full = {field: row.get(field) for field in self.fields}
        if self._csv is not None:
            self._csv.writerow({k: _csv_cell(v) for k, v in full.items()})
        else:
            self.stream.write(json.dumps(full) + "\n")
        self.stream.flush()
