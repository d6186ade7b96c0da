"""Pulling studies over DICOMweb (dicomweb-client): QIDO-RS to list a study's series, WADO-RS for
their metadata (series selection without pixels) and their instances (into the spool). STOW-RS,
the way back, is in :mod:`gateway.destinations`. A server that cannot be reached or answers 5xx
raises :class:`DicomwebUnavailable` (retried); 4xx (e.g. an unknown study) :class:`DicomwebRefused`.
"""

from __future__ import annotations

import logging

import pydicom
from dicomweb_client.api import DICOMwebClient
from requests import HTTPError, RequestException

logger = logging.getLogger(__name__)

SERIES_UID_TAG = "0020000E"


class DicomwebUnavailable(Exception):
    """The DICOMweb server cannot be reached or failed (5xx): try again later."""


class DicomwebRefused(Exception):
    """The DICOMweb server refused the request (4xx), e.g. no such study."""


def client(url: str) -> DICOMwebClient:
    """A client without dicomweb-client's own retries: the scheduler retries whole jobs, with backoff."""
    web = DICOMwebClient(url=url)
    web.set_http_retry_params(retry=False)
    return web


def _call(what: str, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status and status < 500:
            raise DicomwebRefused(f"{what}: HTTP {status}") from None
        raise DicomwebUnavailable(f"{what}: HTTP {status or 'error'}") from None
    except (RequestException, OSError) as exc:
        raise DicomwebUnavailable(f"{what}: {type(exc).__name__}") from None


def series_of_study(url: str, study_uid: str) -> list[str]:
    """The Series Instance UIDs of a study (QIDO-RS); DicomwebRefused when it has none."""
    found = _call("QIDO-RS", client(url).search_for_series, study_instance_uid=study_uid)
    uids = [item[SERIES_UID_TAG]["Value"][0] for item in found or [] if SERIES_UID_TAG in item]
    if not uids:
        raise DicomwebRefused("QIDO-RS: the study has no series at that server")
    return uids


def series_headers(url: str, study_uid: str, series_uid: str) -> list[pydicom.Dataset]:
    """The instances' headers of one series (WADO-RS metadata; bulk data left out)."""
    metadata = _call("WADO-RS metadata", client(url).retrieve_series_metadata, study_uid, series_uid)
    return [pydicom.Dataset.from_json(item, bulk_data_uri_handler=lambda *_: b"") for item in metadata]


def series_instances(url: str, study_uid: str, series_uid: str) -> list[pydicom.Dataset]:
    """The instances of one series with their pixel data (WADO-RS)."""
    return list(_call("WADO-RS", client(url).retrieve_series, study_uid, series_uid))
