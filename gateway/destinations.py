"""Where results go: ``dicom://AET@host:port`` (C-STORE, pynetdicom), ``dicoms://AET@host:port``
(C-STORE over DICOM TLS, :mod:`gateway.tls`) or ``dicomweb://http://host:port/dicom-web`` (STOW-RS,
dicomweb-client, with the credentials of the configured server of that URL). Which destinations a
job may name is :mod:`gateway.access`'s business.

A refusal (no association, a failure status, an HTTP error) raises :class:`DestinationError`; the
scheduler retries with backoff. Instances keep their SOP Instance UIDs across tries, so a PACS that
already holds one from an earlier try keeps one copy.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

logger = logging.getLogger(__name__)

DICOM_SCHEME, DICOM_TLS_SCHEME = "dicom://", "dicoms://"
DICOMWEB_SCHEME = "dicomweb://"
_DICOM = re.compile(r"^dicom(?P<tls>s?)://(?P<aet>[^@]{1,16})@(?P<host>[^:@/]+):(?P<port>\d{1,5})$")
_PEER = re.compile(r"^(?P<host>[^:@/]+):(?P<port>\d{1,5})$")
#: C-STORE statuses that mean stored: success, and the warnings (coercion, elements discarded).
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}
TIMEOUT_S = 60


class DestinationError(Exception):
    """The destination could not be reached or refused the results (retried with backoff)."""


@dataclass(frozen=True)
class DicomNode:
    ae_title: str
    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{DICOM_TLS_SCHEME if self.tls else DICOM_SCHEME}{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class DicomwebServer:
    url: str

    def __str__(self) -> str:
        return f"{DICOMWEB_SCHEME}{self.url}"


Destination = DicomNode | DicomwebServer


def parse_destination(text: str) -> Destination:
    """``dicom[s]://AET@host:port`` or ``dicomweb://http(s)://...``; ValueError for anything else."""
    if text.startswith(DICOMWEB_SCHEME):
        url = text[len(DICOMWEB_SCHEME) :].rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{text!r}: expected dicomweb://http://host:port/path")
        return DicomwebServer(url)
    match = _DICOM.match(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"{text!r}: expected dicom://AET@host:port or dicomweb://http://host:port/dicom-web")
    return DicomNode(match["aet"].strip(), match["host"], int(match["port"]), bool(match["tls"]))


def parse_peer(text: str) -> tuple[str, int]:
    """``host:port`` of a known AE; ValueError otherwise."""
    match = _PEER.match(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"{text!r}: expected host:port")
    return match["host"], int(match["port"])


def peer_destination(ae_title: str, address: str) -> str:
    """The destination of a peer (``MRI_GATEWAY_PEERS``: ``AET=host:port``)."""
    host, port = parse_peer(address)
    return str(DicomNode(ae_title, host, port))


def send(
    destination: Destination,
    datasets: list[pydicom.Dataset],
    calling_ae: str,
    server=None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Store ``datasets`` at ``destination`` (``server``: the configured DICOMweb server of a STOW-RS
    destination, for its credentials; ``tls``: the client context of a ``dicoms://`` node);
    DestinationError when any is not stored."""
    if isinstance(destination, DicomwebServer):
        _stow(destination, datasets, server)
    else:
        _c_store(destination, datasets, calling_ae, tls)


def _c_store(node: DicomNode, datasets: list[pydicom.Dataset], calling_ae: str, tls) -> None:
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    if node.tls and tls is None:
        raise DestinationError(f"{node}: a dicoms:// destination needs a TLS context")
    tls_args = (tls, node.host) if node.tls else None
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, tls_args=tls_args)
    if not assoc.is_established:
        raise DestinationError(f"{node}: association refused or no answer")
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = int(getattr(status, "Status", -1)) if status else -1
            if code not in _STORED:
                raise DestinationError(
                    f"{node}: C-STORE of a {ds.Modality} answered status 0x{code & 0xFFFF:04X}"
                )
    finally:
        if assoc.is_established:
            assoc.release()


def _stow(target: DicomwebServer, datasets: list[pydicom.Dataset], server) -> None:
    from requests import RequestException

    from gateway.dicomweb import client

    try:
        client(server or target.url).store_instances(datasets)
    except (RequestException, OSError, ValueError) as exc:
        raise DestinationError(f"{target}: STOW-RS failed ({type(exc).__name__}: {_short(exc)})") from None


def _short(exc: Exception, limit: int = 200) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
