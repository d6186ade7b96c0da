"""service.volumes.archive: zip members inflated within their declared size and the budget, for every
compression method; the directory checked before zipfile reads it."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest

from service.errors import InvalidImage, RequestTooLarge, UnsupportedImage
from service.volumes.archive import zip_members
from service.volumes.inflate import CHUNK, Budget
from tests.service.volumes import hostile_samples as hs


@pytest.mark.parametrize("method", [hs.DEFLATED, hs.BZIP2, hs.LZMA])
def test_every_zip_method_inflates_its_member(method):
    payload = bytes(range(256)) * 400
    archive = io.BytesIO()
    kind = {hs.DEFLATED: zipfile.ZIP_DEFLATED, hs.BZIP2: zipfile.ZIP_BZIP2, hs.LZMA: zipfile.ZIP_LZMA}[method]
    with zipfile.ZipFile(archive, "w", kind) as out:
        out.writestr("a/IM1", payload)
        out.writestr("__MACOSX/._IM1", b"x")
        out.writestr(".DS_Store", b"x")
    members = list(zip_members(archive, max_entries=10))
    assert [m.label for m in members] == ["zip:a/IM1"]
    extracted = members[0].extract(Budget(10**6, "the zip file"))
    assert extracted.read() == payload


@pytest.mark.parametrize(
    ("make", "inflated"),
    [
        (lambda: hs.BZIP2_BOMB.read_bytes(), 2300 << 20),
        (lambda: hs.LZMA_BOMB.read_bytes(), 1024 << 20),
        (lambda: hs.bomb_zip(hs.DEFLATED, 512 << 20), 512 << 20),
    ],
    ids=["bzip2", "lzma", "deflate"],
)
def test_a_member_larger_than_declared_stops_one_chunk_after_its_size(make, inflated):
    """The bzip2 bomb inflates to 2.3 GB in one call of Python's zipfile; here it stops at once."""
    member = next(zip_members(io.BytesIO(make()), max_entries=10))
    reader = member.open(Budget(10**10, "the zip file"))
    with pytest.raises(InvalidImage, match="larger than the zip directory declares"):
        while reader.read_exactly(1 << 16):
            pass
    assert reader.produced <= 1000 + CHUNK < inflated


def test_the_budget_counts_all_members_together():
    payload = b"\0" * 60_000
    entries = [(f"IM{i}", hs.STORED, payload, len(payload), zlib.crc32(payload)) for i in range(3)]
    budget = Budget(100_000, "the zip file")
    members = list(zip_members(io.BytesIO(hs.raw_zip(entries)), max_entries=10))
    members[0].extract(budget)
    with pytest.raises(RequestTooLarge, match="the zip file holds more than 100000 bytes"):
        members[1].extract(budget)


def test_a_wrong_crc_encryption_and_unknown_methods_are_refused():
    payload = b"DICM data"
    wrong_crc = hs.raw_zip([("IM1", hs.STORED, payload, len(payload), 1234)])
    member = next(zip_members(io.BytesIO(wrong_crc), 10))
    with pytest.raises(InvalidImage, match="damaged"):
        member.extract(Budget(10**6, "the zip file"))
    encrypted = hs.raw_zip([("IM1", hs.STORED, payload, len(payload), zlib.crc32(payload))], flags=1)
    with pytest.raises(InvalidImage, match="encrypted"):
        next(zip_members(io.BytesIO(encrypted), 10)).open(Budget(10**6, "the zip file"))
    zstd = hs.raw_zip([("IM1", 93, payload, len(payload), zlib.crc32(payload))])
    with pytest.raises(UnsupportedImage, match="compression method 93"):
        next(zip_members(io.BytesIO(zstd), 10)).open(Budget(10**6, "the zip file"))


def test_the_directory_is_checked_from_the_end_record_before_zipfile_reads_it():
    entries = [(f"f{i}", hs.STORED, b"", 0, 0) for i in range(50)]
    with pytest.raises(InvalidImage, match="holds 50 entries; the limit is 20 files"):
        list(zip_members(io.BytesIO(hs.raw_zip(entries)), max_entries=20))
    with pytest.raises(InvalidImage, match="truncated"):
        list(zip_members(io.BytesIO(hs.raw_zip(entries)[:-30]), max_entries=100))
