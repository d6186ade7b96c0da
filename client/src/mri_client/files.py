"""Finding slices to send: supported suffixes, extensionless DICOM, content types."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".dcm": "application/dicom",
}
SUPPORTED_SUFFIXES = frozenset(CONTENT_TYPES)
#: Mask files of the LGG dataset layout (``<case>_<n>_mask.<ext>`` beside ``<case>_<n>.<ext>``):
#: labels, not slices, so folder scans skip them unless asked to include them.
MASK_GLOB = "*_mask.*"


@dataclass(frozen=True)
class InputFile:
    """A file to send; ``relative`` is its path below the folder it was found in (or its name)."""

    path: Path
    relative: Path


def has_dicom_magic(data: bytes) -> bool:
    """True for the start of a DICOM Part 10 file: ``DICM`` after the 128-byte preamble."""
    return data[128:132] == b"DICM"


def is_dicom(path: Path) -> bool:
    """True when the file has the DICOM preamble marker (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            return has_dicom_magic(fh.read(132))
    except OSError:
        return False


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    if has_dicom_magic(data):
        return "application/dicom"
    return None


def content_type_for(name: str, data: bytes = b"") -> str:
    """Content type from the file suffix, else from the leading bytes, else octet-stream."""
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return _sniff(data) or "application/octet-stream"


def _excluded(relative: Path, patterns: Sequence[str]) -> bool:
    """True when the file name or its path below the folder matches one of the glob ``patterns``."""
    return any(fnmatch(relative.name, p) or fnmatch(relative.as_posix(), p) for p in patterns)


def _wanted(path: Path, root: Path, exclude: Sequence[str]) -> bool:
    relative = path.relative_to(root)
    if any(part.startswith(".") for part in relative.parts) or _excluded(relative, exclude):
        return False
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        return True
    return path.suffix == "" and is_dicom(path)


def find_inputs(
    paths: Iterable[str | Path],
    recursive: bool = False,
    exclude: Sequence[str] = (),
    include_masks: bool = False,
) -> list[InputFile]:
    """Expand files and folders into the slices to send, in a stable (sorted) order.

    A file named explicitly is always sent (the service judges it), also when it does not exist
    (its row then reports the error). In a folder, only supported suffixes
    (``.png .jpg .jpeg .tif .tiff .dcm``) and extensionless DICOM files are taken, descending into
    subfolders when ``recursive``, except files whose name or relative path matches a glob of
    ``exclude`` and, unless ``include_masks``, the dataset's mask files (``MASK_GLOB``).
    """
    if not include_masks:
        exclude = [*exclude, MASK_GLOB]
    found: list[InputFile] = []
    for raw in paths:
        root = Path(raw)
        if not root.is_dir():
            found.append(InputFile(root, Path(root.name)))
            continue
        candidates = root.rglob("*") if recursive else root.iterdir()
        files = sorted(p for p in candidates if p.is_file() and _wanted(p, root, exclude))
        if not files:
            logger.warning("no supported images in %s%s", root, "" if recursive else " (try --recursive)")
        found.extend(InputFile(p, p.relative_to(root)) for p in files)
    return found
