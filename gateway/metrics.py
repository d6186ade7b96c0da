"""Prometheus metrics of the gateway (its own registry, served at ``GET /metrics``).

- ``mri_gateway_associations_total{outcome}``: DICOM associations that ended ``released``,
  ``aborted`` or ``refused`` (unknown caller, wrong called AE title, disk below the watermark);
- ``mri_gateway_instances_received_total``: instances spooled and acknowledged;
- ``mri_gateway_instances_refused_total``: C-STORE requests answered with a failure (no UIDs, or the
  instance could not be kept: the sender keeps it);
- ``mri_gateway_jobs{state}``: jobs in the store per state (read at each scrape);
- ``mri_gateway_jobs_finished_total{state}``: jobs that reached a final state;
- ``mri_gateway_job_retries_total``: tries put off by an unavailable service, destination or server;
- ``mri_gateway_result_seconds``: histogram, last instance received (or the pull) to results stored.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from gateway.jobs import JobStore


class Metrics:
    """Counters updated where things happen, and a gauge of jobs per state read from the store."""

    def __init__(self, store: JobStore) -> None:
        self.registry = CollectorRegistry()
        self.instances = Counter(
            "mri_gateway_instances_received_total",
            "DICOM instances received and spooled",
            registry=self.registry,
        )
        self.associations = Counter(
            "mri_gateway_associations_total",
            "DICOM associations by how they ended (released, aborted, refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.refused = Counter(
            "mri_gateway_instances_refused_total",
            "C-STORE requests answered with a failure",
            registry=self.registry,
        )
        self.finished = Counter(
            "mri_gateway_jobs_finished_total",
            "Jobs that reached a final state",
            ["state"],
            registry=self.registry,
        )
        self.retries = Counter(
            "mri_gateway_job_retries_total", "Tries put off by an unavailable service or destination",
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "mri_gateway_result_seconds",
            "Seconds from a series' last instance received (or its pull) to its SEG and SR stored",
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
            registry=self.registry,
        )
        self.registry.register(_JobStates(store))


class _JobStates:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self):
        gauge = GaugeMetricFamily("mri_gateway_jobs", "Jobs in the store per state", labels=["state"])
        for state, count in self.store.counts().items():
            gauge.add_metric([state], count)
        yield gauge
