"""A small real DICOM node for the tests that need no Orthanc: a pynetdicom storage SCP on loopback
(optionally over TLS) that keeps every instance it is sent; and test certificates (openssl)."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, AllStoragePresentationContexts, evt

AE_TITLE = "PACS"


@dataclass
class StoreSCP:
    port: int
    received: list[pydicom.Dataset] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def destination(self) -> str:
        return f"dicom://{AE_TITLE}@127.0.0.1:{self.port}"

    def of(self, modality: str) -> list[pydicom.Dataset]:
        with self.lock:
            return [ds for ds in self.received if ds.Modality == modality]


@contextmanager
def store_scp(ssl_context: ssl.SSLContext | None = None) -> Iterator[StoreSCP]:
    """A storage SCP (AE ``PACS``) on a free loopback port, answering success to every C-STORE."""
    ae = AE(ae_title=AE_TITLE)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    scp = StoreSCP(0)

    def on_store(event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with scp.lock:
            scp.received.append(ds)
        return 0x0000

    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)],
                             ssl_context=ssl_context)  # fmt: skip
    scp.port = server.server_address[1]
    try:
        yield scp
    finally:
        server.shutdown()


@dataclass(frozen=True)
class Certificates:
    """A test CA and two certificates it signed (server ``localhost``/127.0.0.1, and a client)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(folder: Path) -> Certificates:
    """A CA, a server certificate (``localhost``, 127.0.0.1) and a client certificate it signed, made
    with the ``openssl`` command (PEM files in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test CA")
    for who, extension in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "")):
        openssl("req", *ec, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN={who}")
        (folder / f"{who}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{who}.pem", "-days", "1", *(["-extfile", f"{who}.ext"] if extension else []))  # fmt: skip
    return Certificates(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
    )
