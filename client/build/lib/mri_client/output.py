"""Result rows (one per file) and their CSV / JSON-lines writers."""

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


def columns(command: str) -> list[str]:
    """Output columns of a command: ``path, status, <command fields>, error``."""
    return ["path", "status", *COMMAND_FIELDS[command], "error"]


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
    return row


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
            self._csv.writerow({k: "" if v is None else v for k, v in full.items()})
        else:
            self.stream.write(json.dumps(full) + "\n")
        self.stream.flush()
