"""pynetdicom as the modality that pushes, and a real Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) for the tests: its own JSON config,
storage in a temporary folder, loopback ports, the Lua routing script of docs/integration.md."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

REPO = Path(__file__).resolve().parents[2]
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ROUTE_LUA = REPO / "gateway" / "orthanc" / "route_to_gateway.lua"
CONFIG = REPO / "gateway" / "orthanc" / "orthanc.json"  # the docker-compose trial's configuration
AE_TITLE = "ORTHANC"
GATEWAY_AE = "MRI-AI"
MODALITY_AE = "SCANNER"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def available() -> bool:
    return Path(ORTHANC).exists() and DICOMWEB_PLUGIN.exists()


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def peer(self) -> str:
        """This Orthanc as the gateway's MRI_GATEWAY_PEERS entry."""
        return json.dumps({AE_TITLE: f"127.0.0.1:{self.dicom_port}"})

    @property
    def destination(self) -> str:
        return f"dicom://{AE_TITLE}@127.0.0.1:{self.dicom_port}"

    @property
    def server(self) -> str:
        """This Orthanc as the gateway's MRI_GATEWAY_DICOMWEB_SERVERS (name ORTHANC, with its credentials)."""
        entry = {"url": self.dicomweb} | (
            {"username": self.auth[0], "password": self.auth[1]} if self.auth else {}
        )
        return json.dumps({AE_TITLE: entry})

    def post(self, path: str, body) -> dict:
        response = httpx.post(self.url + path, json=body, timeout=60, auth=self.auth)
        response.raise_for_status()
        return response.json()

    auth: tuple[str, str] | None = None

    def get(self, path: str):
        response = httpx.get(self.url + path, timeout=30, auth=self.auth)
        response.raise_for_status()
        return response.json()

    def series_of(self, modality: str) -> list[dict]:
        """Orthanc's series records of one modality (MainDicomTags, Instances ...)."""
        return [s for s in self.get("/series?expand") if s["MainDicomTags"].get("Modality") == modality]


@contextmanager
def run_orthanc(
    folder: Path,
    gateway: tuple[str, int] | None = None,
    route: bool = True,
    stable_age: int = 1,
    dicom_port: int | None = None,
    **extra,
) -> Iterator[Orthanc]:
    """Start Orthanc in ``folder``; ``gateway`` = (AE title, port) as a known modality ("gateway"),
    ``route`` = the routing Lua script on; ``dicom_port``: its DICOM port (default: a free one);
    ``extra``: more configuration (e.g. ``AuthenticationEnabled``). Stopped (SIGTERM, then SIGKILL) on exit."""
    assert available(), (
        f"Orthanc ({ORTHANC}) and its DICOMweb plugin ({DICOMWEB_PLUGIN}): scripts/setup_env.sh installs them"
    )
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), dicom_port or free_port()
    config = (
        json.loads(CONFIG.read_text())
        | {  # the shipped configuration, on loopback in ``folder``
            "Name": "test-pacs",
            "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"),
            "HttpPort": http_port,
            "DicomPort": dicom_port,
            "RemoteAccessAllowed": False,
            "StableAge": stable_age,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomModalities": {"gateway": [gateway[0], "127.0.0.1", gateway[1]]} if gateway else {},
            "LuaScripts": [str(ROUTE_LUA)] if route and gateway else [],
            "StorageCompression": False,
            "SaveJobs": False,
        }
        | extra
    )
    assert config["DicomAet"] == AE_TITLE
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT)
    users = extra.get("RegisteredUsers") or {}
    orthanc = Orthanc(http_port, dicom_port, process, next(iter(users.items()), None))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (folder / "orthanc.log").read_text()[-3000:]
            try:
                if httpx.get(orthanc.url + "/system", timeout=2, auth=orthanc.auth).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Orthanc did not start"
            time.sleep(0.1)
        yield orthanc
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def push(
    datasets: list[pydicom.Dataset], port: int, called: str = GATEWAY_AE, calling: str = MODALITY_AE
) -> None:
    """C-STORE every dataset to ``called`` at 127.0.0.1:``port`` (pynetdicom, as a modality)."""
    ae = AE(ae_title=calling)
    # every instance is flushed to disk twice before it is acknowledged (spool, job store): on a machine
    # whose disk is busy with other work that can take longer than pynetdicom's 30 s default
    ae.dimse_timeout = ae.acse_timeout = ae.network_timeout = 120
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, f"no association with {called} on port {port}"
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            assert status and status.Status == 0x0000, f"C-STORE status {status}"
    finally:
        assoc.release()
