"""The gateway's HTTP API (FastAPI): jobs, pulls over DICOMweb, health and Prometheus metrics.

- ``GET /jobs?state=&limit=``: jobs, newest first; ``GET /jobs/{id}``: one job (404 if unknown).
- ``POST /jobs``: pull a study (or one series of it) from a DICOMweb server:
  ``{"dicomweb_url": ..., "study_instance_uid": ..., "series_instance_uid": null, "destination": null}``;
  202 with the new jobs (one per series; results go back by STOW-RS to that server unless
  ``destination`` or ``MRI_GATEWAY_DESTINATION`` says otherwise); 404 when the server has no such
  study, 502 when it cannot be reached.
- ``POST /jobs/{id}/retry``: a failed job is queued again (409 when it is not failed).
- ``GET /health``: 200 while the DICOM listener runs and the job store answers, else 503.
- ``GET /metrics``: Prometheus text.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from gateway import dicomweb
from gateway.destinations import DICOMWEB_SCHEME, parse_destination
from gateway.jobs import DICOMWEB, STATES

_UID = r"^[0-9]+(\.[0-9]+)*$"


class PullRequest(BaseModel):
    dicomweb_url: str = Field(description="Base URL of the DICOMweb server, e.g. http://pacs:8042/dicom-web")
    study_instance_uid: str = Field(pattern=_UID, max_length=64)
    series_instance_uid: str | None = Field(None, pattern=_UID, max_length=64)
    destination: str | None = Field(
        None, description="dicom://AET@host:port or dicomweb://URL; default: back"
    )

    @field_validator("dicomweb_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("destination")
    @classmethod
    def _destination(cls, value: str | None) -> str | None:
        if value:
            parse_destination(value)
        return value or None


jobs_router = APIRouter(prefix="/jobs", tags=["jobs"])


@jobs_router.get("")
def list_jobs(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [job.public() for job in request.app.state.gateway.store.list(state, limit)]


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
    if body.series_instance_uid:
        series = [body.series_instance_uid]
    else:
        try:
            series = await run_in_threadpool(
                dicomweb.series_of_study, body.dicomweb_url, body.study_instance_uid
            )
        except dicomweb.DicomwebRefused as exc:
            raise HTTPException(404, str(exc)) from None
        except dicomweb.DicomwebUnavailable as exc:
            raise HTTPException(502, str(exc)) from None
    destination = body.destination or gateway.settings.destination or f"{DICOMWEB_SCHEME}{body.dicomweb_url}"
    ids = [
        gateway.store.create(body.study_instance_uid, uid, DICOMWEB, body.dicomweb_url, destination)
        for uid in series
    ]
    return [gateway.store.get(i).public() for i in ids]


def health(request: Request) -> JSONResponse:
    gateway = request.app.state.gateway
    try:
        counts = gateway.store.counts()
    except Exception as exc:  # noqa: BLE001 - any store failure is 'not healthy'
        return JSONResponse(
            {"status": "job store unavailable", "detail": type(exc).__name__}, status_code=503
        )
    listening = gateway.listener.server is not None
    body = {
        "status": "ok" if listening else "DICOM listener not running",
        "ae_title": gateway.settings.ae_title,
        "dicom_port": gateway.listener.port_bound()[1],
        "jobs": counts,
    }
    return JSONResponse(body, status_code=200 if listening else 503)


def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


def create_app(gateway) -> FastAPI:
    """The HTTP API of a started :class:`gateway.app.Gateway`."""
    app = FastAPI(title="MRI gateway", summary="DICOM node and DICOMweb client of the brain MRI service")
    app.state.gateway = gateway
    app.include_router(jobs_router)
    app.add_api_route("/health", health, methods=["GET"], tags=["health"])
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["metrics"])
    return app
