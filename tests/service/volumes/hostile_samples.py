"""Hostile inputs for the volume tests: zip and gzip bombs, zips written by hand, broken NIfTI headers.

The two largest bombs are stored in ``tests/fixtures/hostile/`` (a few kB each; making them takes a
minute): ``python -m tests.service.volumes.hostile_samples`` writes them again.

- ``bzip2-bomb.zip``: one member ``series/IM0001.dcm``, bzip2, declaring 1,000 bytes, inflating to
  2.3 GB of zeros (what took a server from 0.9 to 5.4 GB before a 422).
- ``lzma-bomb.zip``: the same with LZMA, inflating to 1 GiB.

Deflate bombs are made at once (:func:`deflate_bomb`): a flushed deflate block of 1 MiB of zeros
repeats byte for byte.
"""

from __future__ import annotations

import bz2
import lzma
import os
import resource
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hostile"
BZIP2_BOMB = FIXTURES / "bzip2-bomb.zip"
LZMA_BOMB = FIXTURES / "lzma-bomb.zip"
BOMB_MEMBER = "series/IM0001.dcm"

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
_MIB = 1 << 20


def raw_zip(entries: list[tuple[str, int, bytes, int, int]], flags: int = 0) -> bytes:
    """A zip written by hand: ``(name, method, compressed data, declared size, CRC-32)`` per entry,
    so sizes, CRCs and methods can lie."""
    local, central = bytearray(), bytearray()
    for name, method, data, size, crc in entries:
        offset = len(local)
        encoded = name.encode()
        local += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, len(data), size, len(encoded), 0
        )
        local += encoded + data
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += encoded
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(local), 0
    )
    return bytes(local + central + end)


def deflate_bomb(inflated: int) -> bytes:
    """A raw deflate stream of ``inflated`` zeros (rounded to MiB), made in milliseconds."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * _MIB
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (inflated // _MIB - 1) + compressor.flush()


def gzip_of(data: bytes, then_zeros: int = 0) -> bytes:
    """A gzip member of ``data`` followed by ``then_zeros`` zeros in the same member (no valid end)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    head = compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)
    if not then_zeros:
        return head + compressor.flush()
    return head + deflate_bomb(then_zeros)[:-16]  # the bomb's blocks, cut before its final block


def bomb_zip(method: int, inflated: int, declared: int = 1000) -> bytes:
    """A zip whose one member declares ``declared`` bytes and inflates to ``inflated`` bytes: a DICOM
    preamble and ``DICM`` marker, then zeros (so that it is taken for a DICOM file and extracted)."""
    chunk = b"\0" * _MIB
    head = b"\0" * 128 + b"DICM"
    if method == DEFLATED:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH) + deflate_bomb(inflated)
    elif method == BZIP2:
        compressor = bz2.BZ2Compressor(9)
        data = compressor.compress(head)
        data += b"".join(compressor.compress(chunk) for _ in range(inflated // _MIB)) + compressor.flush()
    else:
        lzma_filter = {"id": lzma.FILTER_LZMA1, "dict_size": _MIB, "lc": 3, "lp": 0, "pb": 2}
        compressor = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[lzma_filter])
        props = struct.pack("<BI", (2 * 5 + 0) * 9 + 3, _MIB)
        body = compressor.compress(head)
        body += b"".join(compressor.compress(chunk) for _ in range(inflated // _MIB)) + compressor.flush()
        data = b"\x09\x14" + struct.pack("<H", len(props)) + props + body
    return raw_zip([(BOMB_MEMBER, method, data, declared, 0)])


@contextmanager
def peak_rss_growth() -> Iterator[Callable[[], int]]:
    """Sample this process's resident memory every 5 ms; the callable gives the peak growth in bytes
    over the value at entry (``ru_maxrss`` cannot: it keeps the peak of earlier tests)."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page

    start = rss()
    peak = start
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss())
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak - start
    finally:
        stop.set()
        thread.join()


def max_rss() -> int:
    """Peak resident memory of this process so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    BZIP2_BOMB.write_bytes(bomb_zip(BZIP2, 2300 * _MIB))
    LZMA_BOMB.write_bytes(bomb_zip(LZMA, 1024 * _MIB))
    print(f"{BZIP2_BOMB}: {BZIP2_BOMB.stat().st_size} bytes; {LZMA_BOMB}: {LZMA_BOMB.stat().st_size} bytes")  # noqa: T201 (run as a script)
