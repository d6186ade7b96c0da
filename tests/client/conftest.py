"""Fixtures of the client tests: the real service on loopback (uvicorn in a thread, tiny models),
real LGG slices, a folder of inputs with a bad file, and a stub server that answers 503 first.

The client package must be installed (``pip install -e ./client``); it needs no TensorFlow.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.servers import in_thread, serve_app, service_app
from tests.tiny_models import BRAIN, build_tiny_models

REPO = Path(__file__).resolve().parents[2]
FIXTURE_SLICES = REPO / "tests" / "fixtures" / "lgg"
API_KEY = "client-test-key"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """Tiny contract-following models that call a real brain slice "tumour" (tests/tiny_models.py)."""
    return build_tiny_models(tmp_path_factory.mktemp("client-models"), rule=BRAIN)


@pytest.fixture(scope="session")
def service_url(tiny_models) -> Iterator[str]:
    """The real service (no API key) on a free loopback port."""
    with serve_app(service_app(tiny_models)) as url:
        yield url


@pytest.fixture(scope="session")
def keyed_service_url(tiny_models) -> Iterator[str]:
    """The real service requiring ``X-API-Key: API_KEY``."""
    with serve_app(service_app(tiny_models, api_key=API_KEY)) as url:
        yield url


@pytest.fixture(scope="session")
def lgg_slices() -> list[Path]:
    """Real LGG slices (TIFF and JPEG, 256x256x3), masks excluded."""
    images = sorted(p for p in FIXTURE_SLICES.rglob("*") if p.suffix in {".tif", ".jpg"})
    slices = [p for p in images if not p.stem.endswith("_mask")]
    assert len(slices) >= 2, f"need real slices under {FIXTURE_SLICES}"
    return slices


@pytest.fixture
def slice_folder(tmp_path, lgg_slices) -> Path:
    """A folder tree of real slices (TIFF, JPEG, PNG, extensionless DICOM), one broken PNG and
    files a folder scan must skip (a text file, a hidden file)."""
    from PIL import Image

    root = tmp_path / "scans"
    tif = next(p for p in lgg_slices if p.suffix == ".tif")
    jpg = next(p for p in lgg_slices if p.suffix == ".jpg")
    (root / "case1" / "deep").mkdir(parents=True)
    shutil.copy(tif, root / "a.tif")
    shutil.copy(jpg, root / "case1" / "b.jpg")
    Image.open(tif).save(root / "case1" / "deep" / "c.png")
    write_dicom(tif, root / "case1" / "IM0001")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    (root / "notes.txt").write_text("not an image")
    shutil.copy(tif, root / ".hidden.tif")
    return root


def write_dicom(
    source: Path, target: Path, spacing_mm: float | None = 0.5, monochrome1: bool = False, gain: int = 1
) -> Path:
    """Write the FLAIR channel of a slice as a minimal uncompressed DICOM file (no extension).

    ``spacing_mm=None`` leaves out PixelSpacing; ``monochrome1`` stores the values inverted
    (MONOCHROME1: high = dark); ``gain`` multiplies the values (16-bit range) and the window.
    """
    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    pixels = np.asarray(Image.open(source))[..., 1].astype(np.uint16) * gain
    if monochrome1:
        pixels = 255 * gain - pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(target), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    # a window as a scanner would set it; the service ignores it (display setting)
    ds.WindowCenter, ds.WindowWidth = 127.5 * gain + 0.5, 255 * gain + 1
    if spacing_mm is not None:
        ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.PixelData = pixels.tobytes()
    pydicom.dcmwrite(target, ds, enforce_file_format=True)
    return target


class _Stub(BaseHTTPRequestHandler):
    """Answers 503 to the first ``server.failures`` POSTs, then proxies them to ``server.upstream``;
    GETs (the client's health and model checks) always go through, listed in ``server.gets``."""

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.gets.append(self.path)
        headers = {k: self.headers[k] for k in ("X-API-Key",) if k in self.headers}
        answer = httpx.get(self.server.upstream + self.path, headers=headers, timeout=60)
        self._answer(answer.content, answer.status_code, answer.headers["content-type"])

    def _answer(self, payload: bytes, status: int, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.seen.append((self.path, self.headers.get("X-API-Key")))
            fail = len(self.server.seen) <= self.server.failures
            hold = self.server.hold_after is not None and len(self.server.seen) > self.server.hold_after
        if hold:
            self.server.release.wait(60)
        if fail:
            payload, status, ctype = b'{"detail": "models are not loaded yet"}', 503, "application/json"
        else:
            headers = {k: self.headers[k] for k in ("Content-Type", "X-API-Key") if k in self.headers}
            answer = httpx.post(self.server.upstream + self.path, content=body, headers=headers, timeout=60)
            payload, status, ctype = answer.content, answer.status_code, answer.headers["content-type"]
        self._answer(payload, status, ctype)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def stub_server(
    upstream: str, failures: int = 2, sock: socket.socket | None = None, hold_after: int | None = None
) -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server that answers 503 to ``failures`` POSTs, then proxies to ``upstream``;
    ``server.seen`` lists ``(path, api key)`` of every POST and ``server.url`` its address.
    ``sock``: an already bound socket to serve on (listening starts here), else a new port.
    ``hold_after``: POSTs after that many wait until ``server.release`` (an Event) is set."""
    if sock is None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    else:
        server = ThreadingHTTPServer(sock.getsockname(), _Stub, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        server.server_address = sock.getsockname()
        server.server_activate()
    server.upstream, server.failures, server.seen, server.lock = upstream, failures, [], threading.Lock()
    server.gets, server.hold_after, server.release = [], hold_after, threading.Event()
    with in_thread(server) as server.url:
        try:
            yield server
        finally:
            server.release.set()  # held requests end before the server stops


@pytest.fixture
def flaky_url(service_url) -> Iterator[ThreadingHTTPServer]:
    """A stub in front of the real service that answers 503 twice first."""
    with stub_server(service_url, failures=2) as server:
        yield server


@pytest.fixture
def make_stub():
    """The :func:`stub_server` context manager, for tests that need other settings."""
    return stub_server
