"""HTTP client for the brain-MRI tumour detection API, with the retry policy of :mod:`mri_client.retry`.

The one client of the service's API: ``mri-client`` and the DICOM gateway (``gateway/service_client.py``)
both send their requests through :class:`MRIClient`.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Any, TypeVar, Union

import httpx

from .files import content_type_for
from .retry import (
    DEFAULT_BACKOFF_S,
    DEFAULT_MAX_BACKOFF_S,
    DEFAULT_RETRIES,
    delay_s,
    retry_after_s,
    retryable,
)

logger = logging.getLogger(__name__)

#: Seconds a request may take (``timeout``), by default.
DEFAULT_TIMEOUT_S = 60.0

_Client = TypeVar("_Client", bound="MRIClient")
ImageInput = Union[bytes, bytearray, str, "os.PathLike[str]"]


class MRIError(Exception):
    """A request that failed: an HTTP error answer (``status_code`` set, ``detail`` the service's
    reason) or no answer (``status_code`` None: connection error or timeout). ``retry_after``: the
    seconds the answer's ``Retry-After`` asked for, if any."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        detail: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later (:func:`mri_client.retry.retryable`)."""
        return retryable(self.status_code)


class MRIClient:
    """Client of the API: ``classify``, ``segment`` and ``analyze`` one slice (bytes or a path).

    ``retries`` is how many times a request is tried again after no answer (connection error,
    timeout) or a 503/502/504/429 answer, waiting ``backoff * 2**attempt`` seconds, at most
    ``max_backoff``, never less than the server's ``Retry-After`` (:mod:`mri_client.retry`; 0: the
    caller retries, as the gateway does from its job store). ``timeout``: seconds a request may take
    (``connect_timeout``: to connect, default the same). ``api_key`` is sent as ``X-API-Key``. The
    client is safe to share between threads; close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        url: str = "http://localhost:8000",
        api_key: str | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF_S,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        connect_timeout: float | None = None,
        max_backoff: float = DEFAULT_MAX_BACKOFF_S,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must be >= 0")
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        headers = {"X-API-Key": api_key} if api_key else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        timeouts = httpx.Timeout(timeout, connect=timeout if connect_timeout is None else connect_timeout)
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeouts, limits=limits, transport=transport
        )

    # -- inference -------------------------------------------------------------------------------
    def classify(self, image: ImageInput, *, filename: str | None = None) -> dict[str, Any]:
        """Tumour probability of one slice: ``{"tumour_probability", "has_tumour", ...}``."""
        return self._post_image("/classify", image, filename)

    def segment(
        self, image: ImageInput, *, mask_format: str = "rle", filename: str | None = None
    ) -> dict[str, Any]:
        """Tumour mask of one slice (``mask_format`` ``rle`` or ``png``) with pixels, area, bbox."""
        return self._post_image("/segment", image, filename, {"mask_format": mask_format})

    def analyze(
        self, image: ImageInput, *, mask_format: str = "rle", filename: str | None = None
    ) -> dict[str, Any]:
        """Classification plus, when a tumour is found, segmentation (else ``None``)."""
        return self._post_image("/analyze", image, filename, {"mask_format": mask_format})

    def volume(
        self,
        files: list[tuple[str, bytes]],
        *,
        mask_format: str | None = None,
        output: str = "json",
        postprocess: str | None = None,
    ) -> dict[str, Any]:
        """One volume (``POST /volume``): ``files`` is ``[(name, bytes)]``, one NIfTI or zip file or
        the DICOM files of one series. With ``output="dicom-seg"`` the answer is
        ``{"dicom_seg": bytes, "tumour_voxels", "tumour_slices", "tumour_volume_ml"}`` (from the
        ``X-Tumour-*`` headers); otherwise the JSON answer."""
        params = {
            k: v
            for k, v in {"mask_format": mask_format, "output": output, "postprocess": postprocess}.items()
            if v
        }
        field = "file" if len(files) == 1 else "files"
        upload = [(field, (name, data, content_type_for(name, data))) for name, data in files]
        response = self._send("POST", "/volume", params=params, files=upload)
        if output != "dicom-seg" or not response.is_success:
            return _json_or_raise(response)
        headers = response.headers
        volume_ml = headers.get("X-Tumour-Volume-Ml")
        return {
            "dicom_seg": response.content,
            "tumour_voxels": int(headers.get("X-Tumour-Voxels", 0)),
            "tumour_slices": int(headers.get("X-Tumour-Slices", 0)),
            "tumour_volume_ml": float(volume_ml) if volume_ml else None,
        }

    # -- service state ---------------------------------------------------------------------------
    def ready(self) -> bool:
        """True when the service answers ``/v2/health/ready`` with 200 (models loaded)."""
        return self.readiness() is None

    def readiness(self, timeout: float | None = None) -> str | None:
        """One probe of ``/v2/health/ready``: None when ready, else why not (connection refused,
        no answer within ``timeout`` seconds (default: the client's), or the HTTP answer)."""
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self._http.get("/v2/health/ready", **kwargs)
        except httpx.TimeoutException:
            return "no answer" + (f" within {timeout:g} s" if timeout is not None else "")
        except httpx.TransportError as exc:
            return f"cannot connect ({type(exc).__name__}: {exc})"
        if response.status_code == 200:
            return None
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")

    def wait_until_ready(self, timeout: float = 120.0, interval: float = 0.5) -> None:
        """Poll readiness until it holds; raise :class:`MRIError` (with the last reason) once
        ``timeout`` seconds have passed. No probe outlives the deadline by more than a second,
        so an unreachable or silent host costs about ``timeout`` seconds, not the request timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            reason = self.readiness(timeout=max(1.0, min(remaining, 5.0)))
            if reason is None:
                return
            if time.monotonic() + interval > deadline:
                raise MRIError(f"{self.url} is not ready after {timeout:g} s: {reason}")
            time.sleep(interval)

    def models(self) -> dict[str, Any]:
        """The served models (``GET /v2/models``)."""
        return self._request("GET", "/v2/models")

    # -- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self: _Client) -> _Client:  # noqa: PYI019 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post_image(
        self, path: str, image: ImageInput, filename: str | None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        data, name = _read_image(image, filename)
        files = {"file": (name, data, content_type_for(name, data))}
        return self._request("POST", path, params=params, files=files)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = retry_after_s(response.headers.get("Retry-After")) if response is not None else None
        delay = delay_s(attempt, self.backoff, self.max_backoff, retry_after)
        return delay + random.uniform(0, delay * 0.1)  # jitter: concurrent requests do not come back together

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _json_or_raise(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to a request, after the retries of :mod:`mri_client.retry` (no answer, or one
        of its ``RETRY_STATUSES``); :class:`MRIError` when the last try got no answer."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise MRIError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                delay = self._delay(attempt, None)
                logger.info("%s %s: %s, retry in %.2f s", method, path, type(exc).__name__, delay)
                time.sleep(delay)
                continue
            if retryable(response.status_code) and not last:
                delay = self._delay(attempt, response)
                logger.info("%s %s: HTTP %d, retry in %.2f s", method, path, response.status_code, delay)
                time.sleep(delay)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _read_image(image: ImageInput, filename: str | None) -> tuple[bytes, str]:
    """Bytes and upload file name of an image given as bytes or a path."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image), filename or "slice"
    path = Path(image)
    return path.read_bytes(), filename or path.name


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; :class:`MRIError` with the server's ``detail`` otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        if not isinstance(body, dict):
            raise MRIError("answer is not a JSON object", response.status_code)
        return body
    detail = body.get("detail") if isinstance(body, dict) else response.text[:200]
    retry_after = retry_after_s(response.headers.get("Retry-After"))
    raise MRIError(f"HTTP {response.status_code}: {detail}", response.status_code, detail, retry_after)
