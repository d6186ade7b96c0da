"""Prometheus metrics of one app, in its own ``CollectorRegistry`` (apps in one process don't clash)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServiceMetrics:
    """The service's metrics.

    - ``mri_http_requests_total{endpoint,method,status}``: answered requests;
    - ``mri_http_errors_total{endpoint,status}``: answers with status >= 400;
    - ``mri_http_request_duration_seconds{endpoint}``: latency histogram;
    - ``mri_images_total{endpoint}``: slices received;
    - ``mri_inference_duration_seconds{model}`` / ``mri_inference_batch_size{model}``: model calls;
    - ``mri_models_ready``: 1 once the model files are loaded and warmed up.

    ``endpoint`` is the route template (e.g. ``/classify``), ``unmatched`` for unknown paths
    (404) and methods (405).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mri_http_requests", "HTTP requests answered.", ["endpoint", "method", "status"], registry=r
        )
        self.errors = Counter(
            "mri_http_errors", "HTTP answers with status >= 400.", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "mri_http_request_duration_seconds",
            "Request latency.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.images = Counter("mri_images", "Image slices received.", ["endpoint"], registry=r)
        self.inference_latency = Histogram(
            "mri_inference_duration_seconds",
            "Model call latency.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "mri_inference_batch_size", "Slices per model call.", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.models_ready = Gauge(
            "mri_models_ready", "1 when the model files are loaded and warmed up.", registry=r
        )
        ProcessCollector(registry=r)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float, images: int) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, str(status)).inc()
        if images:
            self.images.labels(endpoint).inc(images)

    def observe_inference(self, model: str, batch_size: int, seconds: float) -> None:
        self.inference_latency.labels(model).observe(seconds)
        self.batch_size.labels(model).observe(batch_size)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
