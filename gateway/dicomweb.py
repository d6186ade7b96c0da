"""Pulling studies over DICOMweb (dicomweb-client): QIDO-RS to list a study's series and how many
instances each has (``NumberOfSeriesRelatedInstances``), WADO-RS for their metadata (series
selection without pixels) and their instances (into the spool). STOW-RS, the way back, is in
:mod:`gateway.destinations`. Only configured servers are reached (:mod:`gateway.access`), each with
its credentials (HTTP basic or a bearer token) and CA bundle. A server that cannot be reached or
answers 5xx raises :class:`DicomwebUnavailable` (retried); 4xx (e.g. an unknown study)
:class:`DicomwebRefused`.
"""

from __future__ import annotations

import logging

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from requests import HTTPError, RequestException

from gateway.access import DicomwebServer

logger = logging.getLogger(__name__)

SERIES_UID_TAG = "0020000E"
RELATED_INSTANCES_TAG = "00201209"  # NumberOfSeriesRelatedInstances
TIMEOUT_S = 60


class DicomwebUnavailable(Exception):
    """The DICOMweb server cannot be reached or failed (5xx): try again later."""


class DicomwebRefused(Exception):
    """The DICOMweb server refused the request (4xx, ``status``), e.g. no such study, or bad credentials."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def client(server: DicomwebServer | str) -> DICOMwebClient:
    """A client of ``server`` (with its credentials; a bare URL: none), without dicomweb-client's own
    retries: the scheduler retries whole jobs, with backoff."""
    if isinstance(server, str):
        server = DicomwebServer(url=server)
    session = requests.Session()
    if server.token is not None:
        session.headers["Authorization"] = f"Bearer {server.token.get_secret_value()}"
    elif server.username is not None and server.password is not None:
        session.auth = (server.username, server.password.get_secret_value())
    if server.ca_bundle is not None:
        session.verify = str(server.ca_bundle)
    web = DICOMwebClient(url=server.url, session=session, timeout=TIMEOUT_S)
    web.set_http_retry_params(retry=False)
    return web


def _call(what: str, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise DicomwebRefused(
                f"{what}: HTTP {status}: the server refused the gateway's credentials", status
            ) from None
        if status and status < 500:
            raise DicomwebRefused(f"{what}: HTTP {status}", status) from None
        raise DicomwebUnavailable(f"{what}: HTTP {status or 'error'}") from None
    except (RequestException, OSError) as exc:
        raise DicomwebUnavailable(f"{what}: {type(exc).__name__}") from None


def series_of_study(server: DicomwebServer | str, study_uid: str) -> dict[str, int | None]:
    """``Series Instance UID -> NumberOfSeriesRelatedInstances`` (None when the server does not say)
    of a study (QIDO-RS); DicomwebRefused when it has no series."""
    found = _call(
        "QIDO-RS",
        client(server).search_for_series,
        study_instance_uid=study_uid,
        fields=[RELATED_INSTANCES_TAG],
    )
    out: dict[str, int | None] = {}
    for item in found or []:
        if SERIES_UID_TAG in item:
            count = item.get(RELATED_INSTANCES_TAG, {}).get("Value", [None])[0]
            out[item[SERIES_UID_TAG]["Value"][0]] = int(count) if count is not None else None
    if not out:
        raise DicomwebRefused("QIDO-RS: the study has no series at that server")
    return out


def series_headers(server: DicomwebServer | str, study_uid: str, series_uid: str) -> list[pydicom.Dataset]:
    """The instances' headers of one series (WADO-RS metadata; bulk data left out)."""
    metadata = _call("WADO-RS metadata", client(server).retrieve_series_metadata, study_uid, series_uid)
    return [pydicom.Dataset.from_json(item, bulk_data_uri_handler=lambda *_: b"") for item in metadata]


def series_instances(server: DicomwebServer | str, study_uid: str, series_uid: str) -> list[pydicom.Dataset]:
    """The instances of one series with their pixel data (WADO-RS)."""
    return list(_call("WADO-RS", client(server).retrieve_series, study_uid, series_uid))
