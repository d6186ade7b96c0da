"""The inference service, over HTTP only: one ``POST /volume`` per analysed series, through the
one client of the service's API (:class:`mri_client.MRIClient`, the ``mri-client`` package).

The series' voxels (slice, row, column; with pre- and post-contrast, a 4-D volume with the three
sequences on the last axis, the LGG channel order) go as a gzipped NIfTI with the series' own
affine; the mask comes back as NIfTI on that same grid (``mask_format=nifti``), so mask slice
``k`` is frame ``k`` of the series in slice order. What is worth trying again is the client's one
retry policy (:mod:`mri_client.retry`: no answer, 503, 429, 502, 504): it raises
:class:`ServiceUnavailable` (with the service's ``Retry-After``), and the scheduler tries the job
again later from the job store (the client itself does not retry: ``retries=0``). Any other answer
(401, 413, 415, 422, 500) raises :class:`ServiceRefused` with the service's own message (the job
fails).
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from mri_client import MRIClient, MRIError

#: Seconds to connect to the service (a request's whole time is ``MRI_GATEWAY_SERVICE_TIMEOUT_S``).
CONNECT_TIMEOUT_S = 10.0


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
    body = nifti_bytes(volume, affine)
    try:
        with MRIClient(url, api_key, retries=0, timeout=timeout, connect_timeout=CONNECT_TIMEOUT_S) as client:
            answer = client.volume([("series.nii.gz", body)], mask_format="nifti")
    except MRIError as exc:
        if exc.status_code is None:
            raise ServiceUnavailable(f"the service at {url} cannot be reached ({exc})") from None
        if exc.transient:
            raise ServiceUnavailable(
                f"the service answered {exc.status_code}: {_detail(exc)}", exc.retry_after
            ) from None
        raise ServiceRefused(f"the service refused the series ({exc.status_code}): {_detail(exc)}") from None
    try:
        return Answer(
            mask=_mask(answer["mask"]["data"], volume.shape[:3]),
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


def _detail(exc: MRIError) -> str:
    return str(exc.detail if exc.detail is not None else exc).replace("\n", " ")[:300]


def ready(url: str, timeout: float = 5) -> bool:
    """True when the service's readiness endpoint answers 200."""
    with MRIClient(url, retries=0, timeout=timeout) as client:
        return client.ready()
