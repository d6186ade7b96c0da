"""One structured log line per request, without pixel data."""

from __future__ import annotations

import logging
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.service import samples

LINE = re.compile(
    r"^request method=(\w+) endpoint=(\S+) status=(\d+) latency_ms=([\d.]+) bytes_in=(\d+) images=(\d+)$"
)


def _access_lines(caplog) -> list[re.Match]:
    return [LINE.match(r.getMessage()) for r in caplog.records if r.name == "service.access"]


def test_one_line_per_request(client, caplog):
    caplog.set_level(logging.DEBUG, logger="service")
    image = samples.png_bytes(samples.positive_image())

    client.post(
        "/classify",
        files=[("files", ("a.png", image, "image/png")), ("files", ("b.png", image, "image/png"))],
    )
    client.get("/v2/health/live")

    lines = _access_lines(caplog)
    assert all(lines) and len(lines) == 2
    method, endpoint, status, latency, bytes_in, images = lines[0].groups()
    assert (method, endpoint, status, images) == ("POST", "/classify", "200", "2")
    assert int(bytes_in) > 2 * len(image) and float(latency) > 0
    assert lines[1].groups()[1:3] == ("/v2/health/live", "200")
    assert all(len(r.getMessage()) < 200 for r in caplog.records)  # no pixel data in the logs


def test_health_probes_are_logged_at_debug_and_still_counted(client, caplog):
    caplog.set_level(logging.DEBUG, logger="service")
    before = client.get("/metrics").text

    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models", "/v2/health/live"):
        assert client.get(path).status_code == 200

    levels = {
        line.group(2): record.levelno
        for record in caplog.records
        if record.name == "service.access" and (line := LINE.match(record.getMessage()))
    }
    assert levels == {
        "/v2/health/live": logging.DEBUG,
        "/v2/health/ready": logging.DEBUG,
        "/v2/models": logging.INFO,
        "/metrics": logging.INFO,
    }
    after = client.get("/metrics").text
    assert _count(after, "/v2/health/live") == _count(before, "/v2/health/live") + 2


def _count(metrics_text: str, endpoint: str) -> float:
    """``mri_http_requests_total`` of ``endpoint`` (all methods and statuses) in a /metrics page."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "mri_http_requests_total" and sample.labels.get("endpoint") == endpoint
    )


TIMING = re.compile(r"^(?:model;dur=([\d.]+), )?app;dur=([\d.]+)$")


def _server_timing(response) -> tuple[float | None, float]:
    found = TIMING.match(response.headers["server-timing"])
    assert found, response.headers["server-timing"]
    model, app = found.groups()
    return (float(model) if model else None), float(app)


def test_server_timing_says_what_the_model_calls_took_of_the_apps_time(client, make_client):
    image = samples.png_bytes(samples.positive_image())
    for endpoint in ("/classify", "/segment", "/analyze"):
        model, app = _server_timing(client.post(endpoint, files={"file": ("a.png", image, "image/png")}))
        assert model is not None and 0 < model <= app, (endpoint, model, app)
    # through the batcher's queue or not, one request's model time is its own
    unbatched = make_client(batching=False)
    model, app = _server_timing(unbatched.post("/analyze", files={"file": ("a.png", image, "image/png")}))
    assert model is not None and 0 < model <= app
    # no model call: no model entry, errors included
    assert _server_timing(client.get("/v2/health/live"))[0] is None
    refused = client.post("/analyze", files={"file": ("a.png", b"not an image", "image/png")})
    assert refused.status_code == 415 and _server_timing(refused)[0] is None
