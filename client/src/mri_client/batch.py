"""One file through the service as one result row, and the check that comes before any file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .client import MRIClient, MRIError
from .files import InputFile
from .masks import write_mask
from .output import served_model_fields, summarize

logger = logging.getLogger("mri_client")


def check_service(client: MRIClient, command: str, wait: float) -> dict[str, Any]:
    """The one check before any file: the service must be ready within ``wait`` seconds and take
    the API key. Returns the row fields naming the served model (for failed rows);
    raises :class:`MRIError` with a message for the user otherwise."""
    client.wait_until_ready(timeout=wait)
    try:
        return served_model_fields(command, client.models())
    except MRIError as exc:
        if exc.status_code in (401, 403):
            raise MRIError(
                f"{client.url} refused the API key (HTTP {exc.status_code}): set --api-key or MRI_API_KEY"
            ) from exc
        logger.warning("cannot list the served models (%s); failed rows will not name the model", exc)
        return {}


def mask_paths(items: list[InputFile], masks_dir: Path) -> list[Path]:
    """One PNG path per input (``<relative path without suffix>.mask.png``), made unique."""
    used: set[Path] = set()
    paths = []
    for item in items:
        target = masks_dir / item.relative.parent / f"{item.relative.stem}.mask.png"
        number = 1
        while target in used:
            number += 1
            target = masks_dir / item.relative.parent / f"{item.relative.stem}.{number}.mask.png"
        used.add(target)
        paths.append(target)
    return paths


def process(
    client: MRIClient, command: str, item: InputFile, mask_format: str, mask_path: Path | None
) -> dict[str, Any]:
    """Send one file and turn the answer (or the failure) into a result row."""
    row: dict[str, Any] = {"path": str(item.path)}
    try:
        if command == "classify":
            result = client.classify(item.path)
        else:
            result = getattr(client, command)(item.path, mask_format=mask_format)
        row.update(summarize(command, result), status="ok")
        segmentation = result if command == "segment" else result.get("segmentation")
        if mask_path is not None and segmentation is not None:
            row["mask_path"] = str(write_mask(segmentation["mask"], mask_path))
    except Exception as exc:  # one bad file must not stop the batch: report it in its row
        logger.debug("%s failed", item.path, exc_info=True)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            message = exc.strerror
        row.update(status="error", error=message)
    return row
