"""The gateway's HTTP API (FastAPI): jobs, pulls over DICOMweb, re-drives, audit, health and metrics.

Every path but ``/health`` needs ``Authorization: Bearer <MRI_GATEWAY_API_TOKEN>`` when the token is
set (401 otherwise); without a token the API only binds loopback (:mod:`gateway.settings`).

- ``GET /jobs?state=&limit=``: jobs, newest first; ``GET /jobs/{id}``: one job (404 if unknown).
- ``POST /jobs``: pull a study (or one series of it) from a configured DICOMweb server:
  ``{"server": name, "study_instance_uid": ..., "series_instance_uid": null, "destination": null}``
  (or ``"dicomweb_url"``: a configured server's URL); 202 with its jobs (a series with an unfinished
  job from that server keeps it); 403 for a server or destination that is not configured, 404 when
  the server has no such study, 502 when it cannot be reached or refuses the credentials.
- ``POST /jobs/{id}/retry``: a failed job is queued again (409 when it is not failed).
- ``POST /jobs/retry``: every failed job matching ``{"reason_contains": ..., "since": ...}`` queued again.
- ``GET /audit?limit=``: the newest audit records (:mod:`gateway.audit`).
- ``GET /health``: 503 when the DICOM listener is down or the job store does not answer; else 200
  with ``status`` ``ok``, or ``degraded`` and the reasons (the service not ready, the disk below
  the watermark: the gateway keeps what it has and retries).
- ``GET /metrics``: Prometheus text (:mod:`gateway.metrics`).
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from gateway import dicomweb, service_client
from gateway.destinations import DICOMWEB_SCHEME
from gateway.jobs import DICOMWEB
from gateway.states import STATES

_UID = r"^[0-9]+(\.[0-9]+)*$"
SERVICE_CHECK_EVERY_S = 5.0
_bearer = HTTPBearer(auto_error=False)


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """401 unless the request carries the API token (no check when none is set: loopback only)."""
    token = request.app.state.gateway.settings.api_token
    if token is None:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


class PullRequest(BaseModel):
    server: str | None = Field(
        None, description="Name of a configured DICOMweb server (MRI_GATEWAY_DICOMWEB_SERVERS)"
    )
    dicomweb_url: str | None = Field(None, description="Or the base URL of a configured server")
    study_instance_uid: str = Field(pattern=_UID, max_length=64)
    series_instance_uid: str | None = Field(None, pattern=_UID, max_length=64)
    destination: str | None = Field(
        None, description="A configured destination (name or value); default: back"
    )

    @model_validator(mode="after")
    def _one_server(self) -> PullRequest:
        if (self.server is None) == (self.dicomweb_url is None):
            raise ValueError("give exactly one of server (a name) or dicomweb_url")
        return self


class RedriveRequest(BaseModel):
    reason_contains: str | None = Field(
        None, max_length=200, description="Only failed jobs whose reason contains it"
    )
    since: float | None = Field(
        None, description="Only jobs that failed at or after this time (Unix seconds)"
    )


jobs_router = APIRouter(prefix="/jobs", tags=["jobs"])


@jobs_router.get("")
def list_jobs(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [job.public() for job in request.app.state.gateway.store.list(state, limit)]


@jobs_router.post("/retry")
def redrive(request: Request, body: RedriveRequest) -> dict[str, Any]:
    """Bulk re-drive: failed jobs queued again (after a PACS outage, a service upgrade)."""
    ids = request.app.state.gateway.store.redrive(reason_contains=body.reason_contains, since=body.since)
    return {"queued": ids}


@jobs_router.get("/{job_id}")
def get_job(request: Request, job_id: int) -> dict[str, Any]:
    job = request.app.state.gateway.store.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job.public()


@jobs_router.post("/{job_id}/retry")
def retry_job(request: Request, job_id: int) -> dict[str, Any]:
    store = request.app.state.gateway.store
    if store.get(job_id) is None:
        raise HTTPException(404, f"no job {job_id}")
    if not store.retry(job_id):
        raise HTTPException(409, f"job {job_id} is not failed; only failed jobs are retried")
    return store.get(job_id).public()


@jobs_router.post("", status_code=202)
async def pull(request: Request, body: PullRequest) -> list[dict[str, Any]]:
    gateway = request.app.state.gateway
    server = gateway.access.server(body.server or body.dicomweb_url)
    if server is None:
        raise HTTPException(403, f"{body.server or body.dicomweb_url!r} is not a configured DICOMweb server "
                                 "(MRI_GATEWAY_DICOMWEB_SERVERS)")  # fmt: skip
    try:
        destination = gateway.access.destination(body.destination) if body.destination else None
    except ValueError as exc:
        raise HTTPException(403, str(exc)) from None
    destination = destination or gateway.settings.destination or f"{DICOMWEB_SCHEME}{server.url}"
    if body.series_instance_uid:
        series = [body.series_instance_uid]
    else:
        try:
            series = list(await run_in_threadpool(dicomweb.series_of_study, server, body.study_instance_uid))
        except dicomweb.DicomwebRefused as exc:
            raise HTTPException(502 if exc.status in (401, 403) else 404, str(exc)) from None
        except dicomweb.DicomwebUnavailable as exc:
            raise HTTPException(502, str(exc)) from None
    ids = [
        gateway.store.create(body.study_instance_uid, uid, DICOMWEB, server.url, destination)[0]
        for uid in series
    ]
    return [gateway.store.get(i).public() for i in ids]


def audit(request: Request, limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> list[dict[str, Any]]:
    return request.app.state.gateway.audit.tail(limit)


async def health(request: Request) -> JSONResponse:
    gateway = request.app.state.gateway
    try:
        counts = gateway.store.counts()
    except Exception as exc:  # noqa: BLE001 - any store failure is 'not healthy'
        return JSONResponse(
            {"status": "job store unavailable", "detail": type(exc).__name__}, status_code=503
        )
    listening = gateway.listener.server is not None
    disk = gateway.watermark.status()
    service = {"url": gateway.settings.service_url, "ready": await _service_ready(request.app)}
    problems = [
        name
        for name, ok in (("service not ready", service["ready"]), ("disk below the watermark", disk["ok"]))
        if not ok
    ]
    body = {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "ae_title": gateway.settings.ae_title,
        "dicom_port": gateway.listener.port_bound()[1],
        "jobs": counts,
        "disk": disk,
        "service": service,
    }
    if not listening:
        body["status"] = "DICOM listener not running"
    return JSONResponse(body, status_code=200 if listening else 503)


async def _service_ready(app: FastAPI) -> bool:
    """The service's readiness, asked at most every SERVICE_CHECK_EVERY_S seconds."""
    checked_at, ready = getattr(app.state, "service_ready", (float("-inf"), False))
    if time.monotonic() - checked_at >= SERVICE_CHECK_EVERY_S:
        url = app.state.gateway.settings.service_url
        ready = await run_in_threadpool(service_client.ready, url, 2.0)
        app.state.service_ready = (time.monotonic(), ready)
    return ready


def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


def create_app(gateway) -> FastAPI:
    """The HTTP API of a started :class:`gateway.app.Gateway`."""
    app = FastAPI(title="MRI gateway", summary="DICOM node and DICOMweb client of the brain MRI service")
    app.state.gateway = gateway
    secured = [Depends(require_token)]
    app.include_router(jobs_router, dependencies=secured)
    app.add_api_route("/audit", audit, methods=["GET"], tags=["audit"], dependencies=secured)
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["metrics"], dependencies=secured)
    app.add_api_route("/health", health, methods=["GET"], tags=["health"])
    return app
