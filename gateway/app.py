"""The gateway assembled: job store, spool, DICOM listener, scheduler and HTTP API, and its start."""

from __future__ import annotations

import logging

import uvicorn

from gateway import api
from gateway.destinations import DicomNode, parse_peer
from gateway.dimse import DicomListener
from gateway.jobs import SqliteJobStore
from gateway.logs import tag
from gateway.metrics import Metrics
from gateway.pipeline import Context
from gateway.scheduler import Scheduler
from gateway.settings import GatewaySettings
from gateway.spool import Spool

logger = logging.getLogger(__name__)


class Gateway:
    """One gateway process: everything it runs, started and stopped together."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.store = SqliteJobStore(settings.database)
        self.spool = Spool(settings.spool_dir, settings.results_dir)
        self.metrics = Metrics(self.store)
        self.listener = DicomListener(
            settings.ae_title, settings.dicom_host, settings.dicom_port, self.receive
        )
        self.scheduler = Scheduler(Context(settings, self.store, self.spool), self.metrics)

    def destination_for(self, calling_ae: str) -> str | None:
        """Where results of a C-STORE sender go: the configured destination, else back to the
        sender's AE when PEERS knows it."""
        if self.settings.destination:
            return self.settings.destination
        address = self.settings.peers.get(calling_ae)
        if address is None:
            return None
        host, port = parse_peer(address)
        return str(DicomNode(calling_ae, host, port))

    def receive(self, study: str, series: str, sop: str, data: bytes, calling_ae: str) -> None:
        """Spool one received instance, then count it in its series' job (the C-STORE handler)."""
        self.spool.store(study, series, sop, data)
        job_id = self.store.record_instance(study, series, calling_ae, self.destination_for(calling_ae))
        self.metrics.instances.inc()
        logger.debug("instance of series %s from %s in job %d", tag(series), calling_ae, job_id)

    def start(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
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
