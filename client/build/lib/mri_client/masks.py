"""Masks from the API as PNG files, in pure Python (no NumPy or Pillow needed).

The service answers a mask as ``{"format": "png", "size": [h, w], "data": <base64 PNG>}`` or as
``{"format": "rle", "size": [h, w], "counts": ...}``: COCO run-length encoding, runs over the
pixels in column-major (Fortran) order, alternating background/foreground starting with
background; ``counts`` is a list of run lengths or the COCO compressed string.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def coco_string_to_counts(text: str) -> list[int]:
    """Decode COCO's compressed RLE string (``rleFrString`` in pycocotools) into run lengths."""
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            char = ord(text[pos]) - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            pos += 1
            shift += 1
            if not more and char & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def rle_to_pixels(counts: Sequence[int] | str, size: Sequence[int]) -> bytearray:
    """Decode COCO RLE into row-major pixels (one byte each, 0 or 1) of an ``h x w`` mask."""
    height, width = int(size[0]), int(size[1])
    runs = coco_string_to_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if sum(runs) != height * width or any(r < 0 for r in runs):
        raise ValueError(f"RLE runs cover {sum(runs)} pixels, mask has {height}x{width}")
    pixels = bytearray(height * width)
    index = 0
    for run_number, run in enumerate(runs):
        if run_number % 2:
            for flat in range(index, index + run):
                col, row = divmod(flat, height)
                pixels[row * width + col] = 1
        index += run
    return pixels


def encode_png(pixels: bytes | bytearray, width: int, height: int, scale: int = 255) -> bytes:
    """An 8-bit greyscale PNG of row-major ``pixels`` (each multiplied by ``scale``)."""
    if len(pixels) != width * height:
        raise ValueError(f"{len(pixels)} pixels for a {width}x{height} image")
    lut = bytes(min(255, v * scale) for v in range(256))
    rows = b"".join(
        b"\x00" + bytes(pixels[y * width : (y + 1) * width]).translate(lut) for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    )


def mask_to_png(mask: dict[str, Any]) -> bytes:
    """PNG bytes (0 background, 255 tumour) of a mask object from ``/segment`` or ``/analyze``."""
    fmt = mask.get("format")
    if fmt == "png":
        data = base64.b64decode(mask["data"])
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError("mask data is not a PNG")
        return data
    if fmt == "rle":
        height, width = mask["size"]
        return encode_png(rle_to_pixels(mask["counts"], mask["size"]), int(width), int(height))
    raise ValueError(f"unknown mask format {fmt!r}")


def write_mask(mask: dict[str, Any], path: str | Path) -> Path:
    """Write a mask object as a PNG file (parent folders created) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mask_to_png(mask))
    return path
