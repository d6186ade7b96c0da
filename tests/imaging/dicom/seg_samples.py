"""Comparing DICOM SEGs "but for their UIDs and creation times" (issue: the service's and the
gateway's SEG are the same object for the same input)."""

from __future__ import annotations

import io

import pydicom

_TIMES = ("DA", "TM", "DT")


def comparable(seg: pydicom.Dataset, sources: list[pydicom.Dataset]) -> bytes:
    """``seg`` as Part 10 bytes with the UIDs it made (any UID no source carries) numbered in order
    of appearance and every date and time blanked: equal bytes = the same SEG but for those."""
    known = {str(el.value) for ds in sources for el in ds.iterall() if el.VR == "UI"}
    known |= {
        str(ds.file_meta.get(k, ""))
        for ds in sources
        for k in ("MediaStorageSOPClassUID", "TransferSyntaxUID")
    }
    buffer = io.BytesIO()
    seg.save_as(buffer)
    copy = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    made: dict[str, str] = {}
    for dataset in (copy, copy.file_meta):
        for el in dataset.iterall():
            if el.VR == "UI" and el.value and str(el.value) not in known:
                el.value = made.setdefault(str(el.value), f"1.2.3.{len(made) + 1}")
            elif el.VR in _TIMES:
                el.value = ""
    out = io.BytesIO()
    copy.save_as(out)
    return out.getvalue()
