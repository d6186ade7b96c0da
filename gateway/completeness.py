"""When a series is whole: what the gateway checks before it analyses one, and what it waits for.

DICOM has no end-of-series signal. A series is analysed only when, besides its study being quiet
for ``MRI_GATEWAY_STABLE_S`` (the scheduler's part):

- the association that last brought instances of it ended normally (released), not aborted;
- its slices make one regular stack: no gap inside (:class:`imaging.dicom.errors.SliceGap`);
- its instance numbers (single-frame instances) run from 1 without a hole, so that the first slices
  and any inside are there (``MRI_GATEWAY_CHECK_INSTANCE_NUMBERS=false`` for scanners that number
  instances across a study); the last slices of a series cannot be told from its headers: the
  quiet time covers a sender still sending;
- pulled: the server's ``NumberOfSeriesRelatedInstances`` (QIDO-RS) equals the instances its
  metadata lists and the instances fetched (a series still arriving at the PACS waits).

Each check raises :class:`Incomplete` with the reason; the job waits (``queued``) for the missing
instances, is reopened when one arrives, and fails with that reason after
``MRI_GATEWAY_INCOMPLETE_WAIT_S``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pydicom

from imaging.dicom.errors import DicomError, SliceGap
from imaging.dicom.series import read_series


class Incomplete(Exception):
    """Instances of the series are missing (the message says which, or how it is known)."""


def check_received(
    headers: Sequence[pydicom.Dataset], transfer_aborted: bool, instance_numbers: bool
) -> None:
    """Incomplete when a received (or fetched) series lacks instances; other geometry problems are
    left to the analysis, which fails the job with them."""
    if transfer_aborted:
        raise Incomplete("the association that sent it was aborted before it ended")
    if instance_numbers:
        _instance_numbers(headers)
    try:
        read_series(headers)
    except SliceGap as exc:
        raise Incomplete(str(exc)) from None
    except DicomError:
        return


def check_listed(listed: int | None, found: int, what: str) -> None:
    """Incomplete when a DICOMweb server lists ``listed`` instances of a series and ``found`` came."""
    if listed is not None and found < listed:
        raise Incomplete(
            f"the server lists {listed} instances of the series, {what} {found}: still arriving?"
        )


def _instance_numbers(headers: Sequence[pydicom.Dataset]) -> None:
    single = [ds for ds in headers if int(ds.get("NumberOfFrames", 1) or 1) == 1]
    try:
        numbers = sorted({int(ds.InstanceNumber) for ds in single})
    except (AttributeError, TypeError, ValueError):
        return  # not every instance has a number: nothing to tell from them
    if not numbers or len(numbers) != len(single):
        return  # repeated numbers (several stacks): not a count
    holes = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if holes:
        raise Incomplete(f"instance number{'s' * (len(holes) > 1)} {_ranges(holes)} missing")


def _ranges(numbers: list[int]) -> str:
    parts, start = [], numbers[0]
    for previous, current in zip(numbers, [*numbers[1:], None], strict=True):
        if current != previous + 1:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = current
    return ", ".join(parts)
