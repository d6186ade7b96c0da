"""The inference service, over HTTP only: one ``POST /volume`` per analysed series.

The series' voxels (slice, row, column; with pre- and post-contrast, a 4-D volume with the three
sequences on the last axis, the LGG channel order) go as a gzipped NIfTI with the series' own
affine; the mask comes back as NIfTI on that same grid (``mask_format=nifti``), so mask slice
``k`` is frame ``k`` of the series in slice order. A service that cannot be reached, times out or
answers 5xx / 429 raises :class:`ServiceUnavailable` (retried with backoff, honouring
``Retry-After``); any other refusal (401, 413, 415, 422) raises :class:`ServiceRefused` with the
service's own message (the job fails).
"""

from __future__ import annotations

import base64
import gzip
import logging
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import requests

logger = logging.getLogger(__name__)

VOLUME_PATH = "/volume"
API_KEY_HEADER = "X-API-Key"
_TRANSIENT = {429, 500, 502, 503, 504}


class ServiceUnavailable(Exception):
    """Down, overloaded or still loading: try again later (``retry_after`` seconds when it said)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceRefused(Exception):
    """The service refused the series (the message is its own ``detail``)."""


@dataclass(frozen=True)
class Answer:
    """What the gateway keeps of a ``POST /volume`` answer (``mask``: (slices, rows, columns) uint8)."""

    mask: np.ndarray
    probabilities: list[float]
    sequences: str
    models: dict[str, dict[str, str]]
    tumour_volume_ml: float | None


def nifti_bytes(volume: np.ndarray, affine: np.ndarray) -> bytes:
    """A gzipped NIfTI-1 of ``volume`` (int16 when its values are whole numbers that fit, else float32)."""
    whole = np.all(np.mod(volume, 1) == 0) and volume.min() >= -32768 and volume.max() <= 32767
    data = volume.astype(np.int16 if whole else np.float32)
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), compresslevel=1, mtime=0)


def analyse(url: str, volume: np.ndarray, affine: np.ndarray, api_key: str | None, timeout: float) -> Answer:
    """``POST /volume`` of one volume; the answer with its mask on the volume's grid."""
    headers = {API_KEY_HEADER: api_key} if api_key else {}
    body = nifti_bytes(volume, affine)
    try:
        response = requests.post(
            url.rstrip("/") + VOLUME_PATH,
            params={"mask_format": "nifti"},
            files={"file": ("series.nii.gz", body, "application/gzip")},
            headers=headers,
            timeout=(10, timeout),
        )
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"the service at {url} cannot be reached ({type(exc).__name__})") from None
    if response.status_code in _TRANSIENT:
        raise ServiceUnavailable(
            f"the service answered {response.status_code}: {_detail(response)}", _retry_after(response)
        )
    if response.status_code != 200:
        raise ServiceRefused(f"the service refused the series ({response.status_code}): {_detail(response)}")
    try:
        answer = response.json()
        mask = _mask(answer["mask"]["data"], volume.shape[:3])
        return Answer(
            mask=mask,
            probabilities=[float(s["tumour_probability"]) for s in answer["per_slice"]],
            sequences=str(answer["sequences"]),
            models={role: dict(ref) for role, ref in answer["model"].items()},
            tumour_volume_ml=answer.get("tumour_volume_ml"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ServiceRefused(f"the service's answer cannot be read ({type(exc).__name__}: {exc})") from None


def _mask(data: str, shape: tuple[int, ...]) -> np.ndarray:
    raw = gzip.decompress(base64.b64decode(data))
    image = nib.Nifti1Image.from_bytes(raw)
    mask = (np.asarray(image.dataobj) > 0).astype(np.uint8)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape}, expected {tuple(shape)}")
    return mask


def _detail(response: requests.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    text = str(detail if detail is not None else response.text).replace("\n", " ")
    return text[:300]


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def ready(url: str, timeout: float = 5) -> bool:
    """True when the service's readiness endpoint answers 200."""
    try:
        return requests.get(url.rstrip("/") + "/v2/health/ready", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False
