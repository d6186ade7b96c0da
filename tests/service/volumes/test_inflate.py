"""service.volumes.inflate: a counting reader that stops at the budget (gzip here; zip members in
test_archive.py)."""

from __future__ import annotations

import gzip
import io

import pytest

from service.errors import InvalidImage, RequestTooLarge
from service.volumes.inflate import BoundedInflater, Budget


def _inflate(data: bytes, method: str = "gzip", limit: int = 10**9, **kw) -> bytes:
    reader = BoundedInflater(io.BytesIO(data), method, Budget(limit, "the gzip file"), "the gzip file", **kw)
    return b"".join(iter(lambda: reader.read_exactly(1 << 16), b""))


def test_gzip_stops_at_the_budget_and_reads_several_members():
    bomb = gzip.compress(b"\0" * 5_000_000)
    with pytest.raises(RequestTooLarge, match="more than 1000000 bytes"):
        _inflate(bomb, limit=1_000_000)
    assert _inflate(gzip.compress(b"ab") + gzip.compress(b"cd") + b"trailing junk", limit=10) == b"abcd"
    with pytest.raises(InvalidImage, match="truncated"):
        _inflate(bomb[:100])
    with pytest.raises(InvalidImage, match="broken"):
        _inflate(b"\x1f\x8b\x08\x00" + b"\xff" * 100)
