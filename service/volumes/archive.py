"""Zip files of a DICOM series: the directory checked from its end record, members inflated to disk.

The end record is read first: more entries than allowed, or a central directory larger than they
need, is 422 before ``zipfile`` reads the directory (a 256 MiB body could hold millions of entries).
Member data is located from its local header and inflated by the counting reader of
:mod:`service.volumes.inflate` (stored, deflate, bzip2, LZMA; other methods 415), at most its
declared size and what is left of the upload's budget; its CRC-32 is checked. Members go to
temporary files on disk, never to memory; their names only label them in messages.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from service.errors import InvalidImage, UnsupportedImage
from service.volumes.inflate import CHUNK, BoundedInflater, Budget
from service.volumes.volume import SLICES_SETTING

ZIP_MAGIC = b"PK\x03\x04"
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
#: Bytes of zip central directory allowed per permitted entry (names of any usual length).
_DIRECTORY_BYTES_PER_ENTRY = 1024

_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


@dataclass
class ZipMember:
    """One file of a zip: ``label`` names it (``zip:path``) in errors; :meth:`open` inflates it."""

    label: str
    info: zipfile.ZipInfo
    archive: BinaryIO

    def open(self, budget: Budget) -> BoundedInflater:
        """A bounded reader of the member's bytes (at most its declared size, and the budget)."""
        info = self.info
        if info.flag_bits & 0x1:
            raise InvalidImage(f"{self.label} is encrypted; send the files unencrypted")
        method = _METHODS.get(info.compress_type)
        if method is None:
            raise UnsupportedImage(
                f"{self.label} uses zip compression method {info.compress_type}; "
                "send a zip made with deflate, bzip2, LZMA or no compression"
            )
        self.archive.seek(info.header_offset)
        header = self.archive.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != ZIP_MAGIC:
            raise InvalidImage(f"{self.label}: the zip file is broken (a file header is missing)")
        name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
        self.archive.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
        return BoundedInflater(
            self.archive, method, budget, self.label, compressed_size=info.compress_size, limit=info.file_size
        )

    def extract(self, budget: Budget, check_stop: Callable[[], None] | None = None) -> BinaryIO:
        """The whole member in a temporary file on disk (rewound), its size and CRC-32 checked."""
        reader = self.open(budget)
        target = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
        try:
            while data := reader.read_exactly(CHUNK):
                target.write(data)
                if check_stop is not None:
                    check_stop()
            if reader.produced != self.info.file_size or reader.crc != self.info.CRC:
                raise InvalidImage(
                    f"{self.label} is damaged (its size or CRC-32 does not match the zip directory)"
                )
        except BaseException:
            target.close()
            raise
        target.seek(0)
        return target


def zip_members(archive: BinaryIO, max_entries: int) -> Iterator[ZipMember]:
    """The files of a zip (folders, ``__MACOSX/`` and hidden files left out), in directory order;
    their names only label them (never used as paths).

    The end record is checked first: more than ``max_entries`` entries, or a central directory
    larger than such entries need, is 422 before ``zipfile`` reads the directory."""
    _check_directory(archive, max_entries)
    try:
        infos = zipfile.ZipFile(archive).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise InvalidImage("the zip file cannot be read (its directory is broken)") from None
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        hidden = [part for part in parts if part.startswith((".", "__MACOSX")) and part not in (".", "..")]
        if info.is_dir() or hidden:
            continue
        yield ZipMember(label=f"zip:{info.filename}", info=info, archive=archive)


def _check_directory(archive: BinaryIO, max_entries: int) -> None:
    archive.seek(0, io.SEEK_END)
    size = archive.tell()
    tail_start = max(0, size - (1 << 16) - 22)
    archive.seek(tail_start)
    tail = archive.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise InvalidImage("the zip file cannot be read (no end of central directory: truncated?)")
    entries, directory_size = struct.unpack("<HL", tail[at + 10 : at + 16])
    locator = tail.rfind(_EOCD64_LOCATOR, 0, at)
    if locator >= 0 and len(tail) - locator >= 20:
        (offset,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        archive.seek(offset)
        record = archive.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, directory_size = struct.unpack("<QQ", record[32:48])
    if entries > max_entries or directory_size > max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        raise InvalidImage(
            f"the zip file holds {entries} entries; the limit is {max_entries} files per volume "
            f"(twice {SLICES_SETTING})"
        )
    archive.seek(0)
