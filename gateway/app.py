"""The gateway assembled: job store, spool, access rules, DICOM listener, scheduler, audit and HTTP
API, and its start."""

from __future__ import annotations

import logging
import time

import uvicorn

from gateway import api
from gateway.access import LOCAL_LIMIT_EXCEEDED, Gatekeeper, Refusal
from gateway.audit import Audit
from gateway.destinations import peer_destination
from gateway.dimse import AssociationRecord, DicomListener
from gateway.disk import MIB, Watermark
from gateway.jobs import SqliteJobStore
from gateway.logs import tag
from gateway.metrics import Metrics
from gateway.pipeline import Context
from gateway.scheduler import Scheduler
from gateway.settings import GatewaySettings
from gateway.spool import Spool
from gateway.tls import client_context, server_context

logger = logging.getLogger(__name__)


class Gateway:
    """One gateway process: everything it runs, started and stopped together."""

    def __init__(self, settings: GatewaySettings, clock=time.time) -> None:
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = SqliteJobStore(settings.database, clock=clock)
        self.spool = Spool(settings.spool_dir, settings.results_dir)
        self.access = Gatekeeper(settings)
        self.audit = Audit(settings.audit_path, clock=clock)
        self.watermark = Watermark(settings.state_dir, settings.min_free_disk_mb * MIB)
        self.metrics = Metrics(self.store)
        tls = settings.tls_cert is not None
        self.listener = DicomListener(
            settings.ae_title, settings.dicom_host, settings.dicom_port, self.receive, self.gate, self.association_ended,
            server_context(settings.tls_cert, settings.tls_key, settings.tls_ca) if tls else None,
        )  # fmt: skip
        outgoing = client_context(settings.tls_cert, settings.tls_key, settings.tls_ca)
        context = Context(settings, self.store, self.spool, self.access, outgoing)
        self.scheduler = Scheduler(context, self.metrics, self.audit, clock=clock)

    def gate(self, calling_ae: str, called_ae: str, address: str) -> Refusal | None:
        """Whether an association may go on: the access rules, then the disk watermark."""
        refusal = self.access.refuse(calling_ae, called_ae, address)
        if refusal is None and self.watermark.low():
            free = self.watermark.free_bytes() // MIB
            refusal = Refusal(
                f"{free} MiB free under the state folder, below MRI_GATEWAY_MIN_FREE_DISK_MB "
                f"({self.settings.min_free_disk_mb} MiB)",
                LOCAL_LIMIT_EXCEEDED,
            )
        return refusal

    def association_ended(self, record: AssociationRecord) -> None:
        """Audit one association and count it; a series it brought that was cut short is marked so."""
        self.metrics.associations.labels(record.outcome).inc()
        self.metrics.refused.inc(record.refused_instances)
        if record.jobs:
            self.store.mark_transfer(record.jobs, aborted=record.outcome == "aborted")
        self.audit.record("association", **record.audit())

    def destination_for(self, calling_ae: str) -> str | None:
        """Where results of a C-STORE sender go: the configured destination, else back to the
        sender's AE when PEERS knows it."""
        if self.settings.destination:
            return self.settings.destination
        address = self.settings.peers.get(calling_ae)
        return peer_destination(calling_ae, address) if address else None

    def receive(self, study: str, series: str, sop: str, data: bytes, calling_ae: str) -> int:
        """Spool one received instance, then count it in its series' job (the C-STORE handler)."""
        self.spool.store(study, series, sop, data)
        job_id, new = self.store.record_instance(
            study, series, sop, calling_ae, self.destination_for(calling_ae)
        )
        self.metrics.instances.inc()
        logger.debug("instance of series %s from %s in job %d%s", tag(series), calling_ae, job_id,
                     "" if new else " (repeated)")  # fmt: skip
        return job_id

    def start(self) -> None:
        if not self.access.any_caller and not self.access.callers:
            logger.warning(
                "no calling AE is allowed: every association is refused; set MRI_GATEWAY_PEERS or "
                "MRI_GATEWAY_CALLING_AES"
            )
        self.listener.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.listener.stop()
        self.scheduler.stop()
        self.store.close()

    def serve(self) -> None:
        """Start everything and serve the HTTP API until interrupted (SIGINT/SIGTERM)."""
        self.start()
        try:
            uvicorn.run(
                api.create_app(self),
                host=self.settings.http_host,
                port=self.settings.http_port,
                log_level="warning",
                access_log=False,
            )
        finally:
            self.stop()
