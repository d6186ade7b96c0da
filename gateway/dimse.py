"""The DICOM node: a C-STORE SCP and C-ECHO (Verification) with pynetdicom.

Called AE title ``MRI_GATEWAY_AE_TITLE`` on ``MRI_GATEWAY_DICOM_PORT``, over DICOM TLS when a
certificate is set (:mod:`gateway.tls`). Each association request is put to ``gate`` first (who may
call, from where, and whether the disk has room: :mod:`gateway.access`, :mod:`gateway.disk`); a
refusal is the standard A-ASSOCIATE-RJ with its codes. Every storage SOP class is accepted (a
series that is not a brain MR becomes a job that is skipped with that reason, so a routing mistake
shows in the job list), in the transfer syntaxes the gateway and the service decode: implicit/explicit
VR little endian, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS and JPEG 2000. Each instance
is written to the spool exactly as received (flushed to disk) and counted in its series' job *before*
the success status goes back: whatever a sender was told is stored, is. A write that fails answers
0xA700 (out of resources), so the sender keeps the instance. When an association ends (released,
aborted, or refused), ``on_end`` gets its :class:`AssociationRecord` (the audit record).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from gateway.access import Refusal
from gateway.logs import tag

logger = logging.getLogger(__name__)

TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless,
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
    JPEG2000Lossless, JPEG2000,
]  # fmt: skip
SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000

#: ``(study UID, series UID, SOP instance UID, Part 10 bytes, calling AE title) -> job id``; raises
#: when the instance could not be kept.
OnInstance = Callable[[str, str, str, bytes, str], int]
#: ``(calling AE, called AE, address) -> None`` to accept, or why not.
Gate = Callable[[str, str, str], Refusal | None]


@dataclass
class AssociationRecord:
    """One association as the audit keeps it (UIDs as tags)."""

    calling_ae: str
    called_ae: str
    address: str
    tls: bool
    outcome: str = "open"
    reason: str | None = None
    instances: int = 0
    refused_instances: int = 0
    studies: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)
    jobs: set[int] = field(default_factory=set)

    def audit(self) -> dict:
        fields = {k: v for k, v in self.__dict__.items() if k != "jobs"}
        return fields | {"studies": sorted(self.studies), "series": sorted(self.series)}


class DicomListener:
    """The C-STORE/C-ECHO server; :meth:`start` binds and serves in background threads."""

    def __init__(
        self,
        ae_title: str,
        host: str,
        port: int,
        on_instance: OnInstance,
        gate: Gate,
        on_end: Callable[[AssociationRecord], None],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ae = AE(ae_title=ae_title)
        self.ae.require_called_aet = False  # the gate checks it, so that the refusal is audited
        self.ae.maximum_pdu_size = 0  # no limit on what the sender may send per PDU
        self.ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
        self.address = (host, port)
        self.on_instance, self.gate, self.on_end = on_instance, gate, on_end
        self.ssl_context = ssl_context
        self.server = None
        self._open: dict[int, AssociationRecord] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        handlers = [
            (evt.EVT_REQUESTED, self._on_requested), (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo), (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_aborted), (evt.EVT_CONN_CLOSE, self._on_closed),
        ]  # fmt: skip
        self.server = self.ae.start_server(
            self.address, block=False, evt_handlers=handlers, ssl_context=self.ssl_context
        )
        logger.info(
            "DICOM listener %s on %s:%d%s",
            self.ae.ae_title,
            *self.port_bound(),
            " (TLS)" if self.ssl_context else "",
        )

    def port_bound(self) -> tuple[str, int]:
        return self.server.server_address[:2] if self.server else self.address

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def _record(self, event) -> AssociationRecord | None:
        with self._lock:
            return self._open.get(id(event.assoc))

    def _on_requested(self, event) -> None:
        primitive = event.assoc.requestor.primitive
        calling, called = str(primitive.calling_ae_title).strip(), str(primitive.called_ae_title).strip()
        record = AssociationRecord(
            calling, called, str(event.assoc.requestor.address), self.ssl_context is not None
        )
        refusal = self.gate(calling, called, record.address)
        if refusal is None:
            with self._lock:
                self._open[id(event.assoc)] = record
            return
        record.outcome, record.reason = "refused", refusal.reason
        logger.warning("association from %s at %s refused: %s", calling, record.address, refusal.reason)
        self.on_end(record)  # audited before the caller hears of it
        event.assoc.acse.send_reject(*refusal.codes)
        event.assoc.kill()  # as pynetdicom's own refusals: wait until the A-ASSOCIATE-RJ is out

    def _on_echo(self, event) -> int:
        logger.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return SUCCESS

    def _on_store(self, event) -> int:
        record = self._record(event)
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            ds = event.dataset
            study, series, sop = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
        except Exception as exc:  # noqa: BLE001 - no UIDs: nothing to file it under
            logger.warning("C-STORE from %s refused: the instance has no study/series/instance UIDs (%s)",
                           calling, type(exc).__name__)  # fmt: skip
            if record:
                record.refused_instances += 1
            return CANNOT_UNDERSTAND
        try:
            job_id = self.on_instance(study, series, sop, event.encoded_dataset(include_meta=True), calling)
        except Exception:  # not kept: the sender is told so and keeps it
            logger.exception("C-STORE from %s: instance of series %s could not be kept", calling, tag(series))
            if record:
                record.refused_instances += 1
            return OUT_OF_RESOURCES
        if record:
            record.instances += 1
            record.studies.add(tag(study))
            record.series.add(tag(series))
            record.jobs.add(job_id)
        return SUCCESS

    def _on_released(self, event) -> None:
        if record := self._record(event):
            record.outcome = "released"

    def _on_aborted(self, event) -> None:
        if record := self._record(event):
            record.outcome = "aborted"

    def _on_closed(self, event) -> None:
        with self._lock:
            record = self._open.pop(id(event.assoc), None)
        if record is not None:
            if record.outcome == "open":
                record.outcome = "aborted"  # the connection ended without a release
            self.on_end(record)
