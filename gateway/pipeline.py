"""One job, start to end: the study's headers -> the series' role -> its volume -> ``POST /volume``
-> SEG + SR (saved) -> the destination.

A job whose results were saved by an earlier try (a destination that refused, a gateway killed
after the service answered) sends those same files again without asking the service: the same SOP
Instance UIDs, so a PACS that got them once keeps one copy. Outcomes: return = sent;
:class:`Skipped`; :class:`Transient` (retry later); :class:`Permanent` (failed, with the reason).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pydicom

from gateway import dicomweb, results, selection, series
from gateway.destinations import DestinationError, parse_destination, send
from gateway.jobs import DICOMWEB, Job, JobStore
from gateway.logs import tag
from gateway.service_client import ServiceRefused, ServiceUnavailable, analyse
from gateway.settings import GatewaySettings
from gateway.spool import Spool, dataset_bytes

logger = logging.getLogger(__name__)

RESULT_NAMES = ("seg", "sr")
CHANNELS = (selection.PRE, selection.FLAIR, selection.POST)


class Skipped(Exception):
    """The series is not analysed (e.g. a pre-contrast input of a FLAIR series)."""


class Transient(Exception):
    """Try again later (service or destination unavailable); ``retry_after`` when one was given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(Exception):
    """The job fails with this reason; trying again would not change it."""


@dataclass
class Context:
    settings: GatewaySettings
    store: JobStore
    spool: Spool

    @property
    def rules(self) -> selection.Rules:
        s = self.settings
        return selection.Rules(s.flair_pattern, s.pre_contrast_pattern, s.post_contrast_pattern, s.sequences)


def run(job: Job, ctx: Context) -> None:
    """Carry ``job`` to the destination, or raise Skipped / Transient / Permanent."""
    try:
        saved = ctx.spool.load_results(job.id, RESULT_NAMES)
        if saved is None:
            saved = _analyse(job, ctx)
        _send(job, ctx, saved)
    except series.SeriesError as exc:
        raise Permanent(str(exc)) from None
    except (ServiceUnavailable, dicomweb.DicomwebUnavailable) as exc:
        raise Transient(str(exc), getattr(exc, "retry_after", None)) from None
    except (ServiceRefused, dicomweb.DicomwebRefused) as exc:
        raise Permanent(str(exc)) from None
    except DestinationError as exc:
        raise Transient(str(exc)) from None


def _analyse(job: Job, ctx: Context) -> list[pydicom.Dataset]:
    headers = _study_headers(job, ctx)
    roles = selection.plan(headers, ctx.rules)
    role = roles.get(job.series_uid)
    if role is None:
        raise Permanent("no instance of the series is left in the spool")
    if role.kind == selection.NOT_BRAIN_MR:
        logger.info("job %d: series %s skipped: %s", job.id, tag(job.series_uid), role.reason)
        raise Permanent(role.reason)
    if role.kind != selection.FLAIR:
        raise Skipped(role.reason)
    if job.destination is None:
        raise Permanent(
            f"no destination: set MRI_GATEWAY_DESTINATION or add the sender's AE ({job.origin}) to MRI_GATEWAY_PEERS"
        )
    geometry, volume = _volume(job, ctx, role)
    settings = ctx.settings
    key = settings.service_api_key.get_secret_value() if settings.service_api_key else None
    logger.info(
        "job %d: series %s (%s) to the service, %s",
        job.id,
        tag(job.series_uid),
        role.sequences,
        "x".join(map(str, volume.shape)),
    )
    started = time.monotonic()
    answer = analyse(settings.service_url, volume, geometry.affine, key, settings.service_timeout_s)
    logger.info("job %d: the service answered in %.2f s", job.id, time.monotonic() - started)
    if answer.sequences != role.sequences:
        raise Permanent(f"the service read the input as {answer.sequences!r}, expected {role.sequences!r}")
    models = {k: results.Model(v["name"], v["version"]) for k, v in answer.models.items()}
    findings = results.Findings(
        answer.mask, answer.probabilities, answer.sequences, models["classifier"], models["segmenter"]
    )
    uids = results.ResultUids.new()
    try:
        seg, sr = results.build(geometry, findings, uids)
    except (
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
    ) as exc:  # highdicom: what a SEG must copy is missing
        raise Permanent(
            f"a SEG and SR cannot be made from this series ({type(exc).__name__}: {exc})"
        ) from None
    ctx.spool.save_results(job.id, dict(zip(RESULT_NAMES, (seg, sr), strict=True)))
    summary = findings.summary(geometry) | {
        "reason": role.reason,
        "service_tumour_volume_ml": answer.tumour_volume_ml,
        "seg_sop_instance_uid": uids.seg_instance,
        "sr_sop_instance_uid": uids.sr_instance,
        "seg_series_instance_uid": uids.seg_series,
        "sr_series_instance_uid": uids.sr_series,
    }
    ctx.store.update(job.id, result=summary)
    logger.info(
        "job %d: %d tumour slices, %.3f mL, highest probability %.3f",
        job.id, summary["tumour_slices"], summary["tumour_volume_ml"], summary["highest_tumour_probability"],
    )  # fmt: skip
    return [seg, sr]


def _study_headers(job: Job, ctx: Context) -> dict[str, list[pydicom.Dataset]]:
    """``series UID -> instance headers`` of every series of the job's study."""
    if job.source == DICOMWEB:
        uids = dicomweb.series_of_study(job.origin, job.study_uid)
        out = {uid: dicomweb.series_headers(job.origin, job.study_uid, uid) for uid in uids}
        return {uid: headers for uid, headers in out.items() if headers}
    grouped: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for folder in ctx.spool.study_series_dirs(job.study_uid):
        for ds in series.read(sorted(folder.glob("*.dcm")), pixels=False):
            grouped[str(ds.get("SeriesInstanceUID", ""))].append(ds)
    return dict(grouped)


def _instances(job: Job, ctx: Context, series_uid: str) -> list[pydicom.Dataset]:
    if job.source == DICOMWEB and not ctx.spool.series_files(job.study_uid, series_uid):
        for ds in dicomweb.series_instances(job.origin, job.study_uid, series_uid):
            ctx.spool.store(job.study_uid, series_uid, str(ds.SOPInstanceUID), dataset_bytes(ds))
    files = ctx.spool.series_files(job.study_uid, series_uid)
    if job.source == DICOMWEB and series_uid == job.series_uid:
        ctx.store.update(job.id, instances=len(files))
    return series.read(files)


def _volume(job: Job, ctx: Context, role: selection.Role) -> tuple[series.SeriesGeometry, np.ndarray]:
    """The FLAIR series' geometry and voxels ``(S, R, C)``, or ``(S, R, C, 3)`` with its companions."""
    geometry = series.geometry(_instances(job, ctx, job.series_uid))
    flair = series.pixels(geometry)
    if not role.companions:
        return geometry, flair
    channels = {selection.FLAIR: flair}
    for kind, uid in role.companions.items():
        other = series.geometry(_instances(job, ctx, uid))
        if not geometry.same_grid(other):
            raise Permanent(f"the {kind} series is not on the FLAIR grid")
        channels[kind] = series.pixels(other)
    return geometry, np.stack([channels[k] for k in CHANNELS], axis=-1)


def _send(job: Job, ctx: Context, datasets: list[pydicom.Dataset]) -> None:
    if job.destination is None:
        raise Permanent("no destination")
    send(parse_destination(job.destination), datasets, ctx.settings.ae_title)
    logger.info("job %d: SEG and SR stored at %s", job.id, job.destination)
