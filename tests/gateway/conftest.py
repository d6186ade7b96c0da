"""Fixtures of the gateway tests: the real service (bundled models, uvicorn on loopback), the gateway
as a real process (``python -m gateway``), Orthanc, pynetdicom as the modality, and real LGG slices
(tests/fixtures/lgg-volume, a test patient) as DICOM MR series made by scripts/lgg_to_dicom.py."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pydicom
import pytest

from tests.gateway.orthanc import AE_TITLE as ORTHANC_AE
from tests.gateway.orthanc import GATEWAY_AE, available, free_port, push, run_orthanc
from tests.servers import serve_app, service_app

REPO = Path(__file__).resolve().parents[2]
CASE = REPO / "tests" / "fixtures" / "lgg-volume" / "TCGA_HT_7605_19950916"
#: PYTHONPATH of a gateway process started by a test: this checkout's code and its client package
#: (mri_client, which the gateway calls the service through), whatever copy the environment installed.
SOURCES = os.pathsep.join([str(REPO), str(REPO / "client" / "src")])

#: Skipped without Orthanc on a developer's machine; in CI (``CI`` set, scripts/setup_env.sh installs
#: Orthanc) they run and fail when it is missing.
needs_orthanc = pytest.mark.skipif(
    not available() and not os.environ.get("CI"),
    reason="Debian's orthanc and orthanc-dicomweb are needed (scripts/setup_env.sh installs them)",
)


def lgg_to_dicom():
    """scripts/lgg_to_dicom.py as a module."""
    from scripts import lgg_to_dicom as module

    return module


@functools.cache
def fixture_case():
    return lgg_to_dicom().read_case(CASE)


def study(seed: str, sequences=("pre", "flair", "post")) -> dict[str, list[pydicom.Dataset]]:
    """The fixture patient as a new study (``seed``: its own UIDs): ``key -> instances``."""
    return lgg_to_dicom().case_study(fixture_case(), tuple(sequences), seed=seed)


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.2):
    """Poll ``check`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


@pytest.fixture(scope="session")
def service_url() -> Iterator[str]:
    """The real service with the bundled models on a loopback port."""
    from service.settings import DEFAULT_MODELS_DIR

    with serve_app(service_app(DEFAULT_MODELS_DIR)) as url:
        yield url


@dataclass
class GatewayProcess:
    """``python -m gateway`` with its settings; ``start``/``kill``/``stop`` and the job API."""

    state_dir: Path
    env: dict[str, str]
    dicom_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def start(self, **overrides: str) -> GatewayProcess:
        self.env.update(overrides)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRI_GATEWAY_")}
        env |= {
            "MRI_GATEWAY_STATE_DIR": str(self.state_dir),
            "MRI_GATEWAY_DICOM_HOST": "127.0.0.1",
            "MRI_GATEWAY_HTTP_HOST": "127.0.0.1",
            "MRI_GATEWAY_DICOM_PORT": str(self.dicom_port),
            "MRI_GATEWAY_HTTP_PORT": str(self.http_port),
            "MRI_GATEWAY_STABLE_S": "1",
            "MRI_GATEWAY_POLL_S": "0.1",
            "MRI_GATEWAY_BACKOFF_S": "0.5",
            "MRI_GATEWAY_BACKOFF_MAX_S": "2",
            "MRI_GATEWAY_CALLING_AES": "SCANNER",
            "MRI_GATEWAY_MIN_FREE_DISK_MB": "0",
            "PYTHONPATH": SOURCES,
        } | self.env
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=REPO, env=env, stdout=log, stderr=log
        )
        wait_for(self._healthy, 60, "the gateway to start")
        return self

    def _healthy(self) -> bool:
        assert self.process.poll() is None, f"the gateway exited:\n{self.log()}"
        try:
            return httpx.get(self.url + "/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or an OOM kill."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def headers(self) -> dict[str, str]:
        """The API token's header when the gateway has one."""
        token = self.env.get("MRI_GATEWAY_API_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def jobs(self, **params) -> list[dict]:
        return httpx.get(self.url + "/jobs", params=params, headers=self.headers, timeout=10).json()

    def job(self, job_id: int) -> dict:
        return httpx.get(f"{self.url}/jobs/{job_id}", headers=self.headers, timeout=10).json()

    def wait_finished(self, count: int, timeout: float = 120) -> list[dict]:
        """Wait until ``count`` jobs exist and all are finished; the jobs, oldest first."""
        from gateway.states import FINISHED

        def done():
            jobs = self.jobs()
            finished = len(jobs) >= count and all(j["state"] in FINISHED for j in jobs)
            return sorted(jobs, key=lambda j: j["id"]) if finished else None

        try:
            return wait_for(done, timeout, f"{count} finished jobs")
        except AssertionError:
            raise AssertionError(f"jobs: {self.jobs()}\nlog:\n{self.log()}") from None


@pytest.fixture
def gateway_factory(tmp_path) -> Iterator[Callable[..., GatewayProcess]]:
    """Make gateways (not started) with a state folder in tmp_path; all stopped at the end."""
    made: list[GatewayProcess] = []

    def make(**env: str) -> GatewayProcess:
        gateway = GatewayProcess(tmp_path / f"gateway-{len(made)}", dict(env))
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.stop()


@pytest.fixture
def orthanc_factory(tmp_path):
    """Start Orthanc instances in tmp_path (context managers closed at the end)."""
    from contextlib import ExitStack

    started = []
    with ExitStack() as stack:

        def start(gateway: GatewayProcess | None = None, **kw):
            started.append(gateway)
            folder = tmp_path / f"orthanc-{len(started)}"
            target = (GATEWAY_AE, gateway.dicom_port) if gateway else None
            return stack.enter_context(run_orthanc(folder, target, **kw))

        yield start


class Clock:
    """A clock the test moves (``now`` seconds), for the store, the scheduler and the audit."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def tiny_service_url(tmp_path_factory) -> Iterator[str]:
    """The real service with the tiny contract-following models (fast) on a loopback port."""
    from tests.tiny_models import build_tiny_models

    with serve_app(service_app(build_tiny_models(tmp_path_factory.mktemp("gateway-tiny-models")))) as url:
        yield url


@pytest.fixture
def local_gateway(tmp_path) -> Iterator[Callable[..., object]]:
    """``make(clock=None, **settings)``: a :class:`gateway.app.Gateway` in this process with its DICOM
    listener started on a free loopback port (callers ``SCANNER``), no scheduler threads (tests call
    ``gateway.scheduler.tick()``) and no HTTP server; stopped at the end."""
    from gateway.app import Gateway
    from gateway.settings import GatewaySettings

    made = []

    def make(clock=None, **settings):
        values = {"state_dir": tmp_path / f"state-{len(made)}", "dicom_host": "127.0.0.1", "dicom_port": 0,
                  "stable_s": 0, "calling_aes": "SCANNER", "min_free_disk_mb": 0, "backoff_s": 1,
                  "backoff_max_s": 8} | settings  # fmt: skip
        gateway = Gateway(GatewaySettings(**values), **({"clock": clock} if clock else {}))
        gateway.listener.start()
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.listener.stop()
        gateway.store.close()


def run_jobs(gateway, rounds: int = 50) -> list:
    """Tick the gateway's scheduler until no job is due (at most ``rounds`` jobs); its jobs, oldest first."""
    for _ in range(rounds):
        if not gateway.scheduler.tick():
            break
    return sorted(gateway.store.list(limit=1000), key=lambda job: job.id)


def dciodvfy_errors(ds: pydicom.Dataset, tmp_path) -> list[str]:
    path = tmp_path / f"{ds.Modality}.dcm"
    ds.save_as(path, enforce_file_format=True)
    run = subprocess.run(
        [shutil.which("dciodvfy") or "dciodvfy", str(path)], check=False, capture_output=True, text=True
    )
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


__all__ = [
    "GATEWAY_AE",
    "ORTHANC_AE",
    "Clock",
    "dciodvfy_errors",
    "needs_orthanc",
    "push",
    "run_jobs",
    "study",
    "wait_for",
]
