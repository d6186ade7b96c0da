"""One job, start to end: the study's headers -> the series' role -> complete? -> analysed before? ->
its volume -> ``POST /volume`` -> SEG + SR (+ secondary capture), saved -> the destination.

A job whose results were saved by an earlier try (a destination that refused, a gateway killed
after the service answered) sends those same files again without asking the service: the same SOP
Instance UIDs, so a PACS that got them once keeps one copy. Outcomes: return = sent;
:class:`Skipped`; :class:`Incomplete` (wait for instances); :class:`Transient` (retry later);
:class:`Permanent` (failed, with the reason). The job's ``phase`` says where a running job is (it
names the step in the reason of a job the gateway stopped in twice).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom

from gateway import capture, dicomweb, results, selection, series
from gateway.access import Gatekeeper
from gateway.completeness import Incomplete, check_listed, check_received
from gateway.content import content_key
from gateway.destinations import DestinationError, parse_destination, send
from gateway.jobs import DICOMWEB, Job, JobStore
from gateway.logs import tag
from gateway.service_client import ServiceRefused, ServiceUnavailable, analyse
from gateway.settings import GatewaySettings
from gateway.spool import Spool, dataset_bytes
from gateway.states import RUNNING
from imaging.dicom.errors import DicomError
from imaging.dicom.series import DicomSeries, read_series

logger = logging.getLogger(__name__)

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
    access: Gatekeeper
    tls: ssl.SSLContext | None = None

    @property
    def rules(self) -> selection.Rules:
        s = self.settings
        return selection.Rules(s.flair_pattern, s.pre_contrast_pattern, s.post_contrast_pattern, s.sequences)

    def server(self, job: Job):
        """The configured DICOMweb server a pulled job reads from; Permanent when it is no longer configured."""
        server = self.access.server(job.origin)
        if server is None:
            raise Permanent(
                f"{job.origin} is not a configured DICOMweb server (MRI_GATEWAY_DICOMWEB_SERVERS)"
            )
        return server


def run(job: Job, ctx: Context) -> None:
    """Carry ``job`` to the destination, or raise Skipped / Incomplete / Transient / Permanent."""
    try:
        saved = ctx.spool.load_results(job.id)
        if saved is None:
            saved = _analyse(job, ctx)
        _send(job, ctx, saved)
    except DicomError as exc:  # the series (imaging.dicom's refusals), or no SEG can be made from it
        raise Permanent(str(exc)) from None
    except (ServiceUnavailable, dicomweb.DicomwebUnavailable) as exc:
        raise Transient(str(exc), getattr(exc, "retry_after", None)) from None
    except (ServiceRefused, dicomweb.DicomwebRefused) as exc:
        raise Permanent(str(exc)) from None
    except DestinationError as exc:
        raise Transient(str(exc)) from None


def _phase(job: Job, ctx: Context, phase: str) -> None:
    ctx.store.update(job.id, phase=phase)


def _analyse(job: Job, ctx: Context) -> list[pydicom.Dataset]:
    _phase(job, ctx, "reading the study's headers")
    headers, listed = _study_headers(job, ctx)
    role = selection.plan(headers, ctx.rules).get(job.series_uid)
    if role is None:
        raise Permanent("no instance of the series is left in the spool")
    if role.kind in (selection.PRE, selection.POST):
        raise Skipped(_companion_reason(job, role, ctx))
    if role.kind != selection.FLAIR:
        raise Skipped(role.reason)
    if job.destination is None:
        raise Permanent(
            f"no destination: set MRI_GATEWAY_DESTINATION or add the sender's AE ({job.origin}) to MRI_GATEWAY_PEERS"
        )
    used = {"flair": job.series_uid, **role.companions}
    for uid in used.values():
        check_received(
            headers[uid], job.transfer_aborted and uid == job.series_uid, ctx.settings.check_instance_numbers
        )
        check_listed(listed.get(uid), len(headers[uid]), "its metadata lists")
    sops = {uid: [str(ds.SOPInstanceUID) for ds in headers[uid]] for uid in used.values()}
    companions = {kind: (uid, sops[uid]) for kind, uid in role.companions.items()}
    key = content_key(job.study_uid, job.series_uid, sops[job.series_uid], companions, role.sequences)
    ctx.store.update(job.id, content_key=key)
    job.content_key = key
    same = ctx.store.same_content(job)
    if same is not None and same.state == RUNNING:
        raise Transient(f"job {same.id} is analysing the same instances")
    if same is not None:
        raise Skipped(
            f"already analysed: job {same.id} ({same.state}) had the same instances; no second SEG and SR"
        )
    ctx.store.set_instances(job.id, sops[job.series_uid])
    return _infer(job, ctx, role, listed)


def _infer(job: Job, ctx: Context, role: selection.Role, listed: dict) -> list[pydicom.Dataset]:
    _phase(job, ctx, "reading the series")
    flair_series, volume = _volume(job, ctx, role, listed)
    settings = ctx.settings
    key = settings.service_api_key.get_secret_value() if settings.service_api_key else None
    logger.info("job %d: series %s (%s) to the service, %s",
                job.id, tag(job.series_uid), role.sequences, "x".join(map(str, volume.shape)))  # fmt: skip
    _phase(job, ctx, "waiting for the service")
    started = time.monotonic()
    answer = analyse(settings.service_url, volume, flair_series.affine, key, settings.service_timeout_s)
    logger.info("job %d: the service answered in %.2f s", job.id, time.monotonic() - started)
    if answer.sequences != role.sequences:
        raise Permanent(f"the service read the input as {answer.sequences!r}, expected {role.sequences!r}")
    _phase(job, ctx, "making the SEG and SR")
    models = {k: results.Model(v["name"], v["version"]) for k, v in answer.models.items()}
    findings = results.Findings(
        answer.mask, answer.probabilities, answer.sequences, models["classifier"], models["segmenter"]
    )
    uids = results.ResultUids.new()
    try:
        seg, sr = results.build(flair_series, findings, uids)
        named = {"seg": seg, "sr": sr}
        if settings.secondary_capture:
            flair = volume[..., 1] if volume.ndim == 4 else volume
            images = capture.secondary_capture(flair_series, flair, answer.mask, hd.UID())
            named |= {f"sc-{k:04d}": ds for k, ds in enumerate(images, start=1)}
    except DicomError:
        raise
    except (
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
    ) as exc:  # highdicom: what a SEG must copy is missing
        raise Permanent(
            f"a SEG and SR cannot be made from this series ({type(exc).__name__}: {exc})"
        ) from None
    ctx.spool.save_results(job.id, named)
    summary = findings.summary(flair_series) | {
        "reason": role.reason,
        "inputs": {"flair": job.series_uid, **role.companions},
        "service_tumour_volume_ml": answer.tumour_volume_ml,
        "seg_sop_instance_uid": uids.seg_instance,
        "sr_sop_instance_uid": uids.sr_instance,
        "seg_series_instance_uid": uids.seg_series,
        "sr_series_instance_uid": uids.sr_series,
        "secondary_capture_instances": len(named) - 2,
    }
    ctx.store.update(job.id, result=summary)
    logger.info(
        "job %d: %d tumour slices, %.3f mL, highest probability %.3f",
        job.id, summary["tumour_slices"], summary["tumour_volume_ml"], summary["highest_tumour_probability"],
    )  # fmt: skip
    return list(named.values())


def _companion_reason(job: Job, role: selection.Role, ctx: Context) -> str:
    """Why a pre- or post-contrast series is skipped: the input of its FLAIR series' job, or not used
    by that job (it ran before the series was there, or found no pair)."""
    flair_jobs = [j for j in ctx.store.study_jobs(job.study_uid) if j.series_uid == role.for_flair]
    if not flair_jobs:
        return f"the {role.kind} input of a FLAIR series"
    flair = flair_jobs[-1]
    inputs = flair.result.get("inputs") if flair.result else None
    if inputs is None or job.series_uid in inputs.values():
        return f"the {role.kind} input of the FLAIR series (job {flair.id})"
    return (
        f"a {role.kind} series, not used by job {flair.id}, which analysed the FLAIR series "
        f"{flair.result.get('sequences')} ({flair.result.get('reason')})"
    )


def _study_headers(job: Job, ctx: Context) -> tuple[dict[str, list[pydicom.Dataset]], dict[str, int | None]]:
    """``series UID -> instance headers`` of every series of the job's study, and for a pulled
    study how many instances the server lists per series."""
    if job.source == DICOMWEB:
        server = ctx.server(job)
        listed = dicomweb.series_of_study(server, job.study_uid)
        out = {uid: dicomweb.series_headers(server, job.study_uid, uid) for uid in listed}
        return {uid: headers for uid, headers in out.items() if headers}, listed
    grouped: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for folder in ctx.spool.study_series_dirs(job.study_uid):
        for ds in series.read(sorted(folder.glob("*.dcm")), pixels=False):
            grouped[str(ds.get("SeriesInstanceUID", ""))].append(ds)
    return dict(grouped), {}


def _instances(job: Job, ctx: Context, series_uid: str, listed: dict) -> list[pydicom.Dataset]:
    have = len(ctx.spool.series_files(job.study_uid, series_uid))
    if job.source == DICOMWEB and (have == 0 or have < (listed.get(series_uid) or 0)):
        for ds in dicomweb.series_instances(ctx.server(job), job.study_uid, series_uid):
            ctx.spool.store(job.study_uid, series_uid, str(ds.SOPInstanceUID), dataset_bytes(ds))
    files = ctx.spool.series_files(job.study_uid, series_uid)
    check_listed(listed.get(series_uid), len(files), "WADO-RS gave")
    return series.read(files)


def _volume(job: Job, ctx: Context, role: selection.Role, listed: dict) -> tuple[DicomSeries, np.ndarray]:
    """The FLAIR series and its voxels ``(S, R, C)``, or ``(S, R, C, 3)`` with its companions."""
    flair_series = series.analysable(_instances(job, ctx, job.series_uid, listed))
    flair = flair_series.pixels()
    if not role.companions:
        return flair_series, flair
    channels = {selection.FLAIR: flair}
    for kind, uid in role.companions.items():
        other = read_series(_instances(job, ctx, uid, listed))
        if not flair_series.same_grid(other):
            raise Permanent(f"the {kind} series is not on the FLAIR grid")
        channels[kind] = other.pixels()
    return flair_series, np.stack([channels[k] for k in CHANNELS], axis=-1)


def _send(job: Job, ctx: Context, datasets: list[pydicom.Dataset]) -> None:
    if job.destination is None:
        raise Permanent("no destination")
    _phase(job, ctx, "sending the results")
    destination = parse_destination(job.destination)
    server = ctx.access.server(getattr(destination, "url", ""))
    send(destination, datasets, ctx.settings.ae_title, server=server, tls=ctx.tls)
    logger.info("job %d: %d result instance(s) stored at %s", job.id, len(datasets), job.destination)


__all__ = ["Context", "Incomplete", "Permanent", "Skipped", "Transient", "run"]
