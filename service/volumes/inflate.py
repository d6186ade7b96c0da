"""Decompressed streams read through a counting reader that stops at the budget, whatever the method.

Python's ``zipfile`` caps what a read *returns*, not what its bzip2 and LZMA decompressors
*produce*: one 4 KiB chunk of a bzip2 bomb inflates to gigabytes inside a single call. Here every
decompressor is driven with ``max_length`` (:class:`BoundedInflater`), so no call produces more
than one chunk, and the bytes produced are counted against a limit: a zip member's declared size
and what is left of the upload's budget (``MRI_MAX_VOLUME_BYTES``), or for a gzip NIfTI the budget
alone (:mod:`service.volumes.archive` reads zips with it).
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zlib
from typing import BinaryIO

from service.errors import InvalidImage, RequestTooLarge
from service.volumes.volume import BYTES_SETTING

#: Most bytes one decompressor call may produce.
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


class Budget:
    """Decompressed bytes an upload may still produce; ``what`` names the upload in the 413."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.used = 0
        self.what = what

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise RequestTooLarge(
                f"{self.what} holds more than {self.limit} bytes decompressed; the limit is {self.limit} bytes "
                f"({BYTES_SETTING})"
            )


class BoundedInflater(io.RawIOBase):
    """The decompressed bytes of ``source`` (a binary file at the start of the compressed data),
    produced at most :data:`CHUNK` bytes per decompressor call and counted against ``budget``.

    ``method``: ``gzip`` (all members; anything after them that is not a gzip member is ignored, as
    gzip does), ``deflate`` (raw, a zip member), ``bzip2``, ``lzma`` (a zip member's LZMA header
    first), or ``stored``. ``compressed_size``: how much of ``source`` belongs to the stream (None:
    to its end). ``limit``: most bytes this stream may produce (its declared size); one more is
    :class:`InvalidImage` naming ``what``. A broken or truncated stream is :class:`InvalidImage`.
    """

    def __init__(
        self,
        source: BinaryIO,
        method: str,
        budget: Budget,
        what: str,
        compressed_size: int | None = None,
        limit: int | None = None,
    ) -> None:
        self._source = source
        self._method = method
        self._budget = budget
        self._what = what
        self._left = compressed_size
        self._limit = limit
        self.produced = 0
        self.crc = 0
        self._tail = b""  # zlib: input not consumed yet
        self._eof = False
        self._decompressor = self._new_decompressor(first=True)

    def readable(self) -> bool:
        return True

    def _read_source(self, size: int = 64 * 1024) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
        data = self._source.read(size) if size else b""
        if self._left is not None:
            self._left -= len(data)
        return data

    def _new_decompressor(self, first: bool = False):  # zlib, bz2 and lzma objects share no type
        if self._method == "gzip":
            return zlib.decompressobj(wbits=31)
        if self._method == "deflate":
            return zlib.decompressobj(wbits=-15)
        if self._method == "bzip2":
            return bz2.BZ2Decompressor()
        if self._method == "lzma":
            return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[self._zip_lzma_filter()])
        if self._method == "stored":
            return None
        raise ValueError(f"unknown method {self._method!r}")

    def _zip_lzma_filter(self) -> dict[str, int]:
        """The LZMA1 filter of a zip member: 2 bytes version, 2 bytes properties size, properties."""
        head = self._read_source(4)
        if len(head) < 4:
            raise InvalidImage(f"{self._what} is broken (its LZMA header is cut short)")
        (size,) = struct.unpack("<H", head[2:4])
        props = self._read_source(size)
        if size != 5 or len(props) != 5 or props[0] >= 9 * 5 * 5:
            raise InvalidImage(f"{self._what} is broken (its LZMA header is not valid)")
        lc_lp_pb = props[0]
        return {
            "id": lzma.FILTER_LZMA1,
            "lc": lc_lp_pb % 9,
            "lp": (lc_lp_pb // 9) % 5,
            "pb": lc_lp_pb // 45,
            "dict_size": struct.unpack("<I", props[1:5])[0],
        }

    def readinto(self, buffer) -> int:  # any writable buffer
        view = memoryview(buffer).cast("B")
        data = self._produce(len(view))
        view[: len(data)] = data
        return len(data)

    def _produce(self, size: int) -> bytes:
        size = max(1, min(size, CHUNK))
        while not self._eof:
            try:
                out = self._step(size)
            except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
                raise InvalidImage(f"{self._what} is broken (its compressed data cannot be read)") from None
            if out:
                self._count(out)
                return out
        return b""

    def _step(self, size: int) -> bytes:
        """One decompressor call (at most ``size`` bytes out); sets ``_eof`` at the stream's end."""
        d = self._decompressor
        if d is None:  # stored
            out = self._read_source(size)
            if not out:
                self._finish_or_truncated(complete=self._left in (None, 0))
            return out
        if self._method in ("gzip", "deflate"):
            data = self._tail or self._read_source()
            out = d.decompress(data, size)
            self._tail = d.unconsumed_tail
        else:
            data = self._read_source() if d.needs_input else b""
            out = d.decompress(data, size)
        if d.eof:
            rest = d.unused_data + self._tail if self._method in ("gzip", "deflate") else d.unused_data
            self._tail = b""
            if self._method == "gzip" and self._next_gzip_member(rest):
                return out
            self._eof = True
        elif not out and not data and not self._tail:  # input used up, nothing more comes out
            self._finish_or_truncated(complete=self._left == 0)  # a zip member's end (size, CRC checked)
        return out

    def _next_gzip_member(self, rest: bytes) -> bool:
        """After a gzip member: True (and a new decompressor) when another member follows."""
        if len(rest) < 2:
            rest += self._read_source(2 - len(rest))
        if rest[:2] != GZIP_MAGIC:
            return False
        self._decompressor = self._new_decompressor()
        self._tail = rest
        return True

    def _finish_or_truncated(self, complete: bool) -> None:
        if not complete:
            raise InvalidImage(f"{self._what} is truncated")
        self._eof = True

    def _count(self, out: bytes) -> None:
        self.produced += len(out)
        if self._limit is not None and self.produced > self._limit:
            raise InvalidImage(f"{self._what} is larger than the zip directory declares")
        self._budget.take(len(out))
        self.crc = zlib.crc32(out, self.crc)

    def read_exactly(self, size: int) -> bytes:
        """``size`` bytes (fewer only at the end of the stream)."""
        return read_exactly(self, size)


def read_exactly(stream: BinaryIO | io.RawIOBase, size: int) -> bytes:
    """``size`` bytes of ``stream`` (fewer only at its end), however short its reads are."""
    parts, left = [], size
    while left > 0:
        data = stream.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)
