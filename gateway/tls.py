"""DICOM TLS (PS3.15 Annex B, the TLS secure transport profile) for pynetdicom's ``ssl_context``.

The listener speaks TLS only when ``MRI_GATEWAY_TLS_CERT`` and ``MRI_GATEWAY_TLS_KEY`` are set; with
``MRI_GATEWAY_TLS_CA`` it also requires the caller's certificate, signed by one of those CAs (mutual
TLS). ``dicoms://`` destinations are reached over TLS, their certificate verified with the CA file
(else the system's), presenting the gateway's certificate when it has one. TLS 1.2 at least.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: Path, key: Path, ca: Path | None) -> ssl.SSLContext:
    """The listener's context: its certificate, and the callers' CAs when client certificates are required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=ca)
    return context


def client_context(cert: Path | None, key: Path | None, ca: Path | None) -> ssl.SSLContext:
    """The context of an outgoing association: the server verified (CA file or the system's), the
    gateway's certificate presented when it has one."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    return context
