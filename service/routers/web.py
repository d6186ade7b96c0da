"""The page to try the service in a browser: ``GET /``, its files under ``/web/`` and ``GET /web/config``.

Everything the page loads is served from ``service/web/`` as it is (plain HTML, CSS and
JavaScript; nothing from another origin). No API key is needed for these: the page itself asks
for the key when ``/web/config`` says the service requires one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from service.dependencies import API_KEY_HEADER, SettingsDep

#: The page's static files.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
#: Where those files are served.
STATIC_PREFIX = "/web"

router = APIRouter(tags=["page"])


class PageConfig(BaseModel):
    """What the page needs to know about this service before the first upload."""

    api_key_required: bool = Field(description=f"Requests need header {API_KEY_HEADER} (MRI_API_KEY set).")
    api_key_header: str = Field(API_KEY_HEADER, description="Name of the API key header.")
    max_upload_bytes: int = Field(
        description="Largest request body of the slice endpoints (MRI_MAX_UPLOAD_BYTES)."
    )
    max_volume_upload_bytes: int = Field(
        description="Largest request body of POST /volume (MRI_MAX_VOLUME_UPLOAD_BYTES)."
    )


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The page (``service/web/index.html``)."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html")


@router.get(f"{STATIC_PREFIX}/config", response_model=PageConfig)
async def page_config(settings: SettingsDep) -> PageConfig:
    """Whether an API key is required and the upload limits (no key needed to ask)."""
    return PageConfig(
        api_key_required=settings.api_key is not None,
        max_upload_bytes=settings.max_upload_bytes,
        max_volume_upload_bytes=settings.max_volume_upload_bytes,
    )


def install(app: FastAPI) -> None:
    """Add the page's routes and mount its static files on ``app``."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=WEB_DIR), name="web")
